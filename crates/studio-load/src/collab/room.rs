//! Room runs, behind `collab relay` and `collab throughput`: N clients join one room, each
//! both sending updates and receiving everyone else's, and the run measures how fast and how
//! completely the server relays them.
//!
//! Phases: connect (ramped; every client completes the sync handshake), run (`warmup`, then
//! the measured `duration`), drain (until every update sent has reached every other client,
//! or `drain` passes), close. Only updates *sent* in the measured window count towards
//! latency, deliveries and missing deliveries; throughput also reports deliveries that
//! *arrived* in the window.

mod ledger;
mod peer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use self::ledger::{SendLog, Window};
use super::connection;
use super::counters::{Counters, CountersReport};
use super::marker::MAX_CLIENTS;
use crate::report::{self, Percentiles, micros_histogram, round3};
use crate::sys;

/// Delay between "everyone is connected" and the first send, so no client starts while the
/// coordinator is still telling the others.
const START_DELAY: Duration = Duration::from_millis(50);
/// How often the drain phase checks whether every delivery has arrived.
const DRAIN_POLL: Duration = Duration::from_millis(10);
/// Most send-log slots per sender in a rate run (8 MiB each): longer runs reuse slots, which
/// only matters for a receiver more than this many updates behind its sender.
const MAX_LOG_SLOTS: usize = 1 << 20;

/// How senders pace themselves.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// A fixed schedule of this many updates per second per client.
    Rate(f64),
    /// As fast as the server relays: at most this many updates per sender in flight (not yet
    /// seen by every other live client).
    Window(u64),
}

/// One room run.
#[derive(Debug, Clone)]
pub struct RoomRun {
    /// Collaboration endpoint, e.g. `ws://127.0.0.1:8080/api/collab`.
    pub url: String,
    /// Further endpoints of the same deployment (other nodes): client `i` connects to entry
    /// `i mod n` of `url` followed by these, so one room spans every node.
    pub more_urls: Vec<String>,
    /// The room.
    pub room: String,
    /// Access token, sent as `?token=`.
    pub token: Option<String>,
    /// Clients in the room (2 to 10,000).
    pub clients: usize,
    /// How senders pace themselves.
    pub pace: Pace,
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time before it.
    pub warmup: Duration,
    /// Longest wait after the last send for outstanding deliveries.
    pub drain: Duration,
    /// New connections per second while connecting.
    pub connect_rate: f64,
    /// Connect plus handshake deadline per client.
    pub connect_timeout: Duration,
    /// The server process, to report the CPU it used in the measured window.
    pub server_pid: Option<u32>,
}

/// The phase the coordinator broadcasts to all clients.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Connecting,
    Running(Plan),
    Closing,
}

/// When sending starts, when measuring starts, and when both stop.
#[derive(Debug, Clone, Copy)]
struct Plan {
    start: Instant,
    measure_start: Instant,
    stop: Instant,
}

impl Plan {
    /// Whether `at` falls in the measured window.
    fn measures(&self, at: Instant) -> bool {
        at >= self.measure_start && at < self.stop
    }
}

/// State all clients of a run share.
#[derive(Debug)]
struct Shared {
    epoch: Instant,
    clients: usize,
    /// Rate runs: the schedule period.
    period: Option<Duration>,
    /// Throughput runs: the in-flight window.
    window: Option<Window>,
    /// Per sender.
    logs: Box<[SendLog]>,
    /// Updates sent, whole run.
    sent: AtomicU64,
    /// Deliveries (first sight of another client's marker), whole run.
    delivered: AtomicU64,
    counters: Counters,
}

/// What a room run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RoomReport {
    /// `relay` or `throughput`.
    pub scenario: &'static str,
    /// The endpoint (without the token).
    pub url: String,
    /// The room.
    pub room: String,
    /// Clients asked for.
    pub clients: usize,
    /// Clients that completed the handshake.
    pub connected: usize,
    /// Relay runs: updates per second per client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_client: Option<f64>,
    /// Throughput runs: in-flight updates per sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<u64>,
    /// Unmeasured warmup, seconds.
    pub warmup_s: f64,
    /// Measured time, seconds.
    pub duration_s: f64,
    /// Updates sent in the measured window.
    pub updates_sent: u64,
    /// The same per second.
    pub updates_sent_per_s: f64,
    /// `updates_sent × (connected − 1)`.
    pub expected_deliveries: u64,
    /// Deliveries of the updates sent in the window (after draining).
    pub deliveries: u64,
    /// The same per second of the window.
    pub deliveries_per_s: f64,
    /// `expected_deliveries − deliveries`.
    pub missing_deliveries: u64,
    /// Deliveries that arrived in the window, per second (what the server sustained).
    pub received_per_s: f64,
    /// Markers seen twice, or after a later one from the same sender.
    pub duplicate_deliveries: u64,
    /// Own updates the server sent back (the reference server does; it need not).
    pub echoes: u64,
    /// Send to first sight by another client, updates sent in the window.
    pub latency_ms: Percentiles,
    /// Relay runs: how late sends left against their schedule (load tool saturation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_lag_ms: Option<Percentiles>,
    /// Connect plus sync handshake.
    pub connect_ms: Percentiles,
    /// CPU the server used in the measured window, percent of one core.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_percent: Option<f64>,
    /// CPU the load tool used in the measured window, percent of one core (near 100 with
    /// `--threads 1`: the tool, not the server, is the limit).
    pub load_cpu_percent: f64,
    /// Errors, disconnects, close codes, pings.
    #[serde(flatten)]
    pub connections: CountersReport,
}

/// Runs a room scenario.
pub async fn run(config: RoomRun) -> anyhow::Result<RoomReport> {
    let clients = config.clients;
    if !(2..=MAX_CLIENTS).contains(&clients) {
        bail!("a room run needs 2 to {MAX_CLIENTS} clients, not {clients}");
    }
    if let Some(pid) = config.server_pid {
        sys::cpu_seconds(pid).context("the server's CPU time")?;
    }
    let epoch = Instant::now();
    let (period, window, log_slots) = match config.pace {
        Pace::Rate(rate) => {
            let planned = rate * (config.warmup + config.duration).as_secs_f64();
            // Whole updates per client, plus one for the tick at the start and one spare.
            let slots = (planned.ceil() as usize)
                .saturating_add(2)
                .min(MAX_LOG_SLOTS);
            (Some(Duration::from_secs_f64(1.0 / rate)), None, slots)
        }
        Pace::Window(limit) => {
            let window = Window::new(limit, clients);
            let slots = window.log_capacity();
            (None, Some(window), slots)
        }
    };
    let shared = Arc::new(Shared {
        epoch,
        clients,
        period,
        window,
        logs: (0..clients).map(|_| SendLog::new(log_slots)).collect(),
        sent: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        counters: Counters::default(),
    });

    let urls: Vec<String> = std::iter::once(&config.url)
        .chain(&config.more_urls)
        .map(|base| connection::room_url(base, &config.room, config.token.as_deref()))
        .collect();
    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for id in 0..clients {
        let jitter = period.map_or(Duration::ZERO, |period| period.mul_f64(rand::random()));
        let start = peer::Start {
            id: u32::try_from(id).expect("at most MAX_CLIENTS clients"),
            url: urls[id % urls.len()].clone(),
            connect_at: epoch + Duration::from_secs_f64(id as f64 / config.connect_rate),
            timeout: config.connect_timeout,
            jitter,
            phase: phase_rx.clone(),
            ready: ready_tx.clone(),
        };
        tasks.spawn(peer::run(Arc::clone(&shared), start));
    }
    drop(ready_tx);
    let mut connected = 0;
    while let Some(synced) = ready_rx.recv().await {
        connected += usize::from(synced);
    }

    let mut cpu = CpuUse::default();
    if connected >= 2 {
        let start = Instant::now() + START_DELAY;
        let plan = Plan {
            start,
            measure_start: start + config.warmup,
            stop: start + config.warmup + config.duration,
        };
        phase_tx.send_replace(Phase::Running(plan));
        tokio::time::sleep_until(plan.measure_start).await;
        let before = CpuUse::now(config.server_pid);
        tokio::time::sleep_until(plan.stop).await;
        cpu = CpuUse::now(config.server_pid).since(&before, config.duration);
        let give_up = Instant::now() + config.drain;
        let receivers = connected as u64 - 1;
        while Instant::now() < give_up
            && shared.delivered.load(Ordering::Relaxed)
                < shared.sent.load(Ordering::Relaxed) * receivers
        {
            tokio::time::sleep(DRAIN_POLL).await;
        }
    }
    phase_tx.send_replace(Phase::Closing);
    let outcomes = tasks.join_all().await;
    if connected < 2 {
        bail!(
            "only {connected} of {clients} clients completed the handshake; {}",
            shared.counters.report().summary()
        );
    }
    Ok(summarise(&config, &shared, connected, &outcomes, cpu))
}

/// CPU seconds of the server and of the load tool at one instant, or (after [`Self::since`])
/// percent of one core over an interval.
#[derive(Debug, Clone, Copy, Default)]
struct CpuUse {
    server: Option<f64>,
    load: Option<f64>,
}

impl CpuUse {
    fn now(server_pid: Option<u32>) -> Self {
        Self {
            server: server_pid.and_then(|pid| sys::cpu_seconds(pid).ok()),
            load: sys::cpu_seconds(std::process::id()).ok(),
        }
    }

    fn since(self, earlier: &Self, interval: Duration) -> Self {
        let seconds = interval.as_secs_f64().max(f64::MIN_POSITIVE);
        let percent = |now: Option<f64>, then: Option<f64>| {
            now.zip(then)
                .map(|(now, then)| round3((now - then) / seconds * 100.0))
        };
        Self {
            server: percent(self.server, earlier.server),
            load: percent(self.load, earlier.load),
        }
    }
}

fn summarise(
    config: &RoomRun,
    shared: &Shared,
    connected: usize,
    outcomes: &[peer::Outcome],
    cpu: CpuUse,
) -> RoomReport {
    let mut latency = micros_histogram();
    let mut lag = micros_histogram();
    let mut connect = micros_histogram();
    let (mut sent, mut deliveries, mut received, mut duplicates, mut echoes) = (0, 0, 0, 0, 0);
    for outcome in outcomes {
        // Same bounds on both sides: adding cannot fail.
        let _ = latency.add(&outcome.latency);
        let _ = lag.add(&outcome.lag);
        if let Some(micros) = outcome.connect_micros {
            connect.saturating_record(micros);
        }
        sent += outcome.sent_in_window;
        deliveries += outcome.delivered_of_window;
        received += outcome.received_in_window;
        duplicates += outcome.duplicates;
        echoes += outcome.echoes;
    }
    let seconds = config.duration.as_secs_f64().max(f64::MIN_POSITIVE);
    let expected = sent * (connected as u64 - 1);
    let (scenario, rate_per_client, window) = match config.pace {
        Pace::Rate(rate) => ("relay", Some(rate), None),
        Pace::Window(limit) => ("throughput", None, Some(limit)),
    };
    RoomReport {
        scenario,
        url: config.url.clone(),
        room: config.room.clone(),
        clients: config.clients,
        connected,
        rate_per_client,
        window,
        warmup_s: config.warmup.as_secs_f64(),
        duration_s: config.duration.as_secs_f64(),
        updates_sent: sent,
        updates_sent_per_s: round3(sent as f64 / seconds),
        expected_deliveries: expected,
        deliveries,
        deliveries_per_s: round3(deliveries as f64 / seconds),
        missing_deliveries: expected.saturating_sub(deliveries),
        received_per_s: round3(received as f64 / seconds),
        duplicate_deliveries: duplicates,
        echoes,
        latency_ms: Percentiles::from_micros(&latency),
        schedule_lag_ms: rate_per_client.map(|_| Percentiles::from_micros(&lag)),
        connect_ms: Percentiles::from_micros(&connect),
        server_cpu_percent: cpu.server,
        load_cpu_percent: cpu.load.unwrap_or_default(),
        connections: shared.counters.report(),
    }
}

impl report::Report for RoomReport {
    fn summary(&self) -> String {
        let pace = match (self.rate_per_client, self.window) {
            (Some(rate), _) => format!("{rate} updates/s each"),
            (_, Some(window)) => format!("as fast as relayed, {window} in flight per sender"),
            _ => String::new(),
        };
        let mut lines = vec![
            format!(
                "{}: {}/{} clients in room {}, {pace}; {} s measured after {} s warmup",
                self.scenario,
                self.connected,
                self.clients,
                self.room,
                self.duration_s,
                self.warmup_s
            ),
            format!(
                "  sent {:.1} updates/s ({} updates); delivered {:.1}/s ({} of {} expected, \
                 {} missing, {} duplicates)",
                self.updates_sent_per_s,
                self.updates_sent,
                self.deliveries_per_s,
                self.deliveries,
                self.expected_deliveries,
                self.missing_deliveries,
                self.duplicate_deliveries
            ),
            format!(
                "  relayed in the window (by arrival): {:.1} deliveries/s",
                self.received_per_s
            ),
            format!("  relay latency {}", self.latency_ms.summary()),
        ];
        if let Some(lag) = &self.schedule_lag_ms {
            lines.push(format!(
                "  send schedule lag p99 {:.3} ms, max {:.3} ms",
                lag.p99, lag.max
            ));
        }
        lines.push(format!("  connect+handshake {}", self.connect_ms.summary()));
        let server_cpu = self
            .server_cpu_percent
            .map_or_else(String::new, |percent| format!("server {percent:.0}%, "));
        lines.push(format!(
            "  CPU in the window (100% = one core): {server_cpu}load tool {:.0}%",
            self.load_cpu_percent
        ));
        lines.push(format!("  {}", self.connections.summary()));
        lines.join("\n")
    }
}
