//! Companion's multipart routes: create (an intent with its multipart upload opened), sign one
//! part, list the parts received, complete (through [`crate::media::confirm`]) and abort.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use studio_core::{AssetId, JobId, MultipartPlan};
use studio_storage::UploadId;
use utoipa::ToSchema;

use super::{
    KeyQuery, UPPY_MIN_PART_BYTES, UppyCaller, UppyFile, asset_for_upload, object_location,
};
use crate::error::Problem;
use crate::extract::json::ApiJson;
use crate::media::{confirm, storage_error};
use crate::routes::media::{
    CompletedPartIn, IntentRequest, UploadShape, blob_key, field, open_upload_intent, pending,
};
use crate::{ApiError, AppState, ErrorCode};

/// What Uppy sends to start a multipart upload.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UppyMultipartIn {
    /// The file name (Uppy's `file.name`).
    pub filename: Option<String>,
    /// The file's media type.
    #[serde(rename = "type")]
    pub content_type: Option<String>,
    /// Uppy's file meta: `projectId` and `size` are required; `name` wins over `filename`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// The opened upload, in Companion's shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UppyMultipartOut {
    /// The storage key, `originals/{projectId}/{assetId}`: Uppy sends it back as `?key=`.
    pub key: String,
    pub upload_id: String,
    pub asset_id: AssetId,
}

/// Start a multipart upload (Companion's `POST /s3/multipart`). Reserves the file's size
/// against the quota, creates the pending asset and opens the upload in the store.
#[utoipa::path(
    post, path = "/s3/multipart", tag = "uppy", operation_id = "create_uppy_multipart_upload",
    request_body = UppyMultipartIn,
    responses(
        (status = 200, description = "The upload is open", body = UppyMultipartOut),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Viewers cannot upload", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a video, audio or image type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing project or size, file too large, or quota exceeded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn create_uppy_multipart_upload(
    State(state): State<AppState>,
    UppyCaller(user): UppyCaller,
    ApiJson(body): ApiJson<UppyMultipartIn>,
) -> Result<Json<UppyMultipartOut>, ApiError> {
    // Uppy sends meta values as they are: strings, and numbers for `size`.
    let metadata: BTreeMap<String, String> = body
        .metadata
        .iter()
        .filter_map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((name.clone(), text))
        })
        .collect();
    let file = UppyFile::from_request(
        body.filename.as_deref(),
        body.content_type.as_deref(),
        &metadata,
    )?;
    let opened = open_upload_intent(
        &state,
        user,
        IntentRequest {
            project_id: &file.project_id,
            filename: &file.filename,
            content_type: &file.content_type,
            size: file.size,
            shape: UploadShape::Multipart {
                min_part_size: UPPY_MIN_PART_BYTES,
            },
        },
    )
    .await?;
    let upload_id = opened.asset.upload_id.clone().ok_or_else(|| {
        ApiError::new(ErrorCode::Internal, "The multipart upload was not opened.")
    })?;
    Ok(Json(UppyMultipartOut {
        key: opened.key.as_str().to_owned(),
        upload_id,
        asset_id: opened.asset.id,
    }))
}

/// The path of the routes naming an upload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UploadPath {
    upload_id: String,
}

/// The path of the route naming a part.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PartPath {
    upload_id: String,
    part_number: String,
}

/// The open upload of a pending asset, with its plan.
fn open_plan(asset: &studio_db::AssetRecord) -> Result<(UploadId, MultipartPlan), ApiError> {
    pending(asset)?;
    let plan = asset
        .part_size
        .and_then(|part_size| MultipartPlan::new(asset.declared_size, part_size))
        .ok_or_else(|| {
            ApiError::new(ErrorCode::Internal, "The stored multipart plan is invalid.")
        })?;
    let upload = asset.upload_id.clone().unwrap_or_default();
    Ok((UploadId(upload), plan))
}

/// One signed part URL, in Companion's shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct UppyPartUrlOut {
    /// PUT the part here.
    pub url: String,
    /// Seconds the URL stays valid.
    pub expires: u64,
    /// Headers the URL is signed with (`content-length` binds the part's exact length; a
    /// browser sets it from the body).
    pub headers: BTreeMap<String, String>,
}

/// Sign one part (Companion's `GET /s3/multipart/{uploadId}/{partNumber}`). The URL accepts
/// exactly the part's length as Uppy cuts it.
#[utoipa::path(
    get, path = "/s3/multipart/{uploadId}/{partNumber}", tag = "uppy", operation_id = "sign_uppy_part",
    params(
        ("uploadId" = String, Path, description = "The upload"),
        ("partNumber" = u32, Path, description = "1-based part number"),
        KeyQuery,
    ),
    responses(
        (status = 200, description = "A signed part PUT", body = UppyPartUrlOut),
        (status = 404, description = "No such upload, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already complete", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The intent expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No key, or a part number outside the file", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn sign_uppy_part(
    State(state): State<AppState>,
    UppyCaller(user): UppyCaller,
    Path(path): Path<PartPath>,
    Query(query): Query<KeyQuery>,
) -> Result<Json<UppyPartUrlOut>, ApiError> {
    let key = query.require()?;
    let asset = asset_for_upload(&state, user, key, &path.upload_id).await?;
    let (upload, plan) = open_plan(&asset)?;
    let length = path
        .part_number
        .parse::<u32>()
        .ok()
        .and_then(|n| plan.part_length(n).map(|length| (n, length)));
    let Some((number, length)) = length else {
        return Err(ApiError::validation(vec![field(
            "/partNumber",
            "out_of_range",
            format!("part numbers of this file are 1..={}", plan.part_count),
        )]));
    };
    let request = state
        .blobs
        .presign_upload_part(
            &blob_key(&asset)?,
            &upload,
            number,
            length,
            state.media.upload_url_ttl,
        )
        .map_err(storage_error)?;
    Ok(Json(UppyPartUrlOut {
        url: request.url,
        expires: state.media.upload_url_ttl.as_secs(),
        headers: request.headers.into_iter().collect(),
    }))
}

/// A part the store has, in Companion's (S3's) shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct UppyPartOut {
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    #[serde(rename = "Size")]
    pub size: u64,
    /// Without quotes; empty when the store does not report part ETags (Uppy then sends the
    /// part again).
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// The parts received so far (Companion's `GET /s3/multipart/{uploadId}`), to resume.
#[utoipa::path(
    get, path = "/s3/multipart/{uploadId}", tag = "uppy", operation_id = "list_uppy_parts",
    params(("uploadId" = String, Path, description = "The upload"), KeyQuery),
    responses(
        (status = 200, description = "Parts received", body = Vec<UppyPartOut>),
        (status = 404, description = "No such upload, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already complete", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn list_uppy_parts(
    State(state): State<AppState>,
    UppyCaller(user): UppyCaller,
    Path(path): Path<UploadPath>,
    Query(query): Query<KeyQuery>,
) -> Result<Json<Vec<UppyPartOut>>, ApiError> {
    let key = query.require()?;
    let asset = asset_for_upload(&state, user, key, &path.upload_id).await?;
    let (upload, _) = open_plan(&asset)?;
    let parts = state
        .blobs
        .list_parts(&blob_key(&asset)?, &upload)
        .await
        .map_err(storage_error)?
        .into_iter()
        .map(|p| UppyPartOut {
            part_number: p.part_number,
            size: p.size,
            etag: p.etag,
        })
        .collect();
    Ok(Json(parts))
}

/// The parts to assemble, as Uppy sends them.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UppyCompleteIn {
    pub parts: Vec<UppyCompletedPartIn>,
}

/// A part as the store acknowledged it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UppyCompletedPartIn {
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// The assembled object, in Companion's shape, with the asset and its processing job.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UppyCompleteOut {
    /// The object's URL (unsigned: read it through `GET /api/assets/{assetId}`).
    pub location: String,
    pub key: String,
    pub asset_id: AssetId,
    #[schema(value_type = String)]
    pub job_id: JobId,
}

/// Assemble the parts and confirm the upload (Companion's `POST …/complete`): the stored size
/// and type are checked, the quota settled and a `process_asset` job recorded. Idempotent.
#[utoipa::path(
    post, path = "/s3/multipart/{uploadId}/complete", tag = "uppy", operation_id = "complete_uppy_multipart_upload",
    params(("uploadId" = String, Path, description = "The upload"), KeyQuery),
    request_body = UppyCompleteIn,
    responses(
        (status = 200, description = "Confirmed; processing queued", body = UppyCompleteOut),
        (status = 404, description = "No such upload, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Parts missing, or of another size or type", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The intent expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parts", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn complete_uppy_multipart_upload(
    State(state): State<AppState>,
    UppyCaller(user): UppyCaller,
    Path(path): Path<UploadPath>,
    Query(query): Query<KeyQuery>,
    ApiJson(body): ApiJson<UppyCompleteIn>,
) -> Result<Json<UppyCompleteOut>, ApiError> {
    let key = query.require()?;
    let asset = asset_for_upload(&state, user, key, &path.upload_id).await?;
    let parts: Vec<CompletedPartIn> = body
        .parts
        .into_iter()
        .map(|p| CompletedPartIn {
            part_number: p.part_number,
            etag: p.etag,
        })
        .collect();
    let confirmed = confirm(&state, &asset, Some(&parts)).await?;
    let key = blob_key(&confirmed.asset)?;
    Ok(Json(UppyCompleteOut {
        location: object_location(&state, &key),
        key: key.as_str().to_owned(),
        asset_id: confirmed.asset.id,
        job_id: confirmed.job_id,
    }))
}

/// Nothing: what Companion answers to an abort.
#[derive(Debug, Serialize, ToSchema)]
pub struct UppyAbortOut {}

/// Abandon a multipart upload (Companion's `DELETE /s3/multipart/{uploadId}`): the upload is
/// aborted in the store, the pending asset removed and its reservation released.
#[utoipa::path(
    delete, path = "/s3/multipart/{uploadId}", tag = "uppy", operation_id = "abort_uppy_multipart_upload",
    params(("uploadId" = String, Path, description = "The upload"), KeyQuery),
    responses(
        (status = 200, description = "Aborted", body = UppyAbortOut),
        (status = 404, description = "No such upload, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already complete: delete the asset instead", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn abort_uppy_multipart_upload(
    State(state): State<AppState>,
    UppyCaller(user): UppyCaller,
    Path(path): Path<UploadPath>,
    Query(query): Query<KeyQuery>,
) -> Result<Json<UppyAbortOut>, ApiError> {
    let key = query.require()?;
    let asset = asset_for_upload(&state, user, key, &path.upload_id).await?;
    if !matches!(
        asset.status,
        studio_core::AssetStatus::PendingUpload | studio_core::AssetStatus::Expired
    ) {
        return Err(ApiError::new(
            ErrorCode::NotPending,
            "The upload is complete; delete it with DELETE /api/assets/{assetId}.",
        ));
    }
    crate::media::remove_asset(&state, &asset).await?;
    Ok(Json(UppyAbortOut {}))
}
