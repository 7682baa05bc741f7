//! Sending the requests the server makes itself: each is presigned with rusty-s3 for a short
//! lifetime and sent with reqwest. Errors carry the status and S3 error code, never the URL
//! (it holds a signature): reqwest errors are stripped of it with `without_url`.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Body, Method, StatusCode};
use rusty_s3::S3Action;

use super::xml;
use crate::StorageError;

/// Lifetime of the signatures on the server's own calls: they are used at once, and S3 checks
/// expiry only when a request starts, so a long streamed PUT is not cut by it.
const SELF_SIGN_TTL: Duration = Duration::from_secs(10 * 60);
/// How much of an error body we read and keep.
const ERROR_EXCERPT_BYTES: usize = 512;

/// A non-success answer from the store.
#[derive(Debug)]
pub(super) struct Failure {
    pub status: StatusCode,
    /// The S3 error `Code`, when the body had one.
    pub code: Option<String>,
}

impl Failure {
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// The generic mapping, once the caller has handled the codes it knows.
    pub fn into_error(self, operation: &str) -> StorageError {
        StorageError::Protocol(format!(
            "{operation}: {} {}",
            self.status.as_u16(),
            self.code.as_deref().unwrap_or("(no error code)")
        ))
    }
}

/// A reqwest error as text, with its causes (connection refused, TLS…) but without the URL.
pub(super) fn transport(e: reqwest::Error) -> StorageError {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    StorageError::Transport(text)
}

/// A request to send: the signed action, headers beyond the signed ones, and a body.
pub(super) struct Call {
    pub method: Method,
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
}

impl Call {
    /// Signs `action` for [`SELF_SIGN_TTL`]; `headers` must be the ones signed into it.
    pub fn new<'a, A: S3Action<'a>>(action: &A, headers: Vec<(&'static str, String)>) -> Self {
        let headers = headers
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        Self::with_headers(action, headers)
    }

    /// Inserts `headers` into `action` (so they are signed), then signs it like [`Call::new`].
    pub fn signed<'a, A: S3Action<'a>>(mut action: A, headers: Vec<(String, String)>) -> Self {
        for (name, value) in &headers {
            action.headers_mut().insert(name.clone(), value.clone());
        }
        Self::with_headers(&action, headers)
    }

    fn with_headers<'a, A: S3Action<'a>>(action: &A, headers: Vec<(String, String)>) -> Self {
        let method = match A::METHOD {
            rusty_s3::Method::Head => Method::HEAD,
            rusty_s3::Method::Get => Method::GET,
            rusty_s3::Method::Post => Method::POST,
            rusty_s3::Method::Put => Method::PUT,
            rusty_s3::Method::Delete => Method::DELETE,
        };
        Self {
            method,
            url: action.sign(SELF_SIGN_TTL),
            headers,
            body: None,
        }
    }

    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sends the call. `Ok(Err(failure))` for an answer outside 2xx (its body read, bounded).
    pub async fn send(
        self,
        http: &reqwest::Client,
    ) -> Result<Result<reqwest::Response, Failure>, StorageError> {
        let mut request = http.request(self.method, self.url);
        for (name, value) in self.headers {
            request = request.header(name, value);
        }
        if let Some(body) = self.body {
            request = request.body(body);
        }
        let response = request.send().await.map_err(transport)?;
        if response.status().is_success() {
            return Ok(Ok(response));
        }
        let status = response.status();
        let body = read_bounded(response).await;
        let code = xml::root_is(&body, "Error")
            .then(|| xml::text(&body, "Code"))
            .flatten();
        Ok(Err(Failure { status, code }))
    }
}

/// Reads at most [`ERROR_EXCERPT_BYTES`] of a body: an error answer is never worth more.
async fn read_bounded(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= ERROR_EXCERPT_BYTES {
            body.truncate(ERROR_EXCERPT_BYTES);
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// Reads a whole (small) XML answer, checking that a 200 is not an error in disguise: S3 can
/// answer CompleteMultipartUpload with 200 and an `<Error>` body.
pub(super) async fn read_xml(
    response: reqwest::Response,
    operation: &str,
) -> Result<Result<String, Failure>, StorageError> {
    let status = response.status();
    let body = response.text().await.map_err(transport)?;
    if xml::root_is(&body, "Error") {
        return Ok(Err(Failure {
            status,
            code: xml::text(&body, "Code"),
        }));
    }
    if body.trim().is_empty() {
        return Err(StorageError::Protocol(format!("{operation}: empty answer")));
    }
    Ok(Ok(body))
}

/// The `ETag` header without quotes.
pub(super) fn etag_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(|v| crate::rules::normalize_etag(v).to_owned())
}
