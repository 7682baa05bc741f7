//! `GET /health` (liveness: the process serves; checks nothing outside it) and `GET /ready`
//! (readiness: database, Redis when configured, temp space; 503 when any fails).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::readiness::{CheckResult, CheckStatus};

/// The health and readiness routes.
pub fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_health))
        .routes(routes!(get_ready))
}

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Readiness answer: each check with its status and latency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ok` when every check passed, else `fail`.
    pub status: CheckStatus,
    pub checks: Vec<CheckResult>,
}

/// Is the process serving?
#[utoipa::path(
    get, path = "/health", tag = "operations", operation_id = "get_health",
    responses((status = 200, description = "The process serves", body = Health))
)]
async fn get_health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Can this node serve traffic (database, Redis, temp space)?
#[utoipa::path(
    get, path = "/ready", tag = "operations", operation_id = "get_ready",
    responses(
        (status = 200, description = "Every check passed", body = Ready),
        (status = 503, description = "At least one check failed", body = Ready),
    )
)]
async fn get_ready(State(state): State<AppState>) -> (StatusCode, Json<Ready>) {
    let checks = state.readiness.check_all().await;
    let all_ok = checks.iter().all(|c| c.status == CheckStatus::Ok);
    for failed in checks.iter().filter(|c| c.status == CheckStatus::Fail) {
        tracing::warn!(
            check.name = failed.name,
            check.detail = failed.detail.as_deref().unwrap_or(""),
            "readiness check failed"
        );
    }
    let (status, overall) = if all_ok {
        (StatusCode::OK, CheckStatus::Ok)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, CheckStatus::Fail)
    };
    (
        status,
        Json(Ready {
            status: overall,
            checks,
        }),
    )
}
