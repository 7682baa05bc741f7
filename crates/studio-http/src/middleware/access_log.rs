//! The request span, the access log line and the HTTP metrics.
//!
//! The span carries `request_id`, so every line logged while the request is served carries it.
//! The route is the matched route template (`/api/projects/{projectId}`), never the raw path, so
//! ids do not explode metric cardinality or leak into aggregated logs.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::request_id::RequestId;
use crate::metrics::{HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS_TOTAL, Metrics};

/// Route label for requests that matched no route: one label, however many paths are probed.
const UNMATCHED_ROUTE: &str = "unmatched";

/// The middleware.
pub async fn layer(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let span = tracing::info_span!("request", request_id = %request_id);

    async move {
        let response = next.run(request).await;
        let latency = started.elapsed();
        let status = response.status().as_u16();
        tracing::info!(
            http.method = %method,
            http.route = %route,
            http.status = status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            "request finished"
        );
        metrics.record(|| {
            let labels = [
                ("method", method.to_string()),
                ("route", route.clone()),
                ("status", status.to_string()),
            ];
            metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
            metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels)
                .record(latency.as_secs_f64());
        });
        response
    }
    .instrument(span)
    .await
}
