-- Collaborative documents (SQLite): each project's Yjs document as a compacted snapshot plus a
-- log of the updates made after it (see src/collab.rs). The bytes are Yjs v1 updates, opaque
-- here. Both tables go with their project (`ON DELETE CASCADE`, enforced because the store opens
-- every connection with `foreign_keys` on). Timestamps follow 0001_init.sql.

-- One row per project that was ever snapshotted. `generation` is what snapshot writes compare
-- and swap on (1 for the first, +1 on every write), so a writer whose state was built on an
-- older snapshot cannot replace one whose content it does not hold. SQLite's STRICT tables know
-- no BIGINT: INTEGER is 64-bit already.
CREATE TABLE collab_snapshots (
    project_id TEXT NOT NULL PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    state      BLOB NOT NULL,
    generation INTEGER NOT NULL CHECK (generation >= 1),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
) STRICT;

-- Updates not yet folded into the snapshot; a snapshot deletes the ones it covers by `seq`.
-- AUTOINCREMENT, so a `seq` is never reused after its row is deleted: a snapshot's list of
-- covered entries, read before it is written, can never name a newer entry by mistake. (The
-- column is `data`: UPDATE is a keyword.)
CREATE TABLE collab_updates (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    data       BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
) STRICT;

-- "The log of a project, in order" (loading a document), and the cascade from `projects`.
CREATE INDEX collab_updates_project_seq_idx ON collab_updates (project_id, seq);

-- The problems of the Project JSON inside the live document when it is not valid (a JSON array of
-- `{pointer, code, message}`), so `GET …/timeline` can say why the timeline it returns is not
-- what editors see. NULL: the document's timeline is valid (or there is no live document).
ALTER TABLE projects ADD COLUMN collab_problems TEXT;
