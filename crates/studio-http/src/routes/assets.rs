//! `/api/assets/{assetId}`, `/api/projects/{projectId}/assets` and `/api/me`: reading and
//! deleting assets, and a user's storage accounting.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use studio_core::{AssetId, AssetKind, AssetStatus, JobId, ProjectId, UserId};
use studio_db::{AssetRecord, OriginalTier};
use studio_storage::BlobKey;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Problem;
use crate::extract::asset::AssetAccess;
use crate::extract::auth::AuthUser;
use crate::extract::project::{ProjectAccess, Read, Write};
use crate::media::storage_error;
use crate::routes::media::{SignedRequestOut, blob_key};
use crate::{ApiError, AppState, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_asset, delete_asset))
        .routes(routes!(restore_asset_original))
        .routes(routes!(list_project_assets))
        .routes(routes!(get_me))
}

/// An asset as members see it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetOut {
    pub id: AssetId,
    pub project_id: ProjectId,
    pub owner_id: UserId,
    pub kind: AssetKind,
    pub filename: String,
    pub content_type: String,
    pub declared_size: u64,
    /// The size found in storage, once the upload is confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub status: AssetStatus,
    /// The processing job, once the upload is confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub job_id: Option<JobId>,
    /// Why processing failed, readable (the last ffmpeg lines, not a dump).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A stable code when processing failed (e.g. `not_media`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The probed metadata once processed: `kind`, `durationSecs`, `width`, `height`,
    /// `rotationDegrees`, `frameRate`, `variableFrameRate`, codecs, `hasAudio`, `hasVideo`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// When an unfinished upload intent lapses.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// Where the original is: `hot`; `cold` (moved to cold storage after days of inactivity:
    /// the asset still opens, its proxy and waveforms are served as before, but the original's
    /// URL is left out until it is restored); or `restoring` (a restore is under way).
    #[schema(value_type = String, example = "hot")]
    pub original_tier: &'static str,
    /// Short-lived signed URLs for what exists (only on `GET /api/assets/{assetId}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urls: Option<AssetUrls>,
}

/// Signed GET URLs of an asset's files. The derived files (once `ready`) are for every member;
/// the original for editors and the owner only.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetUrls {
    /// The original upload: editors and the owner only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<SignedRequestOut>,
    /// The proxy the editor plays: H.264 MP4, AAC `.m4a` for audio, JPEG for images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<SignedRequestOut>,
    /// The waveform, audiowaveform JSON (version 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waveform_json: Option<SignedRequestOut>,
    /// The waveform, audiowaveform binary `.dat` (version 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waveform_dat: Option<SignedRequestOut>,
    /// The waveform drawn as a PNG.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waveform_png: Option<SignedRequestOut>,
    /// A poster frame (JPEG), for video.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poster: Option<SignedRequestOut>,
}

impl From<AssetRecord> for AssetOut {
    fn from(asset: AssetRecord) -> Self {
        Self {
            id: asset.id,
            project_id: asset.project_id,
            owner_id: asset.owner_id,
            kind: asset.kind,
            filename: asset.filename,
            content_type: asset.content_type,
            declared_size: asset.declared_size,
            size: asset.real_size,
            status: asset.status,
            job_id: asset.job_id,
            error: asset.error,
            error_code: asset.error_code,
            // Written by the job as a JSON object; anything else is not shown.
            metadata: asset
                .media_info
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok()),
            expires_at: asset.expires_at,
            created_at: asset.created_at,
            updated_at: asset.updated_at,
            original_tier: asset.original_tier.as_str(),
            urls: None,
        }
    }
}

/// The assets of a project.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetList {
    pub items: Vec<AssetOut>,
}

/// One asset, with signed URLs for what exists.
#[utoipa::path(
    get, path = "/api/assets/{assetId}", tag = "assets", operation_id = "get_asset",
    params(("assetId" = AssetId, Path, description = "The asset")),
    responses(
        (status = 200, description = "The asset", body = AssetOut),
        (status = 404, description = "No such asset, or no access", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_asset(
    State(state): State<AppState>,
    access: AssetAccess<Read>,
) -> Result<Json<AssetOut>, ApiError> {
    crate::archive::touch_asset(&state, &access.asset).await;
    // A cold original is not readable until restored (see `crate::archive`): no URL for it.
    let has_original = !matches!(
        access.asset.status,
        AssetStatus::PendingUpload | AssetStatus::Expired
    ) && access.asset.original_tier == OriginalTier::Hot;
    let original = if has_original && access.project.role.can_write() {
        Some(
            state
                .blobs
                .presign_get(&blob_key(&access.asset)?, state.media.download_url_ttl)
                .map_err(storage_error)?
                .into(),
        )
    } else {
        None
    };
    let mut urls = AssetUrls {
        original,
        ..AssetUrls::default()
    };
    if access.asset.status == AssetStatus::Ready {
        let outputs = &access.asset.outputs;
        let sign = |key: &Option<String>| -> Result<Option<SignedRequestOut>, ApiError> {
            key.as_deref()
                .map(|key| {
                    let key = BlobKey::parse(key).map_err(|e| ApiError::internal(&e))?;
                    Ok(state
                        .blobs
                        .presign_get(&key, state.media.download_url_ttl)
                        .map_err(storage_error)?
                        .into())
                })
                .transpose()
        };
        urls.proxy = sign(&outputs.proxy_key)?;
        urls.waveform_json = sign(&outputs.waveform_json_key)?;
        urls.waveform_dat = sign(&outputs.waveform_dat_key)?;
        urls.waveform_png = sign(&outputs.waveform_png_key)?;
        urls.poster = sign(&outputs.poster_key)?;
    }
    let mut out = AssetOut::from(access.asset);
    out.urls = Some(urls);
    Ok(Json(out))
}

/// Where an original stands after a restore request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreOut {
    pub asset_id: AssetId,
    /// `hot`: the original is readable now (restored, or never archived).
    #[schema(value_type = String, example = "hot")]
    pub original_tier: &'static str,
}

/// Bring an asset's original back from cold storage (editors and the owner). Immediate for the
/// local cold directory and S3 instant classes; for S3 archive classes the restore is started
/// and the answer is 409 `original_archived` until it completes.
#[utoipa::path(
    post, path = "/api/assets/{assetId}/restore", tag = "assets", operation_id = "restore_asset_original",
    params(("assetId" = AssetId, Path, description = "The asset")),
    responses(
        (status = 200, description = "The original is hot", body = RestoreOut),
        (status = 403, description = "Viewers cannot restore", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such asset, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`original_archived`: a slow restore is under way (extension `restore`: `started` or `in_progress`); or `upload_incomplete`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn restore_asset_original(
    State(state): State<AppState>,
    access: AssetAccess<Write>,
) -> Result<Json<RestoreOut>, ApiError> {
    let asset = access.asset;
    if matches!(
        asset.status,
        AssetStatus::PendingUpload | AssetStatus::Expired
    ) {
        return Err(ApiError::new(
            ErrorCode::UploadIncomplete,
            "The asset has no confirmed upload.",
        ));
    }
    crate::archive::touch_asset(&state, &asset).await;
    crate::archive::ensure_original_hot(&state, &asset).await?;
    Ok(Json(RestoreOut {
        asset_id: asset.id,
        original_tier: OriginalTier::Hot.as_str(),
    }))
}

/// The assets of a project, oldest first.
#[utoipa::path(
    get, path = "/api/projects/{projectId}/assets", tag = "assets", operation_id = "list_project_assets",
    params(("projectId" = ProjectId, Path, description = "The project")),
    responses(
        (status = 200, description = "The project's assets (without URLs)", body = AssetList),
        (status = 404, description = "No such project, or no access", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn list_project_assets(
    State(state): State<AppState>,
    access: ProjectAccess<Read>,
) -> Result<Json<AssetList>, ApiError> {
    let items = state
        .store
        .list_assets(&access.project.id)
        .await?
        .into_iter()
        .map(AssetOut::from)
        .collect();
    Ok(Json(AssetList { items }))
}

/// Options of an asset deletion.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteAssetQuery {
    /// Also remove the timeline's clips that use the asset (in the same transaction; the
    /// timeline gets a new version). Without it, an asset in use is refused with 409.
    #[serde(default)]
    pub force: bool,
}

/// Delete an asset and its files; its bytes go back to the uploader's quota.
#[utoipa::path(
    delete, path = "/api/assets/{assetId}", tag = "assets", operation_id = "delete_asset",
    params(("assetId" = AssetId, Path, description = "The asset"), DeleteAssetQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad query string", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Viewers cannot delete", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such asset, or no access", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`asset_in_use`: the timeline uses the asset (extension `clips`: `[{trackId, clipId, pointer}]`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn delete_asset(
    State(state): State<AppState>,
    access: AssetAccess<Write>,
    query: Result<Query<DeleteAssetQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(ErrorCode::InvalidQuery, e.body_text()))?;
    crate::media::remove_asset_in_timeline(&state, &access.asset, query.force).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's plan and storage accounting.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeOut {
    pub user_id: UserId,
    pub plan: String,
    /// Bytes of confirmed uploads.
    pub bytes_used: u64,
    /// Bytes held by open upload intents.
    pub bytes_reserved: u64,
    /// The plan's storage quota.
    pub limit_bytes: u64,
    /// The plan's largest single file.
    pub max_file_bytes: u64,
    /// AI spending today (UTC) against the plan's allowance.
    pub ai: AiUsageOut,
}

/// A user's AI spending of the current UTC day and the plan's limits.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AiUsageOut {
    /// Calls that reached a provider today (cache hits are free and not counted).
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub tokens_per_day: u64,
    pub speech_characters: u64,
    pub speech_characters_per_day: u64,
    /// Answers streaming now, and how many may at once.
    pub active_streams: u32,
    pub concurrent_streams: u32,
    pub requests_per_minute: u32,
}

/// Who the caller is and how much storage they use.
#[utoipa::path(
    get, path = "/api/me", tag = "assets", operation_id = "get_me",
    responses(
        (status = 200, description = "Plan and usage", body = MeOut),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_me(State(state): State<AppState>, user: AuthUser) -> Result<Json<MeOut>, ApiError> {
    let plan = state.store.user_plan(&user.user_id).await?;
    let usage = state.store.usage(&user.user_id).await?;
    let limits = state.media.limits(&plan);
    let ai = state.ai.usage(&user.user_id, &plan).await?;
    Ok(Json(MeOut {
        user_id: user.user_id,
        plan,
        bytes_used: usage.bytes_used,
        bytes_reserved: usage.bytes_reserved,
        limit_bytes: limits.storage_bytes,
        max_file_bytes: limits.max_file_bytes,
        ai: AiUsageOut {
            requests: ai.today.requests,
            input_tokens: ai.today.input_tokens,
            output_tokens: ai.today.output_tokens,
            tokens_per_day: ai.limits.tokens_per_day,
            speech_characters: ai.today.speech_characters,
            speech_characters_per_day: ai.limits.speech_characters_per_day,
            active_streams: ai.active_streams,
            concurrent_streams: ai.limits.concurrent_streams,
            requests_per_minute: ai.limits.requests_per_minute,
        },
    }))
}
