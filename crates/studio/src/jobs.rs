//! The jobs this binary runs, and the worker that runs them: the registry of handlers, the
//! worker settings derived from the configuration, and the per-process scratch directory media
//! jobs work in.
//!
//! Scratch space: each worker process works under `{temp_dir}/jobs/w-{pid}`, one
//! [`tempfile::TempDir`] per job inside it (removed on success, failure and drop). A process
//! killed outright leaves its directory behind; the next worker to start removes the directories
//! of processes that are no longer alive, never those of a live neighbour sharing the temp dir.

pub mod process_asset;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use studio_db::Store;
use studio_queue::{Engine, HandlerRegistry, JobMetrics, RedisEngine, Worker, WorkerConfig};
use studio_storage::BlobStore;

use crate::config::{Config, QueueEngineKind};
pub use process_asset::{MediaJobEnv, ProcessAsset};

/// How often an idle worker looks for due jobs.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Heartbeats renew a lease this many times per lease period, so one or two slow ones do not
/// lose the job.
const HEARTBEATS_PER_LEASE: u32 = 3;
/// Prefix of a worker process's scratch directory, followed by its pid.
pub(crate) const WORKER_DIR_PREFIX: &str = "w-";

/// The configured queue engine: the API's queue and every worker must use the same.
pub fn engine(config: &Config) -> anyhow::Result<Engine> {
    Ok(match config.worker.queue {
        QueueEngineKind::Embedded => Engine::Embedded,
        QueueEngineKind::Redis => {
            // Validation already refused `queue = "redis"` without a URL.
            let url = config
                .redis_url
                .clone()
                .context("the Redis queue needs redis_url")?;
            Engine::Redis(RedisEngine {
                prefix: config.worker.queue_prefix.clone(),
                retention: config.worker.retention,
                ..RedisEngine::new(url)
            })
        }
    })
}

/// The worker running this binary's jobs with the configured settings, recording job metrics
/// into `metrics`, its running jobs' directories in `held` (so the sweeper leaves them). Removes
/// scratch directories left by dead workers first.
pub async fn worker(
    config: &Config,
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    metrics: JobMetrics,
    held: crate::sweeper::HeldDirs,
) -> anyhow::Result<Worker> {
    let scratch = prepare_scratch(&config.temp_dir).await?;
    let env = Arc::new(MediaJobEnv {
        store: store.clone(),
        blobs,
        scratch,
        tools: studio_media::Tools::default(),
        settings: studio_media::ProxySettings::default(),
        timeline_limits: config.timeline.clone(),
        held,
    });
    let registry = HandlerRegistry::new().register_job::<ProcessAsset>(env);
    let mut worker_config = WorkerConfig::new(worker_id());
    worker_config.default_concurrency = config.worker.concurrency;
    worker_config.lease = config.worker.lease;
    worker_config.heartbeat_interval = config.worker.lease / HEARTBEATS_PER_LEASE;
    worker_config.poll_interval = POLL_INTERVAL;
    worker_config.shutdown_grace = config.shutdown_timeout;
    worker_config.engine = engine(config)?;
    worker_config.metrics = metrics;
    Ok(Worker::new(store, registry, worker_config))
}

/// A name unique among live workers: host, pid and a random suffix.
fn worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Creates this process's scratch directory under `{temp_dir}/jobs` and removes those of
/// processes that are gone (a crashed run's leftovers).
async fn prepare_scratch(temp_dir: &Path) -> anyhow::Result<PathBuf> {
    let jobs_dir = temp_dir.join("jobs");
    tokio::task::spawn_blocking(move || -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(&jobs_dir)
            .with_context(|| format!("cannot create {}", jobs_dir.display()))?;
        let own = std::process::id();
        for entry in std::fs::read_dir(&jobs_dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(WORKER_DIR_PREFIX))
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == own || !process_is_gone(pid) {
                continue;
            }
            let path = entry.path();
            match std::fs::remove_dir_all(&path) {
                Ok(()) => tracing::info!(path = %path.display(), "removed a crashed worker's scratch"),
                Err(err) => tracing::warn!(path = %path.display(), error = %err, "cannot remove stale scratch"),
            }
        }
        let scratch = jobs_dir.join(format!("{WORKER_DIR_PREFIX}{own}"));
        // Our own pid's directory can only be a leftover of an earlier process with the same
        // pid: start it empty.
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)
                .with_context(|| format!("cannot empty {}", scratch.display()))?;
        }
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("cannot create {}", scratch.display()))?;
        Ok(scratch)
    })
    .await
    .context("scratch set-up did not finish")?
}

/// Whether no process has this pid. Without `/proc` we cannot tell, and keep the directory.
pub(crate) fn process_is_gone(pid: u32) -> bool {
    Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scratch_of_dead_workers_is_removed_and_live_ones_are_kept() {
        let temp = tempfile::tempdir().unwrap();
        let jobs = temp.path().join("jobs");
        // No process can have this pid (Linux caps pids at 2^22).
        let dead = jobs.join(format!("{WORKER_DIR_PREFIX}999999999"));
        let live = jobs.join(format!("{WORKER_DIR_PREFIX}1"));
        let other = jobs.join("not-a-worker");
        for dir in [&dead, &live, &other] {
            std::fs::create_dir_all(dir.join("job-x")).unwrap();
        }
        let own = jobs.join(format!("{WORKER_DIR_PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(own.join("job-left-over")).unwrap();

        let scratch = prepare_scratch(temp.path()).await.unwrap();

        assert_eq!(scratch, own);
        assert!(
            std::fs::read_dir(&own).unwrap().next().is_none(),
            "starts empty"
        );
        assert!(!dead.exists());
        assert!(live.exists());
        assert!(other.exists());
    }
}
