//! The outbound HTTP client every provider uses, and what they share around it: sending under
//! the read timeout, turning a refusal into a [`ProviderError`], reading a body chunk by chunk.
//!
//! Invariants: a redirect is only followed to the same scheme, host and port (a provider key
//! sent in a custom header, which reqwest does not strip, never reaches another host); proxies
//! from the environment are ignored (`HTTPS_PROXY` set for something else must not reroute
//! provider traffic); no error or log line carries a key or a URL (URLs are stripped from
//! reqwest errors, upstream excerpts are scrubbed of the key).

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use reqwest::header::HeaderMap;
use secrecy::SecretString;

pub use crate::error::redact;
use crate::sse::ChunkStream;
use crate::{ProviderError, Timeouts};

/// The `User-Agent` of every outbound call.
pub const USER_AGENT: &str = "studio-engine";

/// Same-origin redirects followed at most; providers answer in place, more is a loop.
pub const MAX_REDIRECTS: usize = 3;

/// How much of an error body is kept for the log: enough for a provider's error message, not
/// a whole HTML error page.
pub const ERROR_EXCERPT_BYTES: usize = 2048;

/// A provider client could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid provider base URL: {0}")]
    BaseUrl(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("invalid provider setting: {0}")]
    Setting(String),
}

/// The outbound client: `connect` timeout, same-origin redirects only, no environment proxy,
/// `studio-engine` user agent. No overall timeout: a stream may last minutes; the read timeout
/// is applied per wait by [`send`] and [`body_chunks`].
pub fn build_client(timeouts: &Timeouts) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(timeouts.connect)
        .redirect(same_origin_redirects())
        .no_proxy()
        .build()
        .map_err(|err| ConfigError::Client(error_chain(&err.without_url())))
}

/// Follows a redirect only to the same scheme, host and port, at most [`MAX_REDIRECTS`] times;
/// otherwise stops, so the caller sees the 3xx (and reports it as a provider error).
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.stop();
        }
        let same_origin = attempt.previous().first().is_some_and(|first| {
            let next = attempt.url();
            first.scheme() == next.scheme()
                && first.host_str() == next.host_str()
                && first.port_or_known_default() == next.port_or_known_default()
        });
        if same_origin {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Parses a provider base URL: `http` or `https`, no credentials, no query or fragment (paths
/// are appended to it). A trailing `/` is removed.
pub fn parse_base_url(base_url: &str) -> Result<reqwest::Url, ConfigError> {
    let trimmed = base_url.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed).map_err(|err| ConfigError::BaseUrl(err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::BaseUrl(
            "the scheme must be http or https".to_owned(),
        ));
    }
    if url.host_str().is_none() {
        return Err(ConfigError::BaseUrl("it has no host".to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in a URL end up in logs; keys belong in the key setting.
        return Err(ConfigError::BaseUrl(
            "it must not contain credentials".to_owned(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::BaseUrl(
            "it must not have a query or fragment".to_owned(),
        ));
    }
    Ok(url)
}

/// `base` + `/` + `path` (which may carry a query), as a URL.
pub fn endpoint(base: &reqwest::Url, path: &str) -> Result<reqwest::Url, ProviderError> {
    let joined = format!("{}/{path}", base.as_str().trim_end_matches('/'));
    reqwest::Url::parse(&joined)
        .map_err(|_| ProviderError::Rejected("the request does not form a valid URL".to_owned()))
}

/// Sends `request` and waits for the response headers: at most `connect + read` (the connect
/// timeout bounds the first part on its own). A non-2xx answer becomes its [`ProviderError`];
/// `key` is scrubbed from the body excerpt in case the provider echoes it.
pub async fn send(
    request: reqwest::RequestBuilder,
    timeouts: &Timeouts,
    key: Option<&SecretString>,
) -> Result<reqwest::Response, ProviderError> {
    let wait = timeouts.connect.saturating_add(timeouts.read);
    let response = match tokio::time::timeout(wait, request.send()).await {
        Err(_elapsed) => return Err(ProviderError::Timeout),
        Ok(Err(err)) => return Err(map_reqwest_error(&err)),
        Ok(Ok(response)) => response,
    };
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(error_from_response(response, timeouts.read, key).await)
    }
}

/// The [`ProviderError`] for a non-2xx response: its status, `Retry-After`, and at most
/// [`ERROR_EXCERPT_BYTES`] of its body (read under `read_timeout`; the rest is never read).
pub async fn error_from_response(
    response: reqwest::Response,
    read_timeout: Duration,
    key: Option<&SecretString>,
) -> ProviderError {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    let read = async {
        while body.len() < ERROR_EXCERPT_BYTES {
            match chunks.next().await {
                Some(Ok(chunk)) => body.extend_from_slice(&chunk),
                Some(Err(_)) | None => break,
            }
        }
    };
    // A body that stalls still yields an error with what arrived.
    let _ = tokio::time::timeout(read_timeout, read).await;
    body.truncate(ERROR_EXCERPT_BYTES);
    ProviderError::from_status(status, excerpt(&body, key), retry_after)
}

/// A log-safe excerpt: lossy UTF-8, control characters flattened, `key` removed.
pub fn excerpt(body: &[u8], key: Option<&SecretString>) -> String {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    redact(text.trim(), key)
}

/// `Retry-After` in seconds (fractions accepted), or OpenAI's `retry-after-ms`. The HTTP-date
/// form is not parsed: providers send seconds.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    let seconds = header("retry-after")?.parse::<f64>().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// What a reqwest failure means for the caller. The URL is left out of the message.
pub fn map_reqwest_error(err: &reqwest::Error) -> ProviderError {
    if err.is_timeout() {
        ProviderError::Timeout
    } else if err.is_connect() {
        ProviderError::Unavailable(format!("cannot connect: {}", error_chain(err)))
    } else {
        ProviderError::BadGateway(error_chain(err))
    }
}

/// An error and its sources on one line, without the URL reqwest adds to its own message.
fn error_chain(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    // reqwest's own message names the URL; a fixed word per kind replaces it. The sources carry
    // no URL (they are hyper and io errors).
    let mut text = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "connection failed".to_owned()
    } else if err.is_body() || err.is_decode() {
        "reading the body failed".to_owned()
    } else if err.is_redirect() {
        "redirect refused".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Fails when a 2xx answer is plainly not an event stream (a compatible server that ignored
/// `stream: true` answers one JSON document; a captive proxy answers HTML). Any other type is
/// given the benefit of the doubt: some compatibles omit or misname it.
pub fn expect_event_stream(response: &reqwest::Response) -> Result<(), ProviderError> {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") || content_type.starts_with("text/html") {
        return Err(ProviderError::BadGateway(format!(
            "expected an event stream, got {content_type}"
        )));
    }
    Ok(())
}

/// The body of `response` as chunks, each awaited under `read_timeout` (a stalled stream ends
/// with [`ProviderError::Timeout`]). It ends after the first error. Dropping it closes the
/// connection.
pub fn body_chunks(response: reqwest::Response, read_timeout: Duration) -> ChunkStream {
    let body = response.bytes_stream().boxed();
    Box::pin(futures::stream::unfold(
        Some(body),
        move |body| async move {
            let mut body = body?;
            match tokio::time::timeout(read_timeout, body.next()).await {
                Err(_elapsed) => Some((Err(ProviderError::Timeout), None)),
                Ok(None) => None,
                Ok(Some(Ok(chunk))) => Some((Ok::<Bytes, _>(chunk), Some(body))),
                Ok(Some(Err(err))) => Some((Err(map_reqwest_error(&err)), None)),
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "-1".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn excerpts_are_redacted_and_flattened() {
        let key = SecretString::from("sk-secret");
        let text = excerpt(b"bad key sk-secret\n\x00end", Some(&key));
        assert_eq!(text, "bad key [redacted]  end");
    }

    #[test]
    fn base_urls_are_checked() {
        assert!(parse_base_url("https://api.openai.com/v1/").is_ok());
        assert!(parse_base_url("http://127.0.0.1:11434/v1").is_ok());
        assert!(parse_base_url("ftp://x").is_err());
        assert!(parse_base_url("https://user:pw@x").is_err());
        assert!(parse_base_url("https://x/?key=1").is_err());
        assert!(parse_base_url("not a url").is_err());
        let base = parse_base_url("https://api.openai.com/v1/").unwrap();
        assert_eq!(
            endpoint(&base, "chat/completions").unwrap().as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
    }
}
