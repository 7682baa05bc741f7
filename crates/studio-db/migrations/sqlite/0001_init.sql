-- Users, projects and project memberships (SQLite).
--
-- Timestamps are TEXT in RFC 3339, UTC, with exactly six fractional digits
-- ('2024-05-06T07:08:09.123456Z'): the code always writes that form, the defaults below produce
-- it too, so timestamps sort correctly as text and read back into the same instant.
-- STRICT tables refuse values of the wrong storage class instead of silently keeping them.

CREATE TABLE users (
    id         TEXT NOT NULL PRIMARY KEY,
    plan       TEXT NOT NULL DEFAULT 'free',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
) STRICT;

-- SQLite only auto-increments an INTEGER PRIMARY KEY, so here `seq` (the listing order, never
-- reused thanks to AUTOINCREMENT) is the primary key and `id` is a UNIQUE key; foreign keys
-- reference `id` exactly as they do on PostgreSQL.
CREATE TABLE projects (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    owner_id   TEXT NOT NULL REFERENCES users (id),
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
) STRICT;

-- "Projects I own, newest first".
CREATE INDEX projects_owner_seq_idx ON projects (owner_id, seq);

CREATE TABLE project_members (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL CHECK (role IN ('editor', 'viewer')),
    added_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    PRIMARY KEY (project_id, user_id)
) STRICT;

-- "Projects shared with me".
CREATE INDEX project_members_user_id_idx ON project_members (user_id);
