//! `GET /problems` and `GET /problems/{code}`: what each problem `type` URI names, so the URI in
//! an error body leads somewhere useful.

use axum::Json;
use axum::extract::Path;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Problem;
use crate::{ApiError, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_problem_types))
        .routes(routes!(get_problem_type))
}

/// One error code of the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemType {
    /// The stable `code` of error bodies.
    pub code: &'static str,
    /// The HTTP status it is answered with.
    pub status: u16,
    /// Its title.
    pub title: &'static str,
}

impl From<ErrorCode> for ProblemType {
    fn from(code: ErrorCode) -> Self {
        Self {
            code: code.as_str(),
            status: code.status().as_u16(),
            title: code.title(),
        }
    }
}

/// Every error code the API can answer with.
#[utoipa::path(
    get, path = "/problems", tag = "operations", operation_id = "list_problem_types",
    responses((status = 200, description = "Every code", body = Vec<ProblemType>))
)]
async fn list_problem_types() -> Json<Vec<ProblemType>> {
    Json(
        ErrorCode::ALL
            .iter()
            .copied()
            .map(ProblemType::from)
            .collect(),
    )
}

/// What one error code means.
#[utoipa::path(
    get, path = "/problems/{code}", tag = "operations", operation_id = "get_problem_type",
    params(("code" = String, Path, description = "An error `code`")),
    responses(
        (status = 200, description = "The code", body = ProblemType),
        (status = 404, description = "No such code", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_problem_type(Path(code): Path<String>) -> Result<Json<ProblemType>, ApiError> {
    ErrorCode::ALL
        .iter()
        .copied()
        .find(|c| c.as_str() == code)
        .map(|c| Json(c.into()))
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "No such problem type."))
}
