//! What the tests share: a backend under test with the HTTP client that plays the browser.

pub mod local_server;
pub mod s3s;

use std::sync::Arc;

use studio_storage::{BlobStore, PresignedRequest};

/// Where a backend departs from S3 semantics, so the contract asserts what each can promise.
#[derive(Debug, Clone, Copy)]
pub struct Quirks {
    /// `s3s-fs` keeps no state it checks for uploads: ListParts answers for any upload id (and
    /// without ETags), aborting or completing an unknown upload answers 403 AccessDenied, and
    /// CompleteMultipartUpload does not compare the named etags.
    pub lax_uploads: bool,
}

/// A store under test, kept alive (temp dirs, server) as long as this value.
pub struct Backend {
    pub store: Arc<dyn BlobStore>,
    pub http: reqwest::Client,
    pub quirks: Quirks,
    pub _guard: Box<dyn std::any::Any + Send>,
}

/// S3's smallest non-final part; `s3s-fs` enforces it like S3.
pub const MIN_PART: usize = 5 * 1024 * 1024;

impl Backend {
    /// Sends a presigned request the way a client would: its method, URL and headers verbatim.
    pub async fn send(&self, req: &PresignedRequest, body: Vec<u8>) -> reqwest::Response {
        self.send_with(req, |b| b.body(body)).await
    }

    /// Like [`Backend::send`], with a hook to change the request (to test refusals).
    pub async fn send_with(
        &self,
        req: &PresignedRequest,
        change: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> reqwest::Response {
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
        let mut builder = self.http.request(method, &req.url);
        for (name, value) in &req.headers {
            // reqwest computes Content-Length from the body: it must match the signed one.
            if name != "content-length" {
                builder = builder.header(name, value);
            }
        }
        change(builder).send().await.expect("request sent")
    }
}

/// Deterministic, non-repeating-looking test bytes.
pub fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}
