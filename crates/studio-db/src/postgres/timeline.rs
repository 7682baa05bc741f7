//! [`TimelineStore`](crate::TimelineStore) on PostgreSQL.
//!
//! Transactions run at READ COMMITTED, so a timeline write and an asset deletion both start by
//! locking the project row `FOR NO KEY UPDATE` (which upload intents' `FOR KEY SHARE` does not
//! wait for): the second waits for the first and then reads what it committed. Locks are taken
//! in the crate's one order (project, asset, usage), so these never deadlock with `media.rs`.

use async_trait::async_trait;
use sqlx::PgConnection;
use studio_core::timeline::Project;
use studio_core::{AssetId, ProjectId};
use time::OffsetDateTime;

use super::PgStore;
use super::media::give_back;
use crate::DbError;
use crate::media_rows::{self, Release, asset_columns};
use crate::rows::now;
use crate::timeline::{
    self, AssetRemoval, AssetRemovalError, StoredTimeline, TimelineStore, TimelineWriteError,
};

type AssetRow = media_rows::AssetRow<OffsetDateTime>;

#[async_trait]
impl TimelineStore for PgStore {
    async fn timeline(&self, project: &ProjectId) -> Result<StoredTimeline, DbError> {
        type Row = (String, Option<String>, i64, Option<String>, Option<String>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT name, timeline, timeline_version, timeline_problems, collab_problems \
             FROM projects WHERE id = $1",
        )
        .bind(project.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let (name, stored, version, problems, collab_problems) = row.ok_or(DbError::NotFound)?;
        let document = timeline::decode(&name, stored.as_deref())?;
        if stored.is_none() {
            // Pin the starting timeline, so renaming the project later does not change what
            // version 1 is. Only where nobody has written one meanwhile.
            sqlx::query("UPDATE projects SET timeline = $2 WHERE id = $1 AND timeline IS NULL")
                .bind(project.as_str())
                .bind(timeline::encode(&document)?)
                .execute(&self.pool)
                .await?;
        }
        Ok(StoredTimeline {
            document,
            version,
            problems,
            collab_problems,
        })
    }

    async fn replace_timeline(
        &self,
        project: &ProjectId,
        document: &Project,
        if_version: Option<i64>,
    ) -> Result<i64, TimelineWriteError> {
        let text = timeline::encode(document)?;
        let mut tx = self.pool.begin().await.map_err(DbError::from)?;
        let current = lock_project(&mut tx, project)
            .await?
            .ok_or(DbError::NotFound)?;
        if if_version.is_some_and(|wanted| wanted != current) {
            return Err(TimelineWriteError::Stale { current });
        }
        let used = timeline::used_assets(document);
        if !used.is_empty() {
            // Read after the lock: an asset deletion that held it has committed by now.
            let wanted: Vec<&str> = used.iter().copied().collect();
            let existing: Vec<String> =
                sqlx::query_scalar("SELECT id FROM assets WHERE project_id = $1 AND id = ANY($2)")
                    .bind(project.as_str())
                    .bind(&wanted)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(DbError::from)?;
            let asset_ids = timeline::missing_assets(&used, &existing);
            if !asset_ids.is_empty() {
                return Err(TimelineWriteError::MissingAssets { asset_ids });
            }
        }
        let version = write_timeline(&mut tx, project, &text, current).await?;
        tx.commit().await.map_err(DbError::from)?;
        Ok(version)
    }

    async fn set_timeline_problems(
        &self,
        project: &ProjectId,
        version: i64,
        problems: Option<&str>,
    ) -> Result<bool, DbError> {
        let current: Option<i64> = sqlx::query_scalar(
            "UPDATE projects SET timeline_problems = $3 \
             WHERE id = $1 AND timeline_version = $2 \
             RETURNING timeline_version",
        )
        .bind(project.as_str())
        .bind(version)
        .bind(problems)
        .fetch_optional(&self.pool)
        .await?;
        if current.is_some() {
            return Ok(true);
        }
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM projects WHERE id = $1")
            .bind(project.as_str())
            .fetch_optional(&self.pool)
            .await?;
        exists.map(|_| false).ok_or(DbError::NotFound)
    }

    async fn delete_asset_in_timeline(
        &self,
        asset: &AssetId,
        remove_clips: bool,
    ) -> Result<AssetRemoval, AssetRemovalError> {
        let mut tx = self.pool.begin().await.map_err(DbError::from)?;
        // Assets never move between projects, so reading this one's project unlocked is safe.
        let project: Option<String> =
            sqlx::query_scalar("SELECT project_id FROM assets WHERE id = $1")
                .bind(asset.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(DbError::from)?;
        let project: ProjectId = project
            .ok_or(DbError::NotFound)?
            .parse()
            .map_err(|err| DbError::Corrupt(format!("assets.project_id: {err}")))?;
        let row: Option<(String, Option<String>, i64)> = sqlx::query_as(
            "SELECT name, timeline, timeline_version FROM projects WHERE id = $1 \
             FOR NO KEY UPDATE",
        )
        .bind(project.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(DbError::from)?;
        let (name, stored, version) = row.ok_or(DbError::NotFound)?;
        let mut document = timeline::decode(&name, stored.as_deref())?;
        let removed_clips = timeline::remove_clips_using(&mut document, asset.as_str());
        let mut timeline_version = None;
        if !removed_clips.is_empty() {
            if !remove_clips {
                return Err(AssetRemovalError::InUse {
                    clips: removed_clips,
                });
            }
            let text = timeline::encode(&document)?;
            timeline_version = Some(write_timeline(&mut tx, &project, &text, version).await?);
        }
        let row: Option<AssetRow> = sqlx::query_as(concat!(
            "DELETE FROM assets WHERE id = $1 RETURNING ",
            asset_columns!()
        ))
        .bind(asset.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(DbError::from)?;
        // Gone meanwhile (deleted by a call that did not wait for the project row): the
        // rollback undoes the timeline write too.
        let asset = row.ok_or(DbError::NotFound)?.into_record()?;
        give_back(&mut tx, &asset.owner_id, Release::of(&asset)?).await?;
        tx.commit().await.map_err(DbError::from)?;
        Ok(AssetRemoval {
            asset,
            removed_clips,
            timeline_version,
        })
    }
}

/// Locks the project row for a timeline change; its current version, `None` if it is gone.
async fn lock_project(
    conn: &mut PgConnection,
    project: &ProjectId,
) -> Result<Option<i64>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT timeline_version FROM projects WHERE id = $1 FOR NO KEY UPDATE")
            .bind(project.as_str())
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Writes `text` as the timeline of `project`, whose version is `current` (read under the row
/// lock), clearing the problems; returns the new version.
async fn write_timeline(
    conn: &mut PgConnection,
    project: &ProjectId,
    text: &str,
    current: i64,
) -> Result<i64, DbError> {
    let version: Option<i64> = sqlx::query_scalar(
        "UPDATE projects SET timeline = $2, timeline_version = timeline_version + 1, \
                timeline_problems = NULL, updated_at = $4 \
         WHERE id = $1 AND timeline_version = $3 \
         RETURNING timeline_version",
    )
    .bind(project.as_str())
    .bind(text)
    .bind(current)
    .bind(now())
    .fetch_optional(&mut *conn)
    .await?;
    // The row is locked since the version was read, so it cannot have moved.
    version.ok_or_else(|| DbError::Corrupt(format!("projects.timeline_version of {project} moved")))
}
