//! The PostgreSQL backend, for deployments that run several API or worker processes.
//!
//! Invariants:
//! - Every write touching more than one row runs in one transaction (READ COMMITTED); where a
//!   decision depends on a row that a concurrent transaction could change, the statement itself
//!   decides (`ON CONFLICT`, `RETURNING`, `FOR KEY SHARE`) rather than a separate read.
//! - SQL names no schema: tables, and sqlx's `_sqlx_migrations`, live in the first schema of the
//!   connection's `search_path` (settable in the URL: `?options=-c search_path=<schema>`).
//! - Timestamps are `timestamptz` (microseconds); the code writes microsecond-precise values, so
//!   what a write returns equals what a read returns later.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use studio_core::{MemberRole, ProjectId, UserId};
use time::OffsetDateTime;

use crate::migrations::{self, MigrationList};
use crate::rows::{self, DEFAULT_PLAN, ProjectPaging, StoredTimestamp, now};
use crate::{
    AssetRecord, DbError, Member, MigrateMode, NewProject, Page, PageCursor, ProjectPatch,
    ProjectRecord, ProjectWithRole, Store,
};

/// `AiUsageStore` for this backend.
mod ai_usage;
/// `ArchiveStore` for this backend.
mod archive;
/// `CollabStore` for this backend.
mod collab;
/// `MediaStore` for this backend.
mod media;
/// `QueueStore` for this backend.
mod queue;
/// `TimelineStore` for this backend.
mod timeline;

/// Rows as PostgreSQL hands them over: the driver decodes `timestamptz` itself.
type ProjectRow = rows::ProjectRow<OffsetDateTime>;
type ProjectRoleRow = rows::ProjectRoleRow<OffsetDateTime>;
type MemberRow = rows::MemberRow<OffsetDateTime>;

/// The migrations of `migrations/postgres`, embedded, as (version, description, SQL).
///
/// Listed by hand (see [`crate::migrations`] for why); a unit test below checks the list against
/// the directory.
const MIGRATIONS: MigrationList = &[
    (
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "media",
        include_str!("../migrations/postgres/0002_media.sql"),
    ),
    (
        3,
        "queue",
        include_str!("../migrations/postgres/0003_queue.sql"),
    ),
    (
        4,
        "asset outputs",
        include_str!("../migrations/postgres/0004_asset_outputs.sql"),
    ),
    (
        5,
        "job relay",
        include_str!("../migrations/postgres/0005_job_relay.sql"),
    ),
    (
        6,
        "timeline",
        include_str!("../migrations/postgres/0006_timeline.sql"),
    ),
    (
        7,
        "collab",
        include_str!("../migrations/postgres/0007_collab.sql"),
    ),
    (
        8,
        "ai usage",
        include_str!("../migrations/postgres/0008_ai_usage.sql"),
    ),
    (
        9,
        "asset archive",
        include_str!("../migrations/postgres/0009_asset_archive.sql"),
    ),
];

/// How long to wait for a connection (including establishing a new one) before failing: a
/// database that does not answer within this is down as far as a request is concerned.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per process: PostgreSQL's default `max_connections` is 100, shared by every API
/// and worker process.
const MAX_CONNECTIONS: u32 = 10;

/// How often `put_member` retries when a concurrent removal slips between its insert attempt
/// and its update; more than one retry means something odd is going on.
const PUT_MEMBER_ATTEMPTS: usize = 3;

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub(crate) struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database named by a `postgres://` URL and applies pending migrations when
    /// asked.
    pub(crate) async fn open(url: &str, migrate: MigrateMode) -> Result<Self, DbError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|err| DbError::Config(format!("invalid PostgreSQL URL: {err}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await?;
        if migrate == MigrateMode::Apply {
            migrations::migrator(MIGRATIONS).run(&pool).await?;
        }
        tracing::info!(db.backend = "postgres", db.migrate = ?migrate, "database opened");
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn ensure_user(&self, user: &UserId) -> Result<(), DbError> {
        sqlx::query("INSERT INTO users (id) VALUES ($1) ON CONFLICT (id) DO NOTHING")
            .bind(user.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn user_plan(&self, user: &UserId) -> Result<String, DbError> {
        let plan: Option<String> = sqlx::query_scalar("SELECT plan FROM users WHERE id = $1")
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(plan.unwrap_or_else(|| DEFAULT_PLAN.to_owned()))
    }

    async fn create_project(&self, new: NewProject) -> Result<ProjectRecord, DbError> {
        let now = now();
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO users (id) VALUES ($1) ON CONFLICT (id) DO NOTHING")
            .bind(new.owner_id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO projects (id, owner_id, name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(new.id.as_str())
        .bind(new.owner_id.as_str())
        .bind(new.name.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows::created_project(new, now))
    }

    async fn project_for_user(
        &self,
        project: &ProjectId,
        user: &UserId,
    ) -> Result<Option<ProjectWithRole>, DbError> {
        let row: Option<ProjectRoleRow> = sqlx::query_as(
            "SELECT p.seq, p.id, p.owner_id, p.name, p.created_at, p.updated_at, \
                    CASE WHEN p.owner_id = $2 THEN 'owner' ELSE m.role END AS role \
             FROM projects p \
             LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = $2 \
             WHERE p.id = $1 AND (p.owner_id = $2 OR m.user_id IS NOT NULL)",
        )
        .bind(project.as_str())
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(ProjectRoleRow::into_project_with_role).transpose()
    }

    async fn list_projects_for_user(
        &self,
        user: &UserId,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<ProjectWithRole>, DbError> {
        let paging = ProjectPaging::new(after, limit);
        let rows: Vec<ProjectRoleRow> = sqlx::query_as(
            "SELECT seq, id, owner_id, name, created_at, updated_at, role FROM ( \
                 SELECT p.seq, p.id, p.owner_id, p.name, p.created_at, p.updated_at, \
                        'owner' AS role \
                 FROM projects p \
                 WHERE p.owner_id = $1 AND p.seq < $2 \
                 UNION ALL \
                 SELECT p.seq, p.id, p.owner_id, p.name, p.created_at, p.updated_at, m.role \
                 FROM project_members m JOIN projects p ON p.id = m.project_id \
                 WHERE m.user_id = $1 AND p.owner_id <> $1 AND p.seq < $2 \
             ) AS visible \
             ORDER BY seq DESC \
             LIMIT $3",
        )
        .bind(user.as_str())
        .bind(paging.before_seq)
        .bind(paging.fetch)
        .fetch_all(&self.pool)
        .await?;
        paging.page(rows)
    }

    async fn update_project(
        &self,
        project: &ProjectId,
        patch: ProjectPatch,
    ) -> Result<ProjectRecord, DbError> {
        let row: Option<ProjectRow> = sqlx::query_as(
            "UPDATE projects SET name = COALESCE($2, name), updated_at = $3 \
             WHERE id = $1 \
             RETURNING id, owner_id, name, created_at, updated_at",
        )
        .bind(project.as_str())
        .bind(patch.name.as_ref().map(|name| name.as_str()))
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        row.ok_or(DbError::NotFound)?.into_record()
    }

    async fn delete_project(&self, project: &ProjectId) -> Result<Vec<AssetRecord>, DbError> {
        let mut tx = self.pool.begin().await?;
        // Locking the row first waits for upload intents in flight (they hold it `FOR KEY
        // SHARE`) and turns later ones away, so no asset appears between the two deletes.
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM projects WHERE id = $1 FOR UPDATE")
                .bind(project.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(DbError::NotFound);
        }
        // Assets first (their foreign key is RESTRICT), giving their bytes back to their owners.
        let assets = media::delete_project_assets(&mut tx, project).await?;
        // Memberships and the collaborative document (`collab_*`) go with it through `ON DELETE
        // CASCADE`.
        sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(project.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(assets)
    }

    async fn list_members(&self, project: &ProjectId) -> Result<Vec<Member>, DbError> {
        // `user_id` only breaks ties between members added in the same microsecond.
        let rows: Vec<MemberRow> = sqlx::query_as(
            "SELECT user_id, role, added_at FROM project_members \
             WHERE project_id = $1 ORDER BY added_at, user_id",
        )
        .bind(project.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(MemberRow::into_member).collect()
    }

    async fn put_member(
        &self,
        project: &ProjectId,
        user: &UserId,
        role: MemberRole,
    ) -> Result<(Member, bool), DbError> {
        let mut tx = self.pool.begin().await?;
        // KEY SHARE keeps the project from being deleted until we commit, so the membership
        // cannot dangle; it does not block renames.
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM projects WHERE id = $1 FOR KEY SHARE")
                .bind(project.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(DbError::NotFound);
        }
        sqlx::query("INSERT INTO users (id) VALUES ($1) ON CONFLICT (id) DO NOTHING")
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;

        let added_at = now();
        for _ in 0..PUT_MEMBER_ATTEMPTS {
            // The insert waits for any concurrent insert of the same member, so exactly one of
            // two racing calls reports `created`.
            let inserted: Option<OffsetDateTime> = sqlx::query_scalar(
                "INSERT INTO project_members (project_id, user_id, role, added_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (project_id, user_id) DO NOTHING \
                 RETURNING added_at",
            )
            .bind(project.as_str())
            .bind(user.as_str())
            .bind(role.as_str())
            .bind(added_at)
            .fetch_optional(&mut *tx)
            .await?;
            let found = match inserted {
                Some(added_at) => Some((added_at, true)),
                None => sqlx::query_scalar(
                    "UPDATE project_members SET role = $3 \
                     WHERE project_id = $1 AND user_id = $2 \
                     RETURNING added_at",
                )
                .bind(project.as_str())
                .bind(user.as_str())
                .bind(role.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .map(|added_at| (added_at, false)),
            };
            // `None`: the member was removed between the two statements; try again.
            if let Some((added_at, created)) = found {
                tx.commit().await?;
                let member = Member {
                    user_id: user.clone(),
                    role,
                    added_at,
                };
                return Ok((member, created));
            }
        }
        Err(DbError::Conflict {
            constraint: "project_members_pkey".to_owned(),
        })
    }

    async fn remove_member(&self, project: &ProjectId, user: &UserId) -> Result<(), DbError> {
        let done =
            sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
                .bind(project.as_str())
                .bind(user.as_str())
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }
}

/// `timestamptz` arrives as an instant already: a value the driver cannot decode fails in the
/// driver (as [`DbError::Other`]) before a row is built.
impl StoredTimestamp for OffsetDateTime {
    fn decode(self, _column: &str) -> Result<OffsetDateTime, DbError> {
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded() {
        migrations::assert_embeds_every_file(MIGRATIONS, "migrations/postgres");
    }
}
