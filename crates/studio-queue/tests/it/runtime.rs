//! The worker runtime over the embedded engine, on both backends: exactly-once runs with several
//! workers, retries with backoff, permanent failures, panics, cancellation, graceful hand-back,
//! and a dead worker's job re-run once its lease lapses.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt as _;
use serde_json::{Value, json};
use studio_core::JobId;
use studio_queue::{
    HandlerRegistry, Job, JobContext, JobError, JobHandler, JobOptions, JobQueue, JobState,
    QueueJob, RetryPolicy, Worker, WorkerConfig, enqueue_job,
};
use tokio_util::sync::CancellationToken;

use crate::support::{TestDb, backend_tests};

backend_tests!(
    every_job_runs_once_with_two_workers,
    a_transient_failure_retries_with_backoff_then_succeeds,
    a_permanent_failure_is_not_retried,
    a_panicking_handler_does_not_wedge_the_job,
    cancelling_a_running_job_reaches_the_handler,
    graceful_shutdown_hands_back_a_job_another_worker_completes,
    a_dead_workers_job_runs_again_after_its_lease_lapses,
    typed_jobs_report_progress_to_subscribers,
    enqueue_options_reach_the_job,
    higher_priority_jobs_run_first,
);

/// Long enough for anything these tests wait for on a loaded CI machine.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// Quick settings on the test's engine: short polls, a short lease renewed often, quick retries.
pub(crate) fn config(db: &TestDb, id: &str) -> WorkerConfig {
    WorkerConfig {
        engine: db.engine.clone(),
        // Short enough for the dead-worker tests to wait out, long enough that a loaded CI
        // machine does not stall a live worker's heartbeats past it.
        lease: Duration::from_secs(2),
        heartbeat_interval: Duration::from_millis(250),
        poll_interval: Duration::from_millis(50),
        retry: RetryPolicy {
            initial: Duration::from_millis(200),
            max_delay: Duration::from_millis(400),
        },
        shutdown_grace: Duration::from_millis(300),
        ..WorkerConfig::new(id)
    }
}

/// A worker running in the background until its token fires.
pub(crate) struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub(crate) fn start(
        store: Arc<dyn studio_db::Store>,
        registry: HandlerRegistry,
        config: WorkerConfig,
    ) -> Self {
        let shutdown = CancellationToken::new();
        let worker = Worker::new(store, registry, config);
        let token = shutdown.clone();
        let task = tokio::spawn(async move { worker.run(token).await.unwrap() });
        Self { shutdown, task }
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("the worker stops")
            .unwrap();
    }
}

/// Polls `check` until it gives `Some`, or panics after [`PATIENCE`].
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn until_state(queue: &dyn JobQueue, id: &JobId, state: JobState) -> QueueJob {
    eventually(&format!("{id} to be {state}"), || async {
        queue
            .status(id)
            .await
            .unwrap()
            .filter(|job| job.state == state)
    })
    .await
}

/// One run of a job: the worker, the attempt number, when it started.
type Run = (String, u32, Instant);

/// Runs of each job, by id.
#[derive(Clone, Default)]
pub(crate) struct Runs(Arc<Mutex<HashMap<JobId, Vec<Run>>>>);

impl Runs {
    fn record(&self, ctx: &JobContext, worker: &str) {
        self.0
            .lock()
            .unwrap()
            .entry(ctx.job_id().clone())
            .or_default()
            .push((worker.to_owned(), ctx.attempt(), Instant::now()));
    }

    pub(crate) fn of(&self, id: &JobId) -> Vec<Run> {
        self.0.lock().unwrap().get(id).cloned().unwrap_or_default()
    }

    fn counts(&self) -> HashMap<JobId, usize> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(id, runs)| (id.clone(), runs.len()))
            .collect()
    }
}

/// What the test handler does on each attempt.
#[derive(Clone, Copy)]
pub(crate) enum Behaviour {
    Succeed,
    /// Transient failures on the first `n` attempts, then success.
    FailTransiently(u32),
    FailPermanently,
    /// Panics on the first attempt, then succeeds.
    PanicOnce,
    /// Reports progress, then waits for cancellation and stops with `JobError::cancelled`.
    WaitForCancel,
    /// Works until cancelled (ignoring nothing): a job too long for the shutdown grace.
    Block,
}

struct TestHandler {
    worker: String,
    runs: Runs,
    behaviour: Behaviour,
}

pub(crate) const KIND: &str = "test";

#[async_trait]
impl JobHandler for TestHandler {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn run(&self, ctx: JobContext, payload: Value) -> Result<Value, JobError> {
        self.runs.record(&ctx, &self.worker);
        tracing::info!("test job running");
        match self.behaviour {
            Behaviour::Succeed => Ok(json!({ "echo": payload, "worker": self.worker })),
            Behaviour::FailTransiently(n) if ctx.attempt() <= n => {
                Err(JobError::transient("not yet"))
            }
            Behaviour::FailTransiently(_) => Ok(json!("finally")),
            Behaviour::FailPermanently => Err(JobError::permanent("not_media", "no streams")),
            Behaviour::PanicOnce if ctx.attempt() == 1 => panic!("handler bug"),
            Behaviour::PanicOnce => Ok(json!("recovered")),
            Behaviour::WaitForCancel => {
                ctx.progress(10.0, Some("waiting")).await.unwrap();
                ctx.cancellation().cancelled().await;
                Err(JobError::cancelled())
            }
            Behaviour::Block => {
                ctx.cancellation().cancelled().await;
                Err(JobError::cancelled())
            }
        }
    }
}

pub(crate) fn registry(worker: &str, runs: &Runs, behaviour: Behaviour) -> HandlerRegistry {
    HandlerRegistry::new().register(TestHandler {
        worker: worker.to_owned(),
        runs: runs.clone(),
        behaviour,
    })
}

pub(crate) async fn enqueue(queue: &dyn JobQueue, options: JobOptions) -> JobId {
    queue
        .enqueue(KIND, json!({ "n": 1 }), options)
        .await
        .unwrap()
}

async fn every_job_runs_once_with_two_workers(db: TestDb) {
    const JOBS: usize = 100;
    let queue = db.queue().await;
    let mut ids = Vec::new();
    for index in 0..JOBS {
        let id = enqueue(
            &*queue,
            JobOptions {
                idempotency_key: Some(format!("noop-{index}")),
                request_id: Some(format!("req-{index}")),
                ..JobOptions::default()
            },
        )
        .await;
        ids.push(id);
    }
    let runs = Runs::default();
    let workers: Vec<Running> = ["a", "b"]
        .iter()
        .map(|name| async {
            let mut config = config(&db, name);
            config.default_concurrency = 4;
            Running::start(
                db.open_again().await,
                registry(name, &runs, Behaviour::Succeed),
                config,
            )
        })
        .collect::<futures::stream::FuturesOrdered<_>>()
        .collect()
        .await;

    for id in &ids {
        until_state(&*queue, id, JobState::Completed).await;
    }
    for worker in workers {
        worker.stop().await;
    }
    let counts = runs.counts();
    assert_eq!(counts.len(), JOBS);
    assert!(
        counts.values().all(|&n| n == 1),
        "every job ran exactly once"
    );
    let job = queue.status(&ids[0]).await.unwrap().unwrap();
    assert_eq!(job.attempts, 1);
    let result: Value = serde_json::from_str(job.result.as_deref().unwrap()).unwrap();
    assert_eq!(result["echo"], json!({ "n": 1 }));
}

async fn a_transient_failure_retries_with_backoff_then_succeeds(db: TestDb) {
    let queue = db.queue().await;
    let id = enqueue(&*queue, JobOptions::default()).await;
    let runs = Runs::default();
    let worker = Running::start(
        db.store.clone(),
        registry("w", &runs, Behaviour::FailTransiently(2)),
        config(&db, "w"),
    );
    let done = until_state(&*queue, &id, JobState::Completed).await;
    worker.stop().await;
    assert_eq!(done.attempts, 3);
    assert_eq!(done.result.as_deref(), Some(r#""finally""#));
    assert_eq!(
        done.error_code.as_deref(),
        Some("transient"),
        "the last failure is kept"
    );
    let runs = runs.of(&id);
    assert_eq!(runs.iter().map(|run| run.1).collect::<Vec<_>>(), [1, 2, 3]);
    // Backoff with equal jitter: at least half the initial delay, then half the doubled one.
    assert!(runs[1].2 - runs[0].2 >= Duration::from_millis(100));
    assert!(runs[2].2 - runs[1].2 >= Duration::from_millis(200));
}

async fn a_permanent_failure_is_not_retried(db: TestDb) {
    let queue = db.queue().await;
    let id = enqueue(&*queue, JobOptions::default()).await;
    let runs = Runs::default();
    let worker = Running::start(
        db.store.clone(),
        registry("w", &runs, Behaviour::FailPermanently),
        config(&db, "w"),
    );
    let failed = until_state(&*queue, &id, JobState::Failed).await;
    // Give a wrong retry the time it would need to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    worker.stop().await;
    assert_eq!(failed.attempts, 1);
    assert_eq!(failed.error_code.as_deref(), Some("not_media"));
    assert_eq!(failed.error.as_deref(), Some("no streams"));
    assert_eq!(runs.of(&id).len(), 1);
}

async fn a_panicking_handler_does_not_wedge_the_job(db: TestDb) {
    let queue = db.queue().await;
    let id = enqueue(&*queue, JobOptions::default()).await;
    let once = enqueue(
        &*queue,
        JobOptions {
            max_attempts: Some(1),
            ..JobOptions::default()
        },
    )
    .await;
    let runs = Runs::default();
    let worker = Running::start(
        db.store.clone(),
        registry("w", &runs, Behaviour::PanicOnce),
        config(&db, "w"),
    );
    let done = until_state(&*queue, &id, JobState::Completed).await;
    assert_eq!(done.attempts, 2);
    assert_eq!(done.error_code.as_deref(), Some("panicked"));
    // With no attempt left, the panic fails the job (it does not stay `active`).
    let failed = until_state(&*queue, &once, JobState::Failed).await;
    worker.stop().await;
    assert_eq!(failed.error_code.as_deref(), Some("panicked"));
    assert!(failed.error.unwrap().contains("handler bug"));
}

async fn cancelling_a_running_job_reaches_the_handler(db: TestDb) {
    let queue = db.queue().await;
    let id = enqueue(&*queue, JobOptions::default()).await;
    let runs = Runs::default();
    let worker = Running::start(
        db.store.clone(),
        registry("w", &runs, Behaviour::WaitForCancel),
        config(&db, "w"),
    );
    let running = eventually("the job to report progress", || async {
        queue
            .status(&id)
            .await
            .unwrap()
            .filter(|job| job.stage.as_deref() == Some("waiting"))
    })
    .await;
    assert_eq!(running.state, JobState::Active);
    assert_eq!(running.progress, 10.0);
    assert!(queue.cancel(&id).await.unwrap());
    let cancelled = until_state(&*queue, &id, JobState::Cancelled).await;
    worker.stop().await;
    assert_eq!(cancelled.attempts, 1);
    assert!(cancelled.finished_at.is_some());
    assert_eq!(runs.of(&id).len(), 1);
    assert!(!queue.cancel(&id).await.unwrap(), "already over");
}

async fn graceful_shutdown_hands_back_a_job_another_worker_completes(db: TestDb) {
    let queue = db.queue().await;
    let id = enqueue(&*queue, JobOptions::default()).await;
    let runs = Runs::default();
    let leaving = Running::start(
        db.store.clone(),
        registry("leaving", &runs, Behaviour::Block),
        config(&db, "leaving"),
    );
    eventually("the first worker to start the job", || async {
        (!runs.of(&id).is_empty()).then_some(())
    })
    .await;
    let stopping = Instant::now();
    leaving.stop().await;
    assert!(
        stopping.elapsed() >= Duration::from_millis(300),
        "the grace was given"
    );
    let back = queue.status(&id).await.unwrap().unwrap();
    assert_eq!(
        back.state,
        JobState::Queued,
        "handed back, not left to its lease"
    );
    assert_eq!(back.attempts, 0, "a handed-back run is not an attempt");

    let staying = Running::start(
        db.open_again().await,
        registry("staying", &runs, Behaviour::Succeed),
        config(&db, "staying"),
    );
    let done = until_state(&*queue, &id, JobState::Completed).await;
    staying.stop().await;
    assert_eq!(done.attempts, 1);
    assert!(done.lease_owner.unwrap().starts_with("staying#"));
    let workers: Vec<String> = runs.of(&id).into_iter().map(|run| run.0).collect();
    assert_eq!(workers, ["leaving", "staying"]);
}

async fn a_dead_workers_job_runs_again_after_its_lease_lapses(db: TestDb) {
    let queue = db.queue().await;
    let id = enqueue(&*queue, JobOptions::default()).await;
    let runs = Runs::default();

    // The dying worker runs on a runtime of its own, with a store of its own, so that shutting
    // the runtime down kills every one of its tasks (job, heartbeat) mid-flight without any
    // cleanup: as close to SIGKILL as one process gets.
    let (die, dead) = tokio::sync::oneshot::channel::<()>();
    let url = db.url.clone();
    let dying_runs = runs.clone();
    let dying_config = config(&db, "dying");
    let dying = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let store = studio_db::open(&url, studio_db::MigrateMode::Skip)
                .await
                .unwrap();
            let worker = Worker::new(
                store,
                registry("dying", &dying_runs, Behaviour::Block),
                dying_config,
            );
            tokio::spawn(worker.run(CancellationToken::new()));
            dead.await.ok();
        });
        runtime.shutdown_background();
    });
    eventually("the dying worker to start the job", || async {
        (!runs.of(&id).is_empty()).then_some(())
    })
    .await;
    die.send(()).unwrap();
    tokio::task::spawn_blocking(move || dying.join().unwrap())
        .await
        .unwrap();
    let orphan = queue.status(&id).await.unwrap().unwrap();
    assert_eq!(orphan.state, JobState::Active, "nobody handed it back");
    assert!(orphan.lease_owner.unwrap().starts_with("dying#"));

    let rescuer = Running::start(
        db.open_again().await,
        registry("rescuer", &runs, Behaviour::Succeed),
        config(&db, "rescuer"),
    );
    let done = until_state(&*queue, &id, JobState::Completed).await;
    rescuer.stop().await;
    assert_eq!(done.attempts, 2);
    assert!(done.lease_owner.unwrap().starts_with("rescuer#"));
    let runs: Vec<(String, u32)> = runs.of(&id).into_iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(runs, [("dying".to_owned(), 1), ("rescuer".to_owned(), 2)]);
}

/// A typed job in crates.io's shape.
#[derive(serde::Serialize, serde::Deserialize)]
struct Transcode {
    asset: String,
}

#[async_trait]
impl Job for Transcode {
    const KIND: &'static str = "transcode";
    type Env = Duration;

    async fn run(&self, pause: &Duration, ctx: JobContext) -> Result<Value, JobError> {
        for (percent, stage) in [(25.0, "probe"), (75.0, "encode")] {
            ctx.progress(percent, Some(stage))
                .await
                .map_err(|err| JobError::transient(err.to_string()))?;
            tokio::time::sleep(*pause).await;
        }
        Ok(json!({ "proxy": format!("proxies/{}", self.asset) }))
    }
}

async fn typed_jobs_report_progress_to_subscribers(db: TestDb) {
    let queue = db.queue().await;
    let job = Transcode {
        asset: "ast_1".to_owned(),
    };
    let options = JobOptions {
        request_id: Some("req-typed".to_owned()),
        ..JobOptions::default()
    };
    let id = enqueue_job(&*queue, &job, options).await.unwrap();
    let events = queue.subscribe(id.clone());
    let worker = Running::start(
        db.open_again().await,
        HandlerRegistry::new().register_job::<Transcode>(Arc::new(Duration::from_millis(300))),
        config(&db, "typed"),
    );
    let events: Vec<_> = tokio::time::timeout(PATIENCE, events.collect::<Vec<_>>())
        .await
        .expect("the stream ends when the job does");
    worker.stop().await;
    let events: Vec<_> = events.into_iter().map(Result::unwrap).collect();
    assert_eq!(events.first().unwrap().state, JobState::Queued);
    let last = events.last().unwrap();
    assert_eq!(last.state, JobState::Completed);
    assert_eq!(last.progress, 100.0);
    let stages: Vec<_> = events.iter().filter_map(|e| e.stage.as_deref()).collect();
    assert!(
        stages.contains(&"probe") && stages.contains(&"encode"),
        "{stages:?}"
    );
    assert!(
        events
            .windows(2)
            .all(|pair| pair[0].progress <= pair[1].progress),
        "progress only grows"
    );
    let done = queue.status(&id).await.unwrap().unwrap();
    assert_eq!(done.result.as_deref(), Some(r#"{"proxy":"proxies/ast_1"}"#));
    // Unknown jobs have no events.
    assert!(queue.subscribe(JobId::generate()).next().await.is_none());
}

async fn enqueue_options_reach_the_job(db: TestDb) {
    let queue = db.queue().await;
    assert_eq!(queue.engine(), db.engine.name());
    let options = JobOptions {
        idempotency_key: Some("asset-1".to_owned()),
        priority: 7,
        delay: Some(Duration::from_secs(60)),
        max_attempts: Some(2),
        request_id: Some("req-1".to_owned()),
        ..JobOptions::default()
    };
    let first = enqueue(&*queue, options.clone()).await;
    let again = enqueue(&*queue, options).await;
    assert_eq!(again, first, "one job per idempotency key");
    let job = queue.status(&first).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.priority, 7);
    assert_eq!(job.max_attempts, 2);
    assert_eq!(job.request_id.as_deref(), Some("req-1"));
    assert!(job.run_at > time::OffsetDateTime::now_utc() + time::Duration::seconds(50));

    // Delayed: a worker does not take it yet.
    let runs = Runs::default();
    let worker = Running::start(
        db.store.clone(),
        registry("w", &runs, Behaviour::Succeed),
        config(&db, "w"),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.stop().await;
    assert!(runs.of(&first).is_empty());

    // A chosen id is kept; a waiting job is cancelled at once.
    let chosen = JobId::generate();
    let id = enqueue(
        &*queue,
        JobOptions {
            id: Some(chosen.clone()),
            delay: Some(Duration::from_secs(60)),
            ..JobOptions::default()
        },
    )
    .await;
    assert_eq!(id, chosen);
    assert!(queue.cancel(&id).await.unwrap());
    assert_eq!(
        queue.status(&id).await.unwrap().unwrap().state,
        JobState::Cancelled
    );
    assert_eq!(queue.status(&JobId::generate()).await.unwrap(), None);
}

async fn higher_priority_jobs_run_first(db: TestDb) {
    let queue = db.queue().await;
    let mut ids = Vec::new();
    for priority in [0, 5, -5, 10] {
        let id = enqueue(
            &*queue,
            JobOptions {
                priority,
                ..JobOptions::default()
            },
        )
        .await;
        ids.push((priority, id));
    }
    let runs = Runs::default();
    let mut one_at_a_time = config(&db, "w");
    one_at_a_time.default_concurrency = 1;
    let worker = Running::start(
        db.store.clone(),
        registry("w", &runs, Behaviour::Succeed),
        one_at_a_time,
    );
    for (_, id) in &ids {
        until_state(&*queue, id, JobState::Completed).await;
    }
    worker.stop().await;
    let mut by_start: Vec<(Instant, i32)> = ids
        .iter()
        .map(|(priority, id)| (runs.of(id)[0].2, *priority))
        .collect();
    by_start.sort();
    let order: Vec<i32> = by_start.into_iter().map(|(_, priority)| priority).collect();
    assert_eq!(order, [10, 5, 0, -5]);
}
