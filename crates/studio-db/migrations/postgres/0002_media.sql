-- Media: per-user storage usage, assets, the jobs uploads record, webhook de-duplication
-- (PostgreSQL). Names are unqualified, as in 0001_init.sql.
--
-- Sizes are BIGINT byte counts; the code refuses sizes that do not fit rather than wrapping them.

-- One row per user who ever reserved storage. The CHECKs make accounting that would go negative
-- fail the transaction instead of silently granting free quota. Reservations serialize on this
-- row's lock (see create_upload_intent).
CREATE TABLE usage (
    user_id        TEXT PRIMARY KEY REFERENCES users (id),
    bytes_used     BIGINT NOT NULL DEFAULT 0 CHECK (bytes_used >= 0),
    bytes_reserved BIGINT NOT NULL DEFAULT 0 CHECK (bytes_reserved >= 0)
);

-- Durable job records (an outbox written in the same transaction as the state change that
-- causes them). The queue adds its own columns (attempts, lease, ...) in a later migration.
-- `payload` is JSON kept as text, so it reads back exactly as written; `state` is free text so
-- the queue can add states without rewriting a constraint.
CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'queued',
    idempotency_key TEXT NOT NULL UNIQUE,
    request_id      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- `project_id` is RESTRICT, not CASCADE: deleting a project must give each asset's bytes back to
-- its owner's usage, so `delete_project` deletes the assets itself, first, in its transaction.
-- A confirmed asset always has its real size and its job: deleting it gives `real_size` back,
-- and confirming it again returns that job.
CREATE TABLE assets (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id) ON DELETE RESTRICT,
    owner_id      TEXT NOT NULL REFERENCES users (id),
    kind          TEXT NOT NULL CHECK (kind IN ('video', 'audio', 'image')),
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    declared_size BIGINT NOT NULL CHECK (declared_size >= 0),
    real_size     BIGINT CHECK (real_size >= 0),
    status        TEXT NOT NULL CHECK (status IN
                      ('pending_upload', 'uploaded', 'processing', 'ready', 'failed', 'expired')),
    original_key  TEXT NOT NULL UNIQUE,
    upload_id     TEXT,
    part_size     BIGINT CHECK (part_size > 0),
    expires_at    TIMESTAMPTZ NOT NULL,
    job_id        TEXT REFERENCES jobs (id),
    error         TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT assets_confirmed_check CHECK (
        status IN ('pending_upload', 'expired') OR (real_size IS NOT NULL AND job_id IS NOT NULL)
    )
);

-- "The assets of a project, oldest first".
CREATE INDEX assets_project_created_idx ON assets (project_id, created_at);
-- "Pending intents that lapsed" (the expiry sweep) and "pending intents still open".
CREATE INDEX assets_status_expires_idx ON assets (status, expires_at);

-- Storage webhook deliveries already handled, so a redelivered event does its work once.
CREATE TABLE webhook_deliveries (
    event_key   TEXT PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
