//! Cold storage of originals, the HTTP side: recording uses, restoring on demand, and the
//! archiver pass that moves originals idle for the configured days to the cold tier.
//!
//! **Uses.** Opening a project (`GET /api/projects/{id}`, which uses all its media), reading an
//! asset (`GET /api/assets/{id}`), reprocessing it and exporting a timeline record a use. Each
//! is cheap: at most one conditional `UPDATE` per [`ColdSettings::touch_granularity`] (an hour
//! by default) per asset, skipped without any SQL when the loaded row, or this node's memory of
//! recent project touches, shows a use within it. An idle period of days loses nothing to an
//! hour's coarseness. A failed touch is logged, never the request's failure.
//!
//! **Restores.** An asset whose original is cold still opens: its proxy, waveforms and poster
//! stay hot and are served as before; only the original's URL is left out (`originalTier` says
//! why). What needs the original (reprocessing, `POST /api/assets/{id}/restore`) calls
//! [`ensure_original_hot`]: a restore that completes at once (the local cold directory, S3
//! instant classes) is done and the request proceeds; a slow one (S3 `GLACIER`,
//! `DEEP_ARCHIVE`) is started and the request answers 409 `original_archived` with
//! `restore: "started" | "in_progress"`. The archiver pass finishes restores it finds complete.
//! A restored original is `hot` again and counts as used, so it is archived again only after a
//! whole new idle period.
//!
//! **Archiving.** [`archive_pass`] takes `now` (tests choose it): originals of `ready` /
//! `failed` assets unused since `now - after` are marked `cold` (a compare-and-set that loses to
//! a use in between), then moved; a failed move marks them `hot` again (tried again after
//! another idle period). Several nodes may run it: the database decides each transition once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use studio_core::ProjectId;
use studio_db::{AssetRecord, DbError, OriginalTier};
use studio_storage::{RestoreState, StorageError};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::media::storage_error;
use crate::routes::media::blob_key;
use crate::{ApiError, AppState, ErrorCode};

/// Originals looked at per kind and pass: bounds one pass's work; the rest wait for the next.
const BATCH: u32 = 200;
/// Projects this node remembers touching; past it, entries older than the granularity are
/// dropped (and, if that is not enough, all of them: a forgotten touch only costs one UPDATE).
const MAX_REMEMBERED_PROJECTS: usize = 10_000;

/// Cold storage settings, already validated by the binary.
#[derive(Debug, Clone)]
pub struct ColdSettings {
    /// Originals unused for this long go to the cold tier; `None`: never.
    pub after: Option<Duration>,
    /// The S3 storage class originals are archived into.
    pub storage_class: String,
    /// How long an S3 restore of an archive class keeps its temporary copy, in days.
    pub restore_days: u32,
    /// Uses closer together than this are recorded once.
    pub touch_granularity: Duration,
}

impl Default for ColdSettings {
    fn default() -> Self {
        Self {
            after: None,
            storage_class: "GLACIER_IR".to_owned(),
            restore_days: 7,
            touch_granularity: Duration::from_secs(3600),
        }
    }
}

/// The cold-storage part of the application state: settings and this node's recent touches.
#[derive(Debug, Default)]
pub struct Archive {
    pub settings: ColdSettings,
    touched_projects: Mutex<HashMap<ProjectId, OffsetDateTime>>,
}

impl Archive {
    pub fn new(settings: ColdSettings) -> Self {
        Self {
            settings,
            touched_projects: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `project` was touched by this node within the granularity before `now`;
    /// remembers `now` otherwise.
    fn recently_touched(&self, project: &ProjectId, now: OffsetDateTime) -> bool {
        let granularity = self.settings.touch_granularity;
        let mut touched = self
            .touched_projects
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if touched
            .get(project)
            .is_some_and(|at| *at <= now && now - *at < granularity)
        {
            return true;
        }
        if touched.len() >= MAX_REMEMBERED_PROJECTS {
            touched.retain(|_, at| *at <= now && now - *at < granularity);
            if touched.len() >= MAX_REMEMBERED_PROJECTS {
                touched.clear();
            }
        }
        touched.insert(project.clone(), now);
        false
    }
}

/// Records a use of `asset` (reading, reprocessing), unless one within the granularity is
/// already recorded.
pub async fn touch_asset(state: &AppState, asset: &AssetRecord) {
    let now = OffsetDateTime::now_utc();
    let granularity = state.archive.settings.touch_granularity;
    if asset.last_accessed_at <= now && now - asset.last_accessed_at < granularity {
        return;
    }
    if let Err(err) = state.store.touch_asset(&asset.id, now, granularity).await {
        tracing::warn!(asset.id = %asset.id, error = %err, "cannot record an asset use");
    }
}

/// Records a use of every asset of `project` (opening it, exporting its timeline).
pub async fn touch_project(state: &AppState, project: &ProjectId) {
    let now = OffsetDateTime::now_utc();
    if state.archive.recently_touched(project, now) {
        return;
    }
    let granularity = state.archive.settings.touch_granularity;
    if let Err(err) = state
        .store
        .touch_project_assets(project, now, granularity)
        .await
    {
        tracing::warn!(project.id = %project, error = %err, "cannot record a project use");
    }
}

/// 409 `original_archived`, with where the restore stands.
fn original_archived(restore: &str) -> ApiError {
    ApiError::new(
        ErrorCode::OriginalArchived,
        "The original is in cold storage; a restore is under way. Try again later.",
    )
    .with_extension("restore", restore)
    .with_extension("originalTier", OriginalTier::Restoring.as_str())
}

/// Makes sure the asset's original is readable: does nothing when it is hot, restores it when
/// that is immediate, else starts (or checks) a slow restore and answers `original_archived`.
pub async fn ensure_original_hot(state: &AppState, asset: &AssetRecord) -> Result<(), ApiError> {
    let tier = asset.original_tier;
    if tier == OriginalTier::Hot {
        return Ok(());
    }
    match restore(state, asset).await {
        Ok(RestoreState::Ready) => Ok(()),
        Ok(RestoreState::Started) => Err(original_archived("started")),
        Ok(RestoreState::InProgress) => Err(original_archived("in_progress")),
        Err(Failure::Storage(err)) => Err(storage_error(err)),
        Err(Failure::Db(err)) => Err(err.into()),
    }
}

/// Why a restore step failed.
#[derive(Debug)]
enum Failure {
    Storage(StorageError),
    Db(DbError),
}

/// Asks the store to restore `asset`'s original and records the outcome: `hot` when it is
/// back, `restoring` while a slow restore runs. Tier changes are compare-and-set: losing to a
/// concurrent restore is fine, it did the same.
async fn restore(state: &AppState, asset: &AssetRecord) -> Result<RestoreState, Failure> {
    let key = blob_key(asset).map_err(|_| {
        Failure::Storage(StorageError::InvalidArgument(format!(
            "asset {} has an invalid original key",
            asset.id
        )))
    })?;
    let outcome = state
        .blobs
        .restore(&key, state.archive.settings.restore_days)
        .await
        .map_err(Failure::Storage)?;
    let now = OffsetDateTime::now_utc();
    let to = match outcome {
        RestoreState::Ready => OriginalTier::Hot,
        RestoreState::Started | RestoreState::InProgress => OriginalTier::Restoring,
    };
    if to != asset.original_tier {
        state
            .store
            .set_original_tier(&asset.id, asset.original_tier, to, now)
            .await
            .map_err(Failure::Db)?;
    }
    if outcome == RestoreState::Ready {
        tracing::info!(asset.id = %asset.id, "original restored from cold storage");
    }
    Ok(outcome)
}

/// What one archiver pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveReport {
    /// Originals moved to the cold tier.
    pub archived: usize,
    /// Slow restores found complete (their originals are hot again).
    pub restored: usize,
    /// Originals a step failed for (left for a later pass).
    pub failed: usize,
}

/// One pass at instant `now`: archives the originals idle since `now - after` (when archiving
/// is on), and finishes the restores that completed.
pub async fn archive_pass(state: &AppState, now: OffsetDateTime) -> ArchiveReport {
    let mut report = ArchiveReport::default();
    if let Some(idle_since) = state
        .archive
        .settings
        .after
        .and_then(|after| time::Duration::try_from(after).ok())
        .and_then(|after| now.checked_sub(after))
    {
        match state.store.idle_originals(idle_since, BATCH).await {
            Ok(idle) => {
                for asset in idle {
                    match archive_one(state, &asset, idle_since, now).await {
                        Ok(true) => report.archived += 1,
                        Ok(false) => {}
                        Err(()) => report.failed += 1,
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "archiver could not list idle originals");
                report.failed += 1;
            }
        }
    }
    match state
        .store
        .originals_in_tier(OriginalTier::Restoring, BATCH)
        .await
    {
        Ok(restoring) => {
            for asset in restoring {
                match restore(state, &asset).await {
                    Ok(RestoreState::Ready) => report.restored += 1,
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(asset.id = %asset.id, error = ?err, "cannot finish a restore");
                        report.failed += 1;
                    }
                }
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "archiver could not list restoring originals");
            report.failed += 1;
        }
    }
    report
}

/// Marks one idle original cold, then moves it. `Ok(false)` when a use won the race.
async fn archive_one(
    state: &AppState,
    asset: &AssetRecord,
    idle_since: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, ()> {
    let fail = |what: &str, err: &dyn std::fmt::Display| {
        tracing::warn!(asset.id = %asset.id, error = %err, "{what}");
    };
    match state
        .store
        .mark_original_cold(&asset.id, idle_since, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => return Ok(false),
        Err(err) => {
            fail("cannot mark an original cold", &err);
            return Err(());
        }
    }
    let key = blob_key(asset).map_err(|_| ())?;
    if let Err(err) = state
        .blobs
        .archive(&key, &state.archive.settings.storage_class)
        .await
    {
        fail("cannot move an original to cold storage", &err);
        // Back to hot, as it still is in storage; tried again after another idle period.
        if let Err(err) = state
            .store
            .set_original_tier(&asset.id, OriginalTier::Cold, OriginalTier::Hot, now)
            .await
        {
            fail("cannot mark an original hot again", &err);
        }
        return Err(());
    }
    // A restore may have run between the mark and the move (it found the object still hot and
    // marked it so): the row wins, and the object is brought back to match it.
    match state.store.asset(&asset.id).await {
        Ok(Some(current)) if current.original_tier != OriginalTier::Cold => {
            if let Err(err) = restore(state, &current).await {
                tracing::warn!(asset.id = %asset.id, error = ?err, "cannot undo a raced archive");
            }
            return Ok(false);
        }
        _ => {}
    }
    tracing::info!(
        asset.id = %asset.id,
        asset.size_bytes = asset.real_size.unwrap_or(asset.declared_size),
        "original moved to cold storage"
    );
    Ok(true)
}

/// Runs a pass every `interval` (the first at once) until `shutdown`, with the real clock.
pub async fn run(state: AppState, interval: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let report = tokio::select! {
            () = shutdown.cancelled() => return,
            report = archive_pass(&state, OffsetDateTime::now_utc()) => report,
        };
        if report != ArchiveReport::default() {
            tracing::info!(
                archive.archived = report.archived,
                archive.restored = report.restored,
                archive.failed = report.failed,
                "archiver pass"
            );
        }
    }
}
