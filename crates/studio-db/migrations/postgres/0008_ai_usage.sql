-- AI spending per user and UTC day (see src/ai_usage.rs): what the daily token and speech
-- character limits are checked against. Not tied to `users` by a foreign key: accounting must
-- never fail because a user row does not exist yet. `day` is ISO 8601 text (`2026-11-28`).
CREATE TABLE ai_usage (
    user_id           TEXT NOT NULL,
    day               TEXT NOT NULL,
    requests          BIGINT NOT NULL DEFAULT 0,
    input_tokens      BIGINT NOT NULL DEFAULT 0,
    output_tokens     BIGINT NOT NULL DEFAULT 0,
    speech_characters BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
