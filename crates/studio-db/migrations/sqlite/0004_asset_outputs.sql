-- What processing an asset produces (SQLite): the probed metadata and the storage keys of the
-- derived files, written together with the move to `ready` in one UPDATE, and the stable code of
-- a failure (the readable message goes in the existing `error` column).

-- JSON text: studio-media's MediaInfo as probed.
ALTER TABLE assets ADD COLUMN media_info TEXT;
ALTER TABLE assets ADD COLUMN proxy_key TEXT;
ALTER TABLE assets ADD COLUMN waveform_json_key TEXT;
ALTER TABLE assets ADD COLUMN waveform_dat_key TEXT;
ALTER TABLE assets ADD COLUMN waveform_png_key TEXT;
ALTER TABLE assets ADD COLUMN poster_key TEXT;
-- e.g. `not_media`, `processing_failed`; NULL unless the asset is `failed`.
ALTER TABLE assets ADD COLUMN error_code TEXT;
