//! The one error type of the queue crate.

use studio_db::DbError;

/// What went wrong enqueueing, reading or running jobs (not a job's own failure: that is
/// [`crate::JobError`]).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The database (the `jobs` table) refused or failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A payload or result could not be turned into JSON.
    #[error("job payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// The job is no longer this worker's: its lease lapsed and another worker may run it.
    #[error("the job's lease was lost")]
    LeaseLost,
    /// Redis (the BullMQ engine) refused, failed or did not answer in time.
    #[error("redis queue: {0}")]
    Redis(String),
    /// The configuration cannot work (checked when a worker starts).
    #[error("invalid queue configuration: {0}")]
    Config(String),
}
