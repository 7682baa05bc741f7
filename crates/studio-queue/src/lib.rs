//! The job queue of Studio Engine.
//!
//! - [`JobQueue`] is the port the API uses: enqueue (→ job id), status, cancel, and a stream of
//!   [`JobEvent`]s. Engines: [`EmbeddedQueue`] (jobs in the database we already use, the default)
//!   and, later, a Redis/BullMQ engine. Whatever the engine, our own `jobs` table is what the API
//!   reads (state, attempts, progress, error), so `status` and `subscribe` read it on both.
//! - [`Worker`] is the runtime that runs jobs of the embedded engine: it claims due jobs per kind
//!   (per-kind concurrency), keeps their leases alive with heartbeats, runs each in a tracing span
//!   carrying `job_id` and `request_id`, retries transient failures with exponential backoff and
//!   jitter, catches panics, and on shutdown stops claiming, lets running jobs finish within a
//!   grace period and hands the rest back.
//! - Jobs are written against [`JobHandler`] (untyped JSON, object-safe) or [`Job`] (typed, in
//!   crates.io's shape), with a [`JobContext`] for progress and cancellation. Both are
//!   engine-neutral: the Redis engine's runner will drive the same handlers.

mod embedded;
mod error;
mod handler;
mod port;
mod retry;
mod worker;

pub use embedded::EmbeddedQueue;
pub use error::QueueError;
pub use handler::{HandlerRegistry, Job, JobContext, JobError, JobHandler};
pub use port::{JobEvent, JobOptions, JobQueue, enqueue_job};
pub use retry::RetryPolicy;
pub use studio_db::{JobState, QueueJob};
pub use worker::{Worker, WorkerConfig};
