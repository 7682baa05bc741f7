//! One client of a room run: connects, completes the sync handshake, then both sends (a real
//! Yjs update per marker, on a fixed schedule or as the in-flight window allows) and receives
//! (scanning relayed updates for other clients' markers), until told to close.
//!
//! One task per client, one `select!` loop, no split of the socket: reads come first (`biased`)
//! so a busy sender never lets its receive queue build up and inflate others' latencies.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::Message;
use yrs::{Doc, Map as _, MapRef, Transact as _};

use super::ledger::nanos_since;
use super::{Phase, Plan, Shared};
use crate::collab::connection::{self, Read, ReadySignal, Ws};
use crate::collab::marker::{self, Marker};
use crate::collab::protocol::{self, Incoming};
use crate::report::micros_histogram;

/// How long the load tool waits for the server to acknowledge its close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Stand-in deadline for timers not armed yet.
const FAR: Duration = Duration::from_secs(86_400 * 365);

/// What one client measured.
#[derive(Debug)]
pub struct Outcome {
    /// Completed the handshake.
    pub synced: bool,
    /// Connect plus handshake, in microseconds.
    pub connect_micros: Option<u64>,
    /// Relay latency of updates sent in the measurement window, in microseconds.
    pub latency: Histogram<u64>,
    /// How late sends left against their schedule (rate runs), in microseconds.
    pub lag: Histogram<u64>,
    /// Updates this client sent in the measurement window.
    pub sent_in_window: u64,
    /// Deliveries to this client of updates sent in the measurement window.
    pub delivered_of_window: u64,
    /// Deliveries to this client that arrived in the measurement window.
    pub received_in_window: u64,
    /// Markers seen again, or after a later one of the same sender.
    pub duplicates: u64,
    /// This client's own updates coming back (the reference server echoes them).
    pub echoes: u64,
}

impl Outcome {
    fn new() -> Self {
        Self {
            synced: false,
            connect_micros: None,
            latency: micros_histogram(),
            lag: micros_histogram(),
            sent_in_window: 0,
            delivered_of_window: 0,
            received_in_window: 0,
            duplicates: 0,
            echoes: 0,
        }
    }
}

/// Everything a client needs to start.
pub struct Start {
    /// Client number, also its marker's client field.
    pub id: u32,
    /// Room URL with token.
    pub url: String,
    /// When to start connecting (the connection ramp).
    pub connect_at: Instant,
    /// Connect plus handshake deadline.
    pub timeout: Duration,
    /// Offset of the first send after the plan's start (rate runs).
    pub jitter: Duration,
    /// Phase changes from the coordinator.
    pub phase: watch::Receiver<Phase>,
    /// Where to report the handshake result.
    pub ready: mpsc::UnboundedSender<bool>,
}

struct Peer {
    id: u32,
    index: usize,
    shared: Arc<Shared>,
    doc: Doc,
    map: MapRef,
    key: String,
    /// Updates sent so far; the next update's seq.
    sent: u64,
    /// Per sender: highest seq seen, plus one (0 = none).
    seen: Vec<u64>,
    plan: Option<Plan>,
    out: Outcome,
}

/// Runs one client to the end and returns what it measured.
pub async fn run(shared: Arc<Shared>, start: Start) -> Outcome {
    let Start {
        id,
        url,
        connect_at,
        timeout,
        jitter,
        mut phase,
        ready,
    } = start;
    let mut ready = ReadySignal::new(ready);
    let doc = Doc::new();
    let map = doc.get_or_insert_map("lt");
    let mut peer = Peer {
        id,
        index: usize::try_from(id).expect("client ids fit usize"),
        seen: vec![0; shared.clients],
        shared,
        doc,
        map,
        key: marker::key(id),
        sent: 0,
        plan: None,
        out: Outcome::new(),
    };
    tokio::time::sleep_until(connect_at).await;
    let began = Instant::now();
    let mut ws = match connection::open(&url, timeout).await {
        Ok(ws) => ws,
        Err(kind) => {
            peer.shared.counters.error(kind);
            return peer.out;
        }
    };
    if let Err(err) = ws
        .send(Message::Binary(protocol::step1(&peer.doc).into()))
        .await
    {
        peer.shared.counters.error(connection::describe(&err));
        return peer.out;
    }
    peer.drive(&mut ws, began, timeout, jitter, &mut phase, &mut ready)
        .await;
    if let Some(window) = &peer.shared.window {
        window.set_live(peer.index, false);
    }
    peer.out
}

impl Peer {
    /// The connection's life after the opening step 1.
    async fn drive(
        &mut self,
        ws: &mut Ws,
        began: Instant,
        timeout: Duration,
        jitter: Duration,
        phase: &mut watch::Receiver<Phase>,
        ready: &mut ReadySignal<bool>,
    ) {
        let shared = Arc::clone(&self.shared);
        let handshake = tokio::time::sleep_until(began + timeout);
        let stop = tokio::time::sleep_until(began + FAR);
        let close = tokio::time::sleep_until(began + FAR);
        tokio::pin!(handshake, stop, close);
        let mut schedule: Option<Interval> = None;
        let mut sending = false;
        let mut closing = false;
        loop {
            let window_open = sending
                && shared
                    .window
                    .as_ref()
                    .is_some_and(|window| window.open(self.index, self.sent));
            tokio::select! {
                biased;
                next = ws.next() => {
                    let frame = match connection::read(next, ws, closing, &shared.counters).await {
                        Read::Frame(frame) => frame,
                        Read::Continue => continue,
                        Read::Ended => break,
                    };
                    match protocol::classify(&frame) {
                        Incoming::Update(update) => self.on_update(update),
                        Incoming::SyncStep2(_) if !self.out.synced => {
                            self.out.synced = true;
                            self.out.connect_micros = Some(micros(began.elapsed()));
                            if let Some(window) = &shared.window {
                                window.set_live(self.index, true);
                            }
                            ready.send(true);
                        }
                        Incoming::SyncStep1(state_vector) => {
                            match protocol::step2_for(&self.doc, state_vector) {
                                Ok(reply) => {
                                    if let Err(err) = ws.send(Message::Binary(reply.into())).await {
                                        self.fail(&connection::describe(&err), closing);
                                        break;
                                    }
                                }
                                Err(_) => shared.counters.error("undecodable step 1"),
                            }
                        }
                        Incoming::AuthDenied(reason) => {
                            shared.counters.error(format!("auth denied: {reason}"));
                            break;
                        }
                        Incoming::Malformed => shared.counters.error("malformed frame"),
                        _ => {}
                    }
                }
                changed = phase.changed(), if !closing => {
                    let next = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Closing };
                    match next {
                        Phase::Connecting => {}
                        Phase::Running(plan) => {
                            self.plan = Some(plan);
                            sending = self.out.synced;
                            stop.as_mut().reset(plan.stop);
                            if let Some(period) = shared.period {
                                let mut interval = tokio::time::interval_at(plan.start + jitter, period);
                                // Keep the offered rate: ticks missed while the tool was busy
                                // are sent late (and show up as schedule lag), not dropped.
                                interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
                                schedule = Some(interval);
                            }
                        }
                        Phase::Closing => {
                            closing = true;
                            sending = false;
                            schedule = None;
                            close.as_mut().reset(Instant::now() + CLOSE_GRACE);
                            connection::start_close(ws).await;
                        }
                    }
                }
                scheduled = tick(&mut schedule), if sending => {
                    self.out.lag.saturating_record(micros(scheduled.elapsed()));
                    if let Err(err) = self.send_update(ws).await {
                        self.fail(&err, closing);
                        break;
                    }
                }
                () = std::future::ready(()), if window_open => {
                    if let Err(err) = self.send_update(ws).await {
                        self.fail(&err, closing);
                        break;
                    }
                }
                () = window_changed(&shared, self.index), if sending && !window_open => {}
                () = &mut stop, if sending => {
                    sending = false;
                    schedule = None;
                }
                () = &mut handshake, if !self.out.synced => {
                    shared.counters.error("handshake timeout");
                    break;
                }
                () = &mut close, if closing => break,
            }
        }
        ready.send(self.out.synced);
    }

    /// Counts an error that ended the connection.
    fn fail(&self, kind: &str, closing: bool) {
        if !closing {
            self.shared.counters.error(kind);
            self.shared.counters.disconnect();
        }
    }

    /// Sends the next update: sets `lt.c<id>` to the next marker in this client's document
    /// and sends the transaction's update, recording the send instant.
    async fn send_update(&mut self, ws: &mut Ws) -> Result<(), String> {
        let seq = self.sent;
        let text = Marker {
            client: self.id,
            seq,
        }
        .text();
        let update = {
            let mut txn = self.doc.transact_mut();
            self.map.insert(&mut txn, self.key.as_str(), text);
            txn.encode_update_v1()
        };
        let frame = protocol::update(update);
        let now = Instant::now();
        let shared = &self.shared;
        shared.logs[self.index].record(seq, nanos_since(shared.epoch, now));
        self.sent += 1;
        shared
            .sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.plan.is_some_and(|plan| plan.measures(now)) {
            self.out.sent_in_window += 1;
        }
        ws.send(Message::Binary(frame.into()))
            .await
            .map_err(|err| connection::describe(&err))
    }

    /// Records the markers of a relayed update.
    fn on_update(&mut self, update: &[u8]) {
        let now = Instant::now();
        let shared = Arc::clone(&self.shared);
        let now_nanos = nanos_since(shared.epoch, now);
        for Marker { client, seq } in marker::scan(update) {
            let sender = usize::try_from(client).unwrap_or(usize::MAX);
            if sender == self.index {
                self.out.echoes += 1;
                continue;
            }
            let Some(seen) = self.seen.get_mut(sender) else {
                continue; // Not a client of this run.
            };
            if seq < *seen {
                self.out.duplicates += 1;
                continue;
            }
            *seen = seq + 1;
            shared
                .delivered
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(plan) = self.plan else {
                continue;
            };
            if plan.measures(now) {
                self.out.received_in_window += 1;
            }
            if let Some(sent_nanos) = shared.logs[sender].sent_at(seq) {
                let sent_at = shared.epoch + Duration::from_nanos(sent_nanos);
                if plan.measures(sent_at) {
                    self.out.delivered_of_window += 1;
                    self.out
                        .latency
                        .saturating_record(now_nanos.saturating_sub(sent_nanos) / 1000);
                }
            }
            if let Some(window) = &shared.window {
                window.advance(self.index, sender, seq);
            }
        }
    }
}

/// The next tick of the schedule; never, without one.
async fn tick(schedule: &mut Option<Interval>) -> Instant {
    match schedule {
        Some(interval) => interval.tick().await,
        None => std::future::pending().await,
    }
}

/// Resolves when this sender's window may have opened; never, without a window.
async fn window_changed(shared: &Shared, sender: usize) {
    match &shared.window {
        Some(window) => window.changed(sender).await,
        None => std::future::pending().await,
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
