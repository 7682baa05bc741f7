//! moto in server mode: the S3-compatible server for what `s3s-fs` does not implement
//! (bucket lifecycle configuration, storage classes beyond STANDARD, restores). Started on a
//! free port of 127.0.0.1 with one empty bucket, killed when dropped.
//!
//! The program is `tests/moto/.venv/bin/moto_server` (`scripts/install-moto.sh` creates the
//! venv with the pinned moto; `make test` runs it), or `STUDIO_TEST_MOTO_SERVER` when set.
//! Without it the tests fail on purpose, naming the script: a silent skip would hide them.
//!
//! moto accepts any credentials (it does not verify signatures unless told to); studio signs
//! its requests with [`ACCESS_KEY`]/[`SECRET_KEY`] all the same, so the code path is the real one.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// The bucket every moto server starts with.
pub const BUCKET: &str = "studio-moto";
/// Credentials studio signs with (moto accepts any).
pub const ACCESS_KEY: &str = "studio-test-access";
pub const SECRET_KEY: &str = "studio-test-secret-key";
/// The region studio signs for; moto serves every region.
pub const REGION: &str = "us-east-1";
/// A Python server imports a lot before it listens: give it time on a loaded CI machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Another process may take the port between our probe and moto's bind: try again.
const START_ATTEMPTS: usize = 3;
/// Between two readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// The `moto_server` program: `STUDIO_TEST_MOTO_SERVER`, else the repository's venv.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("STUDIO_TEST_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = root.join("tests/moto/.venv/bin/moto_server");
    if venv.is_file() {
        return venv;
    }
    panic!(
        "moto_server not found at {}: the S3 lifecycle and storage-class tests need it. \
         Install it with scripts/install-moto.sh (make deps does)",
        venv.display()
    )
}

/// A running `moto_server` with an empty [`BUCKET`].
pub struct MotoServer {
    endpoint: String,
    child: tokio::process::Child,
}

impl MotoServer {
    /// Starts a server and creates [`BUCKET`] on it.
    pub async fn start() -> Self {
        let program = binary();
        let verbose = std::env::var_os("TEST_LOG").is_some();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        for _ in 0..START_ATTEMPTS {
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
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(output())
                .stderr(output())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
            let endpoint = format!("http://127.0.0.1:{port}");
            let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
            loop {
                // moto's own dashboard API: answers once the server routes requests.
                let ready = client
                    .get(format!("{endpoint}/moto-api/data.json"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ready {
                    let server = Self { endpoint, child };
                    server.create_bucket(&client).await;
                    return server;
                }
                let exited = child.try_wait().ok().flatten().is_some();
                if exited || tokio::time::Instant::now() > deadline {
                    let _ = child.start_kill();
                    break;
                }
                tokio::time::sleep(PROBE_INTERVAL).await;
            }
        }
        panic!("moto_server did not start answering (tried {START_ATTEMPTS} times)");
    }

    /// `PUT /{bucket}`. moto routes a request to its S3 backend by the service of the
    /// credential scope, so the request carries an (unverified) SigV4 `Authorization` header.
    async fn create_bucket(&self, client: &reqwest::Client) {
        let response = client
            .put(format!("{}/{BUCKET}", self.endpoint))
            .header("authorization", auth_header_for_routing())
            .send()
            .await
            .expect("create bucket on moto");
        assert!(
            response.status().is_success(),
            "moto refused to create the bucket: {}",
            response.status()
        );
    }

    /// The server's base URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The bucket the server was started with.
    pub fn bucket(&self) -> &str {
        BUCKET
    }

    /// The access key id to configure studio with (`STUDIO_S3_ACCESS_KEY_ID`).
    pub fn access_key(&self) -> &str {
        ACCESS_KEY
    }

    /// The secret access key to configure studio with (`STUDIO_S3_SECRET_ACCESS_KEY`).
    pub fn secret_key(&self) -> &str {
        SECRET_KEY
    }

    /// The `STUDIO_STORAGE_URL` naming this server's bucket.
    pub fn storage_url(&self) -> String {
        format!(
            "s3://{BUCKET}?endpoint={}&region={REGION}&path_style=true",
            self.endpoint
        )
    }

    /// The process id, for tests that must tell their server from another.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// A SigV4-shaped `Authorization` header for the helper's own setup requests: moto only reads
/// the credential scope to pick the service; the signature is not checked.
fn auth_header_for_routing() -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20250101/{REGION}/s3/aws4_request, \
         SignedHeaders=host, Signature=0"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server starts, has its bucket, and answers S3 requests on it.
    #[tokio::test]
    async fn starts_with_an_empty_bucket() {
        let server = MotoServer::start().await;
        let response = reqwest::Client::new()
            .get(format!(
                "{}/{}?list-type=2",
                server.endpoint(),
                server.bucket()
            ))
            .header("authorization", auth_header_for_routing())
            .send()
            .await
            .expect("list");
        assert!(response.status().is_success(), "{}", response.status());
        let body = response.text().await.expect("body");
        assert!(body.contains("<KeyCount>0</KeyCount>"), "{body}");
        assert!(server.storage_url().contains("path_style=true"));
    }
}
