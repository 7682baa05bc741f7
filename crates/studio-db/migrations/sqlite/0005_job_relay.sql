-- The outbox relay (SQLite). With the Redis/BullMQ engine, a job is first recorded here (by the
-- API, or by `confirm_upload` in the same transaction as the asset change) and then handed to
-- BullMQ by a relay; `relayed_at` says when. A job not yet relayed is still owed to BullMQ, so a
-- crash between the two stores loses nothing: the next relay pass hands it over.

ALTER TABLE jobs ADD COLUMN relayed_at TEXT;

-- The relay's scan: waiting jobs not yet handed over, oldest first. Partial, so it stays as
-- small as the backlog whichever engine runs (the embedded engine never sets `relayed_at`).
CREATE INDEX jobs_outbox_idx ON jobs (created_at)
    WHERE relayed_at IS NULL AND state IN ('queued', 'retrying');
