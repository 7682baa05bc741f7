//! The OpenAPI document, generated from the handlers' annotations, so it cannot drift from the
//! code.

use std::sync::OnceLock;

use axum::Router;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi as _};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Studio Engine",
        description = "Backend of a collaborative, AI-assisted video editor. Errors are RFC 9457 problem+json with a stable `code`.",
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    tags(
        (name = "projects", description = "Projects and their metadata"),
        (name = "members", description = "Who may see and edit a project"),
        (name = "media", description = "Uploads: intents, signed URLs, multipart, completion"),
        (name = "assets", description = "Uploaded media and storage usage"),
        (name = "jobs", description = "Background jobs: state, live events, reprocessing"),
        (name = "timeline", description = "The project timeline (Project JSON): versions, validation, problems, schema, OpenTimelineIO export"),
        (name = "ai", description = "AI calls on the user's behalf: streamed generation (Vercel AI SDK UI message stream) and speech, cached and limited per plan"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("A Supabase-style access token (`sub`, `aud`, `exp`)."))
                    .build(),
            ),
        );
    }
}

/// Splits the documented router into the axum router and its OpenAPI document.
pub fn split(router: OpenApiRouter<AppState>) -> (Router<AppState>, OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(router)
        .merge(crate::routes::health::documented())
        .split_for_parts()
}

/// The full document (built once: it only depends on the code).
pub fn document() -> &'static OpenApi {
    static DOCUMENT: OnceLock<OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| split(crate::routes::documented()).1)
}
