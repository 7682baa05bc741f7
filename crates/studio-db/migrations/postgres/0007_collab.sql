-- Collaborative documents (PostgreSQL): each project's Yjs document as a compacted snapshot plus
-- a log of the updates made after it (see src/collab.rs). The bytes are Yjs v1 updates, opaque
-- here. Both tables go with their project (`ON DELETE CASCADE`). Names are unqualified, as in
-- 0001_init.sql.

-- One row per project that was ever snapshotted. `generation` is what snapshot writes compare
-- and swap on (1 for the first, +1 on every write), so a writer whose state was built on an
-- older snapshot cannot replace one whose content it does not hold.
CREATE TABLE collab_snapshots (
    project_id TEXT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    state      BYTEA NOT NULL,
    generation BIGINT NOT NULL CHECK (generation >= 1),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Updates not yet folded into the snapshot; a snapshot deletes the ones it covers by `seq`,
-- never "up to" one: concurrent appends may commit out of `seq` order. An identity is never
-- reused, so a snapshot's list of covered entries, read before it is written, can never name a
-- newer entry by mistake. (The column is `data`: UPDATE is a reserved word.)
CREATE TABLE collab_updates (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    data       BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- "The log of a project, in order" (loading a document), and the cascade from `projects`.
CREATE INDEX collab_updates_project_seq_idx ON collab_updates (project_id, seq);

-- The problems of the Project JSON inside the live document when it is not valid (a JSON array of
-- `{pointer, code, message}`), so `GET …/timeline` can say why the timeline it returns is not
-- what editors see. NULL: the document's timeline is valid (or there is no live document).
ALTER TABLE projects ADD COLUMN collab_problems TEXT;
