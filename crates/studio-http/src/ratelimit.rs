//! Rate limits on the API: a budget per client and route class, checked before the handler.
//!
//! - **Who**: an authenticated request (a bearer token that verifies) is counted per user, any
//!   other per client IP ([`client_ip`]: the socket peer, or `X-Forwarded-For` only behind a
//!   configured trusted proxy). A token that does not verify counts as anonymous; the handler
//!   still answers 401 as before. A token verified here from the `Authorization` header is left
//!   in the request's extensions, so the handler's extractor does not verify it again.
//! - **What**: four classes with their own budgets ([`Class`]): `upload` (creating upload
//!   intents, also through Uppy), `ai`, `write` (other non-GET `/api` requests) and `read` (GET
//!   and HEAD under `/api`, including the collaboration WebSocket upgrade, counted once per
//!   connection; the connection's messages have their own per-connection limits). Not limited:
//!   everything outside `/api` (health, readiness, metrics, docs, problem types, the local
//!   store's signed URLs, which carry their own signature), CORS preflights, and the storage
//!   webhook (authenticated by the store's token or signature, and bursty by nature).
//! - **How**: the GCRA of [`gcra`], in process, or shared by all nodes through Redis. Refusals
//!   are counted in `studio_http_rate_limited_total{class}`.
//! - **Telling clients**: every limited response carries the IETF fields of
//!   draft-ietf-httpapi-ratelimit-headers (-11): `RateLimit-Policy: "<class>";q=<burst>;w=<secs
//!   a full burst refills in>` and `RateLimit: "<class>";r=<remaining>;t=<secs until the full
//!   burst is back>`. A refused request is a 429 `rate_limited` problem with `Retry-After`, and
//!   there `t` equals `Retry-After` (the draft: `Retry-After` must not point before the end of
//!   the effective window, and with `r=0` that window ends when a request conforms again).

mod client_ip;
mod gcra;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use redis::aio::ConnectionManager;

pub use client_ip::{InvalidIpRange, IpRange, TrustedProxies};
pub use gcra::{Budget, REDIS_BREAK, Verdict};

use crate::extract::auth::AuthUser;
use crate::{ApiError, AppState, ErrorCode};

/// The IETF `RateLimit` field: the current service limit.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// The IETF `RateLimit-Policy` field: the quota policy.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// The route classes, each with its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Read,
    Write,
    Upload,
    Ai,
}

impl Class {
    pub const ALL: [Self; 4] = [Self::Read, Self::Write, Self::Upload, Self::Ai];

    /// The class's name: in keys, headers and problem bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Upload => "upload",
            Self::Ai => "ai",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The rate limits operators configure.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    /// Off: nothing is limited and no RateLimit fields are sent.
    pub enabled: bool,
    pub read: Budget,
    pub write: Budget,
    pub upload: Budget,
    pub ai: Budget,
    /// Peers whose `X-Forwarded-For` is believed; empty: none.
    pub trusted_proxies: TrustedProxies,
}

impl RateLimitSettings {
    pub fn budget(&self, class: Class) -> Budget {
        match class {
            Class::Read => self.read,
            Class::Write => self.write,
            Class::Upload => self.upload,
            Class::Ai => self.ai,
        }
    }
}

impl Default for RateLimitSettings {
    /// The shipped defaults (`config.default.toml` repeats them): far above what an editor
    /// frontend sends, low enough that a script cannot flood a node.
    fn default() -> Self {
        let budget = |per_minute, burst| Budget { per_minute, burst };
        Self {
            enabled: true,
            read: budget(600, 300),
            write: budget(120, 60),
            // A user dropping a folder of clips into the editor creates an intent per file.
            upload: budget(60, 60),
            ai: budget(60, 20),
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

/// Enforces [`RateLimitSettings`]. Cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    settings: RateLimitSettings,
    backend: Backend,
    /// `RateLimit-Policy` of each class, in [`Class::index`] order: it never changes.
    policies: Vec<HeaderValue>,
}

enum Backend {
    Memory(gcra::Memory),
    Redis(gcra::Shared),
}

impl RateLimiter {
    /// Limits counted in this process only.
    pub fn in_process(settings: RateLimitSettings) -> Self {
        Self::new(settings, Backend::Memory(gcra::Memory::default()))
    }

    /// Limits shared by every node on the same Redis and `key_prefix` (keys
    /// `{key_prefix}:rl:{class}:{subject}`).
    pub fn with_redis(
        settings: RateLimitSettings,
        conn: ConnectionManager,
        key_prefix: String,
    ) -> Self {
        Self::new(
            settings,
            Backend::Redis(gcra::Shared::new(conn, key_prefix)),
        )
    }

    fn new(settings: RateLimitSettings, backend: Backend) -> Self {
        let policies = Class::ALL
            .iter()
            .map(|&class| {
                let budget = settings.budget(class);
                let value = format!(
                    "\"{}\";q={};w={}",
                    class.as_str(),
                    budget.burst,
                    budget.window_secs()
                );
                HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("\"api\""))
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                settings,
                backend,
                policies,
            }),
        }
    }

    pub fn settings(&self) -> &RateLimitSettings {
        &self.inner.settings
    }

    /// Checks and (when admitted) counts one request of `subject` in `class`.
    pub async fn check(&self, class: Class, subject: &str) -> Verdict {
        let budget = self.inner.settings.budget(class);
        let key = format!("{}:{subject}", class.as_str());
        match &self.inner.backend {
            Backend::Memory(memory) => memory.check(&key, budget),
            Backend::Redis(shared) => shared.check(&key, budget).await,
        }
    }
}

/// The class of a request, or `None` when it is not limited.
pub fn classify(method: &Method, path: &str) -> Option<Class> {
    let rest = path.strip_prefix("/api/")?;
    if *method == Method::OPTIONS || (path == "/api/webhooks/storage" && *method == Method::POST) {
        return None;
    }
    if rest.starts_with("ai/") {
        return Some(Class::Ai);
    }
    if is_upload(method, path) {
        return Some(Class::Upload);
    }
    if *method == Method::GET || *method == Method::HEAD {
        Some(Class::Read)
    } else {
        Some(Class::Write)
    }
}

/// Creating an upload intent: `POST /api/media/upload-intent`, and Uppy's Companion routes
/// that create one (`GET …/s3/params` for a form upload, `POST …/s3/multipart`). Signing a
/// multipart upload's parts is not: a large file has hundreds of parts, each signed once, all
/// bounded by its intent; they count as the reads (GET) they are.
fn is_upload(method: &Method, path: &str) -> bool {
    if path == "/api/media/upload-intent" {
        return *method == Method::POST;
    }
    let Some(companion) = uppy_route(path) else {
        return false;
    };
    (companion == "/s3/params" && *method == Method::GET)
        || (companion == "/s3/multipart" && *method == Method::POST)
}

const UPPY_PREFIX: &str = "/api/uppy";
const UPPY_TOKEN_PREFIX: &str = "/api/uppy/token/";
const COLLAB_PREFIX: &str = "/api/collab/";
const TOKEN_PROTOCOL_PREFIX: &str = "yauth-";

/// The Companion route below `/api/uppy` or `/api/uppy/token/{token}`.
fn uppy_route(path: &str) -> Option<&str> {
    if let Some(after_token) = path.strip_prefix(UPPY_TOKEN_PREFIX) {
        return after_token.find('/').map(|slash| &after_token[slash..]);
    }
    path.strip_prefix(UPPY_PREFIX)
}

/// Where a request's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenSource {
    Header,
    /// The path (`/api/uppy/token/{token}`), the query or a subprotocol (collaboration).
    Elsewhere,
}

/// The token the route's own extractor will verify, found where it looks first.
fn credential(request: &Request) -> Option<(String, TokenSource)> {
    let path = request.uri().path();
    if let Some(after) = path.strip_prefix(UPPY_TOKEN_PREFIX) {
        let token = after.split('/').next().unwrap_or_default();
        return Some((token.to_owned(), TokenSource::Elsewhere));
    }
    if path.starts_with(COLLAB_PREFIX)
        && let Some(token) = collab_token(request)
    {
        return Some((token, TokenSource::Elsewhere));
    }
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
        .then(|| (token.to_owned(), TokenSource::Header))
}

/// The collaboration route's `?token=` or `yauth-<token>` subprotocol.
fn collab_token(request: &Request) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct TokenQuery {
        token: Option<String>,
    }
    let query = axum::extract::Query::<TokenQuery>::try_from_uri(request.uri())
        .ok()
        .and_then(|q| q.0.token)
        .filter(|t| !t.is_empty());
    query.or_else(|| {
        request
            .headers()
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .find_map(|p| p.strip_prefix(TOKEN_PROTOCOL_PREFIX))
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    })
}

/// Whom the request is counted against: `u:{user}` or `ip:{address or IPv6 /64}`.
async fn subject(state: &AppState, request: &mut Request) -> String {
    if let Some((token, source)) = credential(request)
        && let Ok(user) = state.auth.verify(&token).await
    {
        let subject = format!("u:{}", user.user_id);
        if source == TokenSource::Header {
            request.extensions_mut().insert(AuthUser {
                user_id: user.user_id,
            });
        }
        return subject;
    }
    match request.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => {
            let ip = state
                .rate_limit
                .settings()
                .trusted_proxies
                .client_ip(peer.ip(), request.headers());
            format!("ip:{}", client_ip::client_key(ip))
        }
        // Only in-memory test routers have no socket.
        None => "ip:unknown".to_owned(),
    }
}

/// The middleware.
pub async fn layer(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let limiter = state.rate_limit.clone();
    if !limiter.settings().enabled {
        return next.run(request).await;
    }
    let Some(class) = classify(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let subject = subject(&state, &mut request).await;
    let verdict = limiter.check(class, &subject).await;
    let policy = limiter.inner.policies[class.index()].clone();
    if !verdict.allowed {
        state.metrics.record(|| {
            metrics::counter!("studio_http_rate_limited_total", "class" => class.as_str())
                .increment(1);
        });
        return refusal(class, &verdict, policy);
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(RATELIMIT_POLICY, policy);
    headers.insert(
        RATELIMIT,
        limit_value(class, verdict.remaining, gcra::whole_seconds(verdict.reset)),
    );
    response
}

fn limit_value(class: Class, remaining: u32, t: u64) -> HeaderValue {
    let value = format!("\"{}\";r={remaining};t={t}", class.as_str());
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("\"api\";r=0"))
}

/// The 429: a `rate_limited` problem through the normal error path (request id and all).
fn refusal(class: Class, verdict: &Verdict, policy: HeaderValue) -> Response {
    let retry_after = gcra::whole_seconds(verdict.retry_after);
    tracing::debug!(
        ratelimit.class = class.as_str(),
        ratelimit.retry_after_secs = retry_after,
        "rate limited"
    );
    ApiError::new(
        ErrorCode::RateLimited,
        format!(
            "Too many {} requests; retry in {retry_after} s.",
            class.as_str()
        ),
    )
    .with_extension("class", class.as_str())
    .with_extension("retryAfterSeconds", retry_after)
    // The draft's quota-exceeded member, for clients that know it.
    .with_extension("violated-policies", vec![class.as_str()])
    .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after))
    .with_header(RATELIMIT_POLICY, policy)
    .with_header(RATELIMIT, limit_value(class, 0, retry_after))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_into_their_classes() {
        let cases = [
            (Method::GET, "/api/projects", Some(Class::Read)),
            (Method::HEAD, "/api/projects", Some(Class::Read)),
            (Method::POST, "/api/projects", Some(Class::Write)),
            (Method::PUT, "/api/projects/p/timeline", Some(Class::Write)),
            (Method::DELETE, "/api/assets/a", Some(Class::Write)),
            (
                Method::POST,
                "/api/media/upload-intent",
                Some(Class::Upload),
            ),
            (Method::POST, "/api/media/a/complete", Some(Class::Write)),
            (Method::GET, "/api/uppy/s3/params", Some(Class::Upload)),
            (Method::POST, "/api/uppy/s3/multipart", Some(Class::Upload)),
            (
                Method::GET,
                "/api/uppy/token/abc.def/s3/params",
                Some(Class::Upload),
            ),
            (
                Method::POST,
                "/api/uppy/token/abc/s3/multipart",
                Some(Class::Upload),
            ),
            (Method::GET, "/api/uppy/s3/multipart/u/3", Some(Class::Read)),
            (
                Method::POST,
                "/api/uppy/s3/multipart/u/complete",
                Some(Class::Write),
            ),
            (Method::POST, "/api/ai/chat", Some(Class::Ai)),
            (Method::GET, "/api/collab/p", Some(Class::Read)),
            (Method::POST, "/api/webhooks/storage", None),
            (Method::OPTIONS, "/api/projects", None),
            (Method::GET, "/health", None),
            (Method::GET, "/ready", None),
            (Method::GET, "/metrics", None),
            (Method::GET, "/docs", None),
            (Method::GET, "/problems/rate_limited", None),
            (Method::PUT, "/storage/originals/x", None),
            (Method::GET, "/apix", None),
        ];
        for (method, path, class) in cases {
            assert_eq!(classify(&method, path), class, "{method} {path}");
        }
    }

    #[test]
    fn tokens_are_found_where_the_routes_look() {
        let request = |uri: &str, headers: &[(&str, &str)]| {
            let mut builder = Request::builder().uri(uri);
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            builder.body(axum::body::Body::empty()).unwrap()
        };
        let found = |r: &Request| credential(r);
        assert_eq!(
            found(&request("/api/projects", &[("authorization", "Bearer t1")])),
            Some(("t1".to_owned(), TokenSource::Header))
        );
        assert_eq!(
            found(&request("/api/projects", &[("authorization", "Basic x")])),
            None
        );
        assert_eq!(
            found(&request(
                "/api/uppy/token/t2/s3/params",
                &[("authorization", "Bearer t1")]
            )),
            Some(("t2".to_owned(), TokenSource::Elsewhere))
        );
        assert_eq!(
            found(&request("/api/collab/p?token=t3", &[])),
            Some(("t3".to_owned(), TokenSource::Elsewhere))
        );
        assert_eq!(
            found(&request(
                "/api/collab/p",
                &[("sec-websocket-protocol", "y, yauth-t4")]
            )),
            Some(("t4".to_owned(), TokenSource::Elsewhere))
        );
        assert_eq!(
            found(&request("/api/collab/p", &[("authorization", "bearer t5")])),
            Some(("t5".to_owned(), TokenSource::Header))
        );
    }

    #[test]
    fn policies_follow_the_budgets() {
        let limiter = RateLimiter::in_process(RateLimitSettings::default());
        let policy = |class: Class| limiter.inner.policies[class.index()].clone();
        assert_eq!(policy(Class::Read), "\"read\";q=300;w=30");
        assert_eq!(policy(Class::Write), "\"write\";q=60;w=30");
        assert_eq!(policy(Class::Upload), "\"upload\";q=60;w=60");
        assert_eq!(policy(Class::Ai), "\"ai\";q=20;w=20");
        assert_eq!(limit_value(Class::Read, 7, 3), "\"read\";r=7;t=3");
    }
}
