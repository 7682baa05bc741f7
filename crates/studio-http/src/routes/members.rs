//! `/api/projects/{projectId}/members`: who besides the owner may see or edit a project.
//! Everyone who can read the project can list its members; only the owner changes them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use studio_core::{MemberRole, ProjectId, ProjectRole, UserId};
use studio_db::Member;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Problem;
use crate::extract::json::ApiJson;
use crate::extract::project::{Manage, ProjectAccess, Read};
use crate::{ApiError, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members))
        .routes(routes!(put_member, delete_member))
}

/// The role to give a member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MemberIn {
    pub role: MemberRole,
}

/// Someone with access to a project. The owner is listed first with role `owner`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberOut {
    pub user_id: UserId,
    pub role: ProjectRole,
    /// When the member was added; for the owner, when the project was created.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub added_at: OffsetDateTime,
}

impl From<Member> for MemberOut {
    fn from(member: Member) -> Self {
        Self {
            user_id: member.user_id,
            role: member.role.into(),
            added_at: member.added_at,
        }
    }
}

/// Everyone with access.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<MemberOut>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MemberPath {
    #[expect(dead_code, reason = "checked by the ProjectAccess extractor")]
    project_id: String,
    user_id: String,
}

fn parse_member_path(path: &MemberPath) -> Result<UserId, ApiError> {
    UserId::parse(&path.user_id)
        .map_err(|_| ApiError::new(ErrorCode::MemberNotFound, "No such member."))
}

/// List the owner and the members of a project.
#[utoipa::path(
    get, path = "/api/projects/{projectId}/members", tag = "members", operation_id = "list_members",
    params(("projectId" = ProjectId, Path, description = "The project")),
    responses(
        (status = 200, description = "Owner first, then members in the order they were added", body = MemberList),
        (status = 404, description = "No such project, or no access", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn list_members(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
) -> Result<Json<MemberList>, ApiError> {
    let members = state.store.list_members(&access.project.id).await?;
    let owner = MemberOut {
        user_id: access.project.owner_id.clone(),
        role: ProjectRole::Owner,
        added_at: access.project.created_at,
    };
    let items = std::iter::once(owner)
        .chain(members.into_iter().map(MemberOut::from))
        .collect();
    Ok(Json(MemberList { items }))
}

/// Add a member or change their role (owner only).
#[utoipa::path(
    put, path = "/api/projects/{projectId}/members/{userId}", tag = "members", operation_id = "put_member",
    params(
        ("projectId" = ProjectId, Path, description = "The project"),
        ("userId" = UserId, Path, description = "The user (their token's `sub`)"),
    ),
    request_body = MemberIn,
    responses(
        (status = 201, description = "Added", body = MemberOut),
        (status = 200, description = "Role changed", body = MemberOut),
        (status = 403, description = "Only the owner manages members", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The owner cannot be made a member", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn put_member(
    State(state): State<AppState>,
    access: ProjectAccess<Manage>,
    Path(path): Path<MemberPath>,
    ApiJson(body): ApiJson<MemberIn>,
) -> Result<(StatusCode, Json<MemberOut>), ApiError> {
    let user_id = UserId::parse(&path.user_id).map_err(|e| {
        ApiError::validation(vec![crate::error::FieldError {
            pointer: "/userId".to_owned(),
            code: "invalid".to_owned(),
            message: e.to_string(),
        }])
    })?;
    if user_id == access.project.owner_id {
        return Err(ApiError::new(
            ErrorCode::OwnerIsNotAMember,
            "The owner already has every right and cannot be given a member role.",
        ));
    }
    let (member, created) = state
        .store
        .put_member(&access.project.id, &user_id, body.role)
        .await?;
    // Live connections follow the new role at once (a viewer's edits are dropped from now on).
    state
        .collab
        .set_user_role(&access.project.id, &user_id, body.role.into())
        .await;
    tracing::info!(
        project.id = %access.project.id,
        member.role = body.role.as_str(),
        member.created = created,
        "member set"
    );
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(member.into())))
}

/// Remove a member (owner only).
#[utoipa::path(
    delete, path = "/api/projects/{projectId}/members/{userId}", tag = "members", operation_id = "delete_member",
    params(
        ("projectId" = ProjectId, Path, description = "The project"),
        ("userId" = UserId, Path, description = "The member"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Only the owner manages members", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project or member", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn delete_member(
    State(state): State<AppState>,
    access: ProjectAccess<Manage>,
    Path(path): Path<MemberPath>,
) -> Result<StatusCode, ApiError> {
    let user_id = parse_member_path(&path)?;
    state
        .store
        .remove_member(&access.project.id, &user_id)
        .await
        .map_err(|e| match e {
            studio_db::DbError::NotFound => {
                ApiError::new(ErrorCode::MemberNotFound, "No such member.")
            }
            other => other.into(),
        })?;
    // Their open editors close for good (4401: the client does not reconnect).
    state
        .collab
        .close_user(
            &access.project.id,
            &user_id,
            studio_collab::CloseCode::AccessRevoked,
        )
        .await;
    tracing::info!(project.id = %access.project.id, "member removed");
    Ok(StatusCode::NO_CONTENT)
}
