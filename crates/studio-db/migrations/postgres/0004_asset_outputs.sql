-- What processing an asset produces (PostgreSQL): the probed metadata and the storage keys of
-- the derived files, written together with the move to `ready` in one UPDATE, and the stable
-- code of a failure (the readable message goes in the existing `error` column).

ALTER TABLE assets
    -- JSON text (like `jobs.payload`): studio-media's MediaInfo as probed.
    ADD COLUMN media_info        TEXT,
    ADD COLUMN proxy_key         TEXT,
    ADD COLUMN waveform_json_key TEXT,
    ADD COLUMN waveform_dat_key  TEXT,
    ADD COLUMN waveform_png_key  TEXT,
    ADD COLUMN poster_key        TEXT,
    -- e.g. `not_media`, `processing_failed`; NULL unless the asset is `failed`.
    ADD COLUMN error_code        TEXT;
