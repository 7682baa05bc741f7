//! Test helpers: [`TestApp::spawn`] starts the real application on port 0 against its own
//! database (a fresh SQLite file, or a fresh schema in PostgreSQL), its own data dir and its own
//! JWT secret, so tests run in parallel without seeing each other.
//!
//! The database comes from `STUDIO_TEST_BACKEND` (`sqlite`, the default, or `postgres`); the
//! PostgreSQL server from `STUDIO_TEST_POSTGRES_URL` (default: the local `test` database). Blob
//! storage from `STUDIO_TEST_STORAGE` (`local`, the default, or `s3`: a fresh `s3s-fs` per app).
//! The job queue from `STUDIO_TEST_QUEUE` (`embedded`, the default, or `redis`: BullMQ on the
//! Redis of `STUDIO_TEST_REDIS_URL`, under a key prefix of the app's own, deleted on drop).
//! The whole suite runs once per combination the Makefile lists. `TEST_LOG=1` shows the logs.

pub mod fake_ai;
pub mod moto;
pub mod s3s;

use std::sync::{Arc, Once};
use std::time::Duration;

use rand::RngCore as _;
use secrecy::SecretString;
use serde_json::Value;
use studio::{Application, RawConfig};
use studio_db::Store;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The PostgreSQL server tests use unless `STUDIO_TEST_POSTGRES_URL` says otherwise.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Which database the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend chosen for this run.
pub fn backend() -> Backend {
    match std::env::var("STUDIO_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("STUDIO_TEST_BACKEND must be sqlite or postgres, not {other:?}"),
    }
}

/// Which blob store the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Local,
    S3,
}

/// The blob store chosen for this run.
pub fn storage() -> Storage {
    match std::env::var("STUDIO_TEST_STORAGE").as_deref() {
        Ok("s3") => Storage::S3,
        Ok("local") | Err(_) => Storage::Local,
        Ok(other) => panic!("STUDIO_TEST_STORAGE must be local or s3, not {other:?}"),
    }
}

/// Which queue engine the suite runs jobs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    Embedded,
    Redis,
}

/// The queue engine chosen for this run.
pub fn queue() -> Queue {
    match std::env::var("STUDIO_TEST_QUEUE").as_deref() {
        Ok("redis") => Queue::Redis,
        Ok("embedded") | Err(_) => Queue::Embedded,
        Ok(other) => panic!("STUDIO_TEST_QUEUE must be embedded or redis, not {other:?}"),
    }
}

/// The Redis tests use unless `STUDIO_TEST_REDIS_URL` says otherwise.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

pub fn redis_url() -> String {
    std::env::var("STUDIO_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// One app's BullMQ keys: a prefix of its own, whose keys are deleted on drop.
pub struct RedisPrefix {
    pub prefix: String,
}

impl RedisPrefix {
    /// A fresh prefix (tests that start several apps on one prefix make their own).
    pub fn new() -> Self {
        Self {
            prefix: format!("t{}", random_hex(8)),
        }
    }
}

impl Default for RedisPrefix {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RedisPrefix {
    /// Deletes `{prefix}:*` with a blocking connection (`Drop` cannot await): a handful of keys
    /// on the local Redis.
    fn drop(&mut self) {
        let pattern = format!("{}:*", self.prefix);
        let cleanup = std::thread::spawn(move || {
            let Ok(client) = redis::Client::open(redis_url()) else {
                return;
            };
            let Ok(mut conn) = client.get_connection() else {
                return;
            };
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query(&mut conn)
                .unwrap_or_default();
            for chunk in keys.chunks(500) {
                let _: Result<(), _> = redis::cmd("DEL").arg(chunk).query(&mut conn);
            }
        });
        let _ = cleanup.join();
    }
}

fn postgres_url() -> String {
    std::env::var("STUDIO_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn init_test_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            use tracing_subscriber::layer::SubscriberExt as _;
            use tracing_subscriber::util::SubscriberInitExt as _;
            let _ = tracing_subscriber::registry()
                .with(tracing_subscriber::EnvFilter::new(
                    "debug,sqlx=warn,hyper=info",
                ))
                .with(studio::logging::json_layer(std::io::stderr))
                .try_init();
        }
    });
}

/// An isolated database for one test: the URL to give studio, and how to clean up.
pub struct TestDatabase {
    pub url: String,
    schema: Option<String>,
}

impl TestDatabase {
    /// A fresh database of the chosen backend. For SQLite, a file inside `dir`.
    pub async fn create(dir: &std::path::Path) -> anyhow::Result<Self> {
        match backend() {
            Backend::Sqlite => Ok(Self {
                url: format!("sqlite://{}", dir.join("studio.db").display()),
                schema: None,
            }),
            Backend::Postgres => {
                let schema = format!("t_{}", random_hex(8));
                let admin = sqlx::PgPool::connect(&postgres_url()).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&admin)
                    .await?;
                admin.close().await;
                let separator = if postgres_url().contains('?') {
                    '&'
                } else {
                    '?'
                };
                // The application name marks the app's connections, so cleanup can end them.
                Ok(Self {
                    url: format!(
                        "{}{separator}options=-c%20search_path%3D{schema}&application_name={schema}",
                        postgres_url()
                    ),
                    schema: Some(schema),
                })
            }
        }
    }
}

impl Drop for TestDatabase {
    /// Drops the schema (PostgreSQL; the SQLite file goes with its temp dir), so a passing or
    /// failing test leaves nothing behind. `Drop` cannot await, and may run inside a runtime
    /// that must not be blocked, so the drop runs on its own thread with its own small runtime.
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else {
            return;
        };
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&postgres_url()).await {
                    // The app's tasks may be stopped mid-transaction (the test's runtime is
                    // blocked in this drop), holding locks the DROP would wait for forever.
                    let _ = sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = $1 AND pid <> pg_backend_pid()",
                    )
                    .bind(&schema)
                    .execute(&admin)
                    .await;
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&admin)
                    .await;
                    admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A running application and what a test needs to talk to it.
pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    /// The running app's state, to drive background passes (the reconciler) by hand.
    pub state: studio_http::AppState,
    pub config: studio::Config,
    secret: SecretString,
    shutdown: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
    /// Held for its `Drop`, which removes the schema.
    _database: TestDatabase,
    /// The S3 server of an S3 run, killed on drop.
    _s3: Option<s3s::S3sServer>,
    /// The BullMQ keys of a Redis run, deleted on drop (after the app stopped).
    _redis: Option<RedisPrefix>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// Starts the app with the test defaults.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts the app after `adjust` has changed the test configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut RawConfig)) -> Self {
        init_test_logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let database = TestDatabase::create(dir.path())
            .await
            .expect("test database (is PostgreSQL running? see README)");
        let secret = random_hex(32);
        let s3 = match storage() {
            Storage::S3 => Some(s3s::S3sServer::start().await),
            Storage::Local => None,
        };
        let mut raw = RawConfig::defaults().expect("embedded defaults");
        if let Some(server) = &s3 {
            raw.storage_url = Some(server.storage_url());
            raw.s3_access_key_id = Some(s3s::ACCESS_KEY.to_owned());
            raw.s3_secret_access_key = Some(SecretString::from(s3s::SECRET_KEY));
        }
        raw.data_dir = dir.path().to_owned();
        raw.bind = "127.0.0.1:0".to_owned();
        raw.database_url = Some(database.url.clone());
        raw.auto_migrate = Some(true);
        raw.jwt_secret = Some(SecretString::from(secret.clone()));
        // Tests must pass on a machine with little disk; /ready tests set their own minimum.
        raw.min_free_temp_bytes = 1;
        // Most tests upload bytes that are not media and look at the asset right after: a
        // worker processing (and failing) them meanwhile would race those checks. Tests of the
        // pipeline turn it on.
        raw.run_in_process_worker = false;
        let redis = match queue() {
            Queue::Redis => {
                let keys = RedisPrefix::new();
                raw.queue = studio::config::QueueEngineKind::Redis;
                raw.redis_url = Some(redis_url());
                raw.queue_prefix = keys.prefix.clone();
                Some(keys)
            }
            Queue::Embedded => None,
        };
        adjust(&mut raw);
        let config = raw.validate().expect("valid test configuration");
        let app = Application::build(&config)
            .await
            .expect("application builds");
        let addr = app.local_addr().expect("bound address");
        let store = app.store();
        let state = app.state();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Self {
            base_url: format!("http://{addr}"),
            client,
            store,
            state,
            config,
            secret: SecretString::from(secret),
            shutdown,
            server,
            _database: database,
            _s3: s3,
            _redis: redis,
            _dir: dir,
        }
    }

    /// A valid token for `user` signed with this app's secret.
    pub fn token(&self, user: &str) -> String {
        self.token_with(user, Duration::from_secs(3600), Some("authenticated"))
    }

    /// A token for `user` with the given lifetime and audience.
    pub fn token_with(&self, user: &str, ttl: Duration, audience: Option<&str>) -> String {
        studio_auth::mint_hs256(
            &self.secret,
            &studio_auth::MintClaims {
                sub: user.to_owned(),
                ttl,
                audience: audience.map(str::to_owned),
                issuer: None,
                role: "authenticated".to_owned(),
            },
        )
        .expect("token")
    }

    /// The HS256 secret the app verifies with.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A request as `user` (a bearer token is added).
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        user: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(self.token(user))
    }

    /// `GET path` (as `user`, or anonymously) and its JSON body, whatever the status.
    pub async fn get_json(&self, path: &str, user: Option<&str>) -> Value {
        let request = match user {
            Some(user) => self.request(reqwest::Method::GET, path, user),
            None => self.client.get(self.url(path)),
        };
        request
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON body")
    }

    /// Creates a project owned by `user` and returns its JSON.
    pub async fn create_project(&self, user: &str, name: &str) -> Value {
        let response = self
            .request(reqwest::Method::POST, "/api/projects", user)
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201, "create_project failed");
        response.json().await.expect("json")
    }

    /// Gives `member` a role in `project_id` (as `owner`).
    pub async fn add_member(&self, owner: &str, project_id: &str, member: &str, role: &str) {
        let response = self
            .request(
                reqwest::Method::PUT,
                &format!("/api/projects/{project_id}/members/{member}"),
                owner,
            )
            .json(&serde_json::json!({ "role": role }))
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "add_member failed: {}",
            response.status()
        );
    }
}

impl Drop for TestApp {
    /// Stops the server; the database and the data dir are removed by their own `Drop`s, after
    /// this one (fields drop after the struct's own `drop`).
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.server.abort();
    }
}
