//! The collaboration settings (`collab_*`): limits and intervals of the y-websocket server.

use std::time::Duration;

use studio_collab::CollabConfig;

use super::RawConfig;

/// Checks the collaboration fields of `raw`, adding a line to `errors` for each bad one.
pub(super) fn validate(raw: &RawConfig, bad: &mut dyn FnMut(&str, String)) -> CollabConfig {
    for (key, value) in [
        ("collab_max_frame_bytes", raw.collab_max_frame_bytes as u64),
        (
            "collab_max_document_bytes",
            raw.collab_max_document_bytes as u64,
        ),
        ("collab_send_queue", raw.collab_send_queue as u64),
        (
            "collab_messages_per_second",
            u64::from(raw.collab_messages_per_second),
        ),
        ("collab_message_burst", u64::from(raw.collab_message_burst)),
        ("collab_flush_interval_ms", raw.collab_flush_interval_ms),
        (
            "collab_snapshot_interval_secs",
            raw.collab_snapshot_interval_secs,
        ),
        (
            "collab_awareness_timeout_secs",
            raw.collab_awareness_timeout_secs,
        ),
        ("collab_ping_interval_secs", raw.collab_ping_interval_secs),
    ] {
        if value == 0 {
            bad(key, "must be greater than 0".to_owned());
        }
    }
    if raw.collab_flush_interval_ms > 1000 {
        bad(
            "collab_flush_interval_ms",
            "must be at most 1000 (updates wait this long before they are durable)".to_owned(),
        );
    }
    CollabConfig {
        max_frame_bytes: raw.collab_max_frame_bytes,
        max_document_bytes: raw.collab_max_document_bytes,
        send_queue: raw.collab_send_queue,
        messages_per_second: raw.collab_messages_per_second,
        message_burst: raw.collab_message_burst,
        flush_interval: Duration::from_millis(raw.collab_flush_interval_ms),
        snapshot_interval: Duration::from_secs(raw.collab_snapshot_interval_secs),
        awareness_timeout: Duration::from_secs(raw.collab_awareness_timeout_secs),
        ping_interval: Duration::from_secs(raw.collab_ping_interval_secs),
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
    fn the_defaults_are_the_crate_defaults() {
        let config = RawConfig::defaults().unwrap().validate().unwrap();
        let expected = CollabConfig::default();
        assert_eq!(config.collab.max_frame_bytes, expected.max_frame_bytes);
        assert_eq!(
            config.collab.max_document_bytes,
            expected.max_document_bytes
        );
        assert_eq!(config.collab.send_queue, expected.send_queue);
        assert_eq!(config.collab.flush_interval, expected.flush_interval);
        assert_eq!(config.collab.snapshot_interval, expected.snapshot_interval);
    }

    #[test]
    fn settings_come_from_the_environment_and_zero_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STUDIO_COLLAB_SNAPSHOT_INTERVAL_SECS", "2");
            jail.set_env("STUDIO_COLLAB_SEND_QUEUE", "8");
            let config = RawConfig::load(None).unwrap().validate().unwrap();
            assert_eq!(config.collab.snapshot_interval, Duration::from_secs(2));
            assert_eq!(config.collab.send_queue, 8);
            jail.set_env("STUDIO_COLLAB_SEND_QUEUE", "0");
            let err = RawConfig::load(None).unwrap().validate().unwrap_err();
            assert!(err.to_string().contains("collab_send_queue"), "{err}");
            Ok(())
        });
    }
}
