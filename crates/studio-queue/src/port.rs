//! The port: what the API asks of a queue, whatever engine runs the jobs.
//!
//! Shaped so a Redis/BullMQ engine fits behind it: ids are ours (`job_…`, generated before the
//! job is recorded, so BullMQ gets them as custom job ids), options are BullMQ's (priority,
//! delay, attempts; backoff is the worker's), and state, progress and errors are read from our
//! own `jobs` table on every engine (the BullMQ engine's worker writes them there too), so
//! `status` and `subscribe` mean the same thing on both.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use studio_core::JobId;
use studio_db::{JobState, QueueJob};
use time::OffsetDateTime;

use crate::QueueError;

/// How to enqueue a job.
#[derive(Debug, Clone, Default)]
pub struct JobOptions {
    /// The job's id; generated when `None`.
    pub id: Option<JobId>,
    /// Jobs with the same key are one job: enqueueing again returns the first one's id.
    /// `None`: the job's id (so every enqueue is a new job).
    pub idempotency_key: Option<String>,
    /// Higher runs first.
    pub priority: i32,
    /// Not before this much time has passed (delayed jobs).
    pub delay: Option<Duration>,
    /// Attempts in all, first run included; `None`: [`studio_db::DEFAULT_MAX_ATTEMPTS`].
    pub max_attempts: Option<u32>,
    /// The request that caused the job; every log line of the job carries it.
    pub request_id: Option<String>,
}

/// A change of a job, as `subscribe` reports it: its state, attempt, progress or stage moved.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    pub job_id: JobId,
    pub state: JobState,
    pub attempts: u32,
    pub progress: f64,
    pub stage: Option<String>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    /// When the job last changed.
    pub at: OffsetDateTime,
}

impl JobEvent {
    /// The event describing `job` as it stands.
    pub fn of(job: &QueueJob) -> Self {
        Self {
            job_id: job.id.clone(),
            state: job.state,
            attempts: job.attempts,
            progress: job.progress,
            stage: job.stage.clone(),
            error_code: job.error_code.clone(),
            error: job.error.clone(),
            at: job.updated_at,
        }
    }

    /// Whether `self` says something `previous` did not (timestamps aside).
    pub fn differs_from(&self, previous: &JobEvent) -> bool {
        (self.state, self.attempts, &self.stage, &self.error_code)
            != (
                previous.state,
                previous.attempts,
                &previous.stage,
                &previous.error_code,
            )
            || self.progress != previous.progress
    }
}

/// The job queue port (object-safe: `Arc<dyn JobQueue>`).
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Which engine this is (`embedded`, `redis`), for logs and `/ready`.
    fn engine(&self) -> &'static str;

    /// Records a job of `kind` with a JSON `payload`; returns its id (the existing job's id when
    /// the idempotency key was used before).
    async fn enqueue(
        &self,
        kind: &str,
        payload: serde_json::Value,
        options: JobOptions,
    ) -> Result<JobId, QueueError>;

    /// The job as it stands; `None` if unknown (or purged).
    async fn status(&self, id: &JobId) -> Result<Option<QueueJob>, QueueError>;

    /// Cancels a job: at once if it waits, at its next heartbeat if it runs. False if it is
    /// unknown or already finished.
    async fn cancel(&self, id: &JobId) -> Result<bool, QueueError>;

    /// The job's changes, from its current state on, ending after it finishes. Empty if the job
    /// is unknown. Works whichever process or machine runs the job.
    fn subscribe(&self, id: JobId) -> BoxStream<'static, Result<JobEvent, QueueError>>;
}

/// Enqueues a typed [`crate::Job`]: its kind and its serialized self.
pub async fn enqueue_job<J: crate::Job>(
    queue: &(impl JobQueue + ?Sized),
    job: &J,
    options: JobOptions,
) -> Result<JobId, QueueError> {
    queue
        .enqueue(J::KIND, serde_json::to_value(job)?, options)
        .await
}
