//! Studio Engine's domain vocabulary: typed ids, users, project roles and the rules that go with
//! them. This crate does no IO and depends on no other crate of ours, so every other crate (and
//! the tests) can share these types without pulling a database or HTTP stack along.

pub mod ids;
pub mod media;
pub mod project;
pub mod role;
pub mod timeline;
pub mod user;

pub use ids::{AssetId, IdParseError, JobId, ProjectId};
pub use media::{AssetKind, AssetStatus, MultipartPlan, PlanLimits};
pub use project::{ProjectName, ProjectNameError};
pub use role::{MemberRole, ProjectRole};
pub use user::{UserId, UserIdError};
