//! What a job is, to the runtime: a handler per kind, the context it runs with, and how it fails.
//!
//! [`JobHandler`] is the object-safe form the worker stores (JSON in, JSON out); [`Job`] is the
//! typed form in crates.io's shape (`crates_io_worker::BackgroundJob`: a kind name, a payload
//! that serializes, an idempotent `run`), adapted to a handler by
//! [`HandlerRegistry::register_job`]. A job may run more than once (a retry, a worker that died
//! after finishing but before recording it), so `run` must be idempotent.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use studio_core::JobId;
use studio_db::Store;
use tokio_util::sync::CancellationToken;

use crate::QueueError;

/// How a job failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Running it again cannot help (the input is not media, the asset is gone): the job fails
    /// at once with this stable `code`.
    #[error("{code}: {message}")]
    Permanent { code: String, message: String },
    /// It may work later (a dependency is down, the disk is full): retried with backoff while
    /// attempts remain.
    #[error("{code}: {message}")]
    Transient { code: String, message: String },
}

/// The code of a transient failure given no code of its own.
pub(crate) const TRANSIENT: &str = "transient";
/// The code of a job that stopped because it was cancelled.
pub(crate) const CANCELLED: &str = "cancelled";

impl JobError {
    pub fn permanent(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Permanent {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            code: TRANSIENT.to_owned(),
            message: message.into(),
        }
    }

    /// What a job returns when it stops because [`JobContext::cancellation`] fired.
    pub fn cancelled() -> Self {
        Self::permanent(CANCELLED, "the job was cancelled")
    }

    /// The stable code, for the `jobs` row and metrics.
    pub fn code(&self) -> &str {
        match self {
            Self::Permanent { code, .. } | Self::Transient { code, .. } => code,
        }
    }

    /// The readable message.
    pub fn message(&self) -> &str {
        match self {
            Self::Permanent { message, .. } | Self::Transient { message, .. } => message,
        }
    }
}

/// Job bodies may use `anyhow` (the crate policy); an error they did not classify is transient.
impl From<anyhow::Error> for JobError {
    fn from(err: anyhow::Error) -> Self {
        Self::transient(format!("{err:#}"))
    }
}

/// What a running job can see and do: who it is, report progress, notice cancellation.
#[derive(Clone)]
pub struct JobContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    job_id: JobId,
    kind: String,
    attempt: u32,
    max_attempts: u32,
    request_id: Option<String>,
    worker_id: String,
    store: Arc<dyn Store>,
    cancellation: CancellationToken,
}

impl JobContext {
    pub(crate) fn new(
        job: &studio_db::QueueJob,
        worker_id: String,
        store: Arc<dyn Store>,
        cancellation: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(ContextInner {
                job_id: job.id.clone(),
                kind: job.kind.clone(),
                attempt: job.attempts,
                max_attempts: job.max_attempts,
                request_id: job.request_id.clone(),
                worker_id,
                store,
                cancellation,
            }),
        }
    }

    pub fn job_id(&self) -> &JobId {
        &self.inner.job_id
    }

    pub fn kind(&self) -> &str {
        &self.inner.kind
    }

    /// This attempt's number, 1 for the first run.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// Whether this is the last attempt the job gets.
    pub fn is_last_attempt(&self) -> bool {
        self.inner.attempt >= self.inner.max_attempts
    }

    /// The request that caused the job.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// Records progress (percent, clamped to 0..=100) and, if given, the stage. Fails with
    /// [`QueueError::LeaseLost`] (and fires the cancellation) when the job is no longer this
    /// worker's.
    pub async fn progress(&self, percent: f64, stage: Option<&str>) -> Result<(), QueueError> {
        let inner = &self.inner;
        if inner
            .store
            .progress(&inner.job_id, &inner.worker_id, percent, stage)
            .await?
        {
            Ok(())
        } else {
            inner.cancellation.cancel();
            Err(QueueError::LeaseLost)
        }
    }

    /// Fired when the job should stop: cancellation was requested, the lease was lost, or the
    /// worker is shutting down and the grace period is over. Long jobs `select!` on it (or pass
    /// it down) and return [`JobError::cancelled`].
    pub fn cancellation(&self) -> &CancellationToken {
        &self.inner.cancellation
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancellation.is_cancelled()
    }
}

/// Runs the jobs of one kind (object-safe, JSON in and out).
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// The kind of job this handles (`process_asset`).
    fn kind(&self) -> &'static str;

    /// Runs one attempt. Must be idempotent: a job can run more than once.
    async fn run(
        &self,
        ctx: JobContext,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, JobError>;
}

/// A typed job, in crates.io's shape: the struct is the payload.
#[async_trait]
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kind name, stored with every job of this type.
    const KIND: &'static str;
    /// What every job of this type runs with (blob store, config, …), shared.
    type Env: Send + Sync + 'static;

    /// Runs one attempt. Must be idempotent.
    async fn run(&self, env: &Self::Env, ctx: JobContext) -> Result<serde_json::Value, JobError>;
}

/// Adapts a typed [`Job`] to [`JobHandler`].
struct TypedHandler<J: Job> {
    env: Arc<J::Env>,
}

#[async_trait]
impl<J: Job> JobHandler for TypedHandler<J> {
    fn kind(&self) -> &'static str {
        J::KIND
    }

    async fn run(
        &self,
        ctx: JobContext,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, JobError> {
        let job: J = serde_json::from_value(payload)
            .map_err(|err| JobError::permanent("bad_payload", err.to_string()))?;
        job.run(&self.env, ctx).await
    }
}

/// The handlers a worker runs, by kind.
#[derive(Clone, Default)]
pub struct HandlerRegistry {
    handlers: BTreeMap<&'static str, Arc<dyn JobHandler>>,
}

impl HandlerRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `handler` for its kind (replacing one registered before for that kind).
    pub fn register(mut self, handler: impl JobHandler) -> Self {
        self.handlers.insert(handler.kind(), Arc::new(handler));
        self
    }

    /// Adds the typed job `J`, run with `env`.
    pub fn register_job<J: Job>(self, env: Arc<J::Env>) -> Self {
        self.register(TypedHandler::<J> { env })
    }

    /// The kinds registered, in name order.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.handlers.keys().copied()
    }

    pub(crate) fn handlers(
        &self,
    ) -> impl Iterator<Item = (&'static str, Arc<dyn JobHandler>)> + '_ {
        self.handlers
            .iter()
            .map(|(kind, handler)| (*kind, handler.clone()))
    }
}
