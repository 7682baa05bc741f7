//! The collaboration half of the persistence port: each project's Yjs document, stored as a
//! compacted snapshot plus a log of the updates made after it.
//!
//! The bytes are Yjs v1 updates (`encodeStateAsUpdate` / `observe_update_v1` output); this crate
//! never decodes them. Loading a document is "apply the snapshot, then every logged update": Yjs
//! updates commute and applying one twice does nothing, so order and overlap do not matter.
//!
//! Invariants, on both backends:
//! - An appended update is durable when `collab_append` returns; nothing but a snapshot that
//!   covers it removes it.
//! - A snapshot removes exactly the log entries the caller says it covers (by sequence number,
//!   never "everything up to N": sequence numbers from concurrent writers may commit out of
//!   order), in the same transaction that writes it.
//! - Snapshots are written compare-and-swap on their `generation`: a writer states the
//!   generation its state was built on, and a stale writer (another node snapshotted since)
//!   writes nothing and gets the current snapshot back to merge. So a snapshot never replaces
//!   one whose content it does not hold, and the log entries that one covered are never lost.
//! - `collab_load` reads the snapshot and the log as of one moment, so it never pairs a snapshot
//!   with a log that a newer snapshot has already pruned (losing what only that one holds).
//! - Both go with their project when it is deleted.

use async_trait::async_trait;
use studio_core::ProjectId;

use crate::DbError;

/// A stored snapshot: the whole document state as one Yjs update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollabSnapshot {
    pub state: Vec<u8>,
    /// 1 for the first snapshot of a project, +1 on every write.
    pub generation: i64,
}

/// One entry of the update log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedUpdate {
    /// Unique per entry and increasing in insertion order within one writer (not a commit order
    /// across writers).
    pub seq: i64,
    pub update: Vec<u8>,
}

/// What is stored of a project's document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredCollabDocument {
    /// `None` until the first snapshot.
    pub snapshot: Option<CollabSnapshot>,
    /// The log entries not yet folded into a snapshot, by `seq`.
    pub updates: Vec<LoggedUpdate>,
}

/// What became of a snapshot write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotWrite {
    /// Written as this generation; the covered log entries are gone.
    Written { generation: i64 },
    /// Nothing was written: the stored snapshot is no longer the base the caller built on. It is
    /// returned so the caller can merge it and try again.
    Stale { current: CollabSnapshot },
}

/// Persistence of collaborative documents.
#[async_trait]
pub trait CollabStore: Send + Sync + 'static {
    /// The snapshot (if any) and the log entries after it. `NotFound` if the project does not
    /// exist.
    async fn collab_load(&self, project: &ProjectId) -> Result<StoredCollabDocument, DbError>;

    /// The log entries currently stored, by `seq` (what a snapshot about to be written must
    /// fold in). Empty for an unknown project.
    async fn collab_log(&self, project: &ProjectId) -> Result<Vec<LoggedUpdate>, DbError>;

    /// Appends `updates` to the log in one transaction, in order; returns their sequence
    /// numbers. Nothing is written when `updates` is empty. `NotFound` if the project is gone.
    async fn collab_append(
        &self,
        project: &ProjectId,
        updates: &[Vec<u8>],
    ) -> Result<Vec<i64>, DbError>;

    /// In one transaction: when the stored snapshot's generation is `base_generation` (0: no
    /// snapshot yet), writes `state` as generation `base_generation + 1` and deletes the log
    /// entries whose `seq` is in `covered` (entries already gone, or of another project, are
    /// ignored). Otherwise writes nothing and answers [`SnapshotWrite::Stale`] with the stored
    /// snapshot; when there is none at all (a `base_generation` other than 0 for a project never
    /// snapshotted), with generation 0 and an empty `state`: nothing to merge, retry on base 0.
    /// `NotFound` if the project is gone.
    async fn collab_snapshot(
        &self,
        project: &ProjectId,
        state: &[u8],
        covered: &[i64],
        base_generation: i64,
    ) -> Result<SnapshotWrite, DbError>;
    /// Records the problems of the Project JSON inside the live document (a JSON array of
    /// violations; `None`: it is valid). Read back as [`crate::StoredTimeline::collab_problems`].
    /// `NotFound` if the project is gone.
    async fn collab_set_problems(
        &self,
        project: &ProjectId,
        problems: Option<&str>,
    ) -> Result<(), DbError>;
}

/// A log row as both backends select it, `(seq, bytes)`, as the port hands it over.
pub(crate) fn logged((seq, update): (i64, Vec<u8>)) -> LoggedUpdate {
    LoggedUpdate { seq, update }
}

/// The answer to a snapshot write on a base that is not the stored generation: the stored
/// snapshot as `(state, generation)`, or generation 0 with an empty state when there is none.
pub(crate) fn stale(stored: Option<(Vec<u8>, i64)>) -> SnapshotWrite {
    let (state, generation) = stored.unwrap_or_default();
    SnapshotWrite::Stale {
        current: CollabSnapshot { state, generation },
    }
}

/// The generation a snapshot written on `base` gets.
pub(crate) fn next_generation(project: &ProjectId, base: i64) -> Result<i64, DbError> {
    base.checked_add(1).ok_or_else(|| {
        DbError::Corrupt(format!(
            "collab_snapshots.generation of {project} cannot grow"
        ))
    })
}
