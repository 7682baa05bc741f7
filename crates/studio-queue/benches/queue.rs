//! Queue benchmark: no-op jobs through [`JobQueue::enqueue`] and a [`Worker`], on one engine
//! (embedded | redis) over one database (sqlite | postgres). `harness = false`, so this is a plain
//! program; `scripts/bench-queue.sh` runs it for all four combinations in release mode.
//!
//! ```sh
//! cargo bench -p studio-queue --bench queue -- --engine redis --database postgres \
//!     --jobs 5000 --concurrency 50
//! ```
//!
//! Settings from arguments, else `STUDIO_BENCH_{ENGINE,DATABASE,JOBS,CONCURRENCY}`, else the
//! defaults (embedded, sqlite, 5000, 50). The servers are the test suite's:
//! `STUDIO_TEST_POSTGRES_URL` and `STUDIO_TEST_REDIS_URL` (local defaults). `RUST_LOG` filters
//! the logs (default `warn`, so the queue's own warnings show).
//!
//! What it measures, in order, on one isolated database (a fresh SQLite file in a temporary
//! directory, or a fresh PostgreSQL schema dropped at the end) and, on Redis, a random BullMQ
//! prefix whose keys are deleted at the end:
//! 1. enqueue throughput: N jobs enqueued one at a time by one task, then N more by 8 concurrent
//!    tasks (of a kind no worker runs, so they stay out of the next phases);
//! 2. processing throughput: one worker (concurrency C, a handler returning `null`) drains the N
//!    jobs of phase 1: from the worker's start to the last `finished_at` in the table;
//! 3. enqueue-to-start latency: with that worker idle, 200 jobs enqueued one at a time ~10 ms
//!    apart; per job `started_at - created_at` from the table (both written by this machine).
//!
//! The worker uses `WorkerConfig::new`'s production defaults (poll interval, lease, heartbeat)
//! and the Redis engine `RedisEngine::new`'s (relay interval), only the concurrency is set.
//! It prints a table, then the same numbers as one JSON line.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use async_trait::async_trait;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection as _};
use studio_core::JobId;
use studio_db::{MigrateMode, Store};
use studio_queue::{
    Engine, HandlerRegistry, JobContext, JobError, JobHandler, JobOptions, JobQueue, JobState,
    RedisEngine, Worker, WorkerConfig,
};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// The test suite's local servers.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The kind the worker runs.
const NOOP: &str = "bench_noop";
/// The kind of the concurrently enqueued jobs: no worker runs it, so they do not add to the
/// processing phase (they stay in the table, as a backlog of another kind would).
const PARKED: &str = "bench_parked";
/// Concurrent enqueuers in the second enqueue measurement.
const ENQUEUERS: usize = 8;
/// Jobs of the latency phase, and the pause between two enqueues (a trickle, not a burst).
const LATENCY_JOBS: usize = 200;
const LATENCY_GAP: Duration = Duration::from_millis(10);
/// How long the worker sits idle before the latency phase, so it is in its idle loop.
const SETTLE: Duration = Duration::from_millis(500);
/// How long a phase may wait for its jobs before the run is declared stuck.
const PATIENCE: Duration = Duration::from_secs(180);
/// How often completion is checked while waiting.
const WAIT_STEP: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EngineKind {
    Embedded,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Database {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
struct Settings {
    engine: EngineKind,
    database: Database,
    jobs: usize,
    concurrency: usize,
}

impl Settings {
    /// From `--name value` arguments, else `STUDIO_BENCH_*`, else defaults. Arguments cargo
    /// adds (`--bench`) are ignored.
    fn parse() -> anyhow::Result<Self> {
        let mut values = std::collections::BTreeMap::new();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let name = match arg.as_str() {
                "--engine" | "--database" | "--jobs" | "--concurrency" => arg,
                "--bench" => continue,
                "-h" | "--help" => {
                    println!(
                        "usage: queue [--engine embedded|redis] [--database sqlite|postgres] \
                         [--jobs N] [--concurrency C]"
                    );
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?} (try --help)"),
            };
            let value = args
                .next()
                .with_context(|| format!("{name} needs a value"))?;
            values.insert(name.trim_start_matches('-').to_owned(), value);
        }
        let get = |name: &str, default: &str| {
            values
                .get(name)
                .cloned()
                .or_else(|| {
                    std::env::var(format!("STUDIO_BENCH_{}", name.to_uppercase()))
                        .ok()
                        .filter(|value| !value.is_empty())
                })
                .unwrap_or_else(|| default.to_owned())
        };
        let engine = match get("engine", "embedded").as_str() {
            "embedded" => EngineKind::Embedded,
            "redis" => EngineKind::Redis,
            other => bail!("engine must be embedded or redis, not {other:?}"),
        };
        let database = match get("database", "sqlite").as_str() {
            "sqlite" => Database::Sqlite,
            "postgres" => Database::Postgres,
            other => bail!("database must be sqlite or postgres, not {other:?}"),
        };
        let count = |name: &str, default: &str| -> anyhow::Result<usize> {
            let value = get(name, default);
            match value.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => bail!("{name} must be a positive integer, not {value:?}"),
            }
        };
        Ok(Self {
            engine,
            database,
            jobs: count("jobs", "5000")?,
            concurrency: count("concurrency", "50")?,
        })
    }

    fn engine_name(&self) -> &'static str {
        match self.engine {
            EngineKind::Embedded => "embedded",
            EngineKind::Redis => "redis",
        }
    }

    fn database_name(&self) -> &'static str {
        match self.database {
            Database::Sqlite => "sqlite",
            Database::Postgres => "postgres",
        }
    }
}

fn random_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn postgres_url() -> String {
    std::env::var("STUDIO_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

fn redis_url() -> String {
    std::env::var("STUDIO_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// What the run created, removed at the end whatever happened.
#[derive(Default)]
struct Cleanup {
    sqlite_dir: Option<PathBuf>,
    /// The admin URL and the schema.
    postgres_schema: Option<(String, String)>,
    /// The Redis URL and the BullMQ prefix.
    redis_prefix: Option<(String, String)>,
}

impl Cleanup {
    async fn run(self) {
        if let Some(dir) = self.sqlite_dir
            && let Err(err) = tokio::fs::remove_dir_all(&dir).await
        {
            eprintln!("cleanup: removing {} failed: {err}", dir.display());
        }
        if let Some((admin_url, schema)) = self.postgres_schema {
            let dropped = async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                // The schema name is ours (hex digits), not input.
                sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            };
            if let Err(err) = dropped.await {
                eprintln!("cleanup: dropping schema {schema} failed: {err}");
            }
        }
        if let Some((url, prefix)) = self.redis_prefix
            && let Err(err) = delete_redis_keys(&url, &prefix).await
        {
            eprintln!("cleanup: deleting Redis keys {prefix}:* failed: {err}");
        }
    }
}

/// Deletes every key under `prefix:` (the run's BullMQ queues), scanning rather than `KEYS` so
/// a shared Redis is not blocked.
async fn delete_redis_keys(url: &str, prefix: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cursor = 0_u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut conn)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Creates the run's database (and picks its BullMQ prefix), recording what to remove.
async fn sandbox(
    settings: &Settings,
    cleanup: &mut Cleanup,
) -> anyhow::Result<(Arc<dyn Store>, Engine)> {
    let url = match settings.database {
        Database::Sqlite => {
            let dir = std::env::temp_dir().join(format!("studio-queue-bench-{}", random_suffix()));
            cleanup.sqlite_dir = Some(dir.clone());
            format!("sqlite://{}", dir.join("studio.db").display())
        }
        Database::Postgres => {
            let admin_url = postgres_url();
            let schema = format!("qbench_{}", random_suffix());
            let mut admin = sqlx::PgConnection::connect(&admin_url)
                .await
                .context("reaching PostgreSQL (set STUDIO_TEST_POSTGRES_URL)")?;
            sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut admin)
                .await
                .context("creating the benchmark schema")?;
            admin.close().await.ok();
            cleanup.postgres_schema = Some((admin_url.clone(), schema.clone()));
            let separator = if admin_url.contains('?') { '&' } else { '?' };
            format!("{admin_url}{separator}options=-c%20search_path%3D{schema}")
        }
    };
    let store = studio_db::open(&url, MigrateMode::Apply)
        .await
        .context("opening the store")?;
    let engine = match settings.engine {
        EngineKind::Embedded => Engine::Embedded,
        EngineKind::Redis => {
            let prefix = format!("qbench{}", random_suffix());
            cleanup.redis_prefix = Some((redis_url(), prefix.clone()));
            Engine::Redis(RedisEngine {
                prefix,
                ..RedisEngine::new(redis_url())
            })
        }
    };
    Ok((store, engine))
}

/// The no-op job: counts its runs, returns `null`.
struct Noop {
    runs: Arc<AtomicUsize>,
}

#[async_trait]
impl JobHandler for Noop {
    fn kind(&self) -> &'static str {
        NOOP
    }

    async fn run(&self, _ctx: JobContext, _payload: Value) -> Result<Value, JobError> {
        self.runs.fetch_add(1, Ordering::Relaxed);
        Ok(Value::Null)
    }
}

/// A worker running in the background until stopped.
struct RunningWorker {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), studio_queue::QueueError>>,
}

impl RunningWorker {
    fn start(store: Arc<dyn Store>, registry: HandlerRegistry, config: WorkerConfig) -> Self {
        let shutdown = CancellationToken::new();
        let worker = Worker::new(store, registry, config);
        let task = tokio::spawn(worker.run(shutdown.clone()));
        Self { shutdown, task }
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .context("the worker did not stop")?
            .context("the worker panicked")?
            .context("the worker failed")
    }
}

/// Nearest-rank percentile of sorted `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Rounded to 3 decimals (µs in ms, ms in seconds), for a readable JSON line.
fn three_decimals(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// `later - earlier` as a `Duration` (zero if negative).
fn between(earlier: OffsetDateTime, later: OffsetDateTime) -> Duration {
    Duration::try_from(later - earlier).unwrap_or(Duration::ZERO)
}

fn options() -> JobOptions {
    JobOptions::default()
}

/// Phase 1a: `n` jobs, one enqueue at a time. Returns the ids, the wall time and each call's.
async fn enqueue_one_by_one(
    queue: &dyn JobQueue,
    n: usize,
) -> anyhow::Result<(Vec<JobId>, Duration, Vec<Duration>)> {
    let mut ids = Vec::with_capacity(n);
    let mut calls = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let call = Instant::now();
        ids.push(queue.enqueue(NOOP, json!({ "i": i }), options()).await?);
        calls.push(call.elapsed());
    }
    let elapsed = start.elapsed();
    calls.sort();
    Ok((ids, elapsed, calls))
}

/// Phase 1b: `n` jobs by [`ENQUEUERS`] concurrent tasks. Returns the wall time.
async fn enqueue_concurrently(queue: &Arc<dyn JobQueue>, n: usize) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(ENQUEUERS);
    for task in 0..ENQUEUERS {
        let share = n / ENQUEUERS + usize::from(task < n % ENQUEUERS);
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..share {
                queue
                    .enqueue(PARKED, json!({ "task": task, "i": i }), options())
                    .await?;
            }
            Ok::<_, studio_queue::QueueError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(start.elapsed())
}

/// Completed jobs of [`NOOP`] per the table's counts.
async fn completed_noops(store: &dyn Store) -> anyhow::Result<(u64, String)> {
    let counts = store.stats().await?;
    let completed = counts
        .iter()
        .filter(|c| c.kind == NOOP && c.state == JobState::Completed)
        .map(|c| c.count)
        .sum();
    let summary = counts
        .iter()
        .filter(|c| c.kind == NOOP)
        .map(|c| format!("{}={}", c.state, c.count))
        .collect::<Vec<_>>()
        .join(" ");
    Ok((completed, summary))
}

/// Waits until the handler ran `runs_target` times, then until the table shows `completed`
/// [`NOOP`] jobs; fails after [`PATIENCE`] saying how far it got.
async fn wait_for_completions(
    store: &dyn Store,
    runs: &AtomicUsize,
    runs_target: usize,
    completed: u64,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + PATIENCE;
    while runs.load(Ordering::Relaxed) < runs_target {
        if Instant::now() > deadline {
            let (_, summary) = completed_noops(store).await?;
            bail!(
                "jobs did not complete: the handler ran {} of {runs_target} times; table: {summary}",
                runs.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(WAIT_STEP).await;
    }
    loop {
        let (done, summary) = completed_noops(store).await?;
        if done >= completed {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("jobs did not complete: {done} of {completed} recorded; table: {summary}");
        }
        tokio::time::sleep(WAIT_STEP).await;
    }
}

/// The finished jobs of `ids` as the table records them; fails unless each completed once.
async fn read_back(store: &dyn Store, ids: &[JobId]) -> anyhow::Result<Vec<studio_db::QueueJob>> {
    let mut jobs = Vec::with_capacity(ids.len());
    let mut odd = Vec::new();
    for id in ids {
        let job = store
            .queue_job(id)
            .await?
            .ok_or_else(|| anyhow!("job {id} vanished"))?;
        if job.state != JobState::Completed || job.attempts != 1 {
            odd.push(format!(
                "{id}: {} after {} attempts",
                job.state, job.attempts
            ));
        }
        jobs.push(job);
    }
    if !odd.is_empty() {
        bail!(
            "{} jobs did not complete in one attempt, e.g. {}",
            odd.len(),
            odd[0]
        );
    }
    Ok(jobs)
}

struct Processing {
    elapsed: Duration,
    /// From the worker's start to the first job's start (worker start-up included).
    first_start: Duration,
    handler_runs: usize,
}

/// Phase 2: the worker, started at `started`, drains `ids` (already enqueued).
async fn process(
    store: &dyn Store,
    started: OffsetDateTime,
    runs: &AtomicUsize,
    ids: &[JobId],
) -> anyhow::Result<Processing> {
    wait_for_completions(store, runs, ids.len(), ids.len() as u64).await?;
    let jobs = read_back(store, ids).await?;
    let last = jobs.iter().filter_map(|job| job.finished_at).max();
    let first = jobs.iter().filter_map(|job| job.started_at).min();
    let (Some(last), Some(first)) = (last, first) else {
        bail!("completed jobs without started_at/finished_at");
    };
    Ok(Processing {
        elapsed: between(started, last),
        first_start: between(started, first),
        handler_runs: runs.load(Ordering::Relaxed),
    })
}

/// Phase 3: jobs trickled in to an idle worker; each one's `started_at - created_at`, sorted.
async fn latency(
    store: &dyn Store,
    queue: &dyn JobQueue,
    runs: &AtomicUsize,
    done_before: usize,
) -> anyhow::Result<Vec<Duration>> {
    tokio::time::sleep(SETTLE).await;
    let mut ids = Vec::with_capacity(LATENCY_JOBS);
    for i in 0..LATENCY_JOBS {
        ids.push(queue.enqueue(NOOP, json!({ "i": i }), options()).await?);
        tokio::time::sleep(LATENCY_GAP).await;
    }
    let total = done_before + LATENCY_JOBS;
    wait_for_completions(store, runs, total, total as u64).await?;
    let jobs = read_back(store, &ids).await?;
    let mut latencies: Vec<Duration> = jobs
        .iter()
        .map(|job| {
            job.started_at
                .map(|started| between(job.created_at, started))
                .ok_or_else(|| anyhow!("job {} has no started_at", job.id))
        })
        .collect::<anyhow::Result<_>>()?;
    latencies.sort();
    Ok(latencies)
}

fn rate(jobs: usize, elapsed: Duration) -> f64 {
    jobs as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

async fn bench(settings: &Settings, cleanup: &mut Cleanup) -> anyhow::Result<Value> {
    let (store, engine) = sandbox(settings, cleanup).await?;
    let queue = studio_queue::open_queue(store.clone(), &engine)
        .await
        .context("opening the queue")?;
    let worker_config = WorkerConfig {
        engine,
        default_concurrency: settings.concurrency,
        ..WorkerConfig::new(format!("bench-{}", random_suffix()))
    };
    let relay = match &worker_config.engine {
        Engine::Redis(redis) => format!(", relay interval {:?}", redis.relay_interval),
        Engine::Embedded => String::new(),
    };
    let n = settings.jobs;
    println!(
        "queue benchmark: engine={} database={} jobs={n} concurrency={}",
        settings.engine_name(),
        settings.database_name(),
        settings.concurrency,
    );
    println!(
        "worker: WorkerConfig::new defaults (poll interval {:?}, lease {:?}, heartbeat {:?}){relay}",
        worker_config.poll_interval, worker_config.lease, worker_config.heartbeat_interval,
    );

    let (ids, sequential, calls) = enqueue_one_by_one(&*queue, n).await?;
    let concurrent = enqueue_concurrently(&queue, n).await?;

    let runs = Arc::new(AtomicUsize::new(0));
    let registry = HandlerRegistry::new().register(Noop { runs: runs.clone() });
    let started = OffsetDateTime::now_utc();
    let worker = RunningWorker::start(store.clone(), registry, worker_config.clone());
    let measured = async {
        let processing = process(&*store, started, &runs, &ids).await?;
        let latencies = latency(&*store, &*queue, &runs, n).await?;
        anyhow::Ok((processing, latencies))
    }
    .await;
    // Stopped whatever happened, so cleanup does not race a running worker.
    let stopped = worker.stop().await;
    let (processing, latencies) = measured?;
    stopped?;
    let extra_runs = runs
        .load(Ordering::Relaxed)
        .saturating_sub(n + LATENCY_JOBS);

    let enqueue_rate = rate(n, sequential);
    let concurrent_rate = rate(n, concurrent);
    let process_rate = rate(n, processing.elapsed);
    let (p50, p95, p99, max) = (
        percentile(&latencies, 50.0),
        percentile(&latencies, 95.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or_default(),
    );
    println!();
    println!(
        "{:<34} {:>6} {:>9} {:>9}  notes",
        "phase", "jobs", "seconds", "jobs/s"
    );
    println!(
        "{:<34} {:>6} {:>9.2} {:>9.0}  per call p50 {:.2} ms, p99 {:.2} ms",
        "enqueue, 1 enqueuer",
        n,
        sequential.as_secs_f64(),
        enqueue_rate,
        ms(percentile(&calls, 50.0)),
        ms(percentile(&calls, 99.0)),
    );
    println!(
        "{:<34} {:>6} {:>9.2} {:>9.0}",
        format!("enqueue, {ENQUEUERS} enqueuers"),
        n,
        concurrent.as_secs_f64(),
        concurrent_rate,
    );
    println!(
        "{:<34} {:>6} {:>9.2} {:>9.0}  first start {:.1} ms after worker start",
        format!("process, concurrency {}", settings.concurrency),
        n,
        processing.elapsed.as_secs_f64(),
        process_rate,
        ms(processing.first_start),
    );
    println!(
        "{:<34} {:>6}  p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        format!("enqueue→start, ~{}ms gaps", LATENCY_GAP.as_millis()),
        latencies.len(),
        ms(p50),
        ms(p95),
        ms(p99),
        ms(max),
    );
    if processing.handler_runs != n || extra_runs > 0 {
        println!(
            "note: the handler ran {} times for {} jobs",
            runs.load(Ordering::Relaxed),
            n + LATENCY_JOBS
        );
    }

    Ok(json!({
        "engine": settings.engine_name(),
        "database": settings.database_name(),
        "jobs": n,
        "concurrency": settings.concurrency,
        "poll_interval_ms": three_decimals(ms(worker_config.poll_interval)),
        "enqueue_jobs_per_s": enqueue_rate.round(),
        "enqueue_seconds": three_decimals(sequential.as_secs_f64()),
        "enqueue_call_p50_ms": three_decimals(ms(percentile(&calls, 50.0))),
        "enqueue_call_p99_ms": three_decimals(ms(percentile(&calls, 99.0))),
        "enqueue_concurrent_jobs_per_s": concurrent_rate.round(),
        "enqueue_concurrent_seconds": three_decimals(concurrent.as_secs_f64()),
        "enqueuers": ENQUEUERS,
        "process_jobs_per_s": process_rate.round(),
        "process_seconds": three_decimals(processing.elapsed.as_secs_f64()),
        "first_start_ms": three_decimals(ms(processing.first_start)),
        "latency_jobs": latencies.len(),
        "latency_p50_ms": three_decimals(ms(p50)),
        "latency_p95_ms": three_decimals(ms(p95)),
        "latency_p99_ms": three_decimals(ms(p99)),
        "latency_max_ms": three_decimals(ms(max)),
        "extra_handler_runs": extra_runs,
    }))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let settings = match Settings::parse() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("queue bench: {err:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut cleanup = Cleanup::default();
    // Interrupted or not, what the run created is removed.
    let outcome = tokio::select! {
        outcome = bench(&settings, &mut cleanup) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    cleanup.run().await;
    match outcome {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("queue bench failed: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
