//! Collaboration: one project, `--users` editors in it over y-websocket (the `collab relay`
//! clients of [`crate::collab::room`]), each sending `rate` document updates per second, spread
//! over every `--host` (on several nodes the updates cross through Redis). The project is made
//! by its owner, whose token every client uses (a client per user would only add member rows:
//! the relay does not look at who sends).

use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use super::users::{Load, ProcessPeak, User, peaks_summary};
use crate::collab::room::{self, Pace, RoomReport, RoomRun};
use crate::report;

/// Longest wait after the run for updates still being relayed.
const DRAIN: Duration = Duration::from_secs(5);
/// Deadline per client for connecting and the sync handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One collaboration run.
#[derive(Debug, Clone)]
pub struct CollabRun {
    /// `users` are the clients, `hatch_rate` their connection rate, `run_time` the measured
    /// time; `rate` is not used (see `edits_per_s`).
    pub load: Load,
    /// Updates per second each client sends.
    pub edits_per_s: f64,
    /// Unmeasured time before the run.
    pub warmup: Duration,
}

/// The room's report and the peak memory of the watched processes.
#[derive(Debug, Clone, Serialize)]
pub struct CollabReport {
    /// The project the clients edited.
    pub project: String,
    #[serde(flatten)]
    pub room: RoomReport,
    pub processes: Vec<ProcessPeak>,
}

impl report::Report for CollabReport {
    fn summary(&self) -> String {
        let mut out = format!("collab in project {}\n", self.project);
        out.push_str(&report::Report::summary(&self.room));
        if !self.processes.is_empty() {
            out.push_str(&format!("\n  peak RSS: {}", peaks_summary(&self.processes)));
        }
        out
    }
}

/// `http://…` → `ws://…/api/collab` (and https → wss).
fn collab_endpoint(host: &str) -> String {
    let host = host.trim_end_matches('/');
    let ws = if let Some(rest) = host.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = host.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        host.to_owned()
    };
    format!("{ws}/api/collab")
}

/// Runs the scenario.
pub async fn run(run: CollabRun) -> anyhow::Result<CollabReport> {
    let load = &run.load;
    load.check()?;
    let owner_id = format!("{}-owner", load.user_prefix);
    let owner = User {
        index: 0,
        token: load.token(&owner_id, run.warmup + DRAIN)?,
        id: owner_id,
        host: load.host(0),
        client: load.client()?,
    };
    let setup = super::stats::Step::new("setup");
    let project = super::uploads::create_project(&owner, &setup)
        .await
        .with_context(|| {
            format!(
                "could not create the project: {:?}",
                setup.report(Duration::from_secs(1)).error_kinds
            )
        })?;
    let mut endpoints = load.hosts.iter().map(|host| collab_endpoint(host));
    let url = endpoints.next().context("at least one --host is needed")?;
    let room_run = RoomRun {
        url,
        more_urls: endpoints.collect(),
        room: project.clone(),
        token: Some(owner.token.clone()),
        clients: load.users,
        pace: Pace::Rate(run.edits_per_s),
        duration: load.run_time,
        warmup: run.warmup,
        drain: DRAIN,
        connect_rate: load.hatch_rate,
        connect_timeout: CONNECT_TIMEOUT,
        server_pid: load.watch.first().map(|watched| watched.pid),
    };
    let room = room::run(room_run).await?;
    Ok(CollabReport {
        project,
        room,
        processes: load.peaks(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_base_urls() {
        assert_eq!(
            collab_endpoint("http://127.0.0.1:8080/"),
            "ws://127.0.0.1:8080/api/collab"
        );
        assert_eq!(
            collab_endpoint("https://studio.example"),
            "wss://studio.example/api/collab"
        );
    }
}
