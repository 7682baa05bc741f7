//! `collab idle`: many quiet connections. Opens N connections spread over K rooms at a ramp
//! rate, each completing the sync handshake (its step 1 answered by the server's step 2), holds
//! them, then closes them; reports how many made it and, given the server's pid, how much
//! resident memory the server gained per connection.
//!
//! Idle connections carry no document: they send an empty step 1 and answer the server's
//! step 1 with an empty step 2, as a fresh client with nothing to contribute does.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::Message;

use super::connection::{self, Read, ReadySignal, Ws};
use super::counters::{Counters, CountersReport};
use super::protocol::{self, Incoming};
use crate::report::{self, Percentiles, micros_histogram, round3};
use crate::sys;

/// How long the load tool waits for the server to acknowledge its close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// One idle run.
#[derive(Debug, Clone)]
pub struct IdleRun {
    /// Collaboration endpoint.
    pub url: String,
    /// Room name template: `{}` is replaced by the room number; without `{}`, `-<k>` is
    /// appended when there is more than one room.
    pub room: String,
    /// Access token, sent as `?token=`.
    pub token: Option<String>,
    /// Rooms to spread the connections over (connection `i` joins room `i mod rooms`).
    pub rooms: usize,
    /// Connections to open.
    pub connections: usize,
    /// New connections per second.
    pub ramp: f64,
    /// How long to hold them once all are open.
    pub hold: Duration,
    /// Connect plus handshake deadline per connection.
    pub connect_timeout: Duration,
    /// The server process, to measure its resident memory.
    pub server_pid: Option<u32>,
}

/// What an idle run measured.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    /// `idle`.
    pub scenario: &'static str,
    /// The endpoint (without the token).
    pub url: String,
    /// Rooms used.
    pub rooms: usize,
    /// Connections asked for.
    pub connections: usize,
    /// Connections that completed the handshake.
    pub connected: usize,
    /// Connections that did not.
    pub failed: usize,
    /// Asked-for ramp, connections per second.
    pub ramp_per_s: f64,
    /// From the first connect to the last handshake, seconds.
    pub connect_s: f64,
    /// Hold time, seconds.
    pub hold_s: f64,
    /// Connections still open at the end of the hold.
    pub open_after_hold: u64,
    /// Connect plus handshake, per connection.
    pub connect_ms: Percentiles,
    /// The server's VmRSS before connecting, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_before_bytes: Option<u64>,
    /// The server's VmRSS once all were connected, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_connected_bytes: Option<u64>,
    /// The server's VmRSS at the end of the hold, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_after_bytes: Option<u64>,
    /// `rss_after − rss_before`, bytes (negative if the server gave memory back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_growth_bytes: Option<i64>,
    /// Growth per connected connection, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_per_connection: Option<f64>,
    /// Errors, disconnects, close codes, pings.
    #[serde(flatten)]
    pub counters: CountersReport,
}

/// The name of room `index` of `rooms` from a template.
pub fn room_name(template: &str, index: usize, rooms: usize) -> String {
    if template.contains("{}") {
        template.replace("{}", &index.to_string())
    } else if rooms == 1 {
        template.to_owned()
    } else {
        format!("{template}-{index}")
    }
}

/// Shared by the connections of a run.
#[derive(Debug, Default)]
struct Shared {
    counters: Counters,
    open: std::sync::atomic::AtomicU64,
}

/// Runs the idle scenario.
pub async fn run(config: IdleRun) -> anyhow::Result<IdleReport> {
    anyhow::ensure!(config.rooms >= 1, "--rooms must be at least 1");
    let rss =
        |pid: Option<u32>| -> anyhow::Result<Option<u64>> { pid.map(sys::rss_bytes).transpose() };
    let rss_before = rss(config.server_pid).context("the server's memory before connecting")?;
    let shared = Arc::new(Shared::default());
    let (closing_tx, closing_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Option<u64>>();
    let epoch = Instant::now();
    let mut tasks = JoinSet::new();
    for index in 0..config.connections {
        let room = room_name(&config.room, index % config.rooms, config.rooms);
        let url = connection::room_url(&config.url, &room, config.token.as_deref());
        let connect_at = epoch + Duration::from_secs_f64(index as f64 / config.ramp);
        let connection = Connection {
            shared: Arc::clone(&shared),
            ready: ReadySignal::new(ready_tx.clone()),
            closing: closing_rx.clone(),
            timeout: config.connect_timeout,
        };
        tasks.spawn(connection.run(url, connect_at));
    }
    drop(ready_tx);
    let mut connect = micros_histogram();
    while let Some(result) = ready_rx.recv().await {
        if let Some(micros) = result {
            connect.saturating_record(micros);
        }
    }
    let connect_s = epoch.elapsed().as_secs_f64();
    let connected = usize::try_from(connect.len()).unwrap_or(usize::MAX);
    let rss_connected = rss(config.server_pid).context("the server's memory once connected")?;
    tokio::time::sleep(config.hold).await;
    let rss_after = rss(config.server_pid).context("the server's memory after the hold")?;
    let open_after_hold = shared.open.load(std::sync::atomic::Ordering::Relaxed);
    closing_tx.send_replace(true);
    tasks.join_all().await;

    let rss_growth = rss_before.zip(rss_after).map(|(before, after)| {
        i64::try_from(after).unwrap_or(i64::MAX) - i64::try_from(before).unwrap_or(i64::MAX)
    });
    Ok(IdleReport {
        scenario: "idle",
        url: config.url.clone(),
        rooms: config.rooms,
        connections: config.connections,
        connected,
        failed: config.connections - connected,
        ramp_per_s: config.ramp,
        connect_s: round3(connect_s),
        hold_s: config.hold.as_secs_f64(),
        open_after_hold,
        connect_ms: Percentiles::from_micros(&connect),
        rss_before_bytes: rss_before,
        rss_connected_bytes: rss_connected,
        rss_after_bytes: rss_after,
        rss_growth_bytes: rss_growth,
        bytes_per_connection: rss_growth
            .filter(|_| connected > 0)
            .map(|growth| round3(growth as f64 / connected as f64)),
        counters: shared.counters.report(),
    })
}

/// One idle connection.
struct Connection {
    shared: Arc<Shared>,
    ready: ReadySignal<Option<u64>>,
    closing: watch::Receiver<bool>,
    timeout: Duration,
}

impl Connection {
    async fn run(mut self, url: String, connect_at: Instant) {
        tokio::time::sleep_until(connect_at).await;
        let began = Instant::now();
        let mut ws = match connection::open(&url, self.timeout).await {
            Ok(ws) => ws,
            Err(kind) => {
                self.shared.counters.error(kind);
                return;
            }
        };
        if let Err(err) = ws
            .send(Message::Binary(protocol::empty_step1().into()))
            .await
        {
            self.shared.counters.error(connection::describe(&err));
            return;
        }
        self.shared
            .open
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.drive(&mut ws, began).await;
        self.shared
            .open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }

    async fn drive(&mut self, ws: &mut Ws, began: Instant) {
        let counters = &self.shared.counters;
        let handshake = tokio::time::sleep_until(began + self.timeout);
        let close = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(handshake, close);
        let mut synced = false;
        let mut closing = false;
        loop {
            tokio::select! {
                biased;
                next = ws.next() => {
                    let frame = match connection::read(next, ws, closing, counters).await {
                        Read::Frame(frame) => frame,
                        Read::Continue => continue,
                        Read::Ended => break,
                    };
                    match protocol::classify(&frame) {
                        Incoming::SyncStep2(_) if !synced => {
                            synced = true;
                            let micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
                            self.ready.send(Some(micros));
                        }
                        Incoming::SyncStep1(_) => {
                            let reply = Message::Binary(protocol::EMPTY_STEP2.to_vec().into());
                            if let Err(err) = ws.send(reply).await {
                                if !closing {
                                    counters.error(connection::describe(&err));
                                    counters.disconnect();
                                }
                                break;
                            }
                        }
                        Incoming::AuthDenied(reason) => {
                            counters.error(format!("auth denied: {reason}"));
                            break;
                        }
                        Incoming::Malformed => counters.error("malformed frame"),
                        _ => {}
                    }
                }
                changed = self.closing.changed(), if !closing => {
                    if changed.is_err() || *self.closing.borrow_and_update() {
                        closing = true;
                        close.as_mut().reset(Instant::now() + CLOSE_GRACE);
                        connection::start_close(ws).await;
                    }
                }
                () = &mut handshake, if !synced => {
                    counters.error("handshake timeout");
                    break;
                }
                () = &mut close, if closing => break,
            }
        }
    }
}

impl report::Report for IdleReport {
    fn summary(&self) -> String {
        let mut lines = vec![
            format!(
                "idle: {}/{} connections synced over {} rooms ({} failed) in {:.1} s at {}/s; \
                 {} still open after {} s hold",
                self.connected,
                self.connections,
                self.rooms,
                self.failed,
                self.connect_s,
                self.ramp_per_s,
                self.open_after_hold,
                self.hold_s
            ),
            format!("  connect+handshake {}", self.connect_ms.summary()),
        ];
        if let (Some(before), Some(after), Some(growth)) = (
            self.rss_before_bytes,
            self.rss_after_bytes,
            self.rss_growth_bytes,
        ) {
            let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
            lines.push(format!(
                "  server RSS {:.1} MiB before, {:.1} MiB after: {:+.1} MiB, {:.0} bytes per connection",
                mib(before),
                mib(after),
                growth as f64 / (1024.0 * 1024.0),
                self.bytes_per_connection.unwrap_or_default()
            ));
        }
        lines.push(format!("  {}", self.counters.summary()));
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names() {
        assert_eq!(room_name("idle", 3, 10), "idle-3");
        assert_eq!(room_name("idle", 0, 1), "idle");
        assert_eq!(room_name("prj_{}_doc", 4, 10), "prj_4_doc");
    }
}
