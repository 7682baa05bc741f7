//! [`AiUsageStore`](crate::AiUsageStore) on SQLite.

use async_trait::async_trait;
use studio_core::UserId;
use time::Date;

use super::SqliteStore;
use crate::DbError;
use crate::ai_usage::{AiUsage, AiUsageStore, day_key, from_row, to_i64};

#[async_trait]
impl AiUsageStore for SqliteStore {
    async fn ai_usage_add(&self, user: &UserId, day: Date, usage: AiUsage) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO ai_usage (user_id, day, requests, input_tokens, output_tokens, speech_characters)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (user_id, day) DO UPDATE SET
               requests = requests + excluded.requests,
               input_tokens = input_tokens + excluded.input_tokens,
               output_tokens = output_tokens + excluded.output_tokens,
               speech_characters = speech_characters + excluded.speech_characters",
        )
        .bind(user.as_str())
        .bind(day_key(day))
        .bind(to_i64(usage.requests))
        .bind(to_i64(usage.input_tokens))
        .bind(to_i64(usage.output_tokens))
        .bind(to_i64(usage.speech_characters))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn ai_usage_day(&self, user: &UserId, day: Date) -> Result<AiUsage, DbError> {
        let row: Option<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT requests, input_tokens, output_tokens, speech_characters
             FROM ai_usage WHERE user_id = ?1 AND day = ?2",
        )
        .bind(user.as_str())
        .bind(day_key(day))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(from_row).unwrap_or_default())
    }
}
