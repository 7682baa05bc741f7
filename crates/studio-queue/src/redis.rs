//! The Redis engine: jobs run through BullMQ queues (the official Rust port, same Lua scripts and
//! Redis layout as Node BullMQ), so any number of `studio worker` processes on any number of
//! machines share them, and Bull Board or Node/Python BullMQ tools can watch them.
//!
//! The `jobs` table stays the record the API reads (state, attempts, progress, error), as on the
//! embedded engine. A job is recorded there first — by [`RedisQueue::enqueue`], or by
//! `confirm_upload` in the same transaction as the asset change — and then handed to BullMQ
//! under the same id: at once by `enqueue`, and by the [relay](relay) for whatever was not
//! handed over yet (the outbox). BullMQ ignores an id it already has, so handing a job over
//! twice is harmless, and nothing is lost between the two stores.
//!
//! Who decides what: BullMQ decides when a job runs (delays, priorities) and which worker runs it
//! (its locks, and its stalled-job check re-queues the job of a dead worker); the `jobs` table
//! decides whether it may run at all ([`studio_db::QueueStore::start_attempt`]: not when it is
//! finished, cancelled or out of attempts), counts attempts and schedules retries. So a job
//! BullMQ delivers twice, or re-delivers after its outcome was recorded, still completes once.

mod relay;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bullmq::types::{KeepJobs, RemoveOnFinish};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use studio_core::JobId;
use studio_db::{JobState, QueueJob, Store};
use time::OffsetDateTime;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::embedded::{DEFAULT_SUBSCRIBE_INTERVAL, enqueue_in_table, poll_events};
use crate::{JobEvent, JobOptions, JobQueue, QueueError, RedisEngine};

pub(crate) use worker::run as run_worker;

/// How long connecting to Redis, or one BullMQ call, may take. `bullmq` itself would wait ~40 s
/// for an unreachable Redis (shared/notes/queue-crates.md): far too long to hold a request.
const REDIS_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `enqueue` tries to hand a job to BullMQ itself before leaving it to the relay: the
/// request that enqueues should not wait out a Redis outage.
const ENQUEUE_HAND_OVER_TIMEOUT: Duration = Duration::from_secs(1);

/// BullMQ priorities: 1 is the highest, 2^21 − 1 the lowest, 0 means "none" (and BullMQ runs
/// jobs without a priority before every prioritized one). Ours are any `i32`, higher first, 0
/// by default. Every job gets a BullMQ priority, centred so ours keep their order.
const BULL_PRIORITY_CENTRE: i64 = 1 << 20;
const BULL_PRIORITY_LOWEST: i64 = (1 << 21) - 1;

fn bull_priority(priority: i32) -> u32 {
    let bull = (BULL_PRIORITY_CENTRE - i64::from(priority)).clamp(1, BULL_PRIORITY_LOWEST);
    u32::try_from(bull).unwrap_or(1)
}

/// How long BullMQ keeps finished jobs: the configured retention. (BullMQ's `age` is in
/// seconds, whatever its Rust doc says: its Lua scripts multiply it by 1000.)
pub(crate) fn keep_finished(settings: &RedisEngine) -> RemoveOnFinish {
    RemoveOnFinish::Options(KeepJobs {
        age: Some(settings.retention.as_secs().max(1)),
        count: None,
        limit: None,
    })
}

fn redis_error(what: &str, err: impl std::fmt::Display) -> QueueError {
    QueueError::Redis(format!("{what}: {err}"))
}

/// Runs a BullMQ call with [`REDIS_TIMEOUT`].
async fn bounded<T>(
    what: &str,
    call: impl Future<Output = Result<T, bullmq::Error>>,
) -> Result<T, QueueError> {
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(redis_error(what, err)),
        Err(_) => Err(redis_error(what, "Redis did not answer in time")),
    }
}

/// Checks that Redis at `url` answers `PING`.
pub(crate) async fn ping(url: &str) -> Result<(), QueueError> {
    let client = redis::Client::open(url).map_err(|err| redis_error("the Redis URL", err))?;
    let probe = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(REDIS_TIMEOUT, probe).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(redis_error("connecting to Redis", err)),
        Err(_) => Err(redis_error("connecting to Redis", "no answer in time")),
    }
}

fn connection(settings: &RedisEngine) -> bullmq::options::RedisConnectionOptions {
    bullmq::options::RedisConnectionOptions::new().url(settings.url.clone())
}

/// BullMQ queue handles, one per job kind, opened on first use and shared.
#[derive(Clone)]
pub(crate) struct BullQueues {
    settings: RedisEngine,
    queues: Arc<tokio::sync::Mutex<HashMap<String, Arc<bullmq::Queue>>>>,
}

impl BullQueues {
    pub(crate) fn new(settings: RedisEngine) -> Self {
        Self {
            settings,
            queues: Arc::default(),
        }
    }

    /// The queue of jobs of `kind`.
    async fn of(&self, kind: &str) -> Result<Arc<bullmq::Queue>, QueueError> {
        let mut queues = self.queues.lock().await;
        if let Some(queue) = queues.get(kind) {
            return Ok(queue.clone());
        }
        let options = bullmq::QueueOptions {
            connection: connection(&self.settings),
            prefix: self.settings.prefix.clone(),
            ..bullmq::QueueOptions::default()
        };
        let queue = Arc::new(
            bounded(
                "opening the BullMQ queue",
                bullmq::Queue::with_options(kind, options),
            )
            .await?,
        );
        queues.insert(kind.to_owned(), queue.clone());
        Ok(queue)
    }

    /// Hands a recorded job to BullMQ, under its own id, with its priority and what is left of
    /// its delay. A job BullMQ already has is left as it is.
    pub(crate) async fn hand_over(&self, job: &QueueJob) -> Result<(), QueueError> {
        let queue = self.of(&job.kind).await?;
        // BullMQ's copy of the payload is for people and tools watching the queue: workers read
        // the table's. A payload that is not JSON goes as a string (its worker fails it as
        // `bad_payload`) rather than blocking the relay.
        let data = serde_json::from_str(&job.payload)
            .unwrap_or_else(|_| serde_json::Value::String(job.payload.clone()));
        let keep = keep_finished(&self.settings);
        // Retries are ours (the table counts attempts; the worker re-delays the job itself), so
        // BullMQ's own `attempts` stays at its default of 1.
        let mut add = queue
            .add(&job.kind, data)
            .job_id(job.id.as_str())
            .priority(bull_priority(job.priority))
            .remove_on_complete(keep.clone())
            .remove_on_fail(keep);
        let wait = job.run_at - OffsetDateTime::now_utc();
        if wait.is_positive() {
            add = add.delay(Duration::try_from(wait).unwrap_or(Duration::MAX));
        }
        bounded("adding the job to BullMQ", add.into_future()).await?;
        Ok(())
    }

    /// Removes a job that waits in BullMQ (a cancelled one). BullMQ refuses while a worker holds
    /// it; that worker learns of the cancellation from the table at its next heartbeat.
    async fn remove(&self, kind: &str, id: &JobId) -> Result<(), QueueError> {
        let queue = self.of(kind).await?;
        bounded("removing the job from BullMQ", queue.remove(id.as_str())).await?;
        Ok(())
    }
}

/// The Redis/BullMQ [`JobQueue`].
#[derive(Clone)]
pub struct RedisQueue {
    store: Arc<dyn Store>,
    queues: BullQueues,
    subscribe_interval: Duration,
    /// Stops the relay when the last clone of this queue is dropped.
    _relay: Arc<DropGuard>,
}

impl RedisQueue {
    /// Starts the outbox relay (it runs until the last clone of this queue is dropped). Redis
    /// need not be up: jobs are recorded in the table whatever Redis does, and the relay hands
    /// them over once it answers (an API node keeps taking uploads through a Redis outage;
    /// `/ready` reports it).
    pub async fn connect(store: Arc<dyn Store>, settings: RedisEngine) -> Result<Self, QueueError> {
        if settings.prefix.is_empty() || settings.prefix.contains(':') {
            return Err(QueueError::Config(format!(
                "the BullMQ prefix {:?} must be non-empty, without ':'",
                settings.prefix
            )));
        }
        redis::Client::open(settings.url.as_str())
            .map_err(|err| redis_error("the Redis URL", err))?;
        let queues = BullQueues::new(settings.clone());
        let stop = CancellationToken::new();
        tokio::spawn(relay::run(
            store.clone(),
            queues.clone(),
            settings.relay_interval,
            stop.clone(),
        ));
        Ok(Self {
            store,
            queues,
            subscribe_interval: DEFAULT_SUBSCRIBE_INTERVAL,
            _relay: Arc::new(stop.drop_guard()),
        })
    }

    /// Polls for `subscribe` every `interval` instead.
    pub fn with_subscribe_interval(mut self, interval: Duration) -> Self {
        self.subscribe_interval = interval;
        self
    }
}

#[async_trait]
impl JobQueue for RedisQueue {
    fn engine(&self) -> &'static str {
        "redis"
    }

    async fn enqueue(
        &self,
        kind: &str,
        payload: serde_json::Value,
        options: JobOptions,
    ) -> Result<JobId, QueueError> {
        let job = enqueue_in_table(&*self.store, kind, payload, options).await?;
        // The job is safe in the table: if handing it over fails now (or takes longer than a
        // request should wait, Redis being away), the relay does it later.
        if matches!(job.state, JobState::Queued | JobState::Retrying) {
            let handed =
                tokio::time::timeout(ENQUEUE_HAND_OVER_TIMEOUT, self.queues.hand_over(&job))
                    .await
                    .unwrap_or_else(|_| Err(redis_error("handing the job over", "Redis is slow")));
            match handed {
                Ok(()) => {
                    if let Err(err) = self.store.mark_relayed(std::slice::from_ref(&job.id)).await {
                        tracing::warn!(job_id = %job.id, error = %err, "marking a job relayed failed");
                    }
                }
                Err(err) => {
                    tracing::warn!(job_id = %job.id, error = %err, "handing a job to BullMQ failed; the relay will retry");
                }
            }
        }
        Ok(job.id)
    }

    async fn status(&self, id: &JobId) -> Result<Option<QueueJob>, QueueError> {
        Ok(self.store.queue_job(id).await?)
    }

    async fn cancel(&self, id: &JobId) -> Result<bool, QueueError> {
        let Some(job) = self.store.queue_job(id).await? else {
            return Ok(false);
        };
        let cancelled = self.store.cancel(id).await?;
        if cancelled
            && job.state != JobState::Active
            && let Err(err) = self.queues.remove(&job.kind, id).await
        {
            // Harmless: when BullMQ delivers it, the table says it is cancelled and it is
            // dropped.
            tracing::debug!(job_id = %id, error = %err, "removing a cancelled job from BullMQ failed");
        }
        Ok(cancelled)
    }

    fn subscribe(&self, id: JobId) -> BoxStream<'static, Result<JobEvent, QueueError>> {
        // The table is the record on this engine too, written by whichever worker runs the job.
        poll_events(self.store.clone(), id, self.subscribe_interval).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_keep_their_order_within_bullmqs_range() {
        assert_eq!(bull_priority(0), 1 << 20);
        assert!(bull_priority(10) < bull_priority(0), "higher runs first");
        assert!(bull_priority(-10) > bull_priority(0));
        assert_eq!(bull_priority(i32::MAX), 1);
        assert_eq!(bull_priority(i32::MIN), (1 << 21) - 1);
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let settings = RedisEngine::new("redis://user:hunter2@cache:6379/0");
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("cache:6379"), "{shown}");
    }
}
