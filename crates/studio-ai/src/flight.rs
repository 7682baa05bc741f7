//! Request coalescing: identical requests (same cache key) that arrive while one is already
//! being answered share that one upstream call.
//!
//! A *flight* is one upstream call seen as a log of [`FlightEvent`]s: `Started`, then frames,
//! then exactly one of `Done` / `Failed`. The first request for a key becomes the
//! [`Joined::Leader`]: it gets the [`FlightWriter`] (to hand to the task that calls the provider)
//! and a [`FlightReader`]. Later requests become [`Joined::Follower`]s with a reader only. Every
//! reader replays the log from the start, then follows it live, and ends after the terminal
//! event. Frames are [`Bytes`], so replay clones are reference counts, not copies.
//!
//! Invariants:
//! - One flight per key in the registry at a time; a flight leaves the registry when it ends
//!   (done, failed, writer dropped) or is abandoned, so the next request starts afresh (normally
//!   a cache hit: put the answer in the cache *before* calling [`FlightWriter::done`]).
//! - The upstream call is cancelled only when nobody listens: [`FlightWriter::abandoned`]
//!   resolves once every local reader is gone (and, with Redis, no other node's follower is
//!   listening), and the flight is closed to joiners in the same step, so no joiner can attach
//!   to a flight whose upstream call is about to be dropped.
//! - Replay memory is bounded by `max_replay_bytes` ([`DEFAULT_MAX_REPLAY_BYTES`]): past it the
//!   flight keeps streaming to the readers it has but refuses new joiners (they become leaders
//!   of their own flight), and drops the events every current reader has already read. A huge
//!   answer (long speech) then costs one extra upstream call per late joiner instead of an
//!   unbounded buffer.
//!
//! With [`Coalescer::with_redis`], requests on other nodes follow a flight through Redis; see
//! [`crate::relay`]. Requests on one node always share one in-process flight first.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use tokio::sync::Notify;

use crate::ProviderError;
use crate::relay::{Relay, RemoteListeners};

/// Default bound of one flight's replay buffer.
pub const DEFAULT_MAX_REPLAY_BYTES: usize = 32 * 1024 * 1024;
/// Events a reader takes per lock of the flight.
const READ_BATCH: usize = 64;
/// What readers still there get when the writer is dropped without `done` / `fail`.
const CANCELLED: &str = "cancelled";

/// One event of a flight, in the order the writer produced them.
#[derive(Debug, Clone, PartialEq)]
pub enum FlightEvent {
    /// The provider accepted the request: a reader may now answer `200` and start its body.
    Started,
    /// One frame of the answer (a JSON `ChatEvent` for chat, a chunk of audio for speech).
    Frame(Bytes),
    /// The answer is complete. Nothing follows.
    Done,
    /// The call failed. Before `Started`, answer with the error's status; after it, end the
    /// body with an in-stream error. Nothing follows.
    Failed(ProviderError),
}

impl FlightEvent {
    pub(crate) fn is_terminal(&self) -> bool {
        matches!(self, Self::Done | Self::Failed(_))
    }
}

/// What [`Coalescer::join`] made of a request.
pub enum Joined {
    /// Nobody was answering this key: run the upstream call (detached from this HTTP request),
    /// driving `writer`, and answer from `reader` like any follower.
    Leader {
        writer: FlightWriter,
        reader: FlightReader,
    },
    /// Someone is answering this key (here or on another node): answer from `reader`.
    Follower { reader: FlightReader },
}

/// Coalesces identical requests. Cheap to clone (one shared registry).
#[derive(Clone)]
pub struct Coalescer {
    inner: Arc<Inner>,
}

struct Inner {
    flights: Registry,
    max_replay_bytes: usize,
    relay: Option<Arc<Relay>>,
}

type Registry = Arc<Mutex<HashMap<String, Arc<Flight>>>>;

impl Coalescer {
    /// Coalesces requests of this process only.
    pub fn in_process() -> Self {
        Self::build(None)
    }

    /// Coalesces across nodes: requests of this node share one in-process flight; requests of
    /// other nodes for the same key follow it through Redis (keys under `{key_prefix}:ai:flight:`).
    /// Redis failures degrade to in-process coalescing, never to a failed request.
    pub fn with_redis(conn: redis::aio::ConnectionManager, key_prefix: String) -> Self {
        Self::build(Some(Arc::new(Relay::new(conn, key_prefix))))
    }

    fn build(relay: Option<Arc<Relay>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                flights: Arc::default(),
                max_replay_bytes: DEFAULT_MAX_REPLAY_BYTES,
                relay,
            }),
        }
    }

    /// Sets the replay bound of flights started from now on (see the module docs).
    #[must_use]
    pub fn with_max_replay_bytes(self, max_replay_bytes: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                flights: self.inner.flights.clone(),
                max_replay_bytes,
                relay: self.inner.relay.clone(),
            }),
        }
    }

    /// Joins the flight answering `key`, or starts one.
    pub async fn join(&self, key: &str) -> Joined {
        let (flight, reader) = {
            let mut flights = lock(&self.inner.flights);
            if let Some(reader) = flights.get(key).and_then(|f| f.attach(true)) {
                return Joined::Follower {
                    reader: FlightReader::local(reader),
                };
            }
            let flight = Flight::new(self.inner.max_replay_bytes);
            let reader = flight.attach_new();
            // Replaces a full or closed flight: it keeps serving its readers on its own.
            flights.insert(key.to_owned(), flight.clone());
            (flight, reader)
        };
        let writer = FlightWriter {
            flight,
            registry: self.inner.flights.clone(),
            key: key.to_owned(),
            remote: None,
            finished: false,
        };
        let reader = FlightReader::local(reader);
        match &self.inner.relay {
            None => Joined::Leader { writer, reader },
            Some(relay) => relay.clone().decide(key, writer, reader).await,
        }
    }

    /// Flights currently in the registry (for tests and metrics).
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.flights).len()
    }
}

/// Produces a flight's events. Owned by the task running the upstream call.
///
/// Dropping it without [`done`](Self::done) or [`fail`](Self::fail) ends the flight with
/// `Failed(BadGateway("cancelled"))` for the readers still there.
pub struct FlightWriter {
    flight: Arc<Flight>,
    registry: Registry,
    key: String,
    /// Other nodes' followers, when this flight is relayed through Redis.
    pub(crate) remote: Option<RemoteListeners>,
    finished: bool,
}

impl FlightWriter {
    /// The provider accepted the request.
    pub async fn started(&mut self) {
        self.flight.push(FlightEvent::Started);
    }

    /// One frame of the answer.
    pub async fn frame(&mut self, frame: Bytes) {
        self.flight.push(FlightEvent::Frame(frame));
    }

    /// The answer is complete (cache it before calling this; see the module docs).
    pub async fn done(mut self) {
        self.finish(FlightEvent::Done);
    }

    /// The call failed.
    pub async fn fail(mut self, error: ProviderError) {
        self.finish(FlightEvent::Failed(error));
    }

    /// Pushes any event; used by the relay's follower, which replays another node's log.
    pub(crate) fn push(&mut self, event: FlightEvent) {
        if event.is_terminal() {
            self.finish(event);
        } else {
            self.flight.push(event);
        }
    }

    /// Resolves when no reader remains: every local [`FlightReader`] is dropped and no other
    /// node's follower is listening. The flight is then closed (later requests start a new one),
    /// so the caller should stop the upstream call and drop the writer. Cancel-safe.
    pub async fn abandoned(&self) {
        loop {
            self.flight.all_left().await;
            if let Some(remote) = &self.remote
                && remote.any_live().await
            {
                // A local joiner may arrive meanwhile; the loop checks again.
                tokio::time::sleep_until(remote.next_check()).await;
                continue;
            }
            if self.flight.close_if_unlistened() {
                self.unregister();
                return;
            }
        }
    }

    /// The flight this writer drives (for the relay's mirror).
    pub(crate) fn flight(&self) -> &Arc<Flight> {
        &self.flight
    }

    fn finish(&mut self, event: FlightEvent) {
        self.finished = true;
        self.flight.push(event);
        self.unregister();
    }

    fn unregister(&self) {
        let mut flights = lock(&self.registry);
        if flights
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            flights.remove(&self.key);
        }
    }
}

impl Drop for FlightWriter {
    fn drop(&mut self) {
        if !self.finished {
            self.finish(FlightEvent::Failed(ProviderError::BadGateway(
                CANCELLED.to_owned(),
            )));
        }
    }
}

/// A flight's events from the start: replay, then live. Ends after `Done` or `Failed`.
/// Dropping it stops listening (the upstream call is cancelled when nobody listens).
pub struct FlightReader {
    inner: Pin<Box<dyn Stream<Item = FlightEvent> + Send>>,
}

impl FlightReader {
    fn local(cursor: Cursor) -> Self {
        let stream = futures::stream::unfold(cursor, |mut cursor| async move {
            cursor.next().await.map(|event| (event, cursor))
        });
        Self {
            inner: Box::pin(stream),
        }
    }
}

impl Stream for FlightReader {
    type Item = FlightEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<FlightEvent>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// The shared state of one flight.
pub(crate) struct Flight {
    state: Mutex<State>,
    /// Wakes cursors when an event is appended.
    appended: Notify,
    /// Wakes `abandoned()` when the last listener leaves.
    left: Notify,
}

struct State {
    /// The log; `events[0]` has the absolute index `base` (the front is dropped once full).
    events: VecDeque<FlightEvent>,
    base: usize,
    /// Frame bytes held in `events`.
    bytes: usize,
    max_bytes: usize,
    /// Over `max_bytes` at some point: no new joiners, the log is trimmed behind the cursors.
    full: bool,
    /// The terminal event is in the log.
    ended: bool,
    failed: bool,
    /// Abandoned: no new joiners.
    closed: bool,
    /// Absolute position of every cursor, and whether it counts as a listener (the relay's
    /// mirror reads the log but does not keep the upstream call alive).
    cursors: HashMap<u64, (usize, bool)>,
    next_cursor: u64,
    listeners: usize,
}

impl Flight {
    fn new(max_bytes: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                events: VecDeque::new(),
                base: 0,
                bytes: 0,
                max_bytes,
                full: false,
                ended: false,
                failed: false,
                closed: false,
                cursors: HashMap::new(),
                next_cursor: 0,
                listeners: 0,
            }),
            appended: Notify::new(),
            left: Notify::new(),
        })
    }

    /// A cursor at the start, unless the flight no longer takes joiners (full, abandoned, or
    /// failed: a failure is not worth replaying to a newcomer).
    fn attach(self: &Arc<Self>, listener: bool) -> Option<Cursor> {
        let mut state = lock(&self.state);
        if state.full || state.closed || state.failed {
            return None;
        }
        Some(self.add_cursor(&mut state, listener))
    }

    fn attach_new(self: &Arc<Self>) -> Cursor {
        let mut state = lock(&self.state);
        self.add_cursor(&mut state, true)
    }

    /// A cursor that does not count as a listener, at the start of the log (the relay's
    /// mirror); `None` once the front of the log was dropped.
    pub(crate) fn tap(self: &Arc<Self>) -> Option<Cursor> {
        let mut state = lock(&self.state);
        (state.base == 0).then(|| self.add_cursor(&mut state, false))
    }

    fn add_cursor(self: &Arc<Self>, state: &mut State, listener: bool) -> Cursor {
        let id = state.next_cursor;
        state.next_cursor += 1;
        state.cursors.insert(id, (state.base, listener));
        if listener {
            state.listeners += 1;
        }
        Cursor {
            flight: self.clone(),
            id,
            pos: state.base,
            buffer: VecDeque::new(),
            finished: false,
        }
    }

    fn push(&self, event: FlightEvent) {
        {
            let mut state = lock(&self.state);
            if state.ended {
                return;
            }
            if let FlightEvent::Frame(frame) = &event {
                state.bytes += frame.len();
            }
            state.ended = event.is_terminal();
            state.failed = matches!(event, FlightEvent::Failed(_));
            state.events.push_back(event);
            if state.bytes > state.max_bytes {
                state.full = true;
            }
            if state.full {
                state.trim();
            }
        }
        self.appended.notify_waiters();
    }

    pub(crate) fn is_full(&self) -> bool {
        lock(&self.state).full
    }

    async fn all_left(&self) {
        loop {
            let notified = self.left.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if lock(&self.state).listeners == 0 {
                return;
            }
            notified.await;
        }
    }

    fn close_if_unlistened(&self) -> bool {
        let mut state = lock(&self.state);
        if state.listeners == 0 {
            state.closed = true;
        }
        state.closed
    }
}

impl State {
    /// Drops the events every cursor has read (only once full: before, joiners need them).
    fn trim(&mut self) {
        let end = self.base + self.events.len();
        let keep_from = self
            .cursors
            .values()
            .map(|(pos, _)| *pos)
            .min()
            .unwrap_or(end);
        while self.base < keep_from {
            match self.events.pop_front() {
                Some(FlightEvent::Frame(frame)) => self.bytes -= frame.len(),
                Some(_) => {}
                None => break,
            }
            self.base += 1;
        }
    }
}

/// One reader's position in a flight's log.
pub(crate) struct Cursor {
    flight: Arc<Flight>,
    id: u64,
    pos: usize,
    /// Events taken from the log but not yet returned.
    buffer: VecDeque<FlightEvent>,
    finished: bool,
}

impl Cursor {
    pub(crate) fn flight(&self) -> &Arc<Flight> {
        &self.flight
    }

    /// The next event; `None` after the terminal one.
    pub(crate) async fn next(&mut self) -> Option<FlightEvent> {
        if self.buffer.is_empty() && !self.finished {
            self.fill().await;
        }
        let event = self.buffer.pop_front()?;
        if event.is_terminal() {
            self.finished = true;
            self.buffer.clear();
        }
        Some(event)
    }

    /// Every event available now (waiting for at least one); empty after the terminal one.
    pub(crate) async fn next_batch(&mut self) -> Vec<FlightEvent> {
        if self.buffer.is_empty() && !self.finished {
            self.fill().await;
        }
        let batch: Vec<FlightEvent> = self.buffer.drain(..).collect();
        if batch.last().is_some_and(FlightEvent::is_terminal) {
            self.finished = true;
        }
        batch
    }

    async fn fill(&mut self) {
        let flight = self.flight.clone();
        loop {
            let notified = flight.appended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = lock(&flight.state);
                // The log is only trimmed behind every cursor, so `pos >= base`.
                let start = self.pos.saturating_sub(state.base);
                let taken = state.events.len().saturating_sub(start).min(READ_BATCH);
                if taken > 0 {
                    self.buffer
                        .extend(state.events.range(start..start + taken).cloned());
                    self.pos += taken;
                    if let Some(cursor) = state.cursors.get_mut(&self.id) {
                        cursor.0 = self.pos;
                    }
                    if state.full {
                        state.trim();
                    }
                    return;
                }
                if state.ended {
                    // Cannot happen (the terminal event ends the cursor); stay safe anyway.
                    self.finished = true;
                    return;
                }
            }
            notified.await;
        }
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        let mut state = lock(&self.flight.state);
        let Some((_, listener)) = state.cursors.remove(&self.id) else {
            return;
        };
        if state.full {
            state.trim();
        }
        if listener {
            state.listeners -= 1;
            if state.listeners == 0 {
                drop(state);
                self.flight.left.notify_waiters();
            }
        }
    }
}

/// Locks a mutex, going on with the data if a panicking thread poisoned it (every critical
/// section here leaves the state consistent between statements that can panic).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
