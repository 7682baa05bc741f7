//! A real S3-compatible server for the suite's S3 runs: `s3s-fs` (it verifies SigV4, so
//! refusals are real), started on a free port over a temp dir, killed when dropped.
//!
//! The binary comes from `cargo install s3s-fs --version 0.14.1 --features binary --locked`
//! (`make test` installs it). Without it the S3 run fails on purpose: a silent skip would hide
//! the whole S3 column.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// The bucket every test server has.
pub const BUCKET: &str = "studio-test";
/// Credentials the server accepts.
pub const ACCESS_KEY: &str = "studio-test-access";
pub const SECRET_KEY: &str = "studio-test-secret-key";
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
pub struct S3sServer {
    pub endpoint: String,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl S3sServer {
    /// Starts a server with an empty [`BUCKET`].
    pub async fn start() -> Self {
        let program = binary();
        let verbose = std::env::var_os("TEST_LOG").is_some();
        for _ in 0..START_ATTEMPTS {
            let dir = tempfile::tempdir().expect("temp dir");
            std::fs::create_dir(dir.path().join(BUCKET)).expect("bucket dir");
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let output = || {
                if verbose {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                }
            };
            let mut child = tokio::process::Command::new(&program)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(dir.path())
                .env("RUST_LOG", if verbose { "s3s=debug" } else { "error" })
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
                    return Self {
                        endpoint: format!("http://127.0.0.1:{port}"),
                        _child: child,
                        _dir: dir,
                    };
                }
                let exited = child.try_wait().ok().flatten().is_some();
                if exited || tokio::time::Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        panic!("s3s-fs did not start listening (tried {START_ATTEMPTS} times)");
    }

    /// The `STUDIO_STORAGE_URL` naming this server's bucket.
    pub fn storage_url(&self) -> String {
        format!(
            "s3://{BUCKET}?endpoint={}&region=us-east-1&path_style=true",
            self.endpoint
        )
    }
}
