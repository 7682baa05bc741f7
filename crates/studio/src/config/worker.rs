//! The job settings: which queue engine carries jobs, how workers run them, how long finished
//! jobs are kept, and where `studio worker` serves its metrics. Validated together with the rest
//! of the configuration.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::RawConfig;

/// Shortest job lease: heartbeats go every third of it, and a shorter one would lose jobs to a
/// busy database.
pub const MIN_JOB_LEASE_SECS: u64 = 3;

/// Which engine carries jobs between the API and the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueEngineKind {
    /// A durable queue in the database studio already uses (the `jobs` table).
    Embedded,
    /// BullMQ's layout in Redis (`redis_url`), so Bull Board and Node workers see the jobs.
    Redis,
}

impl QueueEngineKind {
    /// The name as configured (`embedded`, `redis`).
    pub fn as_str(self) -> &'static str {
        match self {
            QueueEngineKind::Embedded => "embedded",
            QueueEngineKind::Redis => "redis",
        }
    }
}

/// How jobs run (the in-process worker of `serve` and `studio worker`).
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Whether `studio serve` also runs jobs; off when separate `studio worker`s do.
    pub in_process: bool,
    /// Media jobs one worker process runs at once.
    pub concurrency: usize,
    /// How long a claim holds a job: a dead worker's job runs again this long after its last
    /// heartbeat.
    pub lease: Duration,
    /// The engine carrying jobs.
    pub queue: QueueEngineKind,
    /// The BullMQ key prefix (`{prefix}:{queue}:…`) of the Redis engine.
    pub queue_prefix: String,
    /// How long finished jobs (completed, failed, cancelled) stay readable before the janitor
    /// deletes them.
    pub retention: Duration,
    /// How often the janitor deletes finished jobs older than `retention`.
    pub purge_interval: Duration,
    /// Where `studio worker` serves `GET /metrics` and `GET /health`; `None`: not served.
    pub metrics_listen: Option<SocketAddr>,
}

/// Checks the job fields of `raw`, adding a line to `errors` for each bad one.
pub(super) fn validate(raw: &RawConfig, bad: &mut dyn FnMut(&str, String)) -> WorkerSettings {
    if raw.worker_concurrency == 0 {
        bad("worker_concurrency", "must be greater than 0".to_owned());
    }
    if raw.job_lease_secs < MIN_JOB_LEASE_SECS {
        bad(
            "job_lease_secs",
            format!("must be at least {MIN_JOB_LEASE_SECS}"),
        );
    }
    if raw.queue == QueueEngineKind::Redis && raw.redis_url.is_none() {
        bad(
            "queue",
            "`redis` needs redis_url (STUDIO_REDIS_URL) to say which Redis".to_owned(),
        );
    }
    // BullMQ joins its keys with ':' (`bull:process_asset:wait`): a prefix containing one would
    // make keys of different queues collide, and whitespace breaks tools reading the keys.
    if raw.queue_prefix.is_empty()
        || raw
            .queue_prefix
            .chars()
            .any(|c| c == ':' || c.is_whitespace())
    {
        bad(
            "queue_prefix",
            format!(
                "`{}` must be non-empty, without ':' or whitespace",
                raw.queue_prefix
            ),
        );
    }
    for (key, secs) in [
        ("job_retention_secs", raw.job_retention_secs),
        ("job_purge_interval_secs", raw.job_purge_interval_secs),
    ] {
        if secs == 0 {
            bad(key, "must be greater than 0".to_owned());
        }
    }
    let metrics_listen = raw.worker_metrics_listen.as_deref().and_then(|address| {
        address
            .parse::<SocketAddr>()
            .inspect_err(|_| {
                bad(
                    "worker_metrics_listen",
                    format!("`{address}` is not an address like 127.0.0.1:9464"),
                );
            })
            .ok()
    });

    WorkerSettings {
        in_process: raw.run_in_process_worker,
        concurrency: raw.worker_concurrency,
        lease: Duration::from_secs(raw.job_lease_secs),
        queue: raw.queue,
        queue_prefix: raw.queue_prefix.clone(),
        retention: Duration::from_secs(raw.job_retention_secs),
        purge_interval: Duration::from_secs(raw.job_purge_interval_secs),
        metrics_listen,
    }
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail's closures must return figment's own (large) error"
)]
mod tests {
    use super::*;

    #[test]
    fn job_settings_default_to_the_embedded_queue_kept_a_week() {
        let worker = RawConfig::defaults().unwrap().validate().unwrap().worker;
        assert_eq!(worker.queue, QueueEngineKind::Embedded);
        assert_eq!(worker.queue_prefix, "bull");
        assert_eq!(worker.retention, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(worker.purge_interval, Duration::from_secs(3600));
        assert_eq!(worker.metrics_listen, None);
    }

    #[test]
    fn job_settings_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STUDIO_QUEUE", "redis");
            jail.set_env("STUDIO_REDIS_URL", "redis://127.0.0.1:6379");
            jail.set_env("STUDIO_QUEUE_PREFIX", "studio-test");
            jail.set_env("STUDIO_JOB_RETENTION_SECS", "60");
            jail.set_env("STUDIO_JOB_PURGE_INTERVAL_SECS", "5");
            jail.set_env("STUDIO_WORKER_METRICS_LISTEN", "127.0.0.1:9464");
            let worker = RawConfig::load(None).unwrap().validate().unwrap().worker;
            assert_eq!(worker.queue, QueueEngineKind::Redis);
            assert_eq!(worker.queue_prefix, "studio-test");
            assert_eq!(worker.retention, Duration::from_secs(60));
            assert_eq!(worker.purge_interval, Duration::from_secs(5));
            assert_eq!(
                worker.metrics_listen,
                Some(SocketAddr::from(([127, 0, 0, 1], 9464)))
            );
            Ok(())
        });
    }

    #[test]
    fn an_unknown_queue_engine_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STUDIO_QUEUE", "rabbitmq");
            let err = RawConfig::load(None).unwrap_err().to_string();
            assert!(err.contains("STUDIO_QUEUE"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_misspelt_job_setting_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STUDIO_QUEUE_PREFX", "bull");
            let err = RawConfig::load(None).unwrap_err().to_string();
            assert!(err.contains("queue_prefx"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_redis_queue_without_redis_url_is_refused_naming_both() {
        let mut raw = RawConfig::defaults().unwrap();
        raw.queue = QueueEngineKind::Redis;
        let err = raw.validate().unwrap_err().to_string();
        assert!(err.contains("STUDIO_QUEUE"), "{err}");
        assert!(err.contains("redis_url"), "{err}");
    }

    #[test]
    fn bad_job_settings_are_each_reported() {
        for prefix in ["", "bull:studio", "bull studio", "bull\t"] {
            let mut raw = RawConfig::defaults().unwrap();
            raw.queue_prefix = prefix.to_owned();
            let err = raw.validate().unwrap_err().to_string();
            assert!(err.contains("STUDIO_QUEUE_PREFIX"), "{prefix:?}: {err}");
        }
        let mut raw = RawConfig::defaults().unwrap();
        raw.job_retention_secs = 0;
        raw.job_purge_interval_secs = 0;
        raw.worker_metrics_listen = Some("localhost".to_owned());
        let err = raw.validate().unwrap_err().to_string();
        for key in [
            "STUDIO_JOB_RETENTION_SECS",
            "STUDIO_JOB_PURGE_INTERVAL_SECS",
            "STUDIO_WORKER_METRICS_LISTEN",
        ] {
            assert!(err.contains(key), "{key} missing from:\n{err}");
        }
    }
}
