//! The upload reconciler: no asset stays stuck and no reservation leaks.
//!
//! Every interval it looks at upload intents the client never finished:
//! - intents still open whose bytes are in storage but were never reported (the client died
//!   between its PUT and `complete`, and no webhook came) are confirmed exactly as `complete`
//!   would;
//! - intents that lapsed are confirmed the same way if their bytes made it in time, and
//!   otherwise expired: the reservation goes back, a dangling multipart upload is aborted, and a
//!   stray object (of the wrong size) is removed.
//!
//! Several nodes may run it at once: every step is idempotent and the database decides races
//! (`confirm_upload`, `expire_intent` are conditional on the asset still being pending).

use std::time::Duration;

use studio_core::AssetStatus;
use studio_db::AssetRecord;
use studio_storage::UploadId;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::media::confirm_stored;
use crate::routes::media::blob_key;
use crate::{ApiError, AppState, ErrorCode};

/// Intents looked at per kind and pass: bounds one pass's work; the rest wait for the next.
const BATCH: u32 = 500;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Unreported uploads confirmed.
    pub confirmed: usize,
    /// Lapsed intents expired.
    pub expired: usize,
    /// Intents a step failed for (left for the next pass).
    pub failed: usize,
}

/// Runs a pass every `interval` until `shutdown`.
pub async fn run(state: AppState, interval: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let report = reconcile_once(&state).await;
        if report != ReconcileReport::default() {
            tracing::info!(
                reconcile.confirmed = report.confirmed,
                reconcile.expired = report.expired,
                reconcile.failed = report.failed,
                "reconciler pass"
            );
        }
    }
}

/// One pass over open and lapsed intents.
pub async fn reconcile_once(state: &AppState) -> ReconcileReport {
    let mut report = ReconcileReport::default();
    match state.store.pending_intents(BATCH).await {
        Ok(open) => {
            for asset in open {
                match confirm_if_stored(state, &asset).await {
                    Ok(true) => report.confirmed += 1,
                    Ok(false) => {}
                    Err(()) => report.failed += 1,
                }
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "reconciler could not list open intents");
            report.failed += 1;
        }
    }
    match state
        .store
        .expired_intents(OffsetDateTime::now_utc(), BATCH)
        .await
    {
        Ok(lapsed) => {
            for asset in lapsed {
                match confirm_if_stored(state, &asset).await {
                    Ok(true) => report.confirmed += 1,
                    Ok(false) => match expire(state, &asset).await {
                        Ok(true) => report.expired += 1,
                        Ok(false) => {}
                        Err(()) => report.failed += 1,
                    },
                    Err(()) => report.failed += 1,
                }
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "reconciler could not list lapsed intents");
            report.failed += 1;
        }
    }
    report
}

/// Confirms `asset` if its whole object is in storage. `Ok(false)`: nothing (whole) there yet.
async fn confirm_if_stored(state: &AppState, asset: &AssetRecord) -> Result<bool, ()> {
    match confirm_stored(state, asset).await {
        Ok(confirmed) => Ok(confirmed.newly_confirmed),
        Err(ApiError {
            code: ErrorCode::UploadIncomplete | ErrorCode::SizeMismatch | ErrorCode::TypeMismatch,
            ..
        }) => Ok(false),
        Err(ApiError {
            code: ErrorCode::UploadExpired,
            ..
        }) => Ok(false),
        Err(err) => {
            tracing::warn!(asset.id = %asset.id, error = %err.detail, "reconciler could not check an upload");
            Err(())
        }
    }
}

/// Expires a lapsed intent: reservation back (the database decides if it still is pending),
/// then storage leftovers removed.
async fn expire(state: &AppState, asset: &AssetRecord) -> Result<bool, ()> {
    let expired = state.store.expire_intent(&asset.id).await.map_err(|err| {
        tracing::warn!(asset.id = %asset.id, error = %err, "reconciler could not expire an intent");
    })?;
    if !expired {
        return Ok(false);
    }
    let Ok(key) = blob_key(asset) else {
        return Ok(true);
    };
    if let Some(upload) = &asset.upload_id
        && let Err(err) = state
            .blobs
            .abort_multipart(&key, &UploadId(upload.clone()))
            .await
    {
        tracing::warn!(asset.id = %asset.id, error = %err, "could not abort a lapsed multipart upload");
    }
    // An object of the wrong size may be there; it is no longer accounted for.
    if let Err(err) = state.blobs.delete(&key).await {
        tracing::warn!(asset.id = %asset.id, error = %err, "could not remove a lapsed upload's object");
    }
    tracing::info!(asset.id = %asset.id, asset.status = AssetStatus::Expired.as_str(), "upload intent expired");
    Ok(true)
}
