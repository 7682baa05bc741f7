//! Simulated users: who they are (an id, a token minted from the deployment's HS256 secret, the
//! node they talk to), when they start (the hatch rate) and when they may begin another
//! iteration (the run time and the optional overall rate).
//!
//! Invariants: user `i` is `<prefix>-<i>` and talks to host `i mod hosts`; no iteration starts
//! at or after the deadline, and iterations in flight then are allowed to finish.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use secrecy::SecretString;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::sys;

/// Tokens outlive the run by this much, so slow drains never meet an expired token.
const TOKEN_MARGIN: Duration = Duration::from_secs(3600);

/// A process whose peak memory the report shows (`--server-pid [LABEL=]PID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub label: String,
    pub pid: u32,
}

impl Watched {
    /// Parses `PID` or `LABEL=PID`; without a label, the process's command name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (label, pid) = match text.split_once('=') {
            Some((label, pid)) => (Some(label.trim().to_owned()), pid),
            None => (None, text),
        };
        let pid: u32 = pid
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not PID or LABEL=PID"))?;
        let label = label
            .or_else(|| sys::command_name(pid))
            .unwrap_or_else(|| "process".to_owned());
        Ok(Self { label, pid })
    }
}

/// The load shape every HTTP scenario shares.
#[derive(Debug, Clone)]
pub struct Load {
    /// Base URLs (`http://HOST:PORT`) of the nodes of one deployment.
    pub hosts: Vec<String>,
    /// The HS256 secret the deployment verifies tokens with (`STUDIO_JWT_SECRET`).
    pub jwt_secret: SecretString,
    /// Simulated users.
    pub users: usize,
    /// Users started per second.
    pub hatch_rate: f64,
    /// No iteration starts after this much time from the first user's start.
    pub run_time: Duration,
    /// Iterations started per second by all users together; `None`: each user goes as fast as
    /// the server answers.
    pub rate: Option<f64>,
    /// Deadline of one request.
    pub timeout: Duration,
    /// User ids are `<prefix>-<n>`.
    pub user_prefix: String,
    /// Processes whose peak memory (`VmHWM`) the report shows.
    pub watch: Vec<Watched>,
}

impl Load {
    /// Checks the shape before anything is sent.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.hosts.is_empty() {
            bail!("at least one --host is needed");
        }
        if self.users == 0 {
            bail!("--users must be at least 1");
        }
        if !(self.hatch_rate.is_finite() && self.hatch_rate > 0.0) {
            bail!("--hatch-rate must be positive");
        }
        for watched in &self.watch {
            sys::peak_rss_bytes(watched.pid)
                .with_context(|| format!("--server-pid {}", watched.pid))?;
        }
        Ok(())
    }

    /// The id of user `index`.
    pub fn user_id(&self, index: usize) -> String {
        format!("{}-{index}", self.user_prefix)
    }

    /// The base URL user `index` talks to.
    pub fn host(&self, index: usize) -> String {
        self.hosts[index % self.hosts.len()]
            .trim_end_matches('/')
            .to_owned()
    }

    /// A token for `user`, valid for the whole run and well after.
    pub fn token(&self, user: &str, extra: Duration) -> anyhow::Result<String> {
        let ttl = self.run_time + extra + TOKEN_MARGIN;
        studio_auth::mint_hs256(
            &self.jwt_secret,
            &studio_auth::MintClaims::authenticated(user, ttl),
        )
        .with_context(|| format!("minting a token for {user}"))
    }

    /// One HTTP client for all users: its pool keeps a connection per busy user and node.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        reqwest::Client::builder()
            .timeout(self.timeout)
            .pool_max_idle_per_host(self.users)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")
    }

    /// Peak memory of the watched processes now.
    pub fn peaks(&self) -> Vec<ProcessPeak> {
        self.watch
            .iter()
            .map(|watched| ProcessPeak {
                label: watched.label.clone(),
                pid: watched.pid,
                peak_rss_mib: sys::peak_rss_bytes(watched.pid)
                    .ok()
                    .map(|bytes| crate::report::round3(bytes as f64 / 1024.0 / 1024.0)),
            })
            .collect()
    }
}

/// A watched process's peak resident memory at the end of the run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProcessPeak {
    pub label: String,
    pub pid: u32,
    /// `VmHWM` in MiB; `None` when the process was gone.
    pub peak_rss_mib: Option<f64>,
}

/// `studio (pid 42) 81.2 MiB, worker (pid 43) 60.0 MiB`.
pub fn peaks_summary(peaks: &[ProcessPeak]) -> String {
    peaks
        .iter()
        .map(|p| match p.peak_rss_mib {
            Some(mib) => format!("{} (pid {}) {mib:.1} MiB", p.label, p.pid),
            None => format!("{} (pid {}) gone", p.label, p.pid),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One simulated user.
#[derive(Debug, Clone)]
pub struct User {
    pub index: usize,
    pub id: String,
    pub token: String,
    /// Base URL of the node this user talks to.
    pub host: String,
    pub client: reqwest::Client,
}

impl User {
    /// `host` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.host)
    }

    /// A request to the API with this user's bearer token.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }
}

/// When iterations may start: until the deadline, and no faster than the overall rate.
#[derive(Debug)]
pub struct Schedule {
    pub epoch: Instant,
    pub deadline: Instant,
    /// Overall rate: the period between iteration starts, and the next free slot.
    pacer: Option<(Duration, Mutex<Instant>)>,
}

impl Schedule {
    fn new(load: &Load) -> Self {
        let epoch = Instant::now();
        Self {
            epoch,
            deadline: epoch + load.run_time,
            pacer: load
                .rate
                .map(|rate| (Duration::from_secs_f64(1.0 / rate), Mutex::new(epoch))),
        }
    }

    /// Waits for the next iteration's slot; `false` when the run time is over.
    pub async fn next(&self) -> bool {
        let Some((period, next)) = &self.pacer else {
            return Instant::now() < self.deadline;
        };
        let slot = {
            let mut next = next.lock().expect("pacer lock");
            let slot = (*next).max(Instant::now());
            *next = slot + *period;
            slot
        };
        if slot >= self.deadline {
            return false;
        }
        tokio::time::sleep_until(slot).await;
        true
    }
}

/// Starts `load.users` users at the hatch rate, each running `body` (which loops on
/// [`Schedule::next`]), and waits for all of them. Returns the wall time from the first start
/// to the last user's end.
pub async fn run<F, Fut>(load: &Load, extra_ttl: Duration, body: F) -> anyhow::Result<Duration>
where
    F: Fn(User, Arc<Schedule>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    load.check()?;
    let client = load.client()?;
    let mut users = Vec::with_capacity(load.users);
    for index in 0..load.users {
        let id = load.user_id(index);
        users.push(User {
            index,
            token: load.token(&id, extra_ttl)?,
            id,
            host: load.host(index),
            client: client.clone(),
        });
    }
    let schedule = Arc::new(Schedule::new(load));
    let mut tasks = JoinSet::new();
    for user in users {
        let start = schedule.epoch + Duration::from_secs_f64(user.index as f64 / load.hatch_rate);
        let work = body(user, Arc::clone(&schedule));
        tasks.spawn(async move {
            tokio::time::sleep_until(start).await;
            work.await;
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.context("a simulated user panicked")?;
    }
    Ok(schedule.epoch.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_processes_parse() {
        assert_eq!(
            Watched::parse("node-1=42"),
            Ok(Watched {
                label: "node-1".to_owned(),
                pid: 42
            })
        );
        let own = Watched::parse(&std::process::id().to_string()).expect("parses");
        assert_eq!(own.pid, std::process::id());
        assert!(!own.label.is_empty());
        assert!(Watched::parse("studio").is_err());
    }

    #[tokio::test]
    async fn the_pacer_spreads_iterations_and_stops_at_the_deadline() {
        let load = Load {
            hosts: vec!["http://127.0.0.1:1".to_owned()],
            jwt_secret: SecretString::from("x".repeat(32)),
            users: 1,
            hatch_rate: 1.0,
            run_time: Duration::from_millis(100),
            rate: Some(100.0),
            timeout: Duration::from_secs(1),
            user_prefix: "u".to_owned(),
            watch: Vec::new(),
        };
        let schedule = Schedule::new(&load);
        let mut started = 0;
        while schedule.next().await {
            started += 1;
        }
        // Slots are 10 ms apart from the start; a slow machine only makes fewer fit.
        assert!((1..=10).contains(&started), "{started}");
        assert_eq!(load.host(3), "http://127.0.0.1:1");
        assert_eq!(load.user_id(3), "u-3");
    }
}
