//! The harness `store` and `media` share.
//!
//! Each check is written once as `async fn(TestDb)`; [`backend_tests!`] turns a list of them into
//! one `#[tokio::test]` per backend, in `mod sqlite` and `mod postgres` of the calling module.
//! Every test gets its own database: a fresh SQLite file in a fresh temporary directory, or a
//! fresh PostgreSQL schema on the server named by `STUDIO_TEST_POSTGRES_URL` (default
//! [`DEFAULT_POSTGRES_URL`]). Both are removed when the test ends, pass or fail.
//! `STUDIO_TEST_BACKEND=sqlite|postgres` limits a run to one backend.

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
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }

    /// `STUDIO_TEST_BACKEND=sqlite|postgres` (as `make test-sqlite` / `test-postgres` set it)
    /// runs one backend's tests only; the other's then pass without running. Unset: both run.
    pub fn selected(self) -> bool {
        match std::env::var("STUDIO_TEST_BACKEND") {
            Ok(only) if !only.is_empty() => only == self.name(),
            _ => true,
        }
    }
}

/// One test's database: the store under test and how to reach the same database again.
pub struct TestDb {
    pub store: Arc<dyn Store>,
    /// The URL `store` was opened with; opening it again reaches the same data.
    pub url: String,
    pub kind: Kind,
}

/// Removes a test's database once the test is over.
enum Cleanup {
    Sqlite { dir: PathBuf },
    Postgres { admin_url: String, schema: String },
}

fn random_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl TestDb {
    async fn create(kind: Kind) -> (Self, Cleanup) {
        let (url, cleanup) = match kind {
            Kind::Sqlite => {
                // A directory that does not exist yet: `open` must create it.
                let dir = std::env::temp_dir().join(format!("studio-db-test-{}", random_suffix()));
                let url = format!("sqlite://{}", dir.join("nested/studio.db").display());
                (url, Cleanup::Sqlite { dir })
            }
            Kind::Postgres => {
                let admin_url = std::env::var("STUDIO_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
                let schema = format!("t_{}", random_suffix());
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|err| {
                        panic!(
                            "cannot reach the test PostgreSQL server (set STUDIO_TEST_POSTGRES_URL): {err}"
                        )
                    });
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
        (TestDb { store, url, kind }, cleanup)
    }

    /// Runs statements on a connection of its own, bypassing the store: for tests that need a
    /// row the store would never write.
    pub async fn exec_raw(&self, statements: &[&'static str]) {
        match self.kind {
            Kind::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                for statement in statements {
                    sqlx::query(*statement).execute(&mut conn).await.unwrap();
                }
                conn.close().await.ok();
            }
            Kind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                for statement in statements {
                    sqlx::query(*statement).execute(&mut conn).await.unwrap();
                }
                conn.close().await.ok();
            }
        }
    }

    /// Counts the rows of `jobs`, bypassing the store.
    pub async fn job_count(&self) -> i64 {
        const SQL: &str = "SELECT count(*) FROM jobs";
        match self.kind {
            Kind::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(SQL).fetch_one(&mut conn).await.unwrap()
            }
            Kind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(SQL).fetch_one(&mut conn).await.unwrap()
            }
        }
    }
}

impl Cleanup {
    /// Best effort: a leftover temp dir or schema must not fail a test that passed.
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

/// Runs one test against a fresh database of `kind`, then removes the database whether the test
/// passed or panicked (the test runs in its own task so a panic can be caught and re-raised).
pub async fn run<F, Fut>(kind: Kind, test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if !kind.selected() {
        return;
    }
    let (db, cleanup) = TestDb::create(kind).await;
    let outcome = tokio::spawn(test(db)).await;
    cleanup.run().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// `backend_tests!(worker_threads = N; check, ...)`: for each `check` of the calling module, one
/// `#[tokio::test]` in `mod sqlite` and one in `mod postgres`, each on a runtime of `N` workers.
macro_rules! backend_tests {
    (worker_threads = $threads:tt; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $name() {
                    $crate::support::run($crate::support::Kind::Sqlite, super::$name).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $name() {
                    $crate::support::run($crate::support::Kind::Postgres, super::$name).await;
                }
            )*
        }
    };
}
pub(crate) use backend_tests;
