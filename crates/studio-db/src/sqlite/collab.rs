//! [`CollabStore`](crate::CollabStore) on SQLite.
//!
//! Appends and snapshot writes run in one `BEGIN IMMEDIATE` transaction each, which holds the
//! database's write lock from its first statement: two snapshot writers run one after the other,
//! and the second reads the generation the first wrote. A load reads in one (deferred, read-only)
//! transaction, so under WAL its statements all see the same committed state.

use async_trait::async_trait;
use studio_core::ProjectId;

use super::{BEGIN_WRITE, SqliteStore, encode_timestamp};
use crate::DbError;
use crate::collab::{
    self, CollabSnapshot, CollabStore, LoggedUpdate, SnapshotWrite, StoredCollabDocument,
};
use crate::rows::now;

#[async_trait]
impl CollabStore for SqliteStore {
    async fn collab_load(&self, project: &ProjectId) -> Result<StoredCollabDocument, DbError> {
        // Reads only, so the deferred `BEGIN` never has to take the write lock.
        let mut tx = self.pool.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM projects WHERE id = ?1")
            .bind(project.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(DbError::NotFound);
        }
        let snapshot: Option<(Vec<u8>, i64)> =
            sqlx::query_as("SELECT state, generation FROM collab_snapshots WHERE project_id = ?1")
                .bind(project.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let updates: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, data FROM collab_updates WHERE project_id = ?1 ORDER BY seq",
        )
        .bind(project.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(StoredCollabDocument {
            snapshot: snapshot.map(|(state, generation)| CollabSnapshot { state, generation }),
            updates: updates.into_iter().map(collab::logged).collect(),
        })
    }

    async fn collab_log(&self, project: &ProjectId) -> Result<Vec<LoggedUpdate>, DbError> {
        let updates: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, data FROM collab_updates WHERE project_id = ?1 ORDER BY seq",
        )
        .bind(project.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(updates.into_iter().map(collab::logged).collect())
    }

    async fn collab_append(
        &self,
        project: &ProjectId,
        updates: &[Vec<u8>],
    ) -> Result<Vec<i64>, DbError> {
        if updates.is_empty() {
            // Nothing to write, but an unknown project is still `NotFound`.
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM projects WHERE id = ?1")
                .bind(project.as_str())
                .fetch_optional(&self.pool)
                .await?;
            return exists.map(|_| Vec::new()).ok_or(DbError::NotFound);
        }
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM projects WHERE id = ?1")
            .bind(project.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(DbError::NotFound);
        }
        // One prepared statement per row: in-process, a row costs no round trip, and unlike a
        // multi-row INSERT it has no parameter limit to mind and each row says its own `seq`.
        let mut seqs = Vec::with_capacity(updates.len());
        for update in updates {
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO collab_updates (project_id, data) VALUES (?1, ?2) RETURNING seq",
            )
            .bind(project.as_str())
            .bind(update.as_slice())
            .fetch_one(&mut *tx)
            .await?;
            seqs.push(seq);
        }
        tx.commit().await?;
        Ok(seqs)
    }

    async fn collab_snapshot(
        &self,
        project: &ProjectId,
        state: &[u8],
        covered: &[i64],
        base_generation: i64,
    ) -> Result<SnapshotWrite, DbError> {
        let covered = serde_json::to_string(covered)
            .map_err(|err| DbError::Other(sqlx::Error::Encode(err.into())))?;
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM projects WHERE id = ?1")
            .bind(project.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(DbError::NotFound);
        }
        // The write lock is held from here to the commit: the generation cannot move meanwhile.
        let current: Option<i64> =
            sqlx::query_scalar("SELECT generation FROM collab_snapshots WHERE project_id = ?1")
                .bind(project.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if current.unwrap_or(0) != base_generation {
            let current: Option<(Vec<u8>, i64)> = sqlx::query_as(
                "SELECT state, generation FROM collab_snapshots WHERE project_id = ?1",
            )
            .bind(project.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            return Ok(collab::stale(current));
        }
        let generation = collab::next_generation(project, base_generation)?;
        sqlx::query(
            "INSERT INTO collab_snapshots (project_id, state, generation, updated_at) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (project_id) DO UPDATE SET \
                 state = excluded.state, generation = excluded.generation, \
                 updated_at = excluded.updated_at",
        )
        .bind(project.as_str())
        .bind(state)
        .bind(generation)
        .bind(encode_timestamp(now())?)
        .execute(&mut *tx)
        .await?;
        // The covered entries as one JSON array (`json_each`): one parameter whatever the count.
        sqlx::query(
            "DELETE FROM collab_updates \
             WHERE project_id = ?1 AND seq IN (SELECT value FROM json_each(?2))",
        )
        .bind(project.as_str())
        .bind(covered)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SnapshotWrite::Written { generation })
    }

    async fn collab_set_problems(
        &self,
        project: &ProjectId,
        problems: Option<&str>,
    ) -> Result<(), DbError> {
        let updated = sqlx::query("UPDATE projects SET collab_problems = ?2 WHERE id = ?1")
            .bind(project.as_str())
            .bind(problems)
            .execute(&self.pool)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }
}
