//! Persistence for Studio Engine.
//!
//! Handlers and workers depend on the [`Store`] trait only; [`open`] picks the implementation from
//! the database URL (`sqlite:` for the embedded default, `postgres:` when scaled out). Each
//! backend has its own SQL and its own migrations (`migrations/sqlite`, `migrations/postgres`),
//! because the two dialects differ in types and locking and a lowest-common-denominator schema
//! would serve neither well. What does not depend on the dialect is shared: turning rows into
//! [`Store`] and [`MediaStore`] types (`rows`, `media_rows`) and running the embedded migrations
//! (`migrations`).

mod ai_usage;
mod archive;
mod collab;
mod error;
mod media;
mod media_rows;
mod migrations;
mod open;
mod postgres;
mod queue;
mod rows;
mod sqlite;
mod store;
mod timeline;

pub use ai_usage::{AiUsage, AiUsageStore};
pub use archive::{ArchiveStore, OriginalTier};
pub use collab::{CollabSnapshot, CollabStore, LoggedUpdate, SnapshotWrite, StoredCollabDocument};
pub use error::DbError;
pub use media::{
    AssetOutputs, AssetRecord, Confirmed, IntentError, JobRecord, MediaStore, NewAsset, NewJob,
    Usage,
};
pub use open::{MigrateMode, open};
pub use queue::{
    AttemptStart, ClaimedJob, DEFAULT_MAX_ATTEMPTS, EnqueueOptions, HeartbeatOutcome, JobCount,
    JobState, QueueJob, QueueStore,
};
pub use store::{
    Member, NewProject, Page, PageCursor, ProjectPatch, ProjectRecord, ProjectWithRole, Store,
};
pub use timeline::{
    AssetRemoval, AssetRemovalError, ClipUse, StoredTimeline, TimelineStore, TimelineWriteError,
    clips_using,
};
