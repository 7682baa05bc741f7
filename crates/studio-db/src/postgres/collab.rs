//! [`CollabStore`](crate::CollabStore) on PostgreSQL.
//!
//! Transactions run at READ COMMITTED, so a snapshot write starts by locking the project row
//! `FOR NO KEY UPDATE`: a concurrent writer waits for it and then reads the generation it
//! committed, so of two writers on the same base exactly one succeeds. Appends hold the row
//! `FOR KEY SHARE` instead, which keeps the project from being deleted under them but waits for
//! nobody else: appends run alongside each other and alongside a snapshot write. The project row
//! is the first (and only explicit) lock either takes, as everywhere in the crate, so these never
//! deadlock with `media.rs` or `timeline.rs`.
//!
//! A load reads in one REPEATABLE READ transaction, so the snapshot and the log it returns are
//! of the same moment even though they take two statements.

use async_trait::async_trait;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use studio_core::ProjectId;

use super::PgStore;
use crate::DbError;
use crate::collab::{
    self, CollabSnapshot, CollabStore, LoggedUpdate, SnapshotWrite, StoredCollabDocument,
};
use crate::rows::now;

/// Rows per INSERT when appending: two parameters each, far below PostgreSQL's 65535, and a
/// bounded statement however many updates a call brings.
const APPEND_CHUNK: usize = 500;

/// A read-only transaction whose statements all see one snapshot of the database (at READ
/// COMMITTED each statement would take its own). Read-only transactions never fail to serialize.
const BEGIN_CONSISTENT_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

#[async_trait]
impl CollabStore for PgStore {
    async fn collab_load(&self, project: &ProjectId) -> Result<StoredCollabDocument, DbError> {
        let mut tx = self.pool.begin_with(BEGIN_CONSISTENT_READ).await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM projects WHERE id = $1")
            .bind(project.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(DbError::NotFound);
        }
        let snapshot: Option<(Vec<u8>, i64)> =
            sqlx::query_as("SELECT state, generation FROM collab_snapshots WHERE project_id = $1")
                .bind(project.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let updates: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, data FROM collab_updates WHERE project_id = $1 ORDER BY seq",
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
            "SELECT seq, data FROM collab_updates WHERE project_id = $1 ORDER BY seq",
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
            let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM projects WHERE id = $1")
                .bind(project.as_str())
                .fetch_optional(&self.pool)
                .await?;
            return exists.map(|_| Vec::new()).ok_or(DbError::NotFound);
        }
        let mut tx = self.pool.begin().await?;
        // KEY SHARE keeps the project from being deleted until we commit (so the inserts cannot
        // fail on the foreign key); it blocks neither other appends nor snapshot writes.
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM projects WHERE id = $1 FOR KEY SHARE")
                .bind(project.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(DbError::NotFound);
        }
        let mut seqs = Vec::with_capacity(updates.len());
        for chunk in updates.chunks(APPEND_CHUNK) {
            seqs.extend(insert_updates(&mut tx, project, chunk).await?);
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
        let mut tx = self.pool.begin().await?;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM projects WHERE id = $1 FOR NO KEY UPDATE")
                .bind(project.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(DbError::NotFound);
        }
        // Read after the lock: a snapshot write that held it has committed by now, and no other
        // can start until we commit.
        let current: Option<i64> =
            sqlx::query_scalar("SELECT generation FROM collab_snapshots WHERE project_id = $1")
                .bind(project.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if current.unwrap_or(0) != base_generation {
            let current: Option<(Vec<u8>, i64)> = sqlx::query_as(
                "SELECT state, generation FROM collab_snapshots WHERE project_id = $1",
            )
            .bind(project.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            return Ok(collab::stale(current));
        }
        let generation = collab::next_generation(project, base_generation)?;
        sqlx::query(
            "INSERT INTO collab_snapshots (project_id, state, generation, updated_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (project_id) DO UPDATE SET \
                 state = excluded.state, generation = excluded.generation, \
                 updated_at = excluded.updated_at",
        )
        .bind(project.as_str())
        .bind(state)
        .bind(generation)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM collab_updates WHERE project_id = $1 AND seq = ANY($2)")
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
        let updated = sqlx::query("UPDATE projects SET collab_problems = $2 WHERE id = $1")
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

/// Inserts `updates` (at most [`APPEND_CHUNK`]) into the log of `project` in one statement;
/// returns their sequence numbers, in the order of `updates`.
async fn insert_updates(
    conn: &mut PgConnection,
    project: &ProjectId,
    updates: &[Vec<u8>],
) -> Result<Vec<i64>, DbError> {
    let mut insert: QueryBuilder<Postgres> =
        QueryBuilder::new("INSERT INTO collab_updates (project_id, data) ");
    insert.push_values(updates, |mut row, update| {
        row.push_bind(project.as_str()).push_bind(update.as_slice());
    });
    insert.push(" RETURNING seq");
    let mut seqs: Vec<i64> = insert.build_query_scalar().fetch_all(&mut *conn).await?;
    // The identity is drawn row by row in VALUES order, but RETURNING promises no order: sorted,
    // the i-th is the i-th row's.
    seqs.sort_unstable();
    Ok(seqs)
}
