-- Users, projects and project memberships (PostgreSQL).
--
-- Names are unqualified on purpose: the tables (and sqlx's _sqlx_migrations) land in the first
-- schema of the connection's search_path, which lets tests give each run its own schema.

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    plan       TEXT NOT NULL DEFAULT 'free',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- `seq` is the listing order (and what page cursors hold); `id` is the public identity.
CREATE TABLE projects (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id         TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL REFERENCES users (id),
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- "Projects I own, newest first".
CREATE INDEX projects_owner_seq_idx ON projects (owner_id, seq DESC);

CREATE TABLE project_members (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL CHECK (role IN ('editor', 'viewer')),
    added_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);

-- "Projects shared with me".
CREATE INDEX project_members_user_id_idx ON project_members (user_id);
