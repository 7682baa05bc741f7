//! The cold-storage and sweeping settings (`cold_*`, `temp_*`): when idle originals go to the
//! cold tier and where, how restores behave, and how often scratch space is swept.
//!
//! The default storage class is `GLACIER_IR` (Glacier Instant Retrieval): about a sixth of
//! `STANDARD`'s storage price, yet read in milliseconds, so restoring an original on demand is
//! one server-side copy and a reprocess proceeds at once instead of answering
//! `original_archived` for hours. Its 90-day minimum and per-GB retrieval fee suit originals
//! idle for weeks. `GLACIER` / `DEEP_ARCHIVE` are cheaper still but need a restore of hours;
//! S3-compatible stores that know no such class (MinIO, R2, Garage…) need `STANDARD_IA` or
//! whatever they support.

use std::path::PathBuf;
use std::time::Duration;

use studio_http::archive::ColdSettings;

use super::RawConfig;

const SECS_PER_DAY: u64 = 86_400;
/// S3 keeps a restored copy for 1 to 30 days here: longer only pays for a copy studio has already
/// put back in `STANDARD` (it copies it back as soon as it sees the restore done).
const MAX_RESTORE_DAYS: u32 = 30;

/// Validated cold-storage and sweeping settings.
#[derive(Debug, Clone)]
pub struct ColdConfig {
    /// What the HTTP layer and the archiver pass use.
    pub settings: ColdSettings,
    /// Where the local store puts archived originals (may be another disk).
    pub dir: PathBuf,
    /// How often the archiver pass runs.
    pub archive_interval: Duration,
    /// How often the worker's temp space and the local store's partial writes are swept.
    pub temp_sweep_interval: Duration,
    /// Scratch files and partial writes older than this, held by no running job, are removed.
    pub temp_max_age: Duration,
}

/// Checks the cold-storage fields of `raw`, adding a line to `errors` for each bad one.
pub(super) fn validate(raw: &RawConfig, bad: &mut dyn FnMut(&str, String)) -> ColdConfig {
    if !studio_storage::COLD_CLASSES.contains(&raw.cold_storage_class.as_str()) {
        bad(
            "cold_storage_class",
            format!(
                "`{}` is not one of {}",
                raw.cold_storage_class,
                studio_storage::COLD_CLASSES.join(", ")
            ),
        );
    }
    if !(1..=MAX_RESTORE_DAYS).contains(&raw.cold_restore_days) {
        bad(
            "cold_restore_days",
            format!("must be between 1 and {MAX_RESTORE_DAYS}"),
        );
    }
    for (key, value) in [
        ("cold_archive_interval_secs", raw.cold_archive_interval_secs),
        ("temp_sweep_interval_secs", raw.temp_sweep_interval_secs),
        ("temp_max_age_secs", raw.temp_max_age_secs),
    ] {
        if value == 0 {
            bad(key, "must be greater than 0".to_owned());
        }
    }
    let after = (raw.cold_storage_after_days > 0)
        .then(|| Duration::from_secs(u64::from(raw.cold_storage_after_days) * SECS_PER_DAY));
    if after.is_some_and(|after| Duration::from_secs(raw.cold_touch_granularity_secs) >= after) {
        bad(
            "cold_touch_granularity_secs",
            "must be shorter than cold_storage_after_days, or recent uses would not count"
                .to_owned(),
        );
    }
    ColdConfig {
        settings: ColdSettings {
            after,
            storage_class: raw.cold_storage_class.clone(),
            restore_days: raw.cold_restore_days,
            touch_granularity: Duration::from_secs(raw.cold_touch_granularity_secs),
        },
        dir: raw
            .cold_storage_dir
            .clone()
            .unwrap_or_else(|| raw.data_dir.join("cold")),
        archive_interval: Duration::from_secs(raw.cold_archive_interval_secs.max(1)),
        temp_sweep_interval: Duration::from_secs(raw.temp_sweep_interval_secs.max(1)),
        temp_max_age: Duration::from_secs(raw.temp_max_age_secs),
    }
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail's closures must return figment's own (large) error"
)]
mod tests {
    use super::*;

    #[test]
    fn archiving_is_off_by_default_and_the_cold_dir_is_under_the_data_dir() {
        let config = RawConfig::defaults().unwrap().validate().unwrap();
        assert_eq!(config.cold.settings.after, None);
        assert_eq!(config.cold.settings.storage_class, "GLACIER_IR");
        assert_eq!(config.cold.dir, config.data_dir.join("cold"));
        assert_eq!(
            config.cold.settings.touch_granularity,
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn settings_come_from_the_environment_and_bad_ones_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STUDIO_COLD_STORAGE_AFTER_DAYS", "30");
            jail.set_env("STUDIO_COLD_STORAGE_CLASS", "GLACIER");
            jail.set_env("STUDIO_COLD_STORAGE_DIR", "/mnt/slow/cold");
            let config = RawConfig::load(None).unwrap().validate().unwrap();
            assert_eq!(
                config.cold.settings.after,
                Some(Duration::from_secs(30 * SECS_PER_DAY))
            );
            assert_eq!(config.cold.settings.storage_class, "GLACIER");
            assert_eq!(config.cold.dir, PathBuf::from("/mnt/slow/cold"));
            jail.set_env("STUDIO_COLD_STORAGE_CLASS", "FROZEN");
            jail.set_env("STUDIO_COLD_RESTORE_DAYS", "0");
            jail.set_env("STUDIO_TEMP_MAX_AGE_SECS", "0");
            let err = RawConfig::load(None).unwrap().validate().unwrap_err();
            for key in [
                "cold_storage_class",
                "cold_restore_days",
                "temp_max_age_secs",
            ] {
                assert!(err.to_string().contains(key), "{key}: {err}");
            }
            Ok(())
        });
    }
}
