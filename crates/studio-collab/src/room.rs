//! One live project: its Yjs document and awareness in memory, the connections editing it, and
//! the updates waiting for the durable log.
//!
//! Everything about a room's state happens under one `std::sync::Mutex`: `yrs` transactions
//! block the thread, so the lock is held only for decode-free, await-free work (apply, encode,
//! queue frames with `try_send`) and never across an `.await`. Outgoing frames go into each
//! connection's bounded queue; a full queue closes that connection (1013) instead of blocking
//! the room or growing memory.
//!
//! Where a change comes from decides where it goes:
//!
//! | origin | log it | send to local connections | publish to other nodes |
//! |---|---|---|---|
//! | a client here | yes | all but the sender | yes |
//! | the server (timeline PUT, seeding) | yes | all | yes |
//! | another node (stream) | no (that node logs it) | all | no |
//! | storage (log entries read back) | no (already logged) | all | no |

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use studio_core::{ProjectId, UserId};
use tokio::sync::{Notify, mpsc};
use yrs::sync::Awareness;
use yrs::sync::awareness::AwarenessUpdate;
use yrs::{Doc, MapRef, ReadTxn, StateVector, Transact};

use crate::connection_control::ConnControl;
use crate::fanout::FanoutMessage;
use crate::{CloseCode, CollabMetrics, protocol};

/// A connection's number within this process.
pub type ConnId = u64;

/// The name of the root map holding the Project JSON.
pub const PROJECT_ROOT: &str = "project";

/// Where a change came from (see the table above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Client(ConnId),
    Server,
    Remote,
    Storage,
}

impl Origin {
    fn logged(self) -> bool {
        matches!(self, Origin::Client(_) | Origin::Server)
    }
}

/// Why an update was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the update is not a valid Yjs update: {0}")]
    Malformed(String),
    #[error("the document would exceed {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the document is unloading")]
    Unloaded,
}

/// What the room keeps of one connection.
struct ConnEntry {
    user: UserId,
    writable: Arc<AtomicBool>,
    tx: mpsc::Sender<Bytes>,
    control: Arc<ConnControl>,
    /// The awareness client ids this connection has announced: removed when it leaves.
    awareness_clients: HashSet<yrs::block::ClientID>,
}

/// The state behind the room's lock.
pub(crate) struct RoomState {
    pub(crate) doc: Doc,
    pub(crate) awareness: Awareness,
    pub(crate) project_map: MapRef,
    conns: HashMap<ConnId, ConnEntry>,
    /// Updates made here that the log does not have yet, oldest first.
    pub(crate) log_buffer: Vec<Vec<u8>>,
    /// The changes of the transaction being applied, filled by the document's update observer.
    observed: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Counts changes; a snapshot knows it covers everything when this has not moved meanwhile.
    pub(crate) change_count: u64,
    /// The change count the last written snapshot covered.
    pub(crate) snapshot_change_count: u64,
    /// When the document first changed after the last snapshot.
    pub(crate) dirty_since: Option<Instant>,
    /// The snapshot generation the document holds (0: none yet).
    pub(crate) generation: i64,
    /// The encoded size at the last snapshot plus every update applied since: an upper bound of
    /// the document's size, checked against the limit without encoding the document.
    pub(crate) approx_bytes: usize,
    /// Set once the room has left the hub; joiners must load a new one.
    pub(crate) unloaded: bool,
}

impl RoomState {
    pub(crate) fn connection_count(&self) -> usize {
        self.conns.len()
    }
}

/// A live project.
pub struct Room {
    pub(crate) project: ProjectId,
    state: Mutex<RoomState>,
    /// Wakes the persistence task (updates to log, a client left, shutdown).
    pub(crate) wake: Notify,
    pub(crate) metrics: CollabMetrics,
    /// Where changes and awareness for other nodes go (`None`: single node).
    pub(crate) fanout: Option<mpsc::Sender<FanoutMessage>>,
    pub(crate) max_document_bytes: usize,
    next_conn: AtomicU64,
}

impl Room {
    /// A room holding `doc` (already loaded: snapshot and log applied).
    pub(crate) fn new(
        project: ProjectId,
        doc: Doc,
        generation: i64,
        approx_bytes: usize,
        metrics: CollabMetrics,
        fanout: Option<mpsc::Sender<FanoutMessage>>,
        max_document_bytes: usize,
    ) -> Arc<Self> {
        let observed: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let sink = observed.clone();
        // Fires inside the commit of every transaction that changed the document, with just
        // that change: the exact bytes to log and relay.
        let subscribed = doc.observe_update_v1("studio-collab", move |_, event| {
            lock(&sink).push(event.update.clone());
        });
        if let Err(err) = subscribed {
            tracing::error!(error = %err, "cannot observe document updates");
        }
        let project_map = doc.get_or_insert_map(PROJECT_ROOT);
        let awareness = Awareness::new(doc.clone());
        Arc::new(Self {
            project,
            state: Mutex::new(RoomState {
                doc,
                awareness,
                project_map,
                conns: HashMap::new(),
                log_buffer: Vec::new(),
                observed,
                change_count: 0,
                snapshot_change_count: 0,
                dirty_since: None,
                generation,
                approx_bytes,
                unloaded: false,
            }),
            wake: Notify::new(),
            metrics,
            fanout,
            max_document_bytes,
            next_conn: AtomicU64::new(1),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, RoomState> {
        lock(&self.state)
    }

    /// Adds a connection and queues its first frames: the server's sync step 1, then the
    /// awareness states, as separate frames (the JS client loses the second message of a frame).
    /// `None` when the room has been unloaded meanwhile.
    pub(crate) fn join(
        &self,
        user: UserId,
        writable: Arc<AtomicBool>,
        tx: mpsc::Sender<Bytes>,
        control: Arc<ConnControl>,
    ) -> Option<ConnId> {
        let mut state = self.lock();
        if state.unloaded {
            return None;
        }
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let sv = state.doc.transact().state_vector();
        let _ = tx.try_send(protocol::sync_step1(&sv));
        if let Ok(update) = state.awareness.update()
            && !update.clients.is_empty()
        {
            let _ = tx.try_send(protocol::awareness(update));
        }
        state.conns.insert(
            id,
            ConnEntry {
                user,
                writable,
                tx,
                control,
                awareness_clients: HashSet::new(),
            },
        );
        self.metrics.connection_opened();
        Some(id)
    }

    /// Removes a connection, removes its awareness states and tells everyone. Returns how many
    /// connections remain.
    pub(crate) fn leave(&self, conn: ConnId) -> usize {
        let mut state = self.lock();
        let Some(entry) = state.conns.remove(&conn) else {
            return state.conns.len();
        };
        self.metrics.connection_closed();
        let gone: Vec<_> = entry
            .awareness_clients
            .into_iter()
            .filter(|client| state.awareness.meta(*client).is_some())
            .collect();
        self.remove_awareness_states(&mut state, gone);
        let left = state.conns.len();
        drop(state);
        if left == 0 {
            self.wake.notify_one();
        }
        left
    }

    /// Removes awareness states and broadcasts their removal (here and to other nodes).
    pub(crate) fn remove_awareness_states(
        &self,
        state: &mut RoomState,
        clients: Vec<yrs::block::ClientID>,
    ) {
        if clients.is_empty() {
            return;
        }
        for client in &clients {
            state.awareness.remove_state(*client);
        }
        if let Ok(update) = state.awareness.update_with_clients(clients) {
            self.publish(FanoutMessage::Awareness(
                yrs::updates::encoder::Encode::encode_v1(&update),
            ));
            self.broadcast(state, None, protocol::awareness(update));
        }
    }

    /// Answers a client's sync step 1 with sync step 2 (what it lacks); `None` if yrs cannot
    /// encode it (never seen; guarded like every yrs call on client input).
    pub(crate) fn step2_for(&self, sv: &StateVector) -> Option<Bytes> {
        let state = self.lock();
        let update =
            protocol::guarded(|| state.doc.transact().encode_state_as_update_v1(sv)).ok()?;
        Some(protocol::sync_step2(update))
    }

    /// Every awareness state, for a query-awareness.
    pub(crate) fn all_awareness(&self) -> Option<Bytes> {
        let state = self.lock();
        let update = state.awareness.update().ok()?;
        (!update.clients.is_empty()).then(|| protocol::awareness(update))
    }

    /// Applies a Yjs update (v1 bytes) from `origin`, then logs, relays and publishes what
    /// changed as the table at the top says. Returns whether the document changed.
    pub(crate) fn apply(&self, update: &[u8], origin: Origin) -> Result<bool, ApplyError> {
        let decoded = protocol::decode_update(update)
            .map_err(|err| ApplyError::Malformed(err.to_string()))?;
        let mut state = self.lock();
        if state.unloaded {
            return Err(ApplyError::Unloaded);
        }
        if matches!(origin, Origin::Client(_))
            && state.approx_bytes.saturating_add(update.len()) > self.max_document_bytes
        {
            return Err(ApplyError::TooLarge {
                limit: self.max_document_bytes,
            });
        }
        let mut applied = protocol::apply_update(&state.doc, decoded);
        if !protocol::discard_unencodable_pending(&state.doc) && applied.is_ok() {
            applied = Err(protocol::ProtocolError::Malformed(
                "its missing dependencies cannot be kept".to_owned(),
            ));
        }
        // Whatever was integrated before an error is part of the document now: handle it.
        let changed = self.after_change(&mut state, origin);
        applied.map_err(|err| ApplyError::Malformed(err.to_string()))?;
        Ok(changed)
    }

    /// Runs `edit` in one transaction as the server, then handles what changed like any change.
    pub(crate) fn edit<R>(&self, edit: impl FnOnce(&mut RoomState) -> R) -> Result<R, ApplyError> {
        let mut state = self.lock();
        if state.unloaded {
            return Err(ApplyError::Unloaded);
        }
        let result = edit(&mut state);
        self.after_change(&mut state, Origin::Server);
        Ok(result)
    }

    /// Takes the changes the observer collected and sends each where its origin says.
    fn after_change(&self, state: &mut RoomState, origin: Origin) -> bool {
        let changes = std::mem::take(&mut *lock(&state.observed));
        if changes.is_empty() {
            return false;
        }
        state.change_count += changes.len() as u64;
        state.dirty_since.get_or_insert_with(Instant::now);
        let except = match origin {
            Origin::Client(conn) => Some(conn),
            _ => None,
        };
        for change in changes {
            self.metrics.update_applied();
            state.approx_bytes = state.approx_bytes.saturating_add(change.len());
            if origin.logged() {
                self.publish(FanoutMessage::Update(change.clone()));
                state.log_buffer.push(change.clone());
            }
            self.broadcast(state, except, protocol::sync_update(change));
        }
        if origin.logged() {
            self.wake.notify_one();
        }
        true
    }

    /// Applies awareness states from a connection (or another node, `conn: None`), remembers
    /// which client ids a connection announced, and broadcasts what changed to everyone,
    /// the sender included (the JS client treats hearing nothing for 30 s as a dead link).
    pub(crate) fn apply_awareness(&self, update: AwarenessUpdate, conn: Option<ConnId>) {
        let mut state = self.lock();
        let announced: Vec<_> = update.clients.keys().copied().collect();
        let Ok(Some(summary)) = state.awareness.apply_update_summary(update) else {
            return;
        };
        if let Some(conn) = conn
            && let Some(entry) = state.conns.get_mut(&conn)
        {
            entry.awareness_clients.extend(announced);
        }
        let changed = summary.all_changes();
        if let Ok(update) = state.awareness.update_with_clients(changed) {
            if conn.is_some() {
                self.publish(FanoutMessage::Awareness(
                    yrs::updates::encoder::Encode::encode_v1(&update),
                ));
            }
            self.broadcast(&mut state, None, protocol::awareness(update));
        }
    }

    /// Sets the server's own awareness state (what it tells clients about the timeline).
    pub(crate) fn set_server_awareness(&self, value: &serde_json::Value) {
        let mut state = self.lock();
        if state.awareness.set_local_state(value).is_err() {
            return;
        }
        let me = state.awareness.client_id();
        if let Ok(update) = state.awareness.update_with_clients([me]) {
            self.publish(FanoutMessage::Awareness(
                yrs::updates::encoder::Encode::encode_v1(&update),
            ));
            self.broadcast(&mut state, None, protocol::awareness(update));
        }
    }

    /// Renews the server's awareness state (clients drop states not renewed for 30 s) and
    /// removes the states of others not renewed within `timeout_ms`.
    pub(crate) fn maintain_awareness(&self, now_ms: u64, timeout_ms: u64) {
        let mut state = self.lock();
        let me = state.awareness.client_id();
        if let Some(raw) = state.awareness.local_state_raw() {
            state.awareness.set_local_state_raw(raw);
            if let Ok(update) = state.awareness.update_with_clients([me]) {
                self.broadcast(&mut state, None, protocol::awareness(update));
            }
        }
        let stale: Vec<_> = state
            .awareness
            .iter()
            .filter(|(client, s)| {
                *client != me
                    && s.data.is_some()
                    && now_ms.saturating_sub(s.last_updated) >= timeout_ms
            })
            .map(|(client, _)| client)
            .collect();
        if !stale.is_empty() {
            // Only this node's own connections' states are announced as removed to others;
            // each node sweeps the rest itself.
            for client in &stale {
                state.awareness.remove_state(*client);
            }
            if let Ok(update) = state.awareness.update_with_clients(stale) {
                self.broadcast(&mut state, None, protocol::awareness(update));
            }
        }
    }

    /// Queues `frame` to every connection but `except`. A connection whose queue is full is
    /// closed as too slow.
    fn broadcast(&self, state: &mut RoomState, except: Option<ConnId>, frame: Bytes) {
        for (id, conn) in &state.conns {
            if Some(*id) == except || conn.control.is_closed() {
                continue;
            }
            match conn.tx.try_send(frame.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.metrics.slow_client_dropped();
                    conn.control
                        .close(CloseCode::SlowClient, "send queue full: too slow");
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    fn publish(&self, message: FanoutMessage) {
        if let Some(fanout) = &self.fanout
            && fanout.try_send(message).is_err()
        {
            // Other nodes still converge: they fold the durable log into their document when
            // they snapshot.
            self.metrics.fanout_dropped();
        }
    }

    /// Closes the connections of `user` (all when `None`) with `code`.
    pub(crate) fn close_connections(
        &self,
        user: Option<&UserId>,
        code: CloseCode,
        reason: &str,
    ) -> usize {
        let state = self.lock();
        let mut closed = 0;
        for conn in state.conns.values() {
            if user.is_none_or(|u| *u == conn.user) {
                conn.control.close(code, reason);
                closed += 1;
            }
        }
        closed
    }

    /// Changes whether `user`'s connections may write.
    pub(crate) fn set_writable(&self, user: &UserId, writable: bool) {
        let state = self.lock();
        for conn in state.conns.values().filter(|c| c.user == *user) {
            conn.writable.store(writable, Ordering::Relaxed);
        }
    }
}

/// Locks a mutex, recovering the data if a panic poisoned it (the room's state stays usable:
/// every change to it is complete before anything can panic).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
