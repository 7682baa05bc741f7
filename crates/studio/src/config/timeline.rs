//! The timeline settings: the bounds every project timeline is validated against
//! (`studio_core::timeline::TimelineLimits`). Validated together with the rest of the
//! configuration.

use studio_core::timeline::TimelineLimits;

use super::RawConfig;

/// Checks the timeline fields of `raw`, adding a line to `errors` for each bad one.
pub(super) fn validate(raw: &RawConfig, bad: &mut dyn FnMut(&str, String)) -> TimelineLimits {
    if !(raw.timeline_max_duration_secs.is_finite() && raw.timeline_max_duration_secs > 0.0) {
        bad(
            "timeline_max_duration_secs",
            "must be a number of seconds greater than 0".to_owned(),
        );
    }
    for (key, value) in [
        ("timeline_max_tracks", raw.timeline_max_tracks),
        ("timeline_max_clips", raw.timeline_max_clips),
        ("timeline_max_markers", raw.timeline_max_markers),
        (
            "timeline_max_document_bytes",
            raw.timeline_max_document_bytes,
        ),
    ] {
        if value == 0 {
            bad(key, "must be greater than 0".to_owned());
        }
    }
    TimelineLimits {
        max_duration_secs: raw.timeline_max_duration_secs,
        max_tracks: raw.timeline_max_tracks,
        max_clips: raw.timeline_max_clips,
        max_markers: raw.timeline_max_markers,
        max_document_bytes: raw.timeline_max_document_bytes,
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
    fn the_defaults_are_the_core_defaults() {
        let config = RawConfig::defaults().unwrap().validate().unwrap();
        assert_eq!(config.timeline, TimelineLimits::default());
    }

    #[test]
    fn timeline_limits_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STUDIO_TIMELINE_MAX_DURATION_SECS", "7200");
            jail.set_env("STUDIO_TIMELINE_MAX_TRACKS", "3");
            jail.set_env("STUDIO_TIMELINE_MAX_CLIPS", "10");
            jail.set_env("STUDIO_TIMELINE_MAX_MARKERS", "2");
            jail.set_env("STUDIO_TIMELINE_MAX_DOCUMENT_BYTES", "4096");
            let config = RawConfig::load(None).unwrap().validate().unwrap();
            assert_eq!(
                config.timeline,
                TimelineLimits {
                    max_duration_secs: 7200.0,
                    max_tracks: 3,
                    max_clips: 10,
                    max_markers: 2,
                    max_document_bytes: 4096,
                }
            );
            Ok(())
        });
    }

    #[test]
    fn zero_or_senseless_limits_are_each_reported() {
        let mut raw = RawConfig::defaults().unwrap();
        raw.timeline_max_duration_secs = f64::NAN;
        raw.timeline_max_tracks = 0;
        raw.timeline_max_clips = 0;
        raw.timeline_max_markers = 0;
        raw.timeline_max_document_bytes = 0;
        let err = raw.validate().unwrap_err().to_string();
        for key in [
            "STUDIO_TIMELINE_MAX_DURATION_SECS",
            "STUDIO_TIMELINE_MAX_TRACKS",
            "STUDIO_TIMELINE_MAX_CLIPS",
            "STUDIO_TIMELINE_MAX_MARKERS",
            "STUDIO_TIMELINE_MAX_DOCUMENT_BYTES",
        ] {
            assert!(err.contains(key), "{key} missing from:\n{err}");
        }
        let mut raw = RawConfig::defaults().unwrap();
        raw.timeline_max_duration_secs = -1.0;
        let err = raw.validate().unwrap_err().to_string();
        assert!(err.contains("STUDIO_TIMELINE_MAX_DURATION_SECS"), "{err}");
    }
}
