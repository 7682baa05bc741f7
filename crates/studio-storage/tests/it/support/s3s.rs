//! The S3 backend under test: an `S3Store` on a real `s3s-fs` per test.
//!
//! The server itself is `studio_testkit::s3s::S3sServer` (started on a free port over a temp dir,
//! killed when dropped; it verifies SigV4, so refusals are real). Without the `s3s-fs` binary
//! these tests fail, on purpose: CI installs it, and a silent skip would hide the whole S3 suite.

use std::sync::Arc;

use secrecy::SecretString;
use studio_storage::s3::S3Store;
use studio_testkit::s3s::{ACCESS_KEY, SECRET_KEY};
pub use studio_testkit::s3s::{BUCKET, S3sServer};

use super::{Backend, Quirks};

pub fn store(server: &S3sServer) -> S3Store {
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
    let server = S3sServer::start().await;
    Backend {
        store: Arc::new(store(&server)),
        http: reqwest::Client::new(),
        quirks: Quirks { lax_uploads: true },
        _guard: Box::new(server),
    }
}
