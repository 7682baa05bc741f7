//! `GET /api/openapi.json` (the OpenAPI document generated from the handlers) and `GET /docs`
//! (an interactive reference rendered by the vendored Scalar bundle, served by us so the page
//! works offline).

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use crate::AppState;

/// The vendored Scalar bundle (see `assets/scalar/README.md`).
const SCALAR_JS: &str = include_str!("../../assets/scalar/standalone.js");

/// The docs page's own policy: the default one plus inline styles and data: fonts, which the
/// Scalar bundle uses; scripts still only from us.
const DOCS_CSP: &str = "default-src 'self';base-uri 'self';font-src 'self' data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' 'unsafe-inline';connect-src 'self'";

/// One day: the bundle changes only with a new studio release.
const ASSET_CACHE_CONTROL: &str = "public, max-age=86400";

const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Studio Engine API</title>
</head>
<body>
<script id="api-reference" data-url="/api/openapi.json" data-configuration='{"withDefaultFonts":false,"hideClientButton":true}'></script>
<script src="/docs/scalar.js"></script>
</body>
</html>
"#;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(get_openapi))
        .route("/docs", get(get_docs))
        .route("/docs/scalar.js", get(get_scalar_js))
}

async fn get_openapi() -> impl IntoResponse {
    axum::Json(crate::openapi::document())
}

async fn get_docs() -> impl IntoResponse {
    (
        [(header::CONTENT_SECURITY_POLICY, DOCS_CSP)],
        Html(DOCS_HTML),
    )
}

async fn get_scalar_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, ASSET_CACHE_CONTROL),
        ],
        SCALAR_JS,
    )
}
