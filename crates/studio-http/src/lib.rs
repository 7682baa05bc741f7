//! Studio Engine's HTTP API.
//!
//! [`router`] builds the whole axum application from an [`AppState`]: routes, the access-control
//! extractor every project route goes through, and the middleware stack (request ids, access log
//! and metrics, security headers, CORS, body limit, timeout, panic catching, and the fallback that
//! turns every bare error into problem+json). The binary (`studio`) builds the state from its
//! configuration; tests build it the same way through `studio-testkit`.

pub mod ai;
pub mod archive;
pub mod collab;
pub mod error;
pub mod extract;
pub mod media;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod ratelimit;
pub mod readiness;
pub mod reconciler;
pub mod routes;
pub mod settings;
pub mod state;
pub mod timeline;
pub mod webhook;

pub use error::{ApiError, ErrorCode};
pub use readiness::Readiness;
pub use settings::{HttpSettings, MediaSettings, WebhookAuth};
pub use state::AppState;

/// The complete application: every route plus the middleware stack.
pub fn router(state: AppState) -> axum::Router {
    let (api, _openapi) = openapi::split(routes::api_router());
    let api = api
        .merge(routes::docs::router())
        .merge(metrics::router())
        .with_state(state.clone());
    // The body limit and the request timeout bound API calls only: the local store's uploads
    // are as large and as slow as the files they carry.
    let mut app = middleware::bounded(api, &state.settings);
    // The timeline routes read their bodies themselves, up to the timeline's own limit (which is
    // larger than the general one by default), so they get the request timeout only.
    let (timeline, _) = routes::timeline::router().split_for_parts();
    app = app.merge(timeline.with_state(state.clone()).layer(
        tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            state.settings.request_timeout,
        ),
    ));
    // The AI routes get the body limit but not the request timeout: the wait for a provider to
    // accept is bounded by the provider timeouts (504 `ai_provider_timeout`, not 408), and the
    // answer streams for as long as it generates.
    let (ai, _) = routes::ai::router().split_for_parts();
    app = app.merge(ai.with_state(state.clone()).layer(
        tower_http::limit::RequestBodyLimitLayer::new(state.settings.body_limit_bytes),
    ));
    // The collaboration WebSocket: no body limit or request timeout (it lives for hours).
    app = app.merge(routes::collab::router().with_state(state.clone()));
    if let Some(local) = &state.local_blobs {
        app = app.merge(routes::storage::router(local.clone()));
    }
    // Rate limits inside the common stack: a 429 gets the request id, the access log line and
    // the CORS headers like any other answer.
    app = app.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        ratelimit::layer,
    ));
    middleware::stack(app, &state.settings, state.metrics.clone())
}
