//! Persistence for Studio Engine.
//!
//! Handlers and workers depend on the [`Store`] trait only; [`open`] picks the implementation from
//! the database URL (`sqlite:` for the embedded default, `postgres:` when scaled out). Each
//! backend has its own SQL and its own migrations (`migrations/sqlite`, `migrations/postgres`),
//! because the two dialects differ in types and locking and a lowest-common-denominator schema
//! would serve neither well.

mod error;
mod open;
mod postgres;
mod sqlite;
mod store;

pub use error::DbError;
pub use open::{MigrateMode, open};
pub use store::{
    Member, NewProject, Page, PageCursor, ProjectPatch, ProjectRecord, ProjectWithRole, Store,
};
