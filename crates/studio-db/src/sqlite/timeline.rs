//! [`TimelineStore`](crate::TimelineStore) on SQLite.
//!
//! Writes that read before they decide (the version and the assets of a timeline write, the
//! clips an asset deletion touches) run in one `BEGIN IMMEDIATE` transaction, which holds the
//! database's write lock from its first statement: a timeline write and an asset deletion run
//! one after the other, each seeing the other's result.

use async_trait::async_trait;
use sqlx::SqliteConnection;
use studio_core::timeline::Project;
use studio_core::{AssetId, ProjectId};

use super::media::give_back;
use super::{BEGIN_WRITE, SqliteStore, encode_timestamp};
use crate::DbError;
use crate::media_rows::{self, Release, asset_columns};
use crate::rows::now;
use crate::timeline::{
    self, AssetRemoval, AssetRemovalError, StoredTimeline, TimelineStore, TimelineWriteError,
};

type AssetRow = media_rows::AssetRow<String>;

#[async_trait]
impl TimelineStore for SqliteStore {
    async fn timeline(&self, project: &ProjectId) -> Result<StoredTimeline, DbError> {
        type Row = (String, Option<String>, i64, Option<String>, Option<String>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT name, timeline, timeline_version, timeline_problems, collab_problems \
             FROM projects WHERE id = ?1",
        )
        .bind(project.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let (name, stored, version, problems, collab_problems) = row.ok_or(DbError::NotFound)?;
        let document = timeline::decode(&name, stored.as_deref())?;
        if stored.is_none() {
            // Pin the starting timeline, so renaming the project later does not change what
            // version 1 is. Only where nobody has written one meanwhile.
            sqlx::query("UPDATE projects SET timeline = ?2 WHERE id = ?1 AND timeline IS NULL")
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
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(DbError::from)?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT timeline_version FROM projects WHERE id = ?1")
                .bind(project.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(DbError::from)?;
        let current = current.ok_or(DbError::NotFound)?;
        if if_version.is_some_and(|wanted| wanted != current) {
            return Err(TimelineWriteError::Stale { current });
        }
        let used = timeline::used_assets(document);
        if !used.is_empty() {
            let existing: Vec<String> =
                sqlx::query_scalar("SELECT id FROM assets WHERE project_id = ?1")
                    .bind(project.as_str())
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
            "UPDATE projects SET timeline_problems = ?3 \
             WHERE id = ?1 AND timeline_version = ?2 \
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
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM projects WHERE id = ?1")
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
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(DbError::from)?;
        let row: Option<(String, String, Option<String>, i64)> = sqlx::query_as(
            "SELECT p.id, p.name, p.timeline, p.timeline_version \
             FROM assets a JOIN projects p ON p.id = a.project_id \
             WHERE a.id = ?1",
        )
        .bind(asset.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(DbError::from)?;
        let (project, name, stored, version) = row.ok_or(DbError::NotFound)?;
        let project: ProjectId = project
            .parse()
            .map_err(|err| DbError::Corrupt(format!("projects.id: {err}")))?;
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
            "DELETE FROM assets WHERE id = ?1 RETURNING ",
            asset_columns!()
        ))
        .bind(asset.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(DbError::from)?;
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

/// Writes `text` as the timeline of `project`, whose version is `current` (read under the write
/// lock), clearing the problems; returns the new version.
async fn write_timeline(
    conn: &mut SqliteConnection,
    project: &ProjectId,
    text: &str,
    current: i64,
) -> Result<i64, DbError> {
    let version: Option<i64> = sqlx::query_scalar(
        "UPDATE projects SET timeline = ?2, timeline_version = timeline_version + 1, \
                timeline_problems = NULL, updated_at = ?4 \
         WHERE id = ?1 AND timeline_version = ?3 \
         RETURNING timeline_version",
    )
    .bind(project.as_str())
    .bind(text)
    .bind(current)
    .bind(encode_timestamp(now())?)
    .fetch_optional(&mut *conn)
    .await?;
    // The write lock is held since the version was read, so it cannot have moved.
    version.ok_or_else(|| DbError::Corrupt(format!("projects.timeline_version of {project} moved")))
}
