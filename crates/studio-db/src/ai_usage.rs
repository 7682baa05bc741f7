//! The AI half of the persistence port: what each user spent on AI providers per UTC day, the
//! counter the daily limits are checked against and `GET /api/me` reports.
//!
//! Kept in the database, not in memory or Redis: it is accounting, it must survive restarts and
//! be the same on every node. One row per user and day; a call adds to it with one upsert.

use async_trait::async_trait;
use studio_core::UserId;
use time::Date;

use crate::DbError;

/// What one user spent on one day (or what one call adds to it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AiUsage {
    /// Calls that reached a provider (cache hits and coalesced followers are not counted).
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Text-to-speech characters billed.
    pub speech_characters: u64,
}

impl AiUsage {
    pub fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// AI spending per user and day.
#[async_trait]
pub trait AiUsageStore: Send + Sync + 'static {
    /// Adds `usage` to `user`'s row for `day` (creating it).
    async fn ai_usage_add(&self, user: &UserId, day: Date, usage: AiUsage) -> Result<(), DbError>;

    /// What `user` spent on `day` (zeros when nothing).
    async fn ai_usage_day(&self, user: &UserId, day: Date) -> Result<AiUsage, DbError>;
}

/// The stored form of a day: ISO 8601 (`2026-11-28`), which sorts and compares as text.
pub(crate) fn day_key(day: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// Counters are BIGINT columns; saturate rather than wrap on absurd values.
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn from_row(row: (i64, i64, i64, i64)) -> AiUsage {
    let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
    AiUsage {
        requests: unsigned(row.0),
        input_tokens: unsigned(row.1),
        output_tokens: unsigned(row.2),
        speech_characters: unsigned(row.3),
    }
}
