//! Running the real `studio` binary in tests: a clean environment, waiting for it to listen,
//! signals, and the database and token it needs.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use studio_testkit::TestDatabase;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

pub const STUDIO: &str = env!("CARGO_BIN_EXE_studio");

/// A `studio` command with a clean environment: only what the test sets reaches it.
pub fn studio(dir: &Path, database_url: &str) -> Command {
    let mut command = Command::new(STUDIO);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir)
        .env("STUDIO_DATA_DIR", dir.join("data"))
        .env("STUDIO_DATABASE_URL", database_url)
        .env("STUDIO_BIND", "127.0.0.1:0")
        .env("STUDIO_LOG_FORMAT", "json")
        .env("STUDIO_MIN_FREE_TEMP_BYTES", "1")
        .kill_on_drop(true);
    command
}

pub async fn output(mut command: Command) -> std::process::Output {
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("command finished")
        .expect("command ran")
}

/// Starts `studio serve` and waits for its "listening on" line; returns the child and base URL.
pub async fn serve(mut command: Command) -> (Child, String, tokio::task::JoinHandle<Vec<String>>) {
    let mut child = command
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("studio starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("studio exited before listening");
    })
    .await
    .expect("studio listens");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let logs = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Ok(Some(line)) = stdout.next_line().await {
            lines.push(line);
        }
        lines
    });
    (child, url, logs)
}

pub async fn terminate(child: &Child) {
    let pid = child.id().expect("running").to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
}

/// A token for `alice` signed with `secret`.
pub fn mint(secret: &str) -> String {
    studio_auth::mint_hs256(
        &secrecy::SecretString::from(secret),
        &studio_auth::MintClaims::authenticated("alice", Duration::from_secs(600)),
    )
    .unwrap()
}

/// The secret the process tests configure.
pub const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";

pub async fn database(dir: &Path) -> TestDatabase {
    TestDatabase::create(dir).await.expect("test database")
}

/// A body stream fed by a channel, to send a request body piece by piece.
pub fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A `studio worker` command for the app `config` describes: the same database, data dir (so
/// local blobs and temp space) and storage, JSON logs on a piped stdout; no migrations.
pub fn worker(dir: &Path, config: &studio::Config) -> Command {
    use secrecy::ExposeSecret as _;
    use studio::config::StorageConfig;

    let mut command = studio(dir, &config.database_url);
    command
        .env("STUDIO_DATA_DIR", &config.data_dir)
        .env("STUDIO_AUTO_MIGRATE", "false")
        .arg("worker")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if config.worker.queue == studio::config::QueueEngineKind::Redis {
        command
            .env("STUDIO_QUEUE", config.worker.queue.as_str())
            .env("STUDIO_QUEUE_PREFIX", &config.worker.queue_prefix);
    }
    if let Some(url) = &config.redis_url {
        command.env("STUDIO_REDIS_URL", url);
    }
    if let StorageConfig::S3 {
        url,
        access_key_id,
        secret_access_key,
    } = &config.media.storage
    {
        command
            .env("STUDIO_STORAGE_URL", url)
            .env("STUDIO_S3_ACCESS_KEY_ID", access_key_id)
            .env(
                "STUDIO_S3_SECRET_ACCESS_KEY",
                secret_access_key.expose_secret(),
            );
    }
    command
}

/// Collects a child's stdout lines (its JSON logs) until it closes.
pub fn stdout_lines(child: &mut Child) -> tokio::task::JoinHandle<Vec<String>> {
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Ok(Some(line)) = stdout.next_line().await {
            lines.push(line);
        }
        lines
    })
}

/// Kills a child outright (`kill -KILL`): no shutdown, no hand-back, like a crashed machine.
pub async fn kill(child: &Child) {
    let pid = child.id().expect("running").to_string();
    let status = Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
}
