//! The persistence port: what the rest of Studio Engine may ask of a database.
//!
//! Every method is one logical operation and runs in one transaction where it writes more than
//! one row, so callers never see half a change.

use async_trait::async_trait;
use studio_core::{MemberRole, ProjectId, ProjectName, ProjectRole, UserId};
use time::OffsetDateTime;

use crate::DbError;

/// A project row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRecord {
    pub id: ProjectId,
    pub owner_id: UserId,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A project together with the role the asking user has in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectWithRole {
    pub project: ProjectRecord,
    pub role: ProjectRole,
}

/// What is needed to create a project.
#[derive(Debug, Clone)]
pub struct NewProject {
    pub id: ProjectId,
    pub owner_id: UserId,
    pub name: ProjectName,
}

/// A partial update of a project; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    pub name: Option<ProjectName>,
}

/// An explicit member of a project (the owner is not one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: UserId,
    pub role: MemberRole,
    pub added_at: OffsetDateTime,
}

/// Where a listing continues: opaque to clients (see [`PageCursor::encode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    /// The insertion sequence number of the last item already returned; the next page holds the
    /// items with a smaller one (listings run newest first).
    pub(crate) before_seq: i64,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when more items may follow.
    pub next: Option<PageCursor>,
}

const CURSOR_PREFIX: &str = "v1:";

impl PageCursor {
    /// The cursor as a URL-safe token. Versioned so the format can change without
    /// misreading old tokens.
    pub fn encode(self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{CURSOR_PREFIX}{}", self.before_seq))
    }

    /// Reads a token made by [`PageCursor::encode`]; `None` when it is not one.
    pub fn decode(token: &str) -> Option<Self> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        let text = std::str::from_utf8(&raw).ok()?;
        let before_seq = text.strip_prefix(CURSOR_PREFIX)?.parse().ok()?;
        Some(Self { before_seq })
    }
}

/// The persistence port. Implementations: SQLite (embedded default) and PostgreSQL. The media
/// methods are in [`crate::MediaStore`], the job queue's in [`crate::QueueStore`], the
/// timeline's in [`crate::TimelineStore`] and the collaborative documents' in
/// [`crate::CollabStore`], supertraits, so one `Arc<dyn Store>` reaches all.
#[async_trait]
pub trait Store:
    crate::AiUsageStore
    + crate::ArchiveStore
    + crate::CollabStore
    + crate::MediaStore
    + crate::QueueStore
    + crate::TimelineStore
{
    /// Which backend this is (`sqlite` or `postgres`), for logs and `/ready`.
    fn backend(&self) -> &'static str;

    /// Runs a trivial query: is the database there and answering?
    async fn ping(&self) -> Result<(), DbError>;

    /// Creates the user row on first sight (plan tier `free`); does nothing if it exists.
    async fn ensure_user(&self, user: &UserId) -> Result<(), DbError>;

    /// The plan tier of a user (`free` for users never seen).
    async fn user_plan(&self, user: &UserId) -> Result<String, DbError>;

    /// Creates a project owned by `new.owner_id` (creating the owner's user row if needed).
    async fn create_project(&self, new: NewProject) -> Result<ProjectRecord, DbError>;

    /// The project and `user`'s role in it; `None` when the project does not exist **or** the
    /// user has no access (callers must not be able to tell the two apart).
    async fn project_for_user(
        &self,
        project: &ProjectId,
        user: &UserId,
    ) -> Result<Option<ProjectWithRole>, DbError>;

    /// Projects `user` owns or is a member of, newest first.
    async fn list_projects_for_user(
        &self,
        user: &UserId,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<Page<ProjectWithRole>, DbError>;

    /// Applies a patch and bumps `updated_at`. `NotFound` if the project is gone.
    async fn update_project(
        &self,
        project: &ProjectId,
        patch: ProjectPatch,
    ) -> Result<ProjectRecord, DbError>;

    /// In one transaction: deletes the project's assets, giving each one's bytes back to its
    /// owner's usage (a pending intent's reservation, a confirmed upload's used bytes), then the
    /// project, its memberships and its collaborative document (snapshot and log). Returns the
    /// deleted asset rows, oldest first, so the caller can delete their objects from storage.
    /// `NotFound` if the project was already gone.
    async fn delete_project(&self, project: &ProjectId)
    -> Result<Vec<crate::AssetRecord>, DbError>;

    /// The explicit members of a project, in the order they were added.
    async fn list_members(&self, project: &ProjectId) -> Result<Vec<Member>, DbError>;

    /// Adds `user` with `role`, or changes the role of an existing member (creating the user row
    /// if needed). Returns the member and whether it was newly added.
    async fn put_member(
        &self,
        project: &ProjectId,
        user: &UserId,
        role: MemberRole,
    ) -> Result<(Member, bool), DbError>;

    /// Removes a member. `NotFound` if `user` was not a member.
    async fn remove_member(&self, project: &ProjectId, user: &UserId) -> Result<(), DbError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = PageCursor { before_seq: 42 };
        assert_eq!(PageCursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "!!", "djE6", "eHl6", "djE6YWJj"] {
            assert_eq!(PageCursor::decode(bad), None, "{bad:?}");
        }
    }
}
