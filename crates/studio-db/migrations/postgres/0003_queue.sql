-- The job queue's columns on `jobs` (PostgreSQL). The embedded engine claims, leases and settles
-- jobs in this table directly (see src/postgres/queue.rs), so the row the API reads is the row
-- the worker runs.

ALTER TABLE jobs
    ADD COLUMN attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN max_attempts     INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    -- Higher runs first.
    ADD COLUMN priority         INTEGER NOT NULL DEFAULT 0,
    -- When a queued or retrying job becomes due.
    ADD COLUMN run_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN lease_owner      TEXT,
    ADD COLUMN lease_until      TIMESTAMPTZ,
    ADD COLUMN heartbeat_at     TIMESTAMPTZ,
    ADD COLUMN progress         DOUBLE PRECISION NOT NULL DEFAULT 0
                                CHECK (progress >= 0 AND progress <= 100),
    ADD COLUMN stage            TEXT,
    -- JSON text, like `payload`.
    ADD COLUMN result           TEXT,
    ADD COLUMN error            TEXT,
    ADD COLUMN error_code       TEXT,
    ADD COLUMN started_at       TIMESTAMPTZ,
    ADD COLUMN finished_at      TIMESTAMPTZ,
    ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT false;

-- Jobs recorded before this migration were due when they were recorded.
UPDATE jobs SET run_at = created_at;

ALTER TABLE jobs ADD CONSTRAINT jobs_state_check
    CHECK (state IN ('queued', 'active', 'completed', 'failed', 'retrying', 'cancelled'));

-- Claiming: due jobs by state, highest priority first, earliest due first. Lapsed leases are
-- found through the same index (state = 'active').
CREATE INDEX jobs_claim_idx ON jobs (state, priority DESC, run_at);
-- Retention: finished jobs by the time they finished.
CREATE INDEX jobs_finished_idx ON jobs (state, finished_at);
