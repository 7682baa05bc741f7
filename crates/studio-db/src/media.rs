//! The media half of the persistence port: assets, per-user storage usage (with atomic
//! reservations), the durable job records that uploads create, and webhook de-duplication.
//!
//! Quota invariant, on both backends: for every user, `bytes_used + bytes_reserved` only grows
//! through [`MediaStore::create_upload_intent`], which checks it against the limit in the same
//! statement that raises it, so any number of concurrent intents can never together pass it.

use async_trait::async_trait;
use studio_core::{AssetId, AssetKind, AssetStatus, JobId, ProjectId, UserId};
use time::OffsetDateTime;

use crate::DbError;

/// An asset row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRecord {
    pub id: AssetId,
    pub project_id: ProjectId,
    /// Who uploaded it; their quota pays for it.
    pub owner_id: UserId,
    pub kind: AssetKind,
    /// The client's file name, for display only (never a storage key).
    pub filename: String,
    pub content_type: String,
    /// The size the client announced; reserved against the quota until the upload is settled.
    pub declared_size: u64,
    /// The size found in storage once the upload is confirmed.
    pub real_size: Option<u64>,
    pub status: AssetStatus,
    /// Storage key of the original (`originals/{projectId}/{assetId}`).
    pub original_key: String,
    /// The open multipart upload, when the upload is multipart.
    pub upload_id: Option<String>,
    /// Part size of a multipart upload, in bytes.
    pub part_size: Option<u64>,
    /// When the upload intent lapses.
    pub expires_at: OffsetDateTime,
    /// The `process_asset` job recorded when the upload was confirmed.
    pub job_id: Option<JobId>,
    /// A readable reason when `failed` (the last ffmpeg lines, not a dump).
    pub error: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The probed metadata (studio-media's `MediaInfo`, as JSON text), once processed.
    pub media_info: Option<String>,
    /// Storage keys of what processing produced (all `None` until it succeeds).
    pub outputs: AssetOutputs,
    /// A stable code when `failed` (e.g. `not_media`).
    pub error_code: Option<String>,
    /// When someone last used the asset, at the granularity of [`crate::ArchiveStore`]'s
    /// touches (creation time until the first touch).
    pub last_accessed_at: OffsetDateTime,
    /// Where the original is: hot, cold (archived after inactivity) or being restored.
    pub original_tier: crate::OriginalTier,
    /// When `original_tier` last changed; `None` if it never did.
    pub original_tier_changed_at: Option<OffsetDateTime>,
}

/// Storage keys of the files derived from an asset. Which are set depends on the media: an
/// audio file has no poster, a video without audio no waveform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetOutputs {
    pub proxy_key: Option<String>,
    pub waveform_json_key: Option<String>,
    pub waveform_dat_key: Option<String>,
    pub waveform_png_key: Option<String>,
    pub poster_key: Option<String>,
}

/// What is needed to create an upload intent.
#[derive(Debug, Clone)]
pub struct NewAsset {
    pub id: AssetId,
    pub project_id: ProjectId,
    pub owner_id: UserId,
    pub kind: AssetKind,
    pub filename: String,
    pub content_type: String,
    pub declared_size: u64,
    pub original_key: String,
    pub upload_id: Option<String>,
    pub part_size: Option<u64>,
    pub expires_at: OffsetDateTime,
}

/// A user's storage accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub bytes_used: u64,
    pub bytes_reserved: u64,
}

/// Why an upload intent was refused.
#[derive(Debug, thiserror::Error)]
pub enum IntentError {
    /// used + reserved + size would pass the limit; the numbers are as they stood.
    #[error("quota exceeded")]
    QuotaExceeded { usage: Usage, limit: u64 },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A job to record together with a state change (the outbox: the queue issue runs them).
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: JobId,
    /// e.g. `process_asset`.
    pub kind: String,
    /// JSON payload.
    pub payload: String,
    /// Jobs with the same key are one job: recording it again returns the first one.
    pub idempotency_key: String,
    /// The request that caused it, for tracing.
    pub request_id: Option<String>,
}

/// A recorded job, as the API reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: JobId,
    pub kind: String,
    pub payload: String,
    /// `queued` when recorded; see [`crate::JobState`]. The queue's other fields (attempts,
    /// progress, error, …) are read with [`crate::QueueStore::queue_job`].
    pub state: String,
    pub request_id: Option<String>,
    pub created_at: OffsetDateTime,
}

/// The outcome of confirming an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    pub asset: AssetRecord,
    pub job_id: JobId,
    /// False when the upload had already been confirmed (by `complete`, the webhook or the
    /// reconciler): nothing changed and `job_id` is the job recorded the first time.
    pub newly_confirmed: bool,
}

/// Persistence of assets, usage, jobs and webhook deliveries.
#[async_trait]
pub trait MediaStore: Send + Sync + 'static {
    /// Current usage of a user (zeros for a user never seen).
    async fn usage(&self, user: &UserId) -> Result<Usage, DbError>;

    /// In one transaction: reserve `new.declared_size` bytes for `new.owner_id` if
    /// used + reserved + size ≤ `limit_bytes`, and insert the asset as `pending_upload`.
    async fn create_upload_intent(
        &self,
        new: NewAsset,
        limit_bytes: u64,
    ) -> Result<AssetRecord, IntentError>;

    /// An asset by id (whatever its project; callers check access through the project).
    async fn asset(&self, id: &AssetId) -> Result<Option<AssetRecord>, DbError>;

    /// An asset by its original's storage key (for the storage webhook).
    async fn asset_by_key(&self, original_key: &str) -> Result<Option<AssetRecord>, DbError>;

    /// The assets of a project, oldest first.
    async fn list_assets(&self, project: &ProjectId) -> Result<Vec<AssetRecord>, DbError>;

    /// In one transaction, if the asset is `pending_upload`: mark it `uploaded` with
    /// `real_size`, move its reservation to used (reserved −= declared, used += real), and record
    /// `job` (linked to the asset). If it was already confirmed, change nothing and return the
    /// job recorded then. `NotFound` if the asset is gone; `Conflict` if it is `expired`.
    async fn confirm_upload(
        &self,
        id: &AssetId,
        real_size: u64,
        job: NewJob,
    ) -> Result<Confirmed, DbError>;

    /// In one transaction, if the asset is `pending_upload`: release its reservation and mark
    /// it `expired`. Returns whether it did (false if it was in any other state).
    async fn expire_intent(&self, id: &AssetId) -> Result<bool, DbError>;

    /// In one transaction: delete the asset row and give its bytes back (a pending intent's
    /// reservation, or a confirmed upload's used bytes). Returns the deleted row. `NotFound`
    /// if it was already gone.
    async fn delete_asset(&self, id: &AssetId) -> Result<AssetRecord, DbError>;

    /// `pending_upload` assets whose intent lapsed before `now`, oldest first, at most `limit`.
    async fn expired_intents(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AssetRecord>, DbError>;

    /// `pending_upload` assets whose intent is still open, oldest first, at most `limit`
    /// (the reconciler checks whether their bytes arrived unreported).
    async fn pending_intents(&self, limit: u32) -> Result<Vec<AssetRecord>, DbError>;

    /// Marks a confirmed asset `processing` (from `uploaded`, or from `failed` / `ready` when it
    /// is processed again). Returns whether it did; false when it is already `processing` (a
    /// re-run after a crash carries on), still `pending_upload`, or `expired`. `NotFound` if the
    /// asset is gone.
    async fn start_processing(&self, id: &AssetId) -> Result<bool, DbError>;

    /// In one UPDATE: stores `outputs` and `media_info` (JSON text), clears any earlier error
    /// and marks the asset `ready`. Idempotent: called again for an asset already `ready` (a
    /// re-run after a crash) it overwrites the same columns and the asset stays `ready`.
    /// `NotFound` if the asset is gone; `Conflict` if it is not `processing` or `ready`.
    async fn finish_processing(
        &self,
        id: &AssetId,
        outputs: &AssetOutputs,
        media_info: &str,
    ) -> Result<AssetRecord, DbError>;

    /// Marks a confirmed asset `failed` with a stable `code` and a readable `message`. Returns
    /// whether it did (false for an asset still `pending_upload` or `expired`). `NotFound` if
    /// the asset is gone.
    async fn fail_processing(
        &self,
        id: &AssetId,
        code: &str,
        message: &str,
    ) -> Result<bool, DbError>;

    /// A job by id.
    async fn job(&self, id: &JobId) -> Result<Option<JobRecord>, DbError>;

    /// Records that webhook delivery `event_key` was handled; false if it had been already
    /// (so a delivery received five times does its work once).
    async fn record_webhook_delivery(&self, event_key: &str) -> Result<bool, DbError>;
}
