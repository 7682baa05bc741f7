//! `AssetAccess<P>`: the gate of every route naming an asset (`{assetId}` in the path). An
//! asset is reached through its project: the caller needs permission `P` on the project the asset
//! belongs to. An asset the caller may not see, or that does not exist, is 404
//! `asset_not_found`, like projects; one they see but may not act on is 403.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Path};
use axum::http::request::Parts;
use studio_auth::Authenticator;
use studio_core::AssetId;
use studio_db::{AssetRecord, Store};

use super::auth::AuthUser;
use super::project::{Permission, ProjectAccess};
use crate::{ApiError, ErrorCode};

/// The caller's access to the asset's project, and the asset.
pub struct AssetAccess<P: Permission> {
    pub project: ProjectAccess<P>,
    pub asset: AssetRecord,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssetPath {
    asset_id: String,
}

/// The answer for an asset the caller cannot see.
pub fn asset_not_found() -> ApiError {
    ApiError::new(ErrorCode::AssetNotFound, "No such asset.")
}

impl<S, P> FromRequestParts<S> for AssetAccess<P>
where
    P: Permission,
    Arc<Authenticator>: FromRef<S>,
    Arc<dyn Store>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        let Path(path) = Path::<AssetPath>::from_request_parts(parts, state)
            .await
            .map_err(|_| asset_not_found())?;
        let asset_id: AssetId = path.asset_id.parse().map_err(|_| asset_not_found())?;
        let store = Arc::<dyn Store>::from_ref(state);
        let asset = store.asset(&asset_id).await?.ok_or_else(asset_not_found)?;
        let project = ProjectAccess::<P>::check(store.as_ref(), user, &asset.project_id)
            .await
            .map_err(|err| match err.code {
                ErrorCode::ProjectNotFound => asset_not_found(),
                _ => err,
            })?;
        Ok(Self { project, asset })
    }
}
