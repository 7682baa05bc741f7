//! `/api/projects`: create, list, read, rename and delete projects.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use studio_core::{ProjectId, ProjectName, ProjectRole, UserId};
use studio_db::{NewProject, PageCursor, ProjectPatch as DbProjectPatch, ProjectRecord};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{FieldError, Problem};
use crate::extract::auth::AuthUser;
use crate::extract::json::ApiJson;
use crate::extract::project::{Manage, ProjectAccess, Read, Write};
use crate::{ApiError, AppState, ErrorCode};

/// Page size when the client does not ask for one.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page a client may ask for: bounds the work one request can cause.
pub const MAX_PAGE_SIZE: u32 = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_project, list_projects))
        .routes(routes!(get_project, update_project, delete_project))
}

/// A new project.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProjectIn {
    /// Display name, 1 to 200 characters after trimming.
    pub name: String,
}

/// Changes to a project; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProjectPatch {
    /// New display name.
    pub name: Option<String>,
}

/// A project as the caller sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectOut {
    pub id: ProjectId,
    pub name: String,
    pub owner_id: UserId,
    /// The caller's role in this project.
    pub role: ProjectRole,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl ProjectOut {
    fn new(project: ProjectRecord, role: ProjectRole) -> Self {
        Self {
            id: project.id,
            name: project.name,
            owner_id: project.owner_id,
            role,
            created_at: project.created_at,
            updated_at: project.updated_at,
        }
    }
}

/// One page of projects, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectList {
    pub items: Vec<ProjectOut>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Paging parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

fn name_error(pointer: &str, err: studio_core::ProjectNameError) -> FieldError {
    let code = match err {
        studio_core::ProjectNameError::Empty => "empty",
        studio_core::ProjectNameError::TooLong => "too_long",
        studio_core::ProjectNameError::ControlCharacter => "control_character",
    };
    FieldError {
        pointer: pointer.to_owned(),
        code: code.to_owned(),
        message: err.to_string(),
    }
}

/// Create a project owned by the caller.
#[utoipa::path(
    post, path = "/api/projects", tag = "projects", operation_id = "create_project",
    request_body = ProjectIn,
    responses(
        (status = 201, description = "Created", body = ProjectOut),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn create_project(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<ProjectIn>,
) -> Result<impl IntoResponse, ApiError> {
    let name = ProjectName::parse(&body.name)
        .map_err(|e| ApiError::validation(vec![name_error("/name", e)]))?;
    let project = state
        .store
        .create_project(NewProject {
            id: ProjectId::generate(),
            owner_id: user.user_id,
            name,
        })
        .await?;
    tracing::info!(project.id = %project.id, "project created");
    let location = format!("/api/projects/{}", project.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(ProjectOut::new(project, ProjectRole::Owner)),
    ))
}

/// List the projects the caller owns or is a member of, newest first.
#[utoipa::path(
    get, path = "/api/projects", tag = "projects", operation_id = "list_projects",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of projects", body = ProjectList),
        (status = 400, description = "Bad cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn list_projects(
    State(state): State<AppState>,
    user: AuthUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ProjectList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(ErrorCode::InvalidQuery, e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("`limit` must be between 1 and {MAX_PAGE_SIZE}."),
        ));
    }
    let cursor = query
        .cursor
        .map(|token| {
            PageCursor::decode(&token).ok_or_else(|| {
                ApiError::new(ErrorCode::InvalidCursor, "`cursor` is not one we issued.")
            })
        })
        .transpose()?;
    let page = state
        .store
        .list_projects_for_user(&user.user_id, cursor, limit)
        .await?;
    Ok(Json(ProjectList {
        items: page
            .items
            .into_iter()
            .map(|p| ProjectOut::new(p.project, p.role))
            .collect(),
        next_cursor: page.next.map(PageCursor::encode),
    }))
}

/// Read one project.
#[utoipa::path(
    get, path = "/api/projects/{projectId}", tag = "projects", operation_id = "get_project",
    params(("projectId" = ProjectId, Path, description = "The project")),
    responses(
        (status = 200, description = "The project", body = ProjectOut),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or no access", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_project(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
) -> Json<ProjectOut> {
    // Opening a project uses its media: no original of it goes cold while it is worked on.
    crate::archive::touch_project(&state, &access.project.id).await;
    Json(ProjectOut::new(access.project, access.role))
}

/// Rename a project (owner or editor).
#[utoipa::path(
    patch, path = "/api/projects/{projectId}", tag = "projects", operation_id = "update_project",
    params(("projectId" = ProjectId, Path, description = "The project")),
    request_body = ProjectPatch,
    responses(
        (status = 200, description = "The updated project", body = ProjectOut),
        (status = 403, description = "Viewers cannot write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn update_project(
    State(state): State<AppState>,
    access: ProjectAccess<Write>,
    ApiJson(body): ApiJson<ProjectPatch>,
) -> Result<Json<ProjectOut>, ApiError> {
    let name = body
        .name
        .map(|n| ProjectName::parse(&n))
        .transpose()
        .map_err(|e| ApiError::validation(vec![name_error("/name", e)]))?;
    let project = state
        .store
        .update_project(&access.project.id, DbProjectPatch { name })
        .await
        .map_err(|e| match e {
            studio_db::DbError::NotFound => {
                ApiError::new(ErrorCode::ProjectNotFound, "No such project.")
            }
            other => other.into(),
        })?;
    Ok(Json(ProjectOut::new(project, access.role)))
}

/// Delete a project (owner only).
#[utoipa::path(
    delete, path = "/api/projects/{projectId}", tag = "projects", operation_id = "delete_project",
    params(("projectId" = ProjectId, Path, description = "The project")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Only the owner deletes", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or no access", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn delete_project(
    State(state): State<AppState>,
    access: ProjectAccess<Manage>,
) -> Result<StatusCode, ApiError> {
    // The database gives the assets' bytes back in the same transaction; their files go after.
    let removed = match state.store.delete_project(&access.project.id).await {
        Ok(assets) => assets,
        // Deleted concurrently by another request of the owner: the outcome is the same.
        Err(studio_db::DbError::NotFound) => Vec::new(),
        Err(other) => return Err(other.into()),
    };
    // Open editors close for good (4404) and the live document is dropped unsaved.
    state.collab.project_deleted(&access.project.id).await;
    for asset in &removed {
        crate::media::remove_objects(&state, asset).await;
    }
    tracing::info!(project.id = %access.project.id, "project deleted");
    Ok(StatusCode::NO_CONTENT)
}
