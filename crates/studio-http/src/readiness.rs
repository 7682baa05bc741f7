//! The checks behind `GET /ready`: is every dependency this node needs able to serve?
//!
//! Each check runs with its own timeout, all run concurrently, and the answer names each check
//! with its status and latency so an operator sees at once which one failed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use studio_db::Store;
use tokio::sync::Mutex;

/// A check that takes longer than this counts as failed: a dependency this slow is not serving.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Result of one check.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// `database`, `redis` or `tempSpace`.
    pub name: &'static str,
    /// `ok` or `fail`.
    pub status: CheckStatus,
    /// How long the check took, in milliseconds.
    pub latency_ms: f64,
    /// Why it failed, or what it measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Whether a check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Fail,
}

/// Everything `/ready` looks at.
pub struct Readiness {
    store: Arc<dyn Store>,
    redis: Option<RedisCheck>,
    temp_dir: PathBuf,
    min_free_temp_bytes: u64,
}

/// A lazily (re)connected Redis connection used only for PING, so a Redis that is down when the
/// server starts does not stop it from starting: `/ready` just says so until Redis is back.
struct RedisCheck {
    client: redis::Client,
    connection: Mutex<Option<redis::aio::MultiplexedConnection>>,
}

impl Readiness {
    /// Builds the checks. `redis_url` is validated here (not connected to).
    pub fn new(
        store: Arc<dyn Store>,
        redis_url: Option<&str>,
        temp_dir: PathBuf,
        min_free_temp_bytes: u64,
    ) -> Result<Self, redis::RedisError> {
        let redis = redis_url
            .map(|url| {
                Ok::<_, redis::RedisError>(RedisCheck {
                    client: redis::Client::open(url)?,
                    connection: Mutex::new(None),
                })
            })
            .transpose()?;
        Ok(Self {
            store,
            redis,
            temp_dir,
            min_free_temp_bytes,
        })
    }

    /// Runs every check concurrently.
    pub async fn check_all(&self) -> Vec<CheckResult> {
        let database = timed("database", async {
            self.store
                .ping()
                .await
                .map(|()| None)
                .map_err(|e| e.to_string())
        });
        let redis = async {
            match &self.redis {
                Some(redis) => Some(timed("redis", redis.ping()).await),
                None => None,
            }
        };
        let temp = timed("tempSpace", self.check_temp_space());
        let (database, redis, temp) = tokio::join!(database, redis, temp);
        let mut results = vec![database];
        results.extend(redis);
        results.push(temp);
        results
    }

    async fn check_temp_space(&self) -> Result<Option<String>, String> {
        let dir = self.temp_dir.clone();
        let min = self.min_free_temp_bytes;
        // statvfs is a blocking syscall (and the directory may be on a slow network disk).
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create temp dir: {e}"))?;
            let stat = rustix::fs::statvfs(&dir).map_err(|e| format!("statvfs failed: {e}"))?;
            let free = stat.f_bavail.saturating_mul(stat.f_frsize);
            if free >= min {
                Ok(Some(format!("{free} bytes free (minimum {min})")))
            } else {
                Err(format!("only {free} bytes free, minimum is {min}"))
            }
        })
        .await
        .map_err(|e| format!("check did not finish: {e}"))?
    }
}

impl RedisCheck {
    async fn ping(&self) -> Result<Option<String>, String> {
        let mut slot = self.connection.lock().await;
        if slot.is_none() {
            let conn = self
                .client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| format!("cannot connect: {e}"))?;
            *slot = Some(conn);
        }
        let Some(conn) = slot.as_mut() else {
            return Err("no connection".to_owned());
        };
        let pong: Result<String, _> = redis::cmd("PING").query_async(conn).await;
        match pong {
            Ok(_) => Ok(None),
            Err(e) => {
                // Drop the broken connection so the next check reconnects.
                *slot = None;
                Err(format!("PING failed: {e}"))
            }
        }
    }
}

async fn timed(
    name: &'static str,
    check: impl Future<Output = Result<Option<String>, String>>,
) -> CheckResult {
    let started = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, check).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (status, detail) = match outcome {
        Ok(Ok(detail)) => (CheckStatus::Ok, detail),
        Ok(Err(why)) => (CheckStatus::Fail, Some(why)),
        Err(_) => (
            CheckStatus::Fail,
            Some(format!("timed out after {} ms", CHECK_TIMEOUT.as_millis())),
        ),
    };
    CheckResult {
        name,
        status,
        latency_ms,
        detail,
    }
}
