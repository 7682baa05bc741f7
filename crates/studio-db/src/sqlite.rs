//! The SQLite backend: the embedded default, one database file in WAL mode.
//!
//! Invariants:
//! - Every write touching more than one row runs in one `BEGIN IMMEDIATE` transaction; every
//!   other write is a single statement (which SQLite also runs with the write lock taken up
//!   front). So no transaction ever has to upgrade a read lock to a write lock, the one case of
//!   `SQLITE_BUSY` that the busy timeout cannot wait out.
//! - Timestamps are stored as RFC 3339 text in UTC with exactly six fractional digits (see
//!   [`TIMESTAMP_FORMAT`]): they sort as text and read back into the very same instant.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use studio_core::{MemberRole, ProjectId, UserId};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

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

/// Rows as SQLite hands them over: timestamps are text (see [`TIMESTAMP_FORMAT`]).
type ProjectRow = rows::ProjectRow<String>;
type ProjectRoleRow = rows::ProjectRoleRow<String>;
type MemberRow = rows::MemberRow<String>;

/// The migrations of `migrations/sqlite`, embedded, as (version, description, SQL).
///
/// Listed by hand (see [`crate::migrations`] for why); a unit test below checks the list against
/// the directory.
const MIGRATIONS: MigrationList = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "media",
        include_str!("../migrations/sqlite/0002_media.sql"),
    ),
    (
        3,
        "queue",
        include_str!("../migrations/sqlite/0003_queue.sql"),
    ),
    (
        4,
        "asset outputs",
        include_str!("../migrations/sqlite/0004_asset_outputs.sql"),
    ),
    (
        5,
        "job relay",
        include_str!("../migrations/sqlite/0005_job_relay.sql"),
    ),
    (
        6,
        "timeline",
        include_str!("../migrations/sqlite/0006_timeline.sql"),
    ),
    (
        7,
        "collab",
        include_str!("../migrations/sqlite/0007_collab.sql"),
    ),
    (
        8,
        "ai usage",
        include_str!("../migrations/sqlite/0008_ai_usage.sql"),
    ),
    (
        9,
        "asset archive",
        include_str!("../migrations/sqlite/0009_asset_archive.sql"),
    ),
];

/// How long a connection waits for another connection's write lock before giving up with
/// `SQLITE_BUSY`: far longer than any of our write transactions, short enough that a stuck
/// writer surfaces as an error rather than a hang.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Pool size. SQLite has one writer at a time whatever the pool size; a few connections let
/// readers proceed alongside the writer under WAL.
const MAX_CONNECTIONS: u32 = 8;

/// Starts a write transaction holding the write lock from the start (see the module invariants).
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// The stored form of every timestamp: fixed width, so text order is time order.
const TIMESTAMP_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed, parent directory included) the database named by a `sqlite:`
    /// URL, and applies pending migrations when asked.
    pub(crate) async fn open(url: &str, migrate: MigrateMode) -> Result<Self, DbError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|err| DbError::Config(format!("invalid SQLite URL: {err}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL loses at most the last transactions on power loss, never
            // consistency, and spares an fsync per commit.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        // In-memory databases have no file; their generated name has no directory part either,
        // but `mode=memory` may sit next to a path that must not be created.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if let Some(dir) = options.get_filename().parent()
            && !in_memory
            && !dir.as_os_str().is_empty()
        {
            tokio::fs::create_dir_all(dir).await.map_err(|err| {
                DbError::Config(format!(
                    "cannot create the directory of the SQLite database: {err}"
                ))
            })?;
        }

        let mut pool_options = SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS);
        if in_memory {
            // An in-memory database vanishes with its last connection: keep one open for the
            // life of the pool.
            pool_options = pool_options
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = pool_options.connect_with(options).await?;
        if migrate == MigrateMode::Apply {
            migrations::migrator(MIGRATIONS).run(&pool).await?;
        }
        tracing::info!(db.backend = "sqlite", db.migrate = ?migrate, "database opened");
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn ensure_user(&self, user: &UserId) -> Result<(), DbError> {
        sqlx::query("INSERT INTO users (id) VALUES (?1) ON CONFLICT (id) DO NOTHING")
            .bind(user.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn user_plan(&self, user: &UserId) -> Result<String, DbError> {
        let plan: Option<String> = sqlx::query_scalar("SELECT plan FROM users WHERE id = ?1")
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(plan.unwrap_or_else(|| DEFAULT_PLAN.to_owned()))
    }

    async fn create_project(&self, new: NewProject) -> Result<ProjectRecord, DbError> {
        let now = now();
        let stamp = encode_timestamp(now)?;
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        sqlx::query("INSERT INTO users (id) VALUES (?1) ON CONFLICT (id) DO NOTHING")
            .bind(new.owner_id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO projects (id, owner_id, name, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?4)",
        )
        .bind(new.id.as_str())
        .bind(new.owner_id.as_str())
        .bind(new.name.as_str())
        .bind(&stamp)
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
                    CASE WHEN p.owner_id = ?2 THEN 'owner' ELSE m.role END AS role \
             FROM projects p \
             LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = ?2 \
             WHERE p.id = ?1 AND (p.owner_id = ?2 OR m.user_id IS NOT NULL)",
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
                 WHERE p.owner_id = ?1 AND p.seq < ?2 \
                 UNION ALL \
                 SELECT p.seq, p.id, p.owner_id, p.name, p.created_at, p.updated_at, m.role \
                 FROM project_members m JOIN projects p ON p.id = m.project_id \
                 WHERE m.user_id = ?1 AND p.owner_id <> ?1 AND p.seq < ?2 \
             ) \
             ORDER BY seq DESC \
             LIMIT ?3",
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
            "UPDATE projects SET name = COALESCE(?2, name), updated_at = ?3 \
             WHERE id = ?1 \
             RETURNING id, owner_id, name, created_at, updated_at",
        )
        .bind(project.as_str())
        .bind(patch.name.as_ref().map(|name| name.as_str()))
        .bind(encode_timestamp(now())?)
        .fetch_optional(&self.pool)
        .await?;
        row.ok_or(DbError::NotFound)?.into_record()
    }

    async fn delete_project(&self, project: &ProjectId) -> Result<Vec<AssetRecord>, DbError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        // Assets first (their foreign key is RESTRICT), giving their bytes back to their owners.
        let assets = media::delete_project_assets(&mut tx, project).await?;
        // Memberships and the collaborative document (`collab_*`) go with it: `ON DELETE
        // CASCADE`, enforced because `foreign_keys` is on.
        let done = sqlx::query("DELETE FROM projects WHERE id = ?1")
            .bind(project.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        tx.commit().await?;
        Ok(assets)
    }

    async fn list_members(&self, project: &ProjectId) -> Result<Vec<Member>, DbError> {
        // The rowid grows with each insert, so it is the order members were added in even when
        // two share a timestamp.
        let rows: Vec<MemberRow> = sqlx::query_as(
            "SELECT user_id, role, added_at FROM project_members \
             WHERE project_id = ?1 ORDER BY added_at, rowid",
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
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM projects WHERE id = ?1")
            .bind(project.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(DbError::NotFound);
        }
        sqlx::query("INSERT INTO users (id) VALUES (?1) ON CONFLICT (id) DO NOTHING")
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
        // The write lock is held, so "insert, else update" cannot race with another writer.
        let inserted: Option<String> = sqlx::query_scalar(
            "INSERT INTO project_members (project_id, user_id, role, added_at) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (project_id, user_id) DO NOTHING \
             RETURNING added_at",
        )
        .bind(project.as_str())
        .bind(user.as_str())
        .bind(role.as_str())
        .bind(encode_timestamp(now())?)
        .fetch_optional(&mut *tx)
        .await?;
        let (added_at, created) = match inserted {
            Some(added_at) => (added_at, true),
            None => {
                let added_at: String = sqlx::query_scalar(
                    "UPDATE project_members SET role = ?3 \
                     WHERE project_id = ?1 AND user_id = ?2 \
                     RETURNING added_at",
                )
                .bind(project.as_str())
                .bind(user.as_str())
                .bind(role.as_str())
                .fetch_one(&mut *tx)
                .await?;
                (added_at, false)
            }
        };
        tx.commit().await?;
        let member = Member {
            user_id: user.clone(),
            role,
            added_at: decode_timestamp("project_members.added_at", &added_at)?,
        };
        Ok((member, created))
    }

    async fn remove_member(&self, project: &ProjectId, user: &UserId) -> Result<(), DbError> {
        let done =
            sqlx::query("DELETE FROM project_members WHERE project_id = ?1 AND user_id = ?2")
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

fn encode_timestamp(at: OffsetDateTime) -> Result<String, DbError> {
    at.to_offset(time::UtcOffset::UTC)
        .format(TIMESTAMP_FORMAT)
        .map_err(|err| DbError::Other(sqlx::Error::Encode(err.into())))
}

/// Parses a stored timestamp; anything but RFC 3339 means the row is corrupt. (Parsing RFC 3339
/// rather than only [`TIMESTAMP_FORMAT`] keeps rows written by hand readable.)
fn decode_timestamp(column: &str, stored: &str) -> Result<OffsetDateTime, DbError> {
    OffsetDateTime::parse(stored, &Rfc3339)
        .map_err(|err| DbError::Corrupt(format!("{column}: {err}")))
}

/// Timestamps come back as the text they were stored as.
impl StoredTimestamp for String {
    fn decode(self, column: &str) -> Result<OffsetDateTime, DbError> {
        decode_timestamp(column, &self)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn timestamps_round_trip_through_the_stored_form() {
        let at = datetime!(2024-05-06 09:08:07.123456 +02:00);
        let stored = encode_timestamp(at).unwrap();
        assert_eq!(stored, "2024-05-06T07:08:07.123456Z");
        assert_eq!(decode_timestamp("t", &stored).unwrap(), at);

        let whole = datetime!(2024-05-06 07:08:07 UTC);
        assert_eq!(
            encode_timestamp(whole).unwrap(),
            "2024-05-06T07:08:07.000000Z"
        );
    }

    #[test]
    fn stored_timestamps_sort_as_text() {
        let earlier = encode_timestamp(datetime!(2024-05-06 07:08:07 UTC)).unwrap();
        let later = encode_timestamp(datetime!(2024-05-06 07:08:07.5 UTC)).unwrap();
        assert!(earlier < later);
    }

    #[test]
    fn every_migration_file_is_embedded() {
        migrations::assert_embeds_every_file(MIGRATIONS, "migrations/sqlite");
    }

    #[test]
    fn garbage_timestamps_are_corrupt_not_panics() {
        assert!(matches!(
            decode_timestamp("t", "yesterday"),
            Err(DbError::Corrupt(_))
        ));
    }
}
