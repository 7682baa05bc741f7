//! The job queue of Studio Engine.
//!
//! - [`JobQueue`] is the port the API uses: enqueue (→ job id), status, cancel, and a stream of
//!   [`JobEvent`]s. Engines, chosen by configuration ([`Engine`], [`open_queue`]):
//!   [`EmbeddedQueue`] (jobs in the database we already use, the default) and [`RedisQueue`]
//!   (BullMQ queues in Redis, fed from the same table by an outbox relay). Whatever the engine,
//!   our own `jobs` table is what the API reads (state, attempts, progress, error), so `status`
//!   and `subscribe` read it on both.
//! - [`Worker`] runs jobs of either engine: per-kind concurrency, leases kept alive with
//!   heartbeats, each attempt in a tracing span carrying `job_id` and `request_id`, transient
//!   failures retried with exponential backoff and jitter, panics caught, and on shutdown no new
//!   jobs, running ones given a grace period, the rest handed back. It records attempt
//!   durations, failures and retries in [`JobMetrics`].
//! - Jobs are written against [`JobHandler`] (untyped JSON, object-safe) or [`Job`] (typed, in
//!   crates.io's shape), with a [`JobContext`] for progress and cancellation. Both are
//!   engine-neutral.

mod attempt;
mod embedded;
mod engine;
mod error;
mod handler;
pub mod metrics;
mod port;
mod redis;
mod retry;
mod worker;

pub use embedded::EmbeddedQueue;
pub use engine::{Engine, RedisEngine, open_queue};
pub use error::QueueError;
pub use handler::{HandlerRegistry, Job, JobContext, JobError, JobHandler};
pub use metrics::JobMetrics;
pub use port::{JobEvent, JobOptions, JobQueue, enqueue_job};
pub use redis::RedisQueue;
pub use retry::RetryPolicy;
pub use studio_db::{JobState, QueueJob};
pub use worker::{Worker, WorkerConfig};
