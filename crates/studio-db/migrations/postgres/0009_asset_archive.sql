-- Inactivity-based cold storage of originals (PostgreSQL; see src/archive.rs).
--
-- `last_accessed_at`: the last time someone used the asset (opened its project, read it,
-- reprocessed it, exported a timeline using it), recorded with a coarse granularity so reads
-- stay cheap. Existing rows start from their `updated_at`.
-- `original_tier`: where the original is: `hot` (the normal store), `cold` (moved to the cold
-- tier after days of inactivity) or `restoring` (a slow restore from an archive class is under
-- way). Proxies and waveforms always stay hot. `original_tier_changed_at` is NULL until the
-- first change.
ALTER TABLE assets
    ADD COLUMN last_accessed_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN original_tier            TEXT NOT NULL DEFAULT 'hot'
        CHECK (original_tier IN ('hot', 'cold', 'restoring')),
    ADD COLUMN original_tier_changed_at TIMESTAMPTZ;

UPDATE assets SET last_accessed_at = updated_at;

-- "Originals idle since" (the archiver's scan) and "originals being restored".
CREATE INDEX assets_tier_accessed_idx ON assets (original_tier, last_accessed_at);
