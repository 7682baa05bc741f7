//! `GET /api/schema/project.json`: the JSON Schema (draft 2020-12) of the Project JSON, the
//! contract the frontend generates its types from. Generated from the same Rust types the server
//! validates with (`studio_core::timeline::json_schema`), so the two cannot drift. Public: a
//! schema is no secret, and code generators fetch it without a token.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// The media type of a JSON Schema document.
pub const SCHEMA_JSON: &str = "application/schema+json";

/// The schema changes only with the server's version: an hour in caches, then revalidated
/// with the `ETag`.
const CACHE_CONTROL: &str = "public, max-age=3600";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_project_schema))
}

/// The schema's bytes and their strong entity tag (a digest of them), made once.
fn schema() -> &'static (Vec<u8>, HeaderValue) {
    static SCHEMA: OnceLock<(Vec<u8>, HeaderValue)> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let bytes = serde_json::to_vec_pretty(studio_core::timeline::json_schema())
            .expect("a JSON value serializes");
        let digest = Sha256::digest(&bytes);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let etag = HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex in quotes");
        (bytes, etag)
    })
}

/// The JSON Schema (draft 2020-12) of a project timeline (`PUT …/timeline` bodies).
#[utoipa::path(
    get, path = "/api/schema/project.json", tag = "timeline", operation_id = "get_project_schema",
    responses(
        (status = 200, description = "The schema", body = Object, content_type = "application/schema+json"),
        (status = 304, description = "The schema named by `If-None-Match` is current"),
    )
)]
async fn get_project_schema(headers: HeaderMap) -> Response {
    let (bytes, etag) = schema();
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',').map(str::trim).any(|tag| {
                tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == etag.as_bytes()
            })
        });
    let cache_headers = [
        (header::ETAG, etag.clone()),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        ),
    ];
    if cached {
        return (StatusCode::NOT_MODIFIED, cache_headers).into_response();
    }
    (
        cache_headers,
        [(header::CONTENT_TYPE, HeaderValue::from_static(SCHEMA_JSON))],
        bytes.clone(),
    )
        .into_response()
}
