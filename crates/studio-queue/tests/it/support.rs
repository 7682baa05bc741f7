//! The harness: each check is written once as `async fn(TestDb)`, [`backend_tests!`] makes one
//! `#[tokio::test]` per backend and engine (embedded, and Redis/BullMQ). Every test gets its own
//! database: a fresh SQLite file in a fresh temporary directory, or a fresh PostgreSQL schema on
//! the server named by `STUDIO_TEST_POSTGRES_URL` (default [`DEFAULT_POSTGRES_URL`]), removed
//! when the test ends; on the Redis engine also its own BullMQ key prefix on the server named by
//! `STUDIO_TEST_REDIS_URL` (default [`DEFAULT_REDIS_URL`]), whose keys are deleted at the end.
//! `STUDIO_TEST_BACKEND=sqlite|postgres` limits a run to one backend; `TEST_LOG=1` shows logs.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection};
use studio_db::{MigrateMode, Store};
use studio_queue::{EmbeddedQueue, Engine, JobQueue, RedisEngine, RedisQueue};

/// The local test server: trust authentication, database `test`.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The local Redis.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// How often test subscriptions look at a job: fast, so short stages are seen.
const SUBSCRIBE_INTERVAL: Duration = Duration::from_millis(20);

/// Which engine runs a test's jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Embedded,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }

    fn selected(self) -> bool {
        match std::env::var("STUDIO_TEST_BACKEND") {
            Ok(only) if !only.is_empty() => only == self.name(),
            _ => true,
        }
    }
}

/// One test's database, and the engine its jobs run on.
pub struct TestDb {
    pub store: Arc<dyn Store>,
    /// Opening this URL again reaches the same database (as another process would).
    pub url: String,
    /// Workers of this test run on it (set it in their `WorkerConfig`).
    pub engine: Engine,
}

impl TestDb {
    /// Another store (its own pool) on the same database, as a second process would have.
    pub async fn open_again(&self) -> Arc<dyn Store> {
        studio_db::open(&self.url, MigrateMode::Skip).await.unwrap()
    }

    /// The queue the API would enqueue into, on this test's engine.
    pub async fn queue(&self) -> Arc<dyn JobQueue> {
        match &self.engine {
            Engine::Embedded => Arc::new(
                EmbeddedQueue::new(self.store.clone()).with_subscribe_interval(SUBSCRIBE_INTERVAL),
            ),
            Engine::Redis(settings) => Arc::new(
                RedisQueue::connect(self.store.clone(), settings.clone())
                    .await
                    .expect("reach the test Redis (set STUDIO_TEST_REDIS_URL)")
                    .with_subscribe_interval(SUBSCRIBE_INTERVAL),
            ),
        }
    }

    /// The Redis engine's settings; panics on the embedded engine.
    pub fn redis(&self) -> &RedisEngine {
        match &self.engine {
            Engine::Redis(settings) => settings,
            Engine::Embedded => panic!("a Redis-engine test ran on the embedded engine"),
        }
    }
}

fn redis_url() -> String {
    std::env::var("STUDIO_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// Deletes every key under `prefix:` (a test's BullMQ queues).
async fn delete_redis_keys(prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url()) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    for chunk in keys.chunks(500) {
        let _: Result<(), _> = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await;
    }
}

enum Cleanup {
    Sqlite { dir: PathBuf },
    Postgres { admin_url: String, schema: String },
}

fn random_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

async fn create(kind: Kind, engine: EngineKind) -> (TestDb, Cleanup) {
    let (url, cleanup) = match kind {
        Kind::Sqlite => {
            let dir = std::env::temp_dir().join(format!("studio-queue-test-{}", random_suffix()));
            let url = format!("sqlite://{}", dir.join("studio.db").display());
            (url, Cleanup::Sqlite { dir })
        }
        Kind::Postgres => {
            let admin_url = std::env::var("STUDIO_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
            let schema = format!("q_{}", random_suffix());
            let mut admin = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("reach the test PostgreSQL server (set STUDIO_TEST_POSTGRES_URL)");
            // The schema name is ours (hex digits), not input.
            sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut admin)
                .await
                .expect("create the test schema");
            admin.close().await.ok();
            let separator = if admin_url.contains('?') { '&' } else { '?' };
            let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
            (url, Cleanup::Postgres { admin_url, schema })
        }
    };
    let store = studio_db::open(&url, MigrateMode::Apply)
        .await
        .expect("open the store");
    let engine = match engine {
        EngineKind::Embedded => Engine::Embedded,
        EngineKind::Redis => Engine::Redis(RedisEngine {
            prefix: format!("t{}", random_suffix()),
            relay_interval: Duration::from_millis(50),
            ..RedisEngine::new(redis_url())
        }),
    };
    (TestDb { store, url, engine }, cleanup)
}

impl Cleanup {
    async fn run(self) {
        match self {
            Cleanup::Sqlite { dir } => {
                tokio::fs::remove_dir_all(&dir).await.ok();
            }
            Cleanup::Postgres { admin_url, schema } => {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                        .execute(&mut admin)
                        .await
                        .ok();
                    admin.close().await.ok();
                }
            }
        }
    }
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_test_writer()
            .try_init();
    }
}

/// Runs one test against a fresh database of `kind` and jobs on `engine`, then removes them,
/// pass or fail.
pub async fn run<F, Fut>(kind: Kind, engine: EngineKind, test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if !kind.selected() {
        return;
    }
    init_logs();
    let (db, cleanup) = create(kind, engine).await;
    let prefix = match &db.engine {
        Engine::Redis(settings) => Some(settings.prefix.clone()),
        Engine::Embedded => None,
    };
    let outcome = tokio::spawn(test(db)).await;
    cleanup.run().await;
    if let Some(prefix) = prefix {
        delete_redis_keys(&prefix).await;
    }
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// `backend_tests!(check, ...)`: one multi-threaded `#[tokio::test]` per check, backend and
/// engine; `backend_tests!(redis only: check, ...)`: per backend, on the Redis engine.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $crate::support::backend_tests!(@module sqlite, Sqlite, Embedded; $($name),*);
        $crate::support::backend_tests!(@module postgres, Postgres, Embedded; $($name),*);
        $crate::support::backend_tests!(@module sqlite_redis, Sqlite, Redis; $($name),*);
        $crate::support::backend_tests!(@module postgres_redis, Postgres, Redis; $($name),*);
    };
    (redis only: $($name:ident),* $(,)?) => {
        $crate::support::backend_tests!(@module sqlite_redis, Sqlite, Redis; $($name),*);
        $crate::support::backend_tests!(@module postgres_redis, Postgres, Redis; $($name),*);
    };
    (@module $module:ident, $kind:ident, $engine:ident; $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::support::run(
                        $crate::support::Kind::$kind,
                        $crate::support::EngineKind::$engine,
                        super::$name,
                    )
                    .await;
                }
            )*
        }
    };
}
pub(crate) use backend_tests;
