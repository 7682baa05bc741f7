//! One JWKS download: bounded in time and size, strict about status and content.

use std::time::Duration;

use reqwest::header::ACCEPT;

use super::keyset::KeySet;
use crate::JwksFetchError;

/// Longest a JWKS fetch may take, connect to last byte. Verifications wait on it, so it must stay
/// short; identity providers answer in milliseconds.
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest JWKS body we read. Real sets are a few KiB; the cap keeps a broken or hostile
/// endpoint from filling memory.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Downloads and parses the key set. Non-2xx, oversized and non-JSON answers are failures.
pub(crate) async fn fetch_key_set(
    http: &reqwest::Client,
    url: &reqwest::Url,
) -> Result<KeySet, JwksFetchError> {
    let mut response = http
        .get(url.clone())
        .header(ACCEPT, "application/json")
        .timeout(JWKS_FETCH_TIMEOUT)
        .send()
        .await
        .map_err(JwksFetchError::Request)?;
    let status = response.status();
    if !status.is_success() {
        return Err(JwksFetchError::Status(status.as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
    {
        return Err(JwksFetchError::TooLarge);
    }

    // Read chunk by chunk: Content-Length may be absent (chunked encoding) or wrong.
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(JwksFetchError::Request)? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(JwksFetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    KeySet::parse(&body).map_err(JwksFetchError::Json)
}
