//! The upload flow: `/api/media/upload-intent`, multipart parts, completion and abort.
//!
//! Bytes never pass through here: the client gets signed URLs and talks to the store directly.
//! The quota is reserved when the intent is made (atomically, in the database) and settled when
//! the upload is confirmed; a confirmed upload records its `process_asset` job in the same
//! transaction, so the job cannot be lost between the two.
//!
//! [`open_upload_intent`] is the intent itself, shared with the Uppy Companion routes
//! (`routes::uppy`), so every client goes through the same checks and the same reservation.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use studio_core::{AssetId, AssetKind, AssetStatus, MultipartPlan, ProjectId};
use studio_db::{IntentError, NewAsset};
use studio_storage::{BlobKey, PresignedRequest, UploadId};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{FieldError, Problem};
use crate::extract::asset::AssetAccess;
use crate::extract::auth::AuthUser;
use crate::extract::json::ApiJson;
use crate::extract::project::{ProjectAccess, Write};
use crate::media::{confirm, storage_error};
use crate::{ApiError, AppState, ErrorCode};

/// Longest file name kept for display.
pub const MAX_FILENAME_CHARS: usize = 255;
/// Most part URLs one request may ask for: bounds the response size.
pub const MAX_PART_URLS_PER_REQUEST: usize = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_upload_intent))
        .routes(routes!(presign_parts, list_uploaded_parts))
        .routes(routes!(complete_upload))
        .routes(routes!(abort_upload))
}

/// What the client is about to upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UploadIntentIn {
    #[schema(value_type = String)]
    pub project_id: String,
    /// Shown in the editor; never used as a storage key.
    pub filename: String,
    /// `video/*`, `audio/*` or `image/*`.
    pub content_type: String,
    /// Exact size in bytes.
    pub size: u64,
}

/// A request to make straight to storage, exactly as given: the headers are part of the
/// signature (a browser's `fetch` sets `content-length` itself from the body).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignedRequestOut {
    pub method: String,
    pub url: String,
    /// Header name → value.
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

impl From<PresignedRequest> for SignedRequestOut {
    fn from(request: PresignedRequest) -> Self {
        Self {
            method: request.method,
            url: request.url,
            headers: request.headers.into_iter().collect(),
            expires_at: request.expires_at,
        }
    }
}

/// How to send the bytes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum UploadOut {
    /// One PUT of the whole file, with exactly these headers.
    Single(SignedRequestOut),
    /// Multipart: ask for part URLs, PUT each part, then complete.
    Multipart {
        multipart: MultipartOut,
        #[serde(with = "time::serde::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        #[serde(rename = "expiresAt")]
        expires_at: OffsetDateTime,
    },
}

/// How a multipart upload is cut.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MultipartOut {
    /// Every part but the last has exactly this many bytes.
    pub part_size: u64,
    pub part_count: u32,
}

/// The created intent.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadIntentOut {
    pub asset_id: AssetId,
    pub upload: UploadOut,
}

/// One failing field of a validation error.
pub fn field(pointer: &str, code: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        pointer: pointer.to_owned(),
        code: code.to_owned(),
        message: message.into(),
    }
}

/// Start an upload: reserve quota, create the asset, and get where to send the bytes.
#[utoipa::path(
    post, path = "/api/media/upload-intent", tag = "media", operation_id = "create_upload_intent",
    request_body = UploadIntentIn,
    responses(
        (status = 201, description = "Intent created", body = UploadIntentOut),
        (status = 403, description = "Viewers cannot upload", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a video, audio or image type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, file too large or quota exceeded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn create_upload_intent(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<UploadIntentIn>,
) -> Result<impl IntoResponse, ApiError> {
    let opened = open_upload_intent(
        &state,
        user,
        IntentRequest {
            project_id: &body.project_id,
            filename: &body.filename,
            content_type: &body.content_type,
            size: body.size,
            shape: UploadShape::ServerChoice,
        },
    )
    .await?;
    let upload = match opened.multipart {
        Some(plan) => UploadOut::Multipart {
            multipart: MultipartOut {
                part_size: plan.part_size,
                part_count: plan.part_count,
            },
            expires_at: opened.asset.expires_at,
        },
        None => UploadOut::Single(
            state
                .blobs
                .presign_put(
                    &opened.key,
                    body.size,
                    &body.content_type,
                    state.media.upload_url_ttl,
                )
                .map_err(storage_error)?
                .into(),
        ),
    };
    Ok((
        StatusCode::CREATED,
        Json(UploadIntentOut {
            asset_id: opened.asset.id,
            upload,
        }),
    ))
}

/// What an upload intent is for, whichever route asks (`create_upload_intent`, or the Uppy
/// Companion routes): the same checks, quota reservation and asset row for every client.
#[derive(Debug)]
pub struct IntentRequest<'a> {
    /// As the client sent it: a malformed id is the same 404 as an unknown one.
    pub project_id: &'a str,
    /// Shown in the editor; never used as a storage key.
    pub filename: &'a str,
    pub content_type: &'a str,
    /// Exact size in bytes; this is what the quota reserves.
    pub size: u64,
    pub shape: UploadShape,
}

/// Who decides between one request and a multipart upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadShape {
    /// The server: multipart above `multipart_threshold_bytes`, in parts of at least
    /// `multipart_part_size_bytes`.
    ServerChoice,
    /// The client asked for one request carrying the whole file.
    Single,
    /// The client asked for multipart, cutting parts of at least `min_part_size` bytes (raised,
    /// like every plan, so a file never needs more than 10,000 parts).
    Multipart { min_part_size: u64 },
}

/// A created intent: the pending asset, its storage key, and its multipart plan (the upload is
/// already open in the store) when it is multipart.
#[derive(Debug)]
pub struct OpenedIntent {
    pub asset: studio_db::AssetRecord,
    pub key: BlobKey,
    pub multipart: Option<MultipartPlan>,
}

/// Checks an intent (fields, project access for editors and owners, media type, the plan's
/// largest file), opens the multipart upload if there is one, then reserves the quota and
/// creates the pending asset in one database transaction. A refused reservation aborts the
/// multipart upload again.
pub async fn open_upload_intent(
    state: &AppState,
    user: AuthUser,
    request: IntentRequest<'_>,
) -> Result<OpenedIntent, ApiError> {
    let project_id: ProjectId = request
        .project_id
        .parse()
        .map_err(|_| ApiError::new(ErrorCode::ProjectNotFound, "No such project."))?;
    let mut errors = Vec::new();
    let filename = request.filename.trim();
    if filename.is_empty() || filename.chars().count() > MAX_FILENAME_CHARS {
        errors.push(field(
            "/filename",
            "length",
            format!("must be 1 to {MAX_FILENAME_CHARS} characters"),
        ));
    } else if filename.chars().any(char::is_control) {
        errors.push(field(
            "/filename",
            "control_character",
            "must not contain control characters",
        ));
    }
    if request.size == 0 {
        errors.push(field("/size", "empty", "must be greater than 0"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let access = ProjectAccess::<Write>::check(state.store.as_ref(), user, &project_id).await?;
    let kind = AssetKind::from_content_type(request.content_type).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Only video/*, audio/* and image/* files can be uploaded.",
        )
    })?;
    let owner = access.user.user_id.clone();
    let limits = state.media.limits(&state.store.user_plan(&owner).await?);
    if request.size > limits.max_file_bytes {
        return Err(ApiError::new(
            ErrorCode::FileTooLarge,
            format!(
                "Files on this plan may be at most {} bytes.",
                limits.max_file_bytes
            ),
        )
        .with_extension("maxFileBytes", limits.max_file_bytes)
        .with_extension("size", request.size));
    }

    let asset_id = AssetId::generate();
    let key = original_key(&project_id, &asset_id)?;
    let now = OffsetDateTime::now_utc();
    let multipart = match request.shape {
        UploadShape::ServerChoice => (request.size > state.media.multipart_threshold_bytes)
            .then(|| MultipartPlan::new(request.size, state.media.multipart_part_size_bytes))
            .flatten(),
        UploadShape::Single => None,
        UploadShape::Multipart { min_part_size } => Some(
            MultipartPlan::new(request.size, min_part_size).ok_or_else(|| {
                ApiError::new(ErrorCode::Internal, "No multipart plan fits this file.")
            })?,
        ),
    };
    // A multipart upload must exist before its id can be stored with the intent.
    let upload_id = match multipart {
        Some(_) => Some(
            state
                .blobs
                .create_multipart(&key, request.content_type)
                .await
                .map_err(storage_error)?,
        ),
        None => None,
    };
    let new = NewAsset {
        id: asset_id.clone(),
        project_id,
        owner_id: owner,
        kind,
        filename: filename.to_owned(),
        content_type: request.content_type.to_owned(),
        declared_size: request.size,
        original_key: key.as_str().to_owned(),
        upload_id: upload_id.as_ref().map(|u| u.0.clone()),
        part_size: multipart.map(|m| m.part_size),
        expires_at: now + state.media.upload_intent_ttl,
    };
    let asset = match state
        .store
        .create_upload_intent(new, limits.storage_bytes)
        .await
    {
        Ok(asset) => asset,
        Err(err) => {
            if let Some(upload) = &upload_id
                && let Err(abort) = state.blobs.abort_multipart(&key, upload).await
            {
                tracing::warn!(error = %abort, "could not abort the multipart upload of a refused intent");
            }
            return Err(match err {
                IntentError::QuotaExceeded { usage, limit } => ApiError::new(
                    ErrorCode::QuotaExceeded,
                    format!(
                        "{} bytes used and {} reserved of {limit}; this file needs {}.",
                        usage.bytes_used, usage.bytes_reserved, request.size
                    ),
                )
                .with_extension("limitBytes", limit)
                .with_extension("usedBytes", usage.bytes_used)
                .with_extension("reservedBytes", usage.bytes_reserved)
                .with_extension("requestedBytes", request.size),
                IntentError::Db(db) => db.into(),
            });
        }
    };
    tracing::info!(
        asset.id = %asset.id,
        asset.size_bytes = asset.declared_size,
        asset.multipart = multipart.is_some(),
        "upload intent created"
    );
    Ok(OpenedIntent {
        asset,
        key,
        multipart,
    })
}

/// The storage key of an asset's original: chosen by the server, never from the file name.
pub fn original_key(project: &ProjectId, asset: &AssetId) -> Result<BlobKey, ApiError> {
    BlobKey::parse(&format!("originals/{project}/{asset}")).map_err(|e| ApiError::internal(&e))
}

/// Part numbers to sign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PartsIn {
    pub part_numbers: Vec<u32>,
}

/// One signed part URL.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartUrlOut {
    pub part_number: u32,
    #[serde(flatten)]
    pub request: SignedRequestOut,
}

/// Signed URLs for the asked parts.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartUrlsOut {
    pub parts: Vec<PartUrlOut>,
}

/// A part the store already has.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadedPartOut {
    pub part_number: u32,
    pub size: u64,
    pub etag: String,
}

/// The parts the store already has.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedPartsOut {
    pub parts: Vec<UploadedPartOut>,
}

/// The open multipart upload of a pending asset, with its plan.
fn open_multipart(asset: &studio_db::AssetRecord) -> Result<(UploadId, MultipartPlan), ApiError> {
    pending(asset)?;
    match (&asset.upload_id, asset.part_size) {
        (Some(upload), Some(part_size)) => {
            let plan = MultipartPlan::new(asset.declared_size, part_size).ok_or_else(|| {
                ApiError::new(ErrorCode::Internal, "The stored multipart plan is invalid.")
            })?;
            Ok((UploadId(upload.clone()), plan))
        }
        _ => Err(ApiError::new(
            ErrorCode::NotMultipart,
            "This upload is a single PUT; it has no parts.",
        )),
    }
}

/// Refuses anything but an open intent.
pub fn pending(asset: &studio_db::AssetRecord) -> Result<(), ApiError> {
    match asset.status {
        AssetStatus::PendingUpload if asset.expires_at > OffsetDateTime::now_utc() => Ok(()),
        AssetStatus::PendingUpload | AssetStatus::Expired => Err(ApiError::new(
            ErrorCode::UploadExpired,
            "The upload intent has expired; create a new one.",
        )),
        _ => Err(ApiError::new(
            ErrorCode::NotPending,
            "The upload is already complete.",
        )),
    }
}

/// Signed URLs for some parts of a multipart upload.
#[utoipa::path(
    post, path = "/api/media/{assetId}/parts", tag = "media", operation_id = "presign_parts",
    params(("assetId" = AssetId, Path, description = "The asset")),
    request_body = PartsIn,
    responses(
        (status = 200, description = "One signed PUT per part", body = PartUrlsOut),
        (status = 404, description = "No such asset, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not multipart, or already complete", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The intent expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Part numbers out of range", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn presign_parts(
    State(state): State<AppState>,
    access: AssetAccess<Write>,
    ApiJson(body): ApiJson<PartsIn>,
) -> Result<Json<PartUrlsOut>, ApiError> {
    let (upload, plan) = open_multipart(&access.asset)?;
    if body.part_numbers.is_empty() || body.part_numbers.len() > MAX_PART_URLS_PER_REQUEST {
        return Err(ApiError::validation(vec![field(
            "/partNumbers",
            "length",
            format!("ask for 1 to {MAX_PART_URLS_PER_REQUEST} parts at a time"),
        )]));
    }
    let errors: Vec<FieldError> = body
        .part_numbers
        .iter()
        .enumerate()
        .filter(|(_, n)| plan.part_length(**n).is_none())
        .map(|(i, n)| {
            field(
                &format!("/partNumbers/{i}"),
                "out_of_range",
                format!("part {n} is not in 1..={}", plan.part_count),
            )
        })
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let key = blob_key(&access.asset)?;
    let mut parts = Vec::with_capacity(body.part_numbers.len());
    for &number in &body.part_numbers {
        let length = plan.part_length(number).unwrap_or_default();
        let request = state
            .blobs
            .presign_upload_part(&key, &upload, number, length, state.media.upload_url_ttl)
            .map_err(storage_error)?;
        parts.push(PartUrlOut {
            part_number: number,
            request: request.into(),
        });
    }
    Ok(Json(PartUrlsOut { parts }))
}

/// The stored key of an asset's original.
pub fn blob_key(asset: &studio_db::AssetRecord) -> Result<BlobKey, ApiError> {
    BlobKey::parse(&asset.original_key).map_err(|e| ApiError::internal(&e))
}

/// The parts the store already has (to resume after a dropped connection).
#[utoipa::path(
    get, path = "/api/media/{assetId}/parts", tag = "media", operation_id = "list_uploaded_parts",
    params(("assetId" = AssetId, Path, description = "The asset")),
    responses(
        (status = 200, description = "Parts received so far", body = UploadedPartsOut),
        (status = 404, description = "No such asset, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not multipart, or already complete", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn list_uploaded_parts(
    State(state): State<AppState>,
    access: AssetAccess<Write>,
) -> Result<Json<UploadedPartsOut>, ApiError> {
    let (upload, _) = open_multipart(&access.asset)?;
    let key = blob_key(&access.asset)?;
    let parts = state
        .blobs
        .list_parts(&key, &upload)
        .await
        .map_err(storage_error)?
        .into_iter()
        .map(|p| UploadedPartOut {
            part_number: p.part_number,
            size: p.size,
            etag: p.etag,
        })
        .collect();
    Ok(Json(UploadedPartsOut { parts }))
}

/// Parts to assemble, for a multipart upload.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CompleteIn {
    #[serde(default)]
    pub parts: Option<Vec<CompletedPartIn>>,
}

/// A part as the store acknowledged it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CompletedPartIn {
    pub part_number: u32,
    pub etag: String,
}

/// The confirmed upload and its processing job.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompleteOut {
    pub asset_id: AssetId,
    #[schema(value_type = String)]
    pub job_id: studio_core::JobId,
    pub status: AssetStatus,
}

/// Confirm the bytes are in storage; queues processing. Idempotent: a second call answers the
/// same job.
#[utoipa::path(
    post, path = "/api/media/{assetId}/complete", tag = "media", operation_id = "complete_upload",
    params(("assetId" = AssetId, Path, description = "The asset")),
    request_body(content = CompleteIn, description = "For multipart uploads: the parts with their ETags"),
    responses(
        (status = 202, description = "Confirmed; processing queued", body = CompleteOut),
        (status = 404, description = "No such asset, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Bytes missing, or of another size or type", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The intent expired", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn complete_upload(
    State(state): State<AppState>,
    access: AssetAccess<Write>,
    body: Option<ApiJson<CompleteIn>>,
) -> Result<(StatusCode, Json<CompleteOut>), ApiError> {
    let parts = body.and_then(|ApiJson(b)| b.parts);
    let confirmed = confirm(&state, &access.asset, parts.as_deref()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CompleteOut {
            asset_id: confirmed.asset.id,
            job_id: confirmed.job_id,
            status: confirmed.asset.status,
        }),
    ))
}

/// Abandon an upload that is not complete: aborts the multipart upload and releases the
/// reservation.
#[utoipa::path(
    delete, path = "/api/media/{assetId}", tag = "media", operation_id = "abort_upload",
    params(("assetId" = AssetId, Path, description = "The asset")),
    responses(
        (status = 204, description = "Aborted"),
        (status = 404, description = "No such asset, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already complete: delete the asset instead", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn abort_upload(
    State(state): State<AppState>,
    access: AssetAccess<Write>,
) -> Result<StatusCode, ApiError> {
    if !matches!(
        access.asset.status,
        AssetStatus::PendingUpload | AssetStatus::Expired
    ) {
        return Err(ApiError::new(
            ErrorCode::NotPending,
            "The upload is complete; delete it with DELETE /api/assets/{assetId}.",
        ));
    }
    crate::media::remove_asset(&state, &access.asset).await?;
    Ok(StatusCode::NO_CONTENT)
}
