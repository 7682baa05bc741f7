//! [`ArchiveStore`](crate::ArchiveStore) on PostgreSQL.

use std::time::Duration;

use async_trait::async_trait;
use studio_core::{AssetId, ProjectId};
use time::OffsetDateTime;

use super::PgStore;
use crate::archive::touch_cutoff;
use crate::media_rows::{self, asset_columns};
use crate::{ArchiveStore, AssetRecord, DbError, OriginalTier};

type AssetRow = media_rows::AssetRow<OffsetDateTime>;

#[async_trait]
impl ArchiveStore for PgStore {
    async fn touch_asset(
        &self,
        id: &AssetId,
        now: OffsetDateTime,
        granularity: Duration,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE assets SET last_accessed_at = $2 \
             WHERE id = $1 AND (last_accessed_at < $3)",
        )
        .bind(id.as_str())
        .bind(now)
        .bind(touch_cutoff(now, granularity))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_project_assets(
        &self,
        project: &ProjectId,
        now: OffsetDateTime,
        granularity: Duration,
    ) -> Result<u64, DbError> {
        let done = sqlx::query(
            "UPDATE assets SET last_accessed_at = $2 \
             WHERE project_id = $1 AND (last_accessed_at < $3)",
        )
        .bind(project.as_str())
        .bind(now)
        .bind(touch_cutoff(now, granularity))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn idle_originals(
        &self,
        idle_since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AssetRecord>, DbError> {
        let rows: Vec<AssetRow> = sqlx::query_as(concat!(
            "SELECT ",
            asset_columns!(),
            " FROM assets WHERE original_tier = 'hot' AND last_accessed_at < $1 \
                AND status IN ('ready', 'failed') \
              ORDER BY last_accessed_at, id LIMIT $2"
        ))
        .bind(idle_since)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AssetRow::into_record).collect()
    }

    async fn originals_in_tier(
        &self,
        tier: OriginalTier,
        limit: u32,
    ) -> Result<Vec<AssetRecord>, DbError> {
        let rows: Vec<AssetRow> = sqlx::query_as(concat!(
            "SELECT ",
            asset_columns!(),
            " FROM assets WHERE original_tier = $1 \
              ORDER BY original_tier_changed_at, id LIMIT $2"
        ))
        .bind(tier.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AssetRow::into_record).collect()
    }

    async fn mark_original_cold(
        &self,
        id: &AssetId,
        idle_since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE assets SET original_tier = 'cold', original_tier_changed_at = $3 \
             WHERE id = $1 AND original_tier = 'hot' AND last_accessed_at < $2 \
               AND status IN ('ready', 'failed')",
        )
        .bind(id.as_str())
        .bind(idle_since)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_original_tier(
        &self,
        id: &AssetId,
        from: OriginalTier,
        to: OriginalTier,
        now: OffsetDateTime,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE assets SET original_tier = $3, original_tier_changed_at = $4, \
                 last_accessed_at = CASE WHEN $3 = 'hot' THEN $4 ELSE last_accessed_at END \
             WHERE id = $1 AND original_tier = $2",
        )
        .bind(id.as_str())
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM assets WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        exists.map(|_| false).ok_or(DbError::NotFound)
    }
}
