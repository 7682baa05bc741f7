//! Picks and opens the backend named by a database URL.

use std::sync::Arc;

use crate::{DbError, Store, postgres::PgStore, sqlite::SqliteStore};

/// Whether [`open`] applies pending migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrateMode {
    /// Apply pending migrations before returning (embedded default, `studio migrate`).
    Apply,
    /// Leave the schema alone (scaled out: migrations are an explicit deploy step).
    Skip,
}

/// Opens the store named by `url`: `sqlite:` / `sqlite://` URLs open (creating if needed) a SQLite
/// file in WAL mode, `postgres://` / `postgresql://` URLs a PostgreSQL pool.
pub async fn open(url: &str, migrate: MigrateMode) -> Result<Arc<dyn Store>, DbError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url, migrate).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url, migrate).await?))
    } else {
        Err(DbError::Config(
            "database URL must start with sqlite: or postgres://".to_owned(),
        ))
    }
}
