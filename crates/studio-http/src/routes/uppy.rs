//! Uppy's Companion S3 protocol under `/api/uppy`, so `@uppy/aws-s3` (v6) uploads unmodified
//! through the same intents, quota and completion as `/api/media`. Companion's shapes, as the
//! v6 client sends and reads them:
//!
//! | Companion route | studio |
//! |---|---|
//! | `GET /s3/params?filename&type&metadata[k]=v` → `{method:"POST", url, fields, expires}` | an intent for one form upload; `fields` is a signed POST form |
//! | `POST /s3/multipart {filename, type, metadata}` → `{key, uploadId}` | an intent for a multipart upload, opened in the store |
//! | `GET /s3/multipart/{uploadId}/{partNumber}?key` → `{url, expires}` | a signed part PUT |
//! | `GET /s3/multipart/{uploadId}?key` → `[{PartNumber, Size, ETag}]` | the parts received (resume) |
//! | `POST /s3/multipart/{uploadId}/complete?key {parts:[{PartNumber, ETag}]}` → `{location, key}` | [`crate::media::confirm`]: quota settled, `process_asset` job recorded |
//! | `DELETE /s3/multipart/{uploadId}?key` → `{}` | the intent is dropped and its reservation released |
//!
//! The `key` Uppy echoes back is the asset's storage key, `originals/{projectId}/{assetId}`: every
//! later call finds the asset by it and checks the caller's access to its project again.
//!
//! What the client must add (Uppy stays unmodified; this is its configuration):
//! - **Who**: `@uppy/aws-s3` v6 sends no custom headers to Companion (its `fetch` calls carry
//!   no `companionHeaders`), so the bearer token goes in the endpoint:
//!   `companionEndpoint: ${api}/api/uppy/token/${jwt}`. The same routes also answer under
//!   `/api/uppy` with an `Authorization: Bearer` header, for clients that can send one. Only
//!   the route template (`/api/uppy/token/{token}/…`) is ever logged, and the answers say
//!   `Cache-Control: no-store`; the token expires as it would in a header.
//! - **Which project**: `meta: { projectId }` (Uppy sends every meta field as `metadata`).
//! - **How large**: Companion's protocol does not carry the file size, and the quota must
//!   reserve exact bytes (a plan's largest file per pending upload would lock most of a quota
//!   and could not be settled against the real size), so an upload without `metadata.size` is
//!   refused with 422; `uppy.on('file-added', f => uppy.setFileMeta(f.id, { size: f.size }))`.
//!   The form's `content-length-range` is `0..=size`, each part is signed for its exact length,
//!   and completion checks the stored size against it.
//!
//! Parts: Uppy decides between one form and multipart (`shouldUseMultipart`, above 100 MiB by
//! default) and cuts the parts itself, `max(5 MiB, ⌈size / 10000⌉)` unless `getChunkSize` is
//! set; each part URL is signed for exactly that length, so leave `getChunkSize` unset. The
//! server's `multipart_threshold_bytes` and `multipart_part_size_bytes` do not apply here.
//!
//! Single uploads end with Uppy's form POST to the store: nothing tells studio. They are
//! confirmed by the storage webhook, by the reconciler, or by the client calling
//! `POST /api/media/{assetId}/complete` after Uppy's `upload-success` (the asset id is the last
//! segment of the `key` in its response body).

mod multipart;
mod single;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use serde::Deserialize;
use studio_auth::Authenticator;
use studio_db::AssetRecord;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::FieldError;
use crate::extract::asset::asset_not_found;
use crate::extract::auth::AuthUser;
use crate::extract::project::{ProjectAccess, Write};
use crate::routes::media::field;
use crate::{ApiError, AppState, ErrorCode};

/// Where the routes live.
pub const UPPY_PREFIX: &str = "/api/uppy";
/// The same routes with the bearer token as a path segment (what an unmodified v6 client can
/// send): `companionEndpoint: …/api/uppy/token/{token}`.
pub const UPPY_TOKEN_PREFIX: &str = "/api/uppy/token/{token}";
/// The smallest part Uppy cuts (S3's minimum, `MIN_CHUNK_SIZE` in `@uppy/aws-s3`): Uppy's parts
/// are `max(this, size / 10000)`, which is the plan `MultipartPlan::new(size, this)` computes.
pub const UPPY_MIN_PART_BYTES: u64 = 5 * 1024 * 1024;

/// The routes: documented under `/api/uppy` (bearer header), and undocumented under
/// `/api/uppy/token/{token}` (the token in the path).
pub fn router() -> OpenApiRouter<AppState> {
    let (by_path_token, _) = companion_routes().split_for_parts();
    let by_path_token = axum::Router::new().nest(UPPY_TOKEN_PREFIX, by_path_token);
    OpenApiRouter::new()
        .nest(UPPY_PREFIX, companion_routes())
        .merge(OpenApiRouter::from(by_path_token))
        // Answers carry signed URLs and may be reached with a token in the URL: never cached.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// Companion's S3 routes, relative to the Companion endpoint.
fn companion_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(single::get_uppy_upload_params))
        .routes(routes!(multipart::create_uppy_multipart_upload))
        .routes(routes!(
            multipart::list_uppy_parts,
            multipart::abort_uppy_multipart_upload
        ))
        .routes(routes!(multipart::sign_uppy_part))
        .routes(routes!(multipart::complete_uppy_multipart_upload))
}

/// The caller of a Companion route: the bearer token from the path (`/api/uppy/token/{token}`)
/// when the route has one, else from the `Authorization` header. Either way it is verified
/// exactly like every other route's.
pub struct UppyCaller(pub AuthUser);

impl<S> FromRequestParts<S> for UppyCaller
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let path_token = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|params| {
                params
                    .iter()
                    .find(|(name, _)| *name == "token")
                    .map(|(_, value)| value.to_owned())
            });
        if let Some(token) = path_token {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidToken,
                    "The token in the path is malformed.",
                )
            })?;
            parts.headers.insert(header::AUTHORIZATION, value);
        }
        AuthUser::from_request_parts(parts, state).await.map(Self)
    }
}

/// The `?key=` every call after the first carries.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    /// The storage key the first call answered (`originals/{projectId}/{assetId}`).
    pub key: Option<String>,
}

impl KeyQuery {
    fn require(&self) -> Result<&str, ApiError> {
        self.key
            .as_deref()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                ApiError::validation(vec![field(
                    "/key",
                    "required",
                    "the object key must be passed as `?key=`",
                )])
            })
    }
}

/// The pending asset stored under `key` whose multipart upload is `upload_id`, with the caller's
/// write access to its project checked. An asset the caller cannot see, or another upload's
/// key, is 404 `asset_not_found`.
pub async fn asset_for_upload(
    state: &AppState,
    user: AuthUser,
    key: &str,
    upload_id: &str,
) -> Result<AssetRecord, ApiError> {
    let asset = state
        .store
        .asset_by_key(key)
        .await?
        .ok_or_else(asset_not_found)?;
    ProjectAccess::<Write>::check(state.store.as_ref(), user, &asset.project_id)
        .await
        .map_err(|err| match err.code {
            ErrorCode::ProjectNotFound => asset_not_found(),
            _ => err,
        })?;
    match asset.upload_id.as_deref() {
        Some(open) if open == upload_id => Ok(asset),
        Some(_) => Err(asset_not_found()),
        None => Err(ApiError::new(
            ErrorCode::NotMultipart,
            "This upload is a single form POST; it has no parts.",
        )),
    }
}

/// What Uppy said about a file, checked: every missing or malformed value is reported at once.
#[derive(Debug)]
pub struct UppyFile {
    pub project_id: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
}

impl UppyFile {
    /// `filename` and `type` as Companion receives them; `metadata` is Uppy's file meta
    /// (`projectId` and `size` required; `name`, Uppy's editable display name, wins over
    /// `filename`).
    pub fn from_request(
        filename: Option<&str>,
        content_type: Option<&str>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Self, ApiError> {
        let mut errors: Vec<FieldError> = Vec::new();
        let project_id = metadata.get("projectId").filter(|p| !p.is_empty());
        if project_id.is_none() {
            errors.push(field(
                "/metadata/projectId",
                "required",
                "set the project in Uppy's meta: `meta: { projectId }`",
            ));
        }
        let size = match metadata.get("size") {
            None => {
                errors.push(field(
                    "/metadata/size",
                    "required",
                    "Companion's protocol does not carry the file size and the quota needs it: \
                     add it to the file's meta (`uppy.setFileMeta(file.id, { size: file.size })`)",
                ));
                None
            }
            Some(text) => match text.parse::<u64>() {
                Ok(size) if text.bytes().all(|b| b.is_ascii_digit()) => Some(size),
                _ => {
                    errors.push(field(
                        "/metadata/size",
                        "invalid",
                        "must be the file size in bytes",
                    ));
                    None
                }
            },
        };
        let filename = metadata
            .get("name")
            .map(String::as_str)
            .or(filename)
            .filter(|f| !f.is_empty());
        if filename.is_none() {
            errors.push(field("/filename", "required", "the file name is missing"));
        }
        let content_type = content_type.filter(|t| !t.is_empty());
        if content_type.is_none() {
            errors.push(field("/type", "required", "the file type is missing"));
        }
        match (project_id, size, filename, content_type) {
            (Some(project_id), Some(size), Some(filename), Some(content_type))
                if errors.is_empty() =>
            {
                Ok(Self {
                    project_id: project_id.clone(),
                    filename: filename.to_owned(),
                    content_type: content_type.to_owned(),
                    size,
                })
            }
            _ => Err(ApiError::validation(errors)),
        }
    }
}

/// The object's URL without a signature (what S3 answers as `Location`): not readable as is;
/// downloads go through `GET /api/assets/{assetId}`.
pub fn object_location(state: &AppState, key: &studio_storage::BlobKey) -> String {
    match state.blobs.presign_get(key, state.media.download_url_ttl) {
        Ok(request) => request
            .url
            .split_once('?')
            .map_or(request.url.as_str(), |(url, _)| url)
            .to_owned(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_file_needs_project_size_name_and_type() {
        let file = UppyFile::from_request(
            Some("clip.mp4"),
            Some("video/mp4"),
            &meta(&[
                ("projectId", "prj_1"),
                ("size", "42"),
                ("name", "Clip 1.mp4"),
            ]),
        )
        .unwrap();
        assert_eq!(file.filename, "Clip 1.mp4");
        assert_eq!(file.size, 42);

        let err = UppyFile::from_request(None, None, &meta(&[("size", "+42")])).unwrap_err();
        let pointers: Vec<&str> = err.errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/metadata/projectId",
                "/metadata/size",
                "/filename",
                "/type"
            ]
        );
    }
}
