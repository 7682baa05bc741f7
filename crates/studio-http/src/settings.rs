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
    /// Bounds on project timelines. Its `max_document_bytes` is the timeline routes' body limit
    /// (instead of `body_limit_bytes`: a timeline may be larger than any other body).
    pub timeline: studio_core::timeline::TimelineLimits,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            body_limit_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            timeline: studio_core::timeline::TimelineLimits::default(),
        }
    }
}

/// Upload and download behaviour, from the media configuration.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Uploads larger than this use multipart.
    pub multipart_threshold_bytes: u64,
    /// Smallest part size of a multipart upload (raised for huge files to stay within S3's
    /// 10,000 parts).
    pub multipart_part_size_bytes: u64,
    /// How long a signed upload URL works.
    pub upload_url_ttl: Duration,
    /// How long an upload intent stays open without bytes.
    pub upload_intent_ttl: Duration,
    /// How long a signed download URL works.
    pub download_url_ttl: Duration,
    /// Plan name → limits; `free` always exists.
    pub plans: std::collections::BTreeMap<String, studio_core::PlanLimits>,
    /// How the storage webhook authenticates.
    pub webhook: WebhookAuth,
}

/// What `POST /api/webhooks/storage` accepts as proof that the store sent it. Either may be
/// set, or both; with neither, every delivery is refused.
#[derive(Debug, Clone, Default)]
pub struct WebhookAuth {
    /// `Authorization: Bearer <token>`.
    pub token: Option<secrecy::SecretString>,
    /// The key of Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`,
    /// `webhook-signature: v1,<base64 HMAC-SHA256>`).
    pub signing_key: Option<secrecy::SecretSlice<u8>>,
}

impl MediaSettings {
    /// The limits of `plan`, falling back to `free` for a plan this configuration does not
    /// know (a user row written by a newer or differently configured node).
    pub fn limits(&self, plan: &str) -> studio_core::PlanLimits {
        self.plans
            .get(plan)
            .or_else(|| self.plans.get("free"))
            .copied()
            .unwrap_or(studio_core::PlanLimits {
                storage_bytes: 0,
                max_file_bytes: 0,
            })
    }
}
