//! The worker runtime of the embedded engine.
//!
//! One claim loop per registered kind, each with its own concurrency limit (a semaphore): when a
//! slot is free it claims as many due jobs as it has free slots, and when none is due it waits a
//! poll interval. Each claimed job runs in its own task, inside a span carrying `job_id` and
//! `request_id`, beside a heartbeat task that renews its lease and turns "cancel requested" or
//! "lease lost" into the job's cancellation token.
//!
//! Outcomes: a result completes the job; [`JobError::Permanent`] fails it; a
//! [`JobError::Transient`] error or a panic (caught, so a panicking job never stays `active`
//! with a lease kept alive — the classic bug the notes describe for both queue crates) retries
//! with backoff while attempts remain. A worker that lost its lease reports nothing: the store
//! would refuse it anyway, and another worker owns the job now.
//!
//! Shutdown (svix/y-sweet style: one `CancellationToken`, one `TaskTracker`): when the token
//! fires, the loops stop claiming; running jobs get `shutdown_grace` to finish; then their
//! cancellation fires, their futures are dropped (child processes with `kill_on_drop` die with
//! them) and they are handed back (`release`), so another worker takes them at once instead of
//! waiting for the lease to lapse.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use studio_db::{ClaimedJob, HeartbeatOutcome, Store};
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::handler::CANCELLED;
use crate::{HandlerRegistry, JobContext, JobError, JobHandler, QueueError, RetryPolicy};

/// The error code of an attempt that panicked.
const PANICKED: &str = "panicked";
/// The error code of a payload that is not JSON (it never will be: not retried).
const BAD_PAYLOAD: &str = "bad_payload";
/// How many times the outcome of a job is written before giving up (the lease then lapses and
/// the job runs again: at-least-once), and the pause between tries.
const SETTLE_TRIES: u32 = 3;
const SETTLE_PAUSE: Duration = Duration::from_millis(200);

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This worker's name, unique among live workers (it is the lease owner): e.g. host, pid and
    /// a random suffix.
    pub id: String,
    /// Jobs of one kind run at once, per kind; kinds not listed get `default_concurrency`.
    pub concurrency: BTreeMap<String, usize>,
    pub default_concurrency: usize,
    /// How long a claim or heartbeat holds a job: a dead worker's jobs run again this long
    /// after its last heartbeat.
    pub lease: Duration,
    /// How often a running job's lease is renewed (well under `lease`, so a slow heartbeat or
    /// two does not lose it).
    pub heartbeat_interval: Duration,
    /// How long an idle kind waits before looking for due jobs again.
    pub poll_interval: Duration,
    pub retry: RetryPolicy,
    /// How long running jobs may take to finish after shutdown begins, before they are handed
    /// back.
    pub shutdown_grace: Duration,
}

impl WorkerConfig {
    /// Defaults: 4 jobs per kind, 30 s leases renewed every 10 s, 200 ms polling (the notes
    /// measured 15 ms pickup at that rate, against ~22 s with apalis's default), 30 s grace.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            concurrency: BTreeMap::new(),
            default_concurrency: 4,
            lease: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(10),
            poll_interval: Duration::from_millis(200),
            retry: RetryPolicy::default(),
            shutdown_grace: Duration::from_secs(30),
        }
    }

    fn concurrency_of(&self, kind: &str) -> usize {
        self.concurrency
            .get(kind)
            .copied()
            .unwrap_or(self.default_concurrency)
    }

    fn validate(&self) -> Result<(), QueueError> {
        let problem = if self.id.is_empty() {
            "the worker id is empty"
        } else if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.lease {
            "the heartbeat interval must be positive and shorter than the lease"
        } else if self.poll_interval.is_zero() {
            "the poll interval must be positive"
        } else {
            return Ok(());
        };
        Err(QueueError::Config(problem.to_owned()))
    }
}

/// What every task of one worker shares.
struct Shared {
    store: Arc<dyn Store>,
    config: WorkerConfig,
    /// Fired when the shutdown grace is over: running jobs stop and are handed back.
    hand_back: CancellationToken,
}

/// Runs jobs of the kinds in its registry until shut down.
pub struct Worker {
    store: Arc<dyn Store>,
    registry: HandlerRegistry,
    config: WorkerConfig,
}

impl Worker {
    pub fn new(store: Arc<dyn Store>, registry: HandlerRegistry, config: WorkerConfig) -> Self {
        Self {
            store,
            registry,
            config,
        }
    }

    /// Claims and runs jobs until `shutdown` fires; then stops claiming, waits up to the grace
    /// for running jobs and hands back the rest. Returns once every job task is over. Database
    /// errors while claiming are logged and retried at the poll interval, never fatal.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), QueueError> {
        self.config.validate()?;
        let runnable: Vec<_> = self
            .registry
            .handlers()
            .map(|(kind, handler)| (kind, handler, self.config.concurrency_of(kind)))
            .filter(|&(_, _, slots)| slots > 0)
            .collect();
        if runnable.is_empty() {
            // Such a worker would return at once, and its process would look finished.
            return Err(QueueError::Config(
                "no job kind to run: no handler registered, or every concurrency is 0".to_owned(),
            ));
        }
        let grace = self.config.shutdown_grace;
        let shared = Arc::new(Shared {
            store: self.store,
            config: self.config,
            hand_back: CancellationToken::new(),
        });
        let jobs = TaskTracker::new();
        let loops = TaskTracker::new();
        for (kind, handler, slots) in runnable {
            loops.spawn(claim_loop(
                shared.clone(),
                kind,
                handler,
                Arc::new(Semaphore::new(slots)),
                jobs.clone(),
                shutdown.clone(),
            ));
        }
        tracing::info!(worker.id = %shared.config.id, "worker started");
        loops.close();
        loops.wait().await;

        jobs.close();
        if tokio::time::timeout(grace, jobs.wait()).await.is_err() {
            tracing::warn!(
                worker.id = %shared.config.id,
                worker.running_jobs = jobs.len(),
                "shutdown grace over, handing back running jobs"
            );
            shared.hand_back.cancel();
            jobs.wait().await;
        }
        tracing::info!(worker.id = %shared.config.id, "worker stopped");
        Ok(())
    }
}

/// Claims jobs of `kind` while slots are free, until `shutdown`.
async fn claim_loop(
    shared: Arc<Shared>,
    kind: &'static str,
    handler: Arc<dyn JobHandler>,
    slots: Arc<Semaphore>,
    jobs: TaskTracker,
    shutdown: CancellationToken,
) {
    let config = &shared.config;
    loop {
        let first = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return, // never closed
            },
        };
        let free = u32::try_from(slots.available_permits() + 1).unwrap_or(u32::MAX);
        let claimed = match shared
            .store
            .claim(&config.id, &[kind], config.lease, free)
            .await
        {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(job.kind = kind, error = %err, "claiming jobs failed");
                Vec::new()
            }
        };
        if claimed.is_empty() {
            drop(first);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(config.poll_interval) => continue,
            }
        }
        let mut permits = Some(first);
        for job in claimed {
            // The first job takes the permit acquired above, the others free ones (only this
            // loop takes permits, so they are still free).
            let permit = match permits.take() {
                Some(permit) => permit,
                None => match slots.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        // Cannot happen; hand the job back rather than overrun the limit.
                        if let Err(err) = shared.store.release(&job.id, &config.id).await {
                            tracing::warn!(job_id = %job.id, error = %err, "release failed");
                        }
                        continue;
                    }
                },
            };
            jobs.spawn(run_job(shared.clone(), handler.clone(), job, permit));
        }
    }
}

/// Runs one claimed job to an outcome and records it, inside the job's span.
async fn run_job(
    shared: Arc<Shared>,
    handler: Arc<dyn JobHandler>,
    job: ClaimedJob,
    _permit: OwnedSemaphorePermit,
) {
    let span = tracing::info_span!(
        "job",
        job_id = %job.id,
        request_id = tracing::field::Empty,
        job.kind = %job.kind,
        job.attempt = job.attempts,
    );
    if let Some(request_id) = &job.request_id {
        span.record("request_id", request_id.as_str());
    }
    run_job_in_span(shared, handler, job).instrument(span).await;
}

/// What one attempt came to.
enum Outcome {
    Done(serde_json::Value),
    Failed(JobError),
    Panicked(String),
    /// The grace period ran out: hand the job back.
    HandedBack,
}

async fn run_job_in_span(shared: Arc<Shared>, handler: Arc<dyn JobHandler>, job: ClaimedJob) {
    let config = &shared.config;
    let cancellation = shared.hand_back.child_token();
    let lost = Arc::new(AtomicBool::new(false));
    let stop_heartbeat = CancellationToken::new();
    let heartbeat = tokio::spawn(
        heartbeat_loop(
            shared.clone(),
            job.id.clone(),
            cancellation.clone(),
            lost.clone(),
            stop_heartbeat.clone(),
        )
        .in_current_span(),
    );

    tracing::info!("job started");
    let started = Instant::now();
    let outcome = match serde_json::from_str::<serde_json::Value>(&job.payload) {
        Err(err) => Outcome::Failed(JobError::permanent(BAD_PAYLOAD, err.to_string())),
        Ok(payload) => {
            let ctx = JobContext::new(
                &job,
                config.id.clone(),
                shared.store.clone(),
                cancellation.clone(),
            );
            let attempt = AssertUnwindSafe(handler.run(ctx, payload)).catch_unwind();
            tokio::select! {
                biased;
                result = attempt => match result {
                    Ok(Ok(value)) => Outcome::Done(value),
                    Ok(Err(err)) => Outcome::Failed(err),
                    Err(panic) => Outcome::Panicked(panic_message(panic.as_ref())),
                },
                () = shared.hand_back.cancelled() => Outcome::HandedBack,
            }
        }
    };
    // A job that stopped with an error because the grace ran out (its token fired) did not
    // fail: it was interrupted, and goes back to the queue like one that did not stop.
    let outcome = match outcome {
        Outcome::Failed(_) if shared.hand_back.is_cancelled() => Outcome::HandedBack,
        other => other,
    };
    stop_heartbeat.cancel();
    heartbeat.await.ok();
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

    if lost.load(Ordering::SeqCst) {
        tracing::warn!(
            job.elapsed_ms = elapsed_ms,
            "job lease lost, outcome dropped"
        );
        return;
    }
    let store = &shared.store;
    let worker = config.id.as_str();
    let recorded = match &outcome {
        Outcome::Done(value) => {
            let result = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
            settle(|| store.complete(&job.id, worker, &result)).await
        }
        Outcome::Failed(JobError::Permanent { code, message }) => {
            settle(|| store.fail(&job.id, worker, code, message, None)).await
        }
        Outcome::Failed(JobError::Transient { code, message }) => {
            let retry_at = retry_at(&job, &config.retry);
            settle(|| store.fail(&job.id, worker, code, message, retry_at)).await
        }
        Outcome::Panicked(message) => {
            let retry_at = retry_at(&job, &config.retry);
            settle(|| store.fail(&job.id, worker, PANICKED, message, retry_at)).await
        }
        Outcome::HandedBack => settle(|| store.release(&job.id, worker)).await,
    };
    match (&outcome, recorded) {
        (_, Err(err)) => {
            tracing::error!(error = %err, "recording the job outcome failed; its lease will lapse");
        }
        (_, Ok(false)) => tracing::warn!("job lease lost before its outcome was recorded"),
        (Outcome::Done(_), Ok(true)) => {
            tracing::info!(job.elapsed_ms = elapsed_ms, "job completed");
        }
        (Outcome::Failed(err), Ok(true)) if err.code() == CANCELLED => {
            tracing::info!(job.elapsed_ms = elapsed_ms, "job cancelled");
        }
        (Outcome::Failed(err @ JobError::Permanent { .. }), Ok(true)) => tracing::warn!(
            job.elapsed_ms = elapsed_ms,
            error.code = err.code(),
            error.message = err.message(),
            "job failed"
        ),
        (Outcome::Failed(err), Ok(true)) => tracing::warn!(
            job.elapsed_ms = elapsed_ms,
            error.code = err.code(),
            error.message = err.message(),
            "job attempt failed"
        ),
        (Outcome::Panicked(message), Ok(true)) => tracing::error!(
            job.elapsed_ms = elapsed_ms,
            error.code = PANICKED,
            error.message = %message,
            "job panicked"
        ),
        (Outcome::HandedBack, Ok(true)) => tracing::info!("job handed back"),
    }
}

/// When a failed attempt of `job` runs again, or `None` when it was the last.
fn retry_at(job: &ClaimedJob, policy: &RetryPolicy) -> Option<OffsetDateTime> {
    (job.attempts < job.max_attempts).then(|| {
        let delay = policy.delay(job.attempts);
        OffsetDateTime::now_utc() + time::Duration::try_from(delay).unwrap_or(time::Duration::MAX)
    })
}

/// Writes an outcome, trying again a few times if the database fails.
async fn settle<F, Fut>(mut write: F) -> Result<bool, studio_db::DbError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, studio_db::DbError>>,
{
    let mut tries = 1;
    loop {
        match write().await {
            Err(err) if tries < SETTLE_TRIES => {
                tracing::warn!(error = %err, "recording the job outcome failed, trying again");
                tries += 1;
                tokio::time::sleep(SETTLE_PAUSE).await;
            }
            other => return other,
        }
    }
}

/// Renews the lease every heartbeat interval until `stop`; fires `cancellation` when the job was
/// cancelled or its lease lost (and then marks `lost`).
async fn heartbeat_loop(
    shared: Arc<Shared>,
    job: studio_core::JobId,
    cancellation: CancellationToken,
    lost: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    let config = &shared.config;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(config.heartbeat_interval) => {}
        }
        match shared.store.heartbeat(&job, &config.id, config.lease).await {
            Ok(HeartbeatOutcome::Continue) => {}
            Ok(HeartbeatOutcome::Cancelled) => {
                if !cancellation.is_cancelled() {
                    tracing::info!("job cancellation requested");
                    cancellation.cancel();
                }
            }
            Ok(HeartbeatOutcome::Lost) => {
                tracing::warn!("job lease lost");
                lost.store(true, Ordering::SeqCst);
                cancellation.cancel();
                return;
            }
            // One failed heartbeat is not a lost lease (it is renewed well before it lapses);
            // if the database stays away the lease lapses and another worker takes over.
            Err(err) => tracing::warn!(error = %err, "job heartbeat failed"),
        }
    }
}

/// The message of a caught panic (panics carry a `&str` or a `String`, almost always).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    format!("the job panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_read() {
        let caught = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(panic_message(caught.as_ref()), "the job panicked: boom 1");
        let caught = std::panic::catch_unwind(|| std::panic::panic_any(7)).unwrap_err();
        assert_eq!(
            panic_message(caught.as_ref()),
            "the job panicked: a panic without a message"
        );
    }

    #[test]
    fn configs_that_cannot_work_are_refused() {
        let mut config = WorkerConfig::new("w");
        assert!(config.validate().is_ok());
        config.heartbeat_interval = config.lease;
        assert!(config.validate().is_err());
        assert!(WorkerConfig::new("").validate().is_err());
    }

    #[tokio::test]
    async fn a_worker_with_nothing_to_run_is_refused() {
        let store = studio_db::open("sqlite::memory:", studio_db::MigrateMode::Apply)
            .await
            .unwrap();
        let worker = Worker::new(store, HandlerRegistry::new(), WorkerConfig::new("w"));
        let outcome = worker.run(CancellationToken::new()).await;
        assert!(matches!(outcome, Err(QueueError::Config(_))));
    }
}
