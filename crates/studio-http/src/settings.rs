//! The part of the configuration the HTTP layer needs, already validated by the binary.

use std::time::Duration;

use axum::http::HeaderValue;

/// HTTP behaviour that operators tune.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Origins allowed by CORS; empty means no cross-origin access.
    pub cors_origins: Vec<HeaderValue>,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// How long a request may take before it is answered with 408.
    pub request_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            body_limit_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}
