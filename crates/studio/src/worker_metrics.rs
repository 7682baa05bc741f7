//! The HTTP endpoint of a `studio worker` that runs without the API: `GET /metrics` (the
//! worker's own registry plus the queue gauges, rendered exactly as the API renders its own) and
//! `GET /health` (liveness: the process answers). Nothing else is served on it, so it can listen
//! on an address only the monitoring system reaches.

use std::sync::Arc;

use anyhow::Context as _;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use studio_db::Store;
use studio_http::metrics::{Metrics, PROMETHEUS_CONTENT_TYPE, render_with_queue_gauges};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the handlers read.
#[derive(Clone)]
struct MetricsState {
    metrics: Metrics,
    store: Arc<dyn Store>,
}

/// Serves `/metrics` and `/health` on `listener` until `shutdown` fires, then lets in-flight
/// scrapes finish and returns.
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(address = %address, "serving worker metrics");
    axum::serve(listener, router(MetricsState { metrics, store }))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("the worker metrics endpoint failed")
}

fn router(state: MetricsState) -> Router {
    Router::new()
        .route("/metrics", get(get_metrics))
        .route("/health", get(get_health))
        .with_state(state)
}

async fn get_metrics(State(state): State<MetricsState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
        render_with_queue_gauges(&state.metrics, &*state.store).await,
    )
}

async fn get_health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}
