//! The one gate every project route goes through.
//!
//! `ProjectAccess<P>` reads `{projectId}` from the path, authenticates the caller and loads the
//! project together with the caller's role, then demands the permission `P`:
//! - a project the caller may not see (or that does not exist, or whose id is malformed) is 404
//!   `project_not_found`, so the answer never reveals that a project exists;
//! - one the caller sees but may not act on this way is 403 `forbidden`.
//!
//! The permission is part of the handler's signature (`ProjectAccess<Write>`), so a route cannot
//! forget to check it.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Path};
use axum::http::request::Parts;
use studio_auth::Authenticator;
use studio_core::{ProjectId, ProjectRole};
use studio_db::{ProjectRecord, Store};

use super::auth::AuthUser;
use crate::{ApiError, ErrorCode};

/// A permission a project route can require.
pub trait Permission: Send + Sync + 'static {
    /// Whether `role` grants it.
    fn allows(role: ProjectRole) -> bool;
    /// What the 403 says.
    const DENIED: &'static str;
}

/// Read the project: owner, editors and viewers.
pub struct Read;
/// Change the project's content: owner and editors.
pub struct Write;
/// Delete the project and manage its members: the owner only.
pub struct Manage;

impl Permission for Read {
    fn allows(_: ProjectRole) -> bool {
        true
    }
    const DENIED: &'static str = "You cannot read this project.";
}

impl Permission for Write {
    fn allows(role: ProjectRole) -> bool {
        role.can_write()
    }
    const DENIED: &'static str = "Viewers cannot change this project.";
}

impl Permission for Manage {
    fn allows(role: ProjectRole) -> bool {
        role.can_manage()
    }
    const DENIED: &'static str = "Only the project's owner can do this.";
}

/// The caller, the project and the caller's role in it, with permission `P` checked.
pub struct ProjectAccess<P: Permission> {
    pub user: AuthUser,
    pub project: ProjectRecord,
    pub role: ProjectRole,
    _permission: PhantomData<P>,
}

/// The path parameter every project route names `projectId`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectPath {
    project_id: String,
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::ProjectNotFound, "No such project.")
}

impl<P: Permission> ProjectAccess<P> {
    /// The access check itself, for routes that name the project elsewhere than in the path
    /// (an upload intent's body, an asset's project): 404 `project_not_found` when `user` may
    /// not see the project, 403 when they may not act on it this way.
    pub async fn check(
        store: &dyn Store,
        user: AuthUser,
        project_id: &ProjectId,
    ) -> Result<Self, ApiError> {
        let found = store
            .project_for_user(project_id, &user.user_id)
            .await?
            .ok_or_else(not_found)?;
        if !P::allows(found.role) {
            return Err(ApiError::new(ErrorCode::Forbidden, P::DENIED));
        }
        Ok(Self {
            user,
            project: found.project,
            role: found.role,
            _permission: PhantomData,
        })
    }
}

impl<S, P> FromRequestParts<S> for ProjectAccess<P>
where
    P: Permission,
    Arc<Authenticator>: FromRef<S>,
    Arc<dyn Store>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Authenticate first: an anonymous caller learns nothing, not even whether the id is
        // well-formed.
        let user = AuthUser::from_request_parts(parts, state).await?;
        let Path(path) = Path::<ProjectPath>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        let project_id: ProjectId = path.project_id.parse().map_err(|_| not_found())?;
        let store = Arc::<dyn Store>::from_ref(state);
        Self::check(store.as_ref(), user, &project_id).await
    }
}
