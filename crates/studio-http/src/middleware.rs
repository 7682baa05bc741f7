//! The middleware stack every response goes through, outermost first:
//!
//! 1. [`request_id`]: accept a valid incoming `x-request-id` or make one; echo it; make it
//!    available to everything below (log lines, problem bodies).
//! 2. [`access_log`]: the request span (every log line inside carries `request_id`), one access
//!    line per request, and the HTTP metrics.
//! 3. [`security_headers`]: the Helmet 8 default set.
//! 4. CORS from the configured allow-list.
//! 5. [`problem_fallback`]: any error response without a problem+json body (router 404/405, the
//!    body limit's 413, the timeout's 408) gets one, so there is exactly one error format.
//! 6. Panic catching: a panicking handler becomes a generic 500, logged once in the span.
//! 7. The rate limits ([`crate::ratelimit`], added by [`crate::router`]), so a 429 passes
//!    through everything above.
//! 8. Request timeout, then the body size limit ([`bounded`], API routes only).

pub mod access_log;
pub mod problem_fallback;
pub mod request_id;
pub mod security_headers;

use std::any::Any;

use axum::Router;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::metrics::Metrics;
use crate::{ApiError, ErrorCode, HttpSettings};

/// How long browsers may cache a CORS preflight answer: ten minutes, so a changed allow-list
/// takes effect soon.
const CORS_MAX_AGE_SECS: u64 = 600;

/// Wraps `app` in the whole stack.
pub fn stack(app: Router, settings: &HttpSettings, metrics: Metrics) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(settings.cors_origins.clone()))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            request_id::X_REQUEST_ID,
        ])
        .expose_headers([
            request_id::X_REQUEST_ID,
            header::ETAG,
            header::LOCATION,
            crate::routes::timeline::TIMELINE_PROBLEMS,
            crate::routes::timeline::COLLAB_PROBLEMS,
            header::RETRY_AFTER,
            crate::ratelimit::RATELIMIT,
            crate::ratelimit::RATELIMIT_POLICY,
        ])
        .max_age(std::time::Duration::from_secs(CORS_MAX_AGE_SECS));

    // Each `layer` call wraps everything added before it, so this reads innermost first.
    app.layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(problem_fallback::layer))
        .layer(cors)
        .layer(axum::middleware::from_fn(security_headers::layer))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            access_log::layer,
        ))
        .layer(axum::middleware::from_fn(request_id::layer))
}

/// Bounds `app` by the configured request body size and request time (step 8 above), for the
/// API routes; storage transfers are exempt.
pub fn bounded(app: Router, settings: &HttpSettings) -> Router {
    app.layer(RequestBodyLimitLayer::new(settings.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ))
}

/// The answer to a panicking handler: logged once, here, inside the request span; the client
/// sees only a generic 500 with the request id.
fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    tracing::error!(panic.message = message, "handler panicked");
    ApiError::new(
        ErrorCode::Internal,
        "The server failed to handle the request.",
    )
    .into_response()
}
