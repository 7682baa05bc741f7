//! Who may do what in a project.
//!
//! The owner is implicit (the `owner_id` of the project); everybody else is an explicit member
//! with a [`MemberRole`]. Handlers never compare roles by hand: they ask [`ProjectRole::can_write`]
//! and [`ProjectRole::can_manage`], so the rules live here once.

use serde::{Deserialize, Serialize};

/// The role a member can be given. The owner is not a member role: ownership is a property of
/// the project and cannot be granted through the members API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    /// Reads and writes the project's content.
    Editor,
    /// Reads only.
    Viewer,
}

impl MemberRole {
    /// The role as stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }

    /// Parses the stored form; `None` for anything else.
    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "editor" => Some(Self::Editor),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }
}

/// The role a given user has in a given project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProjectRole {
    /// Created the project: may do everything, including deleting it and managing members.
    Owner,
    /// Reads and writes the project's content.
    Editor,
    /// Reads only.
    Viewer,
}

impl ProjectRole {
    /// May change the project's content (name, timeline, media).
    pub fn can_write(self) -> bool {
        matches!(self, Self::Owner | Self::Editor)
    }

    /// May delete the project and add, change or remove members.
    pub fn can_manage(self) -> bool {
        matches!(self, Self::Owner)
    }
}

impl From<MemberRole> for ProjectRole {
    fn from(role: MemberRole) -> Self {
        match role {
            MemberRole::Editor => Self::Editor,
            MemberRole::Viewer => Self::Viewer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_follow_the_role() {
        assert!(ProjectRole::Owner.can_write() && ProjectRole::Owner.can_manage());
        assert!(ProjectRole::Editor.can_write() && !ProjectRole::Editor.can_manage());
        assert!(!ProjectRole::Viewer.can_write() && !ProjectRole::Viewer.can_manage());
    }

    #[test]
    fn member_roles_round_trip_through_the_database_form() {
        for role in [MemberRole::Editor, MemberRole::Viewer] {
            assert_eq!(MemberRole::from_db(role.as_str()), Some(role));
        }
        assert_eq!(MemberRole::from_db("owner"), None);
    }
}
