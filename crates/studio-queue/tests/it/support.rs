//! The harness: each check is written once as `async fn(TestDb)`, [`backend_tests!`] makes one
//! `#[tokio::test]` per backend. Every test gets its own database: a fresh SQLite file in a fresh
//! temporary directory, or a fresh PostgreSQL schema on the server named by
//! `STUDIO_TEST_POSTGRES_URL` (default [`DEFAULT_POSTGRES_URL`]), removed when the test ends.
//! `STUDIO_TEST_BACKEND=sqlite|postgres` limits a run to one backend; `TEST_LOG=1` shows logs.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use sqlx::{AssertSqlSafe, Connection};
use studio_db::{MigrateMode, Store};

/// The local test server: trust authentication, database `test`.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

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

/// One test's database.
pub struct TestDb {
    pub store: Arc<dyn Store>,
    /// Opening this URL again reaches the same database (as another process would).
    pub url: String,
}

impl TestDb {
    /// Another store (its own pool) on the same database, as a second process would have.
    pub async fn open_again(&self) -> Arc<dyn Store> {
        studio_db::open(&self.url, MigrateMode::Skip).await.unwrap()
    }
}

enum Cleanup {
    Sqlite { dir: PathBuf },
    Postgres { admin_url: String, schema: String },
}

fn random_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

async fn create(kind: Kind) -> (TestDb, Cleanup) {
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
    (TestDb { store, url }, cleanup)
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

/// Runs one test against a fresh database of `kind`, then removes it, pass or fail.
pub async fn run<F, Fut>(kind: Kind, test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if !kind.selected() {
        return;
    }
    init_logs();
    let (db, cleanup) = create(kind).await;
    let outcome = tokio::spawn(test(db)).await;
    cleanup.run().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// `backend_tests!(check, ...)`: one multi-threaded `#[tokio::test]` per check and backend.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::support::run($crate::support::Kind::Sqlite, super::$name).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::support::run($crate::support::Kind::Postgres, super::$name).await;
                }
            )*
        }
    };
}
pub(crate) use backend_tests;
