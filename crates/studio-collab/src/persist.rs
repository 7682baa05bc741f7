//! One task per live document keeps it durable: it group-commits the update log, writes
//! snapshots, promotes the timeline the document holds, maintains awareness, and unloads the
//! document once its last client has left and everything is saved.
//!
//! - **Update log**: woken by a change, the task waits one flush interval (so the updates of
//!   that interval share one transaction), then appends everything buffered. A failed append
//!   keeps the updates buffered, in order, and is retried.
//! - **Snapshot** (while dirty, at most every snapshot interval; when the last client left; on
//!   shutdown): flush, read the log back, fold it into the document (entries from other nodes
//!   included), encode the whole state and write it, deleting exactly the log entries folded in,
//!   compare-and-swap on the snapshot generation. A stale generation means another node
//!   snapshotted: its snapshot is folded in too and the write retried. So a snapshot only ever
//!   deletes log entries its state contains.
//! - **Timeline**: after a snapshot, the Project JSON under the `project` map goes to the
//!   [`TimelineSink`](crate::TimelineSink); its verdict is published to clients as the server's
//!   awareness state `{"studio": {"timeline": {...}}}`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use studio_db::{DbError, SnapshotWrite};
use yrs::{ReadTxn, StateVector, Transact};

use crate::hub::{CollabHub, LoadedRoom};
use crate::room::{ApplyError, Origin};
use crate::timeline::{self, TimelineVerdict};

/// Awareness upkeep: renew the server's state, sweep stale ones.
const AWARENESS_UPKEEP: Duration = Duration::from_secs(10);
/// Wait after a failed save before trying again, doubled on each failure in a row up to
/// [`RETRY_AFTER_MAX`] (a database outage, or a document that cannot be snapshotted, should not
/// be retried, and logged, every second).
const RETRY_AFTER: Duration = Duration::from_secs(1);
const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);
/// Compare-and-swap attempts of one snapshot before giving up until the next one.
const SNAPSHOT_ATTEMPTS: usize = 5;

/// Why a save did not happen.
enum SaveError {
    /// The project is gone: drop the document.
    ProjectGone,
    Failed(String),
}

impl From<DbError> for SaveError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::NotFound => SaveError::ProjectGone,
            other => SaveError::Failed(other.to_string()),
        }
    }
}

/// The persistence task of one document; returns when the document is unloaded.
pub(crate) async fn run(hub: CollabHub, loaded: LoadedRoom) {
    let config = hub.inner.config.clone();
    let room = loaded.room.clone();
    let mut upkeep = tokio::time::interval(AWARENESS_UPKEEP);
    let mut last_snapshot = Instant::now();
    let mut last_derived: Option<Value> = None;
    let mut retry_after: Option<Duration> = None;
    // Clients hear what the server makes of the document from the start (the verdict is the
    // server's awareness state, which lives only while the document is loaded).
    promote(&hub, &loaded, &mut last_derived).await;
    loop {
        let snapshot_due = {
            let state = room.lock();
            state
                .dirty_since
                .map(|_| last_snapshot + config.snapshot_interval)
        };
        tokio::select! {
            () = room.wake.notified() => {
                // Group commit: let the updates of one interval gather.
                tokio::select! {
                    () = tokio::time::sleep(config.flush_interval) => {}
                    () = loaded.stop.cancelled() => {}
                    () = hub.inner.shutdown.cancelled() => {}
                }
            }
            () = sleep_until(snapshot_due) => {}
            _ = upkeep.tick() => {
                room.maintain_awareness(now_ms(), config.awareness_timeout.as_millis() as u64);
                continue;
            }
            () = loaded.stop.cancelled() => return,
            () = hub.inner.shutdown.cancelled() => {}
        }
        if loaded.stop.is_cancelled() {
            return;
        }
        if let Some(wait) = retry_after {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = loaded.stop.cancelled() => return,
                () = hub.inner.shutdown.cancelled() => {}
            }
        }
        let closing = hub.inner.shutdown.is_cancelled();
        let idle = room.lock().connection_count() == 0;
        let result = async {
            flush(&hub, &loaded).await?;
            let dirty = room.lock().dirty_since.is_some();
            if dirty && (closing || idle || last_snapshot.elapsed() >= config.snapshot_interval) {
                snapshot(&hub, &loaded).await?;
                last_snapshot = Instant::now();
                promote(&hub, &loaded, &mut last_derived).await;
            }
            Ok::<(), SaveError>(())
        }
        .await;
        match result {
            Ok(()) => retry_after = None,
            Err(SaveError::ProjectGone) => {
                hub.project_deleted(&room.project).await;
                return;
            }
            Err(SaveError::Failed(err)) => {
                retry_after =
                    Some(retry_after.map_or(RETRY_AFTER, |wait| (wait * 2).min(RETRY_AFTER_MAX)));
                tracing::error!(project.id = %room.project, error = %err, "cannot save a collaborative document; retrying");
                room.wake.notify_one();
                continue;
            }
        }
        if (closing || idle) && hub.try_unload(&loaded) {
            return;
        }
        if closing {
            // Connections are closing; go round until they are gone and everything is saved.
            tokio::time::sleep(config.flush_interval).await;
            room.wake.notify_one();
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Appends the buffered updates to the log in one transaction.
async fn flush(hub: &CollabHub, loaded: &LoadedRoom) -> Result<(), SaveError> {
    let room = &loaded.room;
    let batch = std::mem::take(&mut room.lock().log_buffer);
    if batch.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    match hub.inner.store.collab_append(&room.project, &batch).await {
        Ok(_) => {
            hub.inner.metrics.log_flushed(started.elapsed());
            Ok(())
        }
        Err(err) => {
            // Put them back in front of anything buffered meanwhile: the log keeps their order.
            let mut state = room.lock();
            let newer = std::mem::replace(&mut state.log_buffer, batch);
            state.log_buffer.extend(newer);
            Err(err.into())
        }
    }
}

/// Folds the log into the document and writes it as the new snapshot (see the module docs).
async fn snapshot(hub: &CollabHub, loaded: &LoadedRoom) -> Result<(), SaveError> {
    let store = &hub.inner.store;
    let room = loaded.room.clone();
    let project = room.project.clone();
    for _ in 0..SNAPSHOT_ATTEMPTS {
        let log = store.collab_log(&project).await?;
        let covered: Vec<i64> = log.iter().map(|entry| entry.seq).collect();
        let folding = room.clone();
        let (state_bytes, base, change_count, dirty_since) =
            tokio::task::spawn_blocking(move || {
                for entry in &log {
                    // Entries from other nodes this one has not seen reach its clients too.
                    match folding.apply(&entry.update, Origin::Storage) {
                        Ok(_) | Err(ApplyError::TooLarge { .. }) => {}
                        Err(err) => tracing::error!(error = %err, "a logged update does not apply"),
                    }
                }
                let state = folding.lock();
                let bytes = crate::protocol::guarded(|| {
                    state
                        .doc
                        .transact()
                        .encode_state_as_update_v1(&StateVector::default())
                })?;
                Ok::<_, crate::protocol::ProtocolError>((
                    bytes,
                    state.generation,
                    state.change_count,
                    state.dirty_since,
                ))
            })
            .await
            .map_err(|err| SaveError::Failed(err.to_string()))?
            .map_err(|err| SaveError::Failed(format!("cannot encode the document: {err}")))?;
        if !crate::protocol::state_reads_back(&state_bytes) {
            // Never store a snapshot that would not load: the log keeps every update instead.
            return Err(SaveError::Failed(
                "the document's state does not read back; keeping the update log".to_owned(),
            ));
        }
        match store
            .collab_snapshot(&project, &state_bytes, &covered, base)
            .await?
        {
            SnapshotWrite::Written { generation } => {
                let mut state = room.lock();
                state.generation = generation;
                state.approx_bytes =
                    state_bytes.len() + state.log_buffer.iter().map(Vec::len).sum::<usize>();
                state.snapshot_change_count = change_count;
                if state.change_count == change_count {
                    state.dirty_since = None;
                }
                drop(state);
                if let Some(since) = dirty_since {
                    hub.inner.metrics.snapshot_written(since.elapsed());
                }
                return Ok(());
            }
            SnapshotWrite::Stale { current } => {
                // Another node snapshotted since this document's base: take its state in.
                let _ = room.apply(&current.state, Origin::Storage);
                room.lock().generation = current.generation;
            }
        }
    }
    Err(SaveError::Failed(
        "snapshot: other nodes kept writing first".to_owned(),
    ))
}

/// Hands the Project JSON the document holds to the timeline sink (when it changed since the
/// last time) and tells clients what became of it.
async fn promote(hub: &CollabHub, loaded: &LoadedRoom, last: &mut Option<Value>) {
    let room = &loaded.room;
    let Some(document) = timeline::derive(&room.lock()) else {
        return;
    };
    if last.as_ref() == Some(&document) {
        return;
    }
    *last = Some(document.clone());
    let status = match hub.inner.timeline.promote(&room.project, document).await {
        Ok(TimelineVerdict::Promoted { version } | TimelineVerdict::Unchanged { version }) => {
            json!({"status": "valid", "version": version, "problems": []})
        }
        Ok(TimelineVerdict::Invalid { problems }) => {
            json!({"status": "invalid", "problems": problems})
        }
        Err(err) => {
            *last = None;
            tracing::error!(project.id = %room.project, error = %err, "cannot check the document's timeline");
            return;
        }
    };
    room.set_server_awareness(&json!({"studio": {"timeline": status}}));
}
