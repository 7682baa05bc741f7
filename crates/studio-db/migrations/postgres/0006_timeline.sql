-- The project timeline (the Project JSON, an EDL) on its project row (PostgreSQL).
--
-- `timeline` is the current document, JSON text exactly as the server wrote it after validating
-- it (TEXT, not JSONB: it is read and written whole, and JSONB would reorder its keys). NULL
-- (every project made before this migration, and a new project until its timeline is first
-- read) stands for the empty timeline named after the project; the first read writes that
-- document in, so it does not change when the project is renamed later.
-- `timeline_version` counts writes: 1 for the starting timeline, +1 on every write. It is the
-- timeline's ETag, and what `If-Match` compares.
-- `timeline_problems` is a JSON array of the violations found after the document was written
-- (an asset probed later turned out shorter than a clip needs), about that very version: every
-- write of `timeline` sets it back to NULL, which means "none found".
ALTER TABLE projects
    ADD COLUMN timeline TEXT,
    ADD COLUMN timeline_version BIGINT NOT NULL DEFAULT 1 CHECK (timeline_version >= 1),
    ADD COLUMN timeline_problems TEXT;
