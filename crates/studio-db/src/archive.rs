//! The cold-storage half of the persistence port: when each asset was last used, and which tier
//! its original is in.
//!
//! Object-store lifecycle rules count days since creation; Studio archives originals after days
//! of *inactivity*, so it records uses itself. A use (opening the project, reading the asset,
//! reprocessing it, exporting a timeline) is one conditional `UPDATE` that writes only when the
//! stored instant is older than a granularity (an hour in production): reads stay reads almost
//! always, and an idle period measured in days loses nothing to an hour's coarseness.
//!
//! Tier moves are compare-and-set `UPDATE`s, so several archivers (one per API node) and
//! concurrent restores race safely: exactly one caller makes each transition and the others see
//! `false`. The original's lifecycle: `hot` → `cold` (archived: the row moves first, then the
//! bytes; a failed move puts it back) → `restoring` (a slow restore from an archive class is
//! under way) → `hot` (restored; counts as a use, so it is archived again only after a whole new
//! idle period). A restore that needs no wait goes `cold` → `hot` directly.

use std::time::Duration;

use async_trait::async_trait;
use studio_core::{AssetId, ProjectId};
use time::OffsetDateTime;

use crate::{AssetRecord, DbError};

/// Where an asset's original is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OriginalTier {
    /// In the normal store: readable at once.
    #[default]
    Hot,
    /// Moved to the cold tier after days of inactivity; must be restored before use.
    Cold,
    /// A restore from the cold tier is under way (S3 archive classes take minutes to hours).
    Restoring,
}

impl OriginalTier {
    /// The stored (and API) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hot => "hot",
            Self::Cold => "cold",
            Self::Restoring => "restoring",
        }
    }

    /// Reads a stored name; `None` for anything else.
    pub fn from_db(value: &str) -> Option<Self> {
        match value {
            "hot" => Some(Self::Hot),
            "cold" => Some(Self::Cold),
            "restoring" => Some(Self::Restoring),
            _ => None,
        }
    }
}

impl std::fmt::Display for OriginalTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The instant before which a touch at `now` writes: `now - granularity` (the start of time
/// when that reaches before it, so everything is older).
pub(crate) fn touch_cutoff(now: OffsetDateTime, granularity: Duration) -> OffsetDateTime {
    time::Duration::try_from(granularity)
        .ok()
        .and_then(|g| now.checked_sub(g))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Use tracking and original tiers.
#[async_trait]
pub trait ArchiveStore: Send + Sync + 'static {
    /// Records that the asset was used at `now`, unless a use at or after `now - granularity`
    /// is already recorded (then nothing is written). Returns whether it wrote. An asset that
    /// does not exist is no error (`false`).
    async fn touch_asset(
        &self,
        id: &AssetId,
        now: OffsetDateTime,
        granularity: Duration,
    ) -> Result<bool, DbError>;

    /// [`ArchiveStore::touch_asset`] for every asset of a project, in one `UPDATE` (opening a
    /// project uses all its media). Returns how many rows it wrote.
    async fn touch_project_assets(
        &self,
        project: &ProjectId,
        now: OffsetDateTime,
        granularity: Duration,
    ) -> Result<u64, DbError>;

    /// Processed assets (`ready` or `failed`) whose original is `hot` and was last used before
    /// `idle_since`, least recently used first, at most `limit`.
    async fn idle_originals(
        &self,
        idle_since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AssetRecord>, DbError>;

    /// Assets whose original is in `tier`, longest there first, at most `limit`.
    async fn originals_in_tier(
        &self,
        tier: OriginalTier,
        limit: u32,
    ) -> Result<Vec<AssetRecord>, DbError>;

    /// `hot` → `cold`, only if the asset is still `ready` or `failed` and still unused since
    /// before `idle_since` (a use between the scan and this call wins). Returns whether it did.
    async fn mark_original_cold(
        &self,
        id: &AssetId,
        idle_since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, DbError>;

    /// `from` → `to` if the original is in `from`; returns whether it was. Moving to `hot` also
    /// records a use at `now`. `NotFound` if the asset is gone.
    async fn set_original_tier(
        &self,
        id: &AssetId,
        from: OriginalTier,
        to: OriginalTier,
        now: OffsetDateTime,
    ) -> Result<bool, DbError>;
}
