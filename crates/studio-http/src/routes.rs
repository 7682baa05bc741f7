//! All routes. Each module owns one resource; [`api_router`] gathers the documented API routes
//! under the general body limit, [`documented`] those and the timeline's (the ones in the
//! OpenAPI document).

pub mod ai;
pub mod assets;
pub mod collab;
pub mod docs;
pub mod health;
pub mod jobs;
pub mod media;
pub mod members;
pub mod problems;
pub mod projects;
pub mod schema;
pub mod storage;
pub mod timeline;
pub mod uppy;
pub mod webhooks;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// Every documented `/api` route.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(projects::router())
        .merge(members::router())
        .merge(problems::router())
        .merge(media::router())
        .merge(assets::router())
        .merge(jobs::router())
        .merge(uppy::router())
        .merge(webhooks::router())
        .merge(schema::router())
}

/// Every documented route: [`api_router`]'s, the timeline's, which `crate::router` serves
/// outside the general body limit (a timeline document has a limit of its own), and the AI
/// routes, served outside the request timeout (their wait is bounded by the provider timeouts).
pub fn documented() -> OpenApiRouter<AppState> {
    api_router().merge(timeline::router()).merge(ai::router())
}
