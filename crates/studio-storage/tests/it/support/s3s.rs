//! A real S3 server per test: `s3s-fs` (it verifies SigV4, so refusals are real), started on a
//! free port over a temp dir, killed when the test ends.
//!
//! The binary comes from `cargo install s3s-fs --version 0.14.1 --features binary --locked`.
//! Without it these tests fail, on purpose: CI installs it, and a silent skip would hide the
//! whole S3 suite.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use studio_storage::s3::S3Store;

use super::{Backend, Quirks, verbose};

pub const BUCKET: &str = "studio-test";
const ACCESS_KEY: &str = "studio-test-access";
const SECRET_KEY: &str = "studio-test-secret-key";
/// How long a fresh `s3s-fs` may take to listen.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Another process may take the port between our probe and `s3s-fs`'s bind: try again.
const START_ATTEMPTS: usize = 3;

/// The `s3s-fs` program: on `PATH`, else in `~/.cargo/bin`.
fn binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("s3s-fs"))
            .find(|p| p.is_file())
    });
    let in_cargo = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo/bin/s3s-fs"))
        .filter(|p| p.is_file());
    on_path.or(in_cargo).unwrap_or_else(|| {
        panic!(
            "s3s-fs not found on PATH or in ~/.cargo/bin: the S3 tests need it. Install it with \
             `cargo install s3s-fs --version 0.14.1 --features binary --locked`"
        )
    })
}

/// A running `s3s-fs` and the temp dir it serves.
pub struct Server {
    pub endpoint: String,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

pub async fn start() -> Server {
    let program = binary();
    for _ in 0..START_ATTEMPTS {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(BUCKET)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let output = || {
            if verbose() {
                Stdio::inherit()
            } else {
                Stdio::null()
            }
        };
        let mut child = tokio::process::Command::new(&program)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(dir.path())
            .env("RUST_LOG", if verbose() { "s3s=debug" } else { "error" })
            .stdin(Stdio::null())
            .stdout(output())
            .stderr(output())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Server {
                    endpoint: format!("http://127.0.0.1:{port}"),
                    _child: child,
                    _dir: dir,
                };
            }
            if child.try_wait().unwrap().is_some() || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    panic!("s3s-fs did not start listening (tried {START_ATTEMPTS} times)");
}

pub fn store(server: &Server) -> S3Store {
    store_at(&server.endpoint)
}

pub fn store_at(endpoint: &str) -> S3Store {
    S3Store::from_url(
        &format!("s3://{BUCKET}?endpoint={endpoint}&region=us-east-1"),
        ACCESS_KEY.to_owned(),
        SecretString::from(SECRET_KEY),
        reqwest::Client::new(),
    )
    .unwrap()
}

pub async fn s3_backend() -> Backend {
    let server = start().await;
    Backend {
        store: Arc::new(store(&server)),
        http: reqwest::Client::new(),
        quirks: Quirks { lax_uploads: true },
        _guard: Box::new(server),
    }
}
