//! Upload logic shared by every path that can finish or drop an upload: the client's `complete`
//! call, the storage webhook and the reconciler all confirm through [`confirm`], so racing
//! among themselves they still record one job and move the quota once (the database makes the
//! decision, see `MediaStore::confirm_upload`).

use studio_core::{AssetStatus, JobId};
use studio_db::{AssetRecord, AssetRemovalError, ClipUse, Confirmed, DbError, NewJob};
use studio_storage::{CompletedPart, StorageError};

use crate::routes::media::{CompletedPartIn, blob_key};
use crate::{ApiError, AppState, ErrorCode};

/// The job kind that turns an original into a proxy and a waveform.
pub const PROCESS_ASSET_JOB: &str = "process_asset";

/// Maps a storage failure to the API's error: the store's own refusals are 4xx, anything else
/// is a 502 (logged, without internals for the client).
pub fn storage_error(err: StorageError) -> ApiError {
    match err {
        StorageError::NotFound => ApiError::new(
            ErrorCode::UploadIncomplete,
            "The object is not in storage yet.",
        ),
        StorageError::NoSuchUpload => ApiError::new(
            ErrorCode::UploadIncomplete,
            "The multipart upload is no longer open.",
        ),
        StorageError::InvalidPart(why) => ApiError::new(ErrorCode::InvalidPart, why),
        // Our own request was malformed: a bug, not the store's fault.
        StorageError::InvalidArgument(_) | StorageError::Config(_) => ApiError::internal(&err),
        other => {
            tracing::error!(error = %other, "storage call failed");
            ApiError::new(
                ErrorCode::StorageUnavailable,
                "Storage did not answer as expected; try again.",
            )
        }
    }
}

/// The essence of a content type (`video/mp4` of `Video/MP4; codecs=x`), for comparison.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Checks that the asset's bytes are really in storage (assembling a multipart upload first
/// when `parts` are given), with the declared size and type, then confirms it: quota settled,
/// `process_asset` job recorded, all in one transaction. Idempotent.
pub async fn confirm(
    state: &AppState,
    asset: &AssetRecord,
    parts: Option<&[CompletedPartIn]>,
) -> Result<Confirmed, ApiError> {
    if asset.status != AssetStatus::PendingUpload {
        return confirm_stored(state, asset).await;
    }
    if let Some(upload) = &asset.upload_id {
        let Some(parts) = parts else {
            return Err(ApiError::validation(vec![crate::error::FieldError {
                pointer: "/parts".to_owned(),
                code: "required".to_owned(),
                message: "a multipart upload is completed with its parts and their ETags"
                    .to_owned(),
            }]));
        };
        let parts: Vec<CompletedPart> = parts
            .iter()
            .map(|p| CompletedPart {
                part_number: p.part_number,
                etag: p.etag.clone(),
            })
            .collect();
        let upload = studio_storage::UploadId(upload.clone());
        match state
            .blobs
            .complete_multipart(&blob_key(asset)?, &upload, &parts)
            .await
        {
            Ok(()) => {}
            // Completed already by a racing call: the object check decides.
            Err(StorageError::NoSuchUpload) => {}
            Err(other) => return Err(storage_error(other)),
        }
    }
    confirm_stored(state, asset).await
}

/// Confirms an asset whose object should already be whole in storage (a single PUT, or a
/// multipart upload someone completed): checks it is there with the declared size and type,
/// then records the confirmation. What the webhook and the reconciler use. Idempotent.
pub async fn confirm_stored(state: &AppState, asset: &AssetRecord) -> Result<Confirmed, ApiError> {
    match asset.status {
        AssetStatus::PendingUpload => {}
        AssetStatus::Expired => {
            return Err(ApiError::new(
                ErrorCode::UploadExpired,
                "The upload intent has expired; create a new one.",
            ));
        }
        // Already confirmed by someone: answer with the job recorded then.
        _ => return record(state, asset, asset.declared_size).await,
    }
    let Some(meta) = state
        .blobs
        .head(&blob_key(asset)?)
        .await
        .map_err(storage_error)?
    else {
        return Err(ApiError::new(
            ErrorCode::UploadIncomplete,
            "The object is not in storage yet; upload the bytes first.",
        ));
    };
    if meta.size != asset.declared_size {
        return Err(ApiError::new(
            ErrorCode::SizeMismatch,
            format!(
                "Storage holds {} bytes; {} were declared.",
                meta.size, asset.declared_size
            ),
        )
        .with_extension("declaredSize", asset.declared_size)
        .with_extension("storedSize", meta.size));
    }
    if let Some(stored) = &meta.content_type
        && essence(stored) != essence(&asset.content_type)
    {
        return Err(ApiError::new(
            ErrorCode::TypeMismatch,
            format!(
                "Storage holds `{stored}`; `{}` was declared.",
                asset.content_type
            ),
        ));
    }
    record(state, asset, meta.size).await
}

async fn record(state: &AppState, asset: &AssetRecord, size: u64) -> Result<Confirmed, ApiError> {
    let job = NewJob {
        id: JobId::generate(),
        kind: PROCESS_ASSET_JOB.to_owned(),
        payload: serde_json::json!({ "assetId": asset.id }).to_string(),
        idempotency_key: format!("{PROCESS_ASSET_JOB}:{}", asset.id),
        request_id: crate::middleware::request_id::current(),
    };
    let confirmed = state
        .store
        .confirm_upload(&asset.id, size, job)
        .await
        .map_err(|err| match err {
            DbError::Conflict { .. } => ApiError::new(
                ErrorCode::UploadExpired,
                "The upload intent has expired; create a new one.",
            ),
            DbError::NotFound => crate::extract::asset::asset_not_found(),
            other => other.into(),
        })?;
    if confirmed.newly_confirmed {
        tracing::info!(
            asset.id = %asset.id,
            job.id = %confirmed.job_id,
            asset.size_bytes = size,
            "upload confirmed"
        );
    }
    Ok(confirmed)
}

/// Removes an asset the project's timeline does not use (409 `asset_in_use` naming the clips
/// when it does): see [`remove_asset_in_timeline`].
pub async fn remove_asset(state: &AppState, asset: &AssetRecord) -> Result<(), ApiError> {
    remove_asset_in_timeline(state, asset, false).await
}

/// Removes an asset: database first (the bytes go back to the quota in the same transaction),
/// then its objects and any open multipart upload. A storage failure after the row is gone is
/// logged, not returned: the quota is already right and a sweep can remove strays.
///
/// When the project's timeline has clips using the asset, it is refused with 409
/// `asset_in_use` (extension `clips`: `[{trackId, clipId, pointer}]`), unless `remove_clips`,
/// which removes those clips in the same transaction (a new timeline version).
pub async fn remove_asset_in_timeline(
    state: &AppState,
    asset: &AssetRecord,
    remove_clips: bool,
) -> Result<(), ApiError> {
    match state
        .store
        .delete_asset_in_timeline(&asset.id, remove_clips)
        .await
    {
        Ok(removal) => {
            if let Some(version) = removal.timeline_version {
                tracing::info!(
                    asset.id = %asset.id,
                    timeline.version = version,
                    timeline.removed_clips = removal.removed_clips.len(),
                    "clips removed from the timeline with their asset"
                );
                // The problems stored were about the previous version: find the new one's.
                if let Err(err) = crate::timeline::recheck(
                    state.store.as_ref(),
                    &asset.project_id,
                    &state.settings.timeline,
                )
                .await
                {
                    tracing::error!(error = %err, "cannot re-check the timeline");
                }
            }
        }
        Err(AssetRemovalError::Db(DbError::NotFound)) => {}
        Err(AssetRemovalError::InUse { clips }) => return Err(asset_in_use(&clips)),
        Err(AssetRemovalError::Db(other)) => return Err(other.into()),
    }
    remove_objects(state, asset).await;
    tracing::info!(asset.id = %asset.id, "asset removed");
    Ok(())
}

/// 409: the timeline uses the asset in `clips`.
fn asset_in_use(clips: &[ClipUse]) -> ApiError {
    let listed: Vec<serde_json::Value> = clips
        .iter()
        .map(|clip| {
            serde_json::json!({
                "trackId": clip.track_id,
                "clipId": clip.clip_id,
                "pointer": clip.pointer,
            })
        })
        .collect();
    let count = match clips.len() {
        1 => "1 clip".to_owned(),
        n => format!("{n} clips"),
    };
    ApiError::new(
        ErrorCode::AssetInUse,
        format!(
            "The timeline uses this asset in {count}; remove them first, or delete with \
             `?force=true` to remove them with it."
        ),
    )
    .with_extension("clips", listed)
}

/// Deletes the stored objects of an asset whose row is already gone (best effort).
pub async fn remove_objects(state: &AppState, asset: &AssetRecord) {
    let Ok(key) = blob_key(asset) else { return };
    if let Some(upload) = &asset.upload_id
        && asset.status == AssetStatus::PendingUpload
        && let Err(err) = state
            .blobs
            .abort_multipart(&key, &studio_storage::UploadId(upload.clone()))
            .await
    {
        tracing::warn!(asset.id = %asset.id, error = %err, "could not abort a multipart upload");
    }
    if let Err(err) = state.blobs.delete(&key).await {
        tracing::warn!(asset.id = %asset.id, error = %err, "could not delete an original");
    }
}
