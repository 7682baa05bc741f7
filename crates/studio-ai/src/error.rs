//! What can go wrong talking to a provider, sorted by what the browser should be told.
//!
//! The HTTP layer maps each kind to a status before the first byte (problem+json) and to an
//! in-stream `error` part after it. Provider messages are kept for the log; the browser sees
//! [`ProviderError::public_message`], never a key, a URL with a key in it, or a raw upstream body.

use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};

/// A failed provider call.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ProviderError {
    /// The provider refused our credentials or our model (401/403/404 from upstream): an
    /// operator problem, answered 502.
    #[error("the provider rejected the request: {0}")]
    Rejected(String),
    /// The provider is rate limiting us (429 upstream). `retry_after` comes from its header.
    #[error("the provider is rate limiting")]
    RateLimited { retry_after: Option<Duration> },
    /// The provider says it is overloaded or down (503/529 upstream).
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// No response (or no next event) within the configured timeout.
    #[error("the provider did not answer in time")]
    Timeout,
    /// Anything else: connection refused or reset, a 5xx, a body we cannot parse, an error
    /// event in the middle of a stream.
    #[error("bad answer from the provider: {0}")]
    BadGateway(String),
}

impl ProviderError {
    /// A stable machine-readable code, for problem+json, the in-stream error and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Rejected(_) => "ai_provider_rejected",
            Self::RateLimited { .. } => "ai_provider_rate_limited",
            Self::Unavailable(_) => "ai_provider_unavailable",
            Self::Timeout => "ai_provider_timeout",
            Self::BadGateway(_) => "ai_provider_error",
        }
    }

    /// The HTTP status the browser gets when this happens before the first byte.
    pub fn status(&self) -> u16 {
        match self {
            Self::Rejected(_) | Self::BadGateway(_) => 502,
            Self::RateLimited { .. } => 429,
            Self::Unavailable(_) => 503,
            Self::Timeout => 504,
        }
    }

    /// What the browser may read: no upstream body, key or URL.
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::Rejected(_) => "The AI provider rejected the request.",
            Self::RateLimited { .. } => "The AI provider is rate limiting; try again later.",
            Self::Unavailable(_) => "The AI provider is unavailable; try again later.",
            Self::Timeout => "The AI provider did not answer in time.",
            Self::BadGateway(_) => "The AI provider failed.",
        }
    }

    /// From an upstream HTTP status that is not a success, with a short excerpt of its body
    /// (for the log) and its `Retry-After`.
    pub fn from_status(status: u16, body_excerpt: String, retry_after: Option<Duration>) -> Self {
        match status {
            401 | 403 | 404 | 400 | 422 => Self::Rejected(format!("{status}: {body_excerpt}")),
            429 => Self::RateLimited { retry_after },
            503 | 529 => Self::Unavailable(format!("{status}: {body_excerpt}")),
            408 | 504 => Self::Timeout,
            _ => Self::BadGateway(format!("{status}: {body_excerpt}")),
        }
    }
}

/// `text` with every occurrence of `key` replaced (for error text that quotes the provider).
pub fn redact(text: &str, key: Option<&SecretString>) -> String {
    match key.map(|k| k.expose_secret()) {
        Some(key) if !key.is_empty() => text.replace(key, "[redacted]"),
        _ => text.to_owned(),
    }
}
