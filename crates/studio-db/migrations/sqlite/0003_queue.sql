-- The job queue's columns on `jobs` (SQLite). The embedded engine claims, leases and settles jobs
-- in this table directly (see src/sqlite/queue.rs), so the row the API reads is the row the
-- worker runs.
--
-- SQLite cannot add a CHECK to an existing column, and rebuilding `jobs` would trip the foreign
-- key from `assets.job_id` (DROP TABLE deletes every row first). So the state CHECK is a pair of
-- triggers, named like the PostgreSQL constraint so errors read the same.
--
-- `run_at` is when a queued or retrying job becomes due. Rows written without one (the outbox
-- insert in `confirm_upload`) get their `created_at` from a trigger: ALTER TABLE cannot add a
-- column whose default is the current time.

ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0);
ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts >= 1);
-- Higher runs first.
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN run_at TEXT;
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;
ALTER TABLE jobs ADD COLUMN heartbeat_at TEXT;
ALTER TABLE jobs ADD COLUMN progress REAL NOT NULL DEFAULT 0
    CHECK (progress >= 0 AND progress <= 100);
ALTER TABLE jobs ADD COLUMN stage TEXT;
-- JSON text, like `payload`.
ALTER TABLE jobs ADD COLUMN result TEXT;
ALTER TABLE jobs ADD COLUMN error TEXT;
ALTER TABLE jobs ADD COLUMN error_code TEXT;
ALTER TABLE jobs ADD COLUMN started_at TEXT;
ALTER TABLE jobs ADD COLUMN finished_at TEXT;
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0
    CHECK (cancel_requested IN (0, 1));

UPDATE jobs SET run_at = created_at WHERE run_at IS NULL;

CREATE TRIGGER jobs_run_at_default AFTER INSERT ON jobs
WHEN NEW.run_at IS NULL
BEGIN
    UPDATE jobs SET run_at = NEW.created_at WHERE id = NEW.id;
END;

CREATE TRIGGER jobs_state_check_insert BEFORE INSERT ON jobs
WHEN NEW.state NOT IN ('queued', 'active', 'completed', 'failed', 'retrying', 'cancelled')
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: jobs_state_check');
END;

CREATE TRIGGER jobs_state_check_update BEFORE UPDATE OF state ON jobs
WHEN NEW.state NOT IN ('queued', 'active', 'completed', 'failed', 'retrying', 'cancelled')
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: jobs_state_check');
END;

-- Claiming: due jobs by state, highest priority first, earliest due first. Lapsed leases are
-- found through the same index (state = 'active').
CREATE INDEX jobs_claim_idx ON jobs (state, priority DESC, run_at);
-- Retention: finished jobs by the time they finished.
CREATE INDEX jobs_finished_idx ON jobs (state, finished_at);
