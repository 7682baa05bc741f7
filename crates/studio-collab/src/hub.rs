//! The registry of live projects on this node: loading a project's document on first use (once,
//! however many connect at the same moment), unloading it after its last client left and its
//! final snapshot is written, and what the rest of the server asks of live documents (apply a
//! timeline, close a user's connections, shut down).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use studio_core::{ProjectId, ProjectRole, UserId};
use studio_db::{DbError, Store};
use tokio::sync::{OnceCell, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use yrs::{Doc, Transact};

use crate::fanout::{self, FanoutMessage, RedisFanout};
use crate::room::{ApplyError, Room, lock};
use crate::timeline::{self, TimelineSink};
use crate::{CloseCode, CollabConfig, CollabMetrics, persist};

/// How long shutdown waits for final snapshots.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Why a project's document could not be opened or changed.
#[derive(Debug, thiserror::Error)]
pub enum CollabError {
    #[error("the project does not exist")]
    ProjectNotFound,
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Internal(String),
}

type Slot = Arc<OnceCell<LoadedRoom>>;

#[derive(Clone)]
pub(crate) struct LoadedRoom {
    pub(crate) room: Arc<Room>,
    /// Stops the room's persistence and fan-out tasks.
    pub(crate) stop: CancellationToken,
}

pub(crate) struct HubInner {
    pub(crate) config: CollabConfig,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) timeline: Arc<dyn TimelineSink>,
    pub(crate) fanout: Option<Arc<RedisFanout>>,
    pub(crate) metrics: CollabMetrics,
    rooms: Mutex<HashMap<ProjectId, Slot>>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
}

/// The collaboration server of one node. Cheap to clone.
#[derive(Clone)]
pub struct CollabHub {
    pub(crate) inner: Arc<HubInner>,
}

impl CollabHub {
    pub fn new(
        config: CollabConfig,
        store: Arc<dyn Store>,
        timeline: Arc<dyn TimelineSink>,
        fanout: Option<RedisFanout>,
        metrics: CollabMetrics,
    ) -> Self {
        Self {
            inner: Arc::new(HubInner {
                config,
                store,
                timeline,
                fanout: fanout.map(Arc::new),
                metrics,
                rooms: Mutex::new(HashMap::new()),
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
            }),
        }
    }

    pub fn config(&self) -> &CollabConfig {
        &self.inner.config
    }

    /// How many documents are loaded on this node.
    pub fn live_documents(&self) -> usize {
        lock(&self.inner.rooms).len()
    }

    /// The project's live room, loading its document first if needed.
    pub(crate) async fn open(&self, project: &ProjectId) -> Result<LoadedRoom, CollabError> {
        loop {
            if self.inner.shutdown.is_cancelled() {
                return Err(CollabError::ShuttingDown);
            }
            let slot = lock(&self.inner.rooms)
                .entry(project.clone())
                .or_default()
                .clone();
            let loaded = slot
                .get_or_try_init(|| load(&self.inner, project.clone()))
                .await;
            match loaded {
                Ok(loaded) if !loaded.room.lock().unloaded => return Ok(loaded.clone()),
                // Unloaded between the lookup and now: the map no longer holds it; load anew.
                Ok(_) => continue,
                Err(err) => {
                    let mut rooms = lock(&self.inner.rooms);
                    if rooms.get(project).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                        rooms.remove(project);
                    }
                    return Err(err);
                }
            }
        }
    }

    /// Writes `document` (a Project JSON that was just stored as the current timeline) into the
    /// project's live document in one transaction, loading it if it is not loaded here, so
    /// connected editors (on any node) see it.
    pub async fn apply_timeline(
        &self,
        project: &ProjectId,
        document: serde_json::Value,
    ) -> Result<(), CollabError> {
        let loaded = self.open(project).await?;
        loaded
            .room
            .edit(|state| timeline::write(state, &document))
            .map_err(|err: ApplyError| CollabError::Internal(err.to_string()))
    }

    /// Closes `user`'s connections to `project` on every node (a member removed: 4401).
    pub async fn close_user(&self, project: &ProjectId, user: &UserId, code: CloseCode) {
        self.local_room(project)
            .map(|r| r.close_connections(Some(user), code, "access revoked"));
        self.tell_others(
            project,
            FanoutMessage::Close {
                user: Some(user.clone()),
                code,
            },
        )
        .await;
    }

    /// Makes `user`'s live connections follow a new role (a viewer's updates are dropped).
    pub async fn set_user_role(&self, project: &ProjectId, user: &UserId, role: ProjectRole) {
        let writable = role.can_write();
        if let Some(room) = self.local_room(project) {
            room.set_writable(user, writable);
        }
        self.tell_others(
            project,
            FanoutMessage::Writable {
                user: user.clone(),
                writable,
            },
        )
        .await;
    }

    /// The project was deleted: closes every connection to it (4404) and drops the document
    /// without a snapshot.
    pub async fn project_deleted(&self, project: &ProjectId) {
        let slot = lock(&self.inner.rooms).remove(project);
        if let Some(loaded) = slot.and_then(|s| s.get().cloned()) {
            loaded.room.lock().unloaded = true;
            loaded
                .room
                .close_connections(None, CloseCode::ProjectGone, "project deleted");
            loaded.stop.cancel();
            self.inner.metrics.document_unloaded();
        }
        self.tell_others(
            project,
            FanoutMessage::Close {
                user: None,
                code: CloseCode::ProjectGone,
            },
        )
        .await;
    }

    /// Stops the collaboration server: closes every connection (1001, clients reconnect to
    /// another node or when this one is back), writes every dirty document's update log and
    /// final snapshot, and waits for that (up to a grace period).
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let rooms: Vec<LoadedRoom> = lock(&self.inner.rooms)
            .values()
            .filter_map(|s| s.get().cloned())
            .collect();
        for loaded in &rooms {
            loaded
                .room
                .close_connections(None, CloseCode::GoingAway, "server shutting down");
            loaded.room.wake.notify_one();
        }
        self.inner.tasks.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::error!("collaboration shutdown: final snapshots did not finish in time");
        }
    }

    fn local_room(&self, project: &ProjectId) -> Option<Arc<Room>> {
        let slot = lock(&self.inner.rooms).get(project).cloned()?;
        slot.get().map(|l| l.room.clone())
    }

    async fn tell_others(&self, project: &ProjectId, message: FanoutMessage) {
        if let Some(fanout) = &self.inner.fanout
            && let Err(err) = fanout.send(project, &message).await
        {
            tracing::warn!(error = %err, "cannot tell other nodes about a collaboration change");
        }
    }

    /// Removes `room` from the registry if it is still idle: no connection, nothing unsaved.
    /// Called by its persistence task after the final snapshot.
    pub(crate) fn try_unload(&self, loaded: &LoadedRoom) -> bool {
        let mut rooms = lock(&self.inner.rooms);
        let mut state = loaded.room.lock();
        let idle = state.unloaded
            || (state.connection_count() == 0
                && state.log_buffer.is_empty()
                && state.dirty_since.is_none());
        if !idle {
            return false;
        }
        if !state.unloaded {
            state.unloaded = true;
            self.inner.metrics.document_unloaded();
        }
        let project = &loaded.room.project;
        if let Some(slot) = rooms.get(project)
            && slot
                .get()
                .is_some_and(|l| Arc::ptr_eq(&l.room, &loaded.room))
        {
            rooms.remove(project);
        }
        loaded.stop.cancel();
        true
    }
}

/// Loads a project's document: the snapshot, then the log (decoding and applying on a blocking
/// thread: a big document is CPU work), then, if it holds no timeline yet, the project's current
/// timeline written in by the server.
async fn load(inner: &Arc<HubInner>, project: ProjectId) -> Result<LoadedRoom, CollabError> {
    let stored = match inner.store.collab_load(&project).await {
        Ok(stored) => stored,
        Err(DbError::NotFound) => return Err(CollabError::ProjectNotFound),
        Err(err) => return Err(err.into()),
    };
    let generation = stored.snapshot.as_ref().map_or(0, |s| s.generation);
    let (doc, approx_bytes) = tokio::task::spawn_blocking(move || {
        let doc = Doc::new();
        let mut approx = 0;
        let parts = stored
            .snapshot
            .iter()
            .map(|s| &s.state)
            .chain(stored.updates.iter().map(|u| &u.update));
        {
            let mut txn = doc.transact_mut();
            for bytes in parts {
                approx += bytes.len();
                match crate::protocol::decode_update(bytes) {
                    Ok(update) => {
                        if let Err(err) = txn.apply_update(update) {
                            tracing::error!(error = %err, "a stored collaboration update does not apply");
                        }
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "a stored collaboration update does not decode");
                    }
                }
            }
        }
        (doc, approx)
    })
    .await
    .map_err(|err| CollabError::Internal(format!("loading the document failed: {err}")))?;

    let (fanout_tx, fanout_rx) = match inner.fanout {
        Some(_) => {
            let (tx, rx) = mpsc::channel(fanout::QUEUE);
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let room = Room::new(
        project.clone(),
        doc,
        generation,
        approx_bytes,
        inner.metrics.clone(),
        fanout_tx,
        inner.config.max_document_bytes,
    );
    let loaded = LoadedRoom {
        room: room.clone(),
        stop: CancellationToken::new(),
    };
    if let (Some(fanout), Some(rx)) = (&inner.fanout, fanout_rx) {
        fanout.attach(&room, rx, loaded.stop.clone(), inner.metrics.clone());
    }
    let empty = timeline::derive(&room.lock()).is_none();
    if empty {
        match inner.timeline.current(&project).await {
            Ok(current) => {
                let _ = room.edit(|state| timeline::write(state, &current));
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot seed the document with the project's timeline")
            }
        }
    }
    inner.metrics.document_loaded();
    let hub = CollabHub {
        inner: inner.clone(),
    };
    inner.tasks.spawn(persist::run(hub, loaded.clone()));
    Ok(loaded)
}
