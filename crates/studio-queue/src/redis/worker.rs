//! The worker runtime of the Redis engine: one BullMQ worker per job kind (its concurrency is
//! the kind's), whose processor starts the attempt in the `jobs` table and runs it like the
//! embedded engine does ([`crate::attempt`]).
//!
//! BullMQ's parts: its lock (renewed by the BullMQ worker, `lock_duration` = our lease) and its
//! stalled-job check, which re-queues the job of a worker that died once the lock lapses (the
//! check runs every other `stalled_interval`, so that is up to three leases later). Ours: the
//! table's lease and heartbeat (for cancellation), attempts, retries and their backoff with
//! jitter. A retry moves the BullMQ job back to `delayed` until the table's `run_at`, without
//! counting a BullMQ attempt, so the two stores agree on when it runs next.
//!
//! Handled per shared/notes/queue-crates.md: worker events are always drained (they go to an
//! unbounded channel); the processor never panics (attempts catch panics); construction is
//! bounded in time; the stall limit is out of the way (the table caps attempts).
//!
//! Shutdown: BullMQ workers are paused (no new jobs), running attempts get the grace to finish,
//! then are handed back ([`crate::attempt::Settled::HandedBack`]) and their BullMQ jobs moved
//! back to `wait` for another worker; a job delivered during shutdown is handed back at once.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bullmq::Error as BullError;
use studio_core::JobId;
use studio_db::{AttemptStart, JobState, QueueJob};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{REDIS_TIMEOUT, bounded, connection, keep_finished};
use crate::attempt::{self, AttemptEnv, Settled};
use crate::{HandlerRegistry, JobHandler, QueueError, RedisEngine, WorkerConfig};

/// BullMQ fails a job outright once it stalled more than this many times; the table already
/// caps attempts (a stalled run counts as one), so this only has to stay out of its way.
const MAX_STALLED: u32 = 1_000;
/// How long an idle BullMQ worker blocks waiting for a job before looking again (seconds). Its
/// close waits for that block to end, so it is short.
const DRAIN_DELAY_SECS: u64 = 1;
/// How long closing the BullMQ workers may take once no job runs.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// When the table cannot be reached to start a job, it goes back to BullMQ for this long.
const DB_UNAVAILABLE_DELAY: Duration = Duration::from_secs(5);

/// Runs jobs of the kinds in `registry` from BullMQ until `shutdown`.
pub(crate) async fn run(
    store: Arc<dyn studio_db::Store>,
    registry: HandlerRegistry,
    config: WorkerConfig,
    settings: RedisEngine,
    shutdown: CancellationToken,
) -> Result<(), QueueError> {
    let runnable = crate::worker::runnable_kinds(&registry, &config)?;
    super::ping(&settings.url).await?;
    let env = Arc::new(AttemptEnv {
        store,
        worker_id: config.id.clone(),
        claims: AtomicU64::new(0),
        lease: config.lease,
        heartbeat_interval: config.heartbeat_interval,
        retry: config.retry,
        hand_back: CancellationToken::new(),
        metrics: config.metrics.clone(),
    });
    let attempts = TaskTracker::new();
    let closing = CancellationToken::new();
    let lease_ms = u64::try_from(config.lease.as_millis()).unwrap_or(u64::MAX);

    let mut workers = Vec::new();
    let mut drains = Vec::new();
    for (kind, handler, slots) in runnable {
        let processor = {
            let (env, handler, attempts, closing) = (
                env.clone(),
                handler.clone(),
                attempts.clone(),
                closing.clone(),
            );
            move |job: bullmq::Job, _token: bullmq::worker::CancellationToken| {
                attempts.track_future(process(env.clone(), handler.clone(), closing.clone(), job))
            }
        };
        let options = bullmq::WorkerOptions {
            connection: connection(&settings),
            prefix: settings.prefix.clone(),
            name: Some(config.id.clone()),
            concurrency: slots,
            lock_duration: lease_ms,
            stalled_interval: lease_ms,
            max_stalled_count: MAX_STALLED,
            drain_delay: DRAIN_DELAY_SECS,
            remove_on_complete: Some(keep_finished(&settings)),
            remove_on_fail: Some(keep_finished(&settings)),
            ..bullmq::WorkerOptions::default()
        };
        let worker = Arc::new(
            bounded(
                "starting the BullMQ worker",
                bullmq::Worker::with_options(kind, processor, options),
            )
            .await?,
        );
        drains.push(tokio::spawn(drain_events(worker.clone(), kind)));
        workers.push(worker);
    }
    tracing::info!(worker.id = %config.id, engine = "redis", "worker started");

    shutdown.cancelled().await;
    closing.cancel();
    for worker in &workers {
        worker.pause();
    }
    attempts.close();
    if tokio::time::timeout(config.shutdown_grace, attempts.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            worker.id = %config.id,
            worker.running_jobs = attempts.len(),
            "shutdown grace over, handing back running jobs"
        );
        env.hand_back.cancel();
        attempts.wait().await;
    }
    let close_ms = u64::try_from(CLOSE_TIMEOUT.as_millis()).unwrap_or(u64::MAX);
    for worker in &workers {
        if let Err(err) = worker.close(close_ms).await {
            tracing::warn!(error = %err, "closing a BullMQ worker failed");
        }
    }
    for drain in drains {
        drain.abort();
    }
    tracing::info!(worker.id = %config.id, "worker stopped");
    Ok(())
}

/// Reads the BullMQ worker's events until it closes: they pile up in an unbounded channel
/// otherwise. Job outcomes are logged by the attempt itself; only the worker's own trouble is
/// logged here.
async fn drain_events(worker: Arc<bullmq::Worker>, kind: &'static str) {
    while let Some(event) = worker.next_event().await {
        match event {
            bullmq::worker::WorkerEvent::Error(error) => {
                tracing::warn!(job.kind = kind, error = %error, "BullMQ worker error");
            }
            bullmq::worker::WorkerEvent::Stalled { job_id } => {
                tracing::info!(job.kind = kind, job_id = %job_id, "stalled job re-queued");
            }
            bullmq::worker::WorkerEvent::Closed => return,
            _ => {}
        }
    }
}

/// The BullMQ processor: what BullMQ is told is where the job goes next.
async fn process(
    env: Arc<AttemptEnv>,
    handler: Arc<dyn JobHandler>,
    closing: CancellationToken,
    job: bullmq::Job,
) -> Result<serde_json::Value, BullError> {
    if closing.is_cancelled() {
        return hand_back(&job).await;
    }
    let Ok(id) = job.id().parse::<JobId>() else {
        return Err(BullError::Unrecoverable(format!(
            "{} is not a Studio Engine job id: enqueue jobs through studio, which records them",
            job.id()
        )));
    };
    match env
        .store
        .start_attempt(&id, &env.next_lease_owner(), env.lease)
        .await
    {
        Err(err) => {
            tracing::warn!(job_id = %id, error = %err, "cannot start the job: the database failed");
            let later = OffsetDateTime::now_utc()
                + time::Duration::try_from(DB_UNAVAILABLE_DELAY).unwrap_or(time::Duration::MAX);
            delay_until(&job, later).await
        }
        Ok(AttemptStart::Unknown) => Err(BullError::Unrecoverable(format!(
            "job {id} is not in the jobs table (never recorded, or purged)"
        ))),
        Ok(AttemptStart::Over(record)) => already_over(&record),
        Ok(AttemptStart::Started(claimed)) => {
            match attempt::run(env.clone(), handler, claimed).await {
                Settled::Completed(result) => Ok(result),
                Settled::Retrying { run_at, .. } => delay_until(&job, run_at).await,
                Settled::Failed { code, message } => {
                    Err(BullError::Unrecoverable(format!("{code}: {message}")))
                }
                Settled::HandedBack => hand_back(&job).await,
                // Nothing was recorded. If another worker owns the job now, BullMQ refuses our
                // stale lock below and the job stays theirs; if the table was away, the job comes
                // back after a lease and the table decides then.
                Settled::Abandoned => {
                    let later = OffsetDateTime::now_utc()
                        + time::Duration::try_from(env.lease).unwrap_or(time::Duration::MAX);
                    delay_until(&job, later).await
                }
            }
        }
    }
}

/// What BullMQ is told about a job the table says is over (delivered again after it finished,
/// or cancelled while it waited).
fn already_over(record: &QueueJob) -> Result<serde_json::Value, BullError> {
    match record.state {
        JobState::Completed => Ok(record
            .result
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(serde_json::Value::Null)),
        state => Err(BullError::Unrecoverable(format!(
            "the job is {state}: {}",
            record.error.as_deref().unwrap_or("not to be run")
        ))),
    }
}

/// Moves the job back to BullMQ's `delayed` until `at`, without counting an attempt there.
async fn delay_until(
    job: &bullmq::Job,
    at: OffsetDateTime,
) -> Result<serde_json::Value, BullError> {
    let at_ms = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let moved = tokio::time::timeout(REDIS_TIMEOUT, job.move_to_delayed(at_ms.max(now_ms))).await;
    if !matches!(moved, Ok(Ok(()))) {
        // The lock is not ours any more, or Redis is away: BullMQ re-queues the job once its
        // lock lapses, and the table decides then.
        tracing::warn!(job_id = %job.id(), "could not move the job back to delayed in BullMQ");
    }
    Err(BullError::Delayed)
}

/// Moves the job back to BullMQ's `wait` for another worker (shutdown).
async fn hand_back(job: &bullmq::Job) -> Result<serde_json::Value, BullError> {
    let moved = tokio::time::timeout(REDIS_TIMEOUT, job.move_to_wait(None)).await;
    if !matches!(moved, Ok(Ok(_))) {
        tracing::warn!(job_id = %job.id(), "could not hand the job back to BullMQ; it is re-queued when its lock lapses");
    }
    Err(BullError::Delayed)
}
