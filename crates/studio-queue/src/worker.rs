//! The worker runtime: [`Worker`] runs jobs of the configured [`Engine`]. This module is the
//! embedded engine's half; the Redis engine's is `crate::redis::worker`. Both run each attempt
//! through [`crate::attempt`].
//!
//! Embedded: one claim loop per registered kind, each with its own concurrency limit (a
//! semaphore): when a slot is free it claims as many due jobs as it has free slots, and when
//! none is due it waits a poll interval. Each claimed job runs in its own task.
//!
//! Shutdown (svix/y-sweet style: one `CancellationToken`, one `TaskTracker`): when the token
//! fires, the loops stop claiming; running jobs get `shutdown_grace` to finish; then their
//! cancellation fires, their futures are dropped (child processes with `kill_on_drop` die with
//! them) and they are handed back (`release`), so another worker takes them at once instead of
//! waiting for the lease to lapse.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use studio_db::{ClaimedJob, Store};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::attempt::{self, AttemptEnv};
use crate::{Engine, HandlerRegistry, JobHandler, JobMetrics, QueueError, RetryPolicy};

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
    /// Which engine delivers the jobs; the API's queue must use the same.
    pub engine: Engine,
    /// Where job durations, failures and retries are recorded.
    pub metrics: JobMetrics,
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
            engine: Engine::Embedded,
            metrics: JobMetrics::disabled(),
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

/// A kind a worker runs: its name, handler and concurrency.
pub(crate) type RunnableKind = (&'static str, Arc<dyn JobHandler>, usize);

/// The kinds a worker runs, with their handlers and concurrency; refuses a worker with none
/// (it would return at once, and its process would look finished).
pub(crate) fn runnable_kinds(
    registry: &HandlerRegistry,
    config: &WorkerConfig,
) -> Result<Vec<RunnableKind>, QueueError> {
    config.validate()?;
    let runnable: Vec<_> = registry
        .handlers()
        .map(|(kind, handler)| (kind, handler, config.concurrency_of(kind)))
        .filter(|&(_, _, slots)| slots > 0)
        .collect();
    if runnable.is_empty() {
        return Err(QueueError::Config(
            "no job kind to run: no handler registered, or every concurrency is 0".to_owned(),
        ));
    }
    Ok(runnable)
}

/// What the claim loops of one embedded worker share.
struct Shared {
    env: Arc<AttemptEnv>,
    config: WorkerConfig,
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

    /// Runs jobs until `shutdown` fires; then stops taking new ones, waits up to the grace for
    /// running jobs and hands back the rest. Returns once every job task is over. Database (and
    /// Redis) errors while taking jobs are logged and retried, never fatal.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), QueueError> {
        match self.config.engine.clone() {
            Engine::Embedded => self.run_embedded(shutdown).await,
            Engine::Redis(settings) => {
                crate::redis::run_worker(self.store, self.registry, self.config, settings, shutdown)
                    .await
            }
        }
    }

    async fn run_embedded(self, shutdown: CancellationToken) -> Result<(), QueueError> {
        let runnable = runnable_kinds(&self.registry, &self.config)?;
        let grace = self.config.shutdown_grace;
        let env = Arc::new(AttemptEnv {
            store: self.store,
            worker_id: self.config.id.clone(),
            lease: self.config.lease,
            heartbeat_interval: self.config.heartbeat_interval,
            retry: self.config.retry,
            claims: AtomicU64::new(0),
            hand_back: CancellationToken::new(),
            metrics: self.config.metrics.clone(),
        });
        let shared = Arc::new(Shared {
            env,
            config: self.config,
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
        tracing::info!(worker.id = %shared.config.id, engine = "embedded", "worker started");
        loops.close();
        loops.wait().await;

        jobs.close();
        if tokio::time::timeout(grace, jobs.wait()).await.is_err() {
            tracing::warn!(
                worker.id = %shared.config.id,
                worker.running_jobs = jobs.len(),
                "shutdown grace over, handing back running jobs"
            );
            shared.env.hand_back.cancel();
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
        let owner = shared.env.next_lease_owner();
        let claimed = match shared
            .env
            .store
            .claim(&owner, &[kind], config.lease, free)
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
                        if let Err(err) = shared.env.store.release(&job.id, &owner).await {
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

/// Runs one claimed job, holding its concurrency slot until it is over.
async fn run_job(
    shared: Arc<Shared>,
    handler: Arc<dyn JobHandler>,
    job: ClaimedJob,
    _permit: OwnedSemaphorePermit,
) {
    attempt::run(shared.env.clone(), handler, job).await;
}

#[cfg(test)]
mod tests {
    use super::*;

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
