//! What both backends do with rows once SQL has produced them: decode them into the
//! [`Store`](crate::Store) types, page project listings, and stamp writes (`now`, the default
//! plan).
//!
//! The two schemas have the same tables and columns and differ only in how a timestamp is
//! stored (RFC 3339 text in SQLite, `timestamptz` in PostgreSQL). So the row structs are generic
//! over the stored timestamp type, and each backend says how to read its own through
//! [`StoredTimestamp`]; everything else (ids, user ids, roles) is checked here, once, and a
//! value the code does not understand is [`DbError::Corrupt`] naming the column, never a panic.
//! Listings page the same way over the same `seq` column in both ([`ProjectPaging`]); only the
//! SQL around it is the backend's.

use std::str::FromStr;

use studio_core::{MemberRole, ProjectId, ProjectRole, UserId};
use time::OffsetDateTime;

use crate::{DbError, Member, NewProject, Page, PageCursor, ProjectRecord, ProjectWithRole};

/// The plan tier of users never seen (and the column default in both migrations).
pub(crate) const DEFAULT_PLAN: &str = "free";

/// The current time at microsecond precision, the precision both backends store (six fractional
/// digits in SQLite's text, `timestamptz` in PostgreSQL), so a record returned by a write equals
/// the record read back later.
pub(crate) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now - time::Duration::nanoseconds(i64::from(now.nanosecond() % 1_000))
}

/// The record a project inserted `at` reads back as, without reading it back.
pub(crate) fn created_project(new: NewProject, at: OffsetDateTime) -> ProjectRecord {
    ProjectRecord {
        id: new.id,
        owner_id: new.owner_id,
        name: new.name.as_str().to_owned(),
        created_at: at,
        updated_at: at,
    }
}

/// Keyset paging of project listings, newest first by `projects.seq` (insertion order), which
/// unlike an offset stays put while projects are added or deleted between pages.
///
/// A listing query selects the rows with `seq < before_seq`, `ORDER BY seq DESC`, `LIMIT fetch`,
/// and hands them to [`ProjectPaging::page`]. `fetch` is one row more than asked: whether that
/// extra row came back tells whether another page follows.
pub(crate) struct ProjectPaging {
    pub(crate) before_seq: i64,
    pub(crate) fetch: i64,
    limit: u32,
}

impl ProjectPaging {
    /// Paging that continues after `after` (from the newest project when `None`), `limit` items
    /// a page.
    pub(crate) fn new(after: Option<PageCursor>, limit: u32) -> Self {
        Self {
            before_seq: after.map_or(i64::MAX, |cursor| cursor.before_seq),
            fetch: i64::from(limit) + 1,
            limit,
        }
    }

    /// The page the listing query's rows make, with a cursor when more follow.
    pub(crate) fn page<T: StoredTimestamp>(
        self,
        mut rows: Vec<ProjectRoleRow<T>>,
    ) -> Result<Page<ProjectWithRole>, DbError> {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next = more.then(|| PageCursor {
            before_seq: rows.last().map_or(self.before_seq, |row| row.seq),
        });
        let items = rows
            .into_iter()
            .map(ProjectRoleRow::into_project_with_role)
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }
}

/// A timestamp column as a backend's driver hands it over, turned into an instant by the backend
/// that stored it.
pub(crate) trait StoredTimestamp {
    /// The instant; [`DbError::Corrupt`] naming `column` when the stored value is not one.
    fn decode(self, column: &str) -> Result<OffsetDateTime, DbError>;
}

/// `projects` columns as stored; `T` is the backend's timestamp type.
#[derive(sqlx::FromRow)]
pub(crate) struct ProjectRow<T> {
    id: String,
    owner_id: String,
    name: String,
    created_at: T,
    updated_at: T,
}

impl<T: StoredTimestamp> ProjectRow<T> {
    pub(crate) fn into_record(self) -> Result<ProjectRecord, DbError> {
        Ok(ProjectRecord {
            id: ProjectId::from_str(&self.id)
                .map_err(|err| DbError::Corrupt(format!("projects.id: {err}")))?,
            owner_id: UserId::parse(&self.owner_id)
                .map_err(|err| DbError::Corrupt(format!("projects.owner_id: {err}")))?,
            name: self.name,
            created_at: self.created_at.decode("projects.created_at")?,
            updated_at: self.updated_at.decode("projects.updated_at")?,
        })
    }
}

/// A project, its listing position and the asking user's role (`owner` or a member role).
#[derive(sqlx::FromRow)]
pub(crate) struct ProjectRoleRow<T> {
    /// Insertion order, what listings page by (see [`ProjectPaging`]).
    seq: i64,
    #[sqlx(flatten)]
    project: ProjectRow<T>,
    role: Option<String>,
}

impl<T: StoredTimestamp> ProjectRoleRow<T> {
    pub(crate) fn into_project_with_role(self) -> Result<ProjectWithRole, DbError> {
        let role = match self.role.as_deref() {
            Some("owner") => ProjectRole::Owner,
            Some(other) => member_role(other)?.into(),
            None => return Err(DbError::Corrupt("project_members.role: NULL".to_owned())),
        };
        Ok(ProjectWithRole {
            project: self.project.into_record()?,
            role,
        })
    }
}

/// `project_members` columns as stored; `T` is the backend's timestamp type.
#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow<T> {
    user_id: String,
    role: String,
    added_at: T,
}

impl<T: StoredTimestamp> MemberRow<T> {
    pub(crate) fn into_member(self) -> Result<Member, DbError> {
        Ok(Member {
            user_id: UserId::parse(&self.user_id)
                .map_err(|err| DbError::Corrupt(format!("project_members.user_id: {err}")))?,
            role: member_role(&self.role)?,
            added_at: self.added_at.decode("project_members.added_at")?,
        })
    }
}

/// A stored `project_members.role`.
fn member_role(stored: &str) -> Result<MemberRole, DbError> {
    MemberRole::from_db(stored)
        .ok_or_else(|| DbError::Corrupt(format!("project_members.role: {stored:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_microsecond_precise() {
        assert_eq!(now().nanosecond() % 1_000, 0);
    }

    #[test]
    fn unknown_roles_are_corrupt_not_panics() {
        assert!(matches!(member_role("emperor"), Err(DbError::Corrupt(_))));
        assert!(matches!(member_role("owner"), Err(DbError::Corrupt(_))));
    }
}
