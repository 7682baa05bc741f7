//! The one error type of the persistence layer, backend-neutral so callers never match on
//! driver errors.

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness or foreign-key constraint refused the write; `constraint` is its name.
    #[error("conflict on {constraint}")]
    Conflict { constraint: String },
    /// The database URL or options are unusable.
    #[error("invalid database configuration: {0}")]
    Config(String),
    /// A row held a value the code does not understand (a corrupted or newer database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Anything else from the driver: connection lost, timeout, syntax error.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) if db.constraint().is_some() => Self::Conflict {
                constraint: db.constraint().unwrap_or_default().to_owned(),
            },
            other => Self::Other(other),
        }
    }
}
