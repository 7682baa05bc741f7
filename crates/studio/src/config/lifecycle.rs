//! The bucket lifecycle settings (`storage_lifecycle_*`): the rules `studio storage lifecycle`
//! prints and puts on S3 storage (see `studio_storage::lifecycle`).
//!
//! Invariants checked here: the temporary prefix is a non-empty "directory" (an empty one would
//! expire the whole bucket); incomplete multipart uploads are aborted only after an upload intent
//! has lapsed, so a live upload is never aborted under a client; a cold transition names a tag
//! `key=value` and a storage class S3 can transition to.

use studio_storage::lifecycle::{ColdTransition, LifecycleRules};

use super::RawConfig;

/// Seconds in a lifecycle day.
const SECS_PER_DAY: u64 = 86_400;
/// S3's tag limits (characters).
const MAX_TAG_KEY_CHARS: usize = 128;
const MAX_TAG_VALUE_CHARS: usize = 256;
/// S3 refuses transitions to these classes sooner than 30 days after creation.
const THIRTY_DAY_CLASSES: [&str; 2] = ["STANDARD_IA", "ONEZONE_IA"];
const MIN_IA_TRANSITION_DAYS: u32 = 30;
/// Longest storage class name accepted (AWS's longest is 19 characters; compatible stores such
/// as MinIO name their own tiers).
const MAX_STORAGE_CLASS_CHARS: usize = 64;

/// Checks the lifecycle fields of `raw`, adding a line to `bad` for each bad one.
pub(super) fn validate(raw: &RawConfig, bad: &mut dyn FnMut(&str, String)) -> LifecycleRules {
    let prefix = &raw.storage_lifecycle_tmp_prefix;
    if prefix.is_empty() || !prefix.ends_with('/') || prefix.starts_with('/') {
        bad(
            "storage_lifecycle_tmp_prefix",
            "must be a key prefix like `tmp/`: not empty, ending with `/`, not starting with one"
                .to_owned(),
        );
    } else if prefix.chars().any(char::is_control) || prefix.len() > studio_storage::MAX_KEY_BYTES {
        bad(
            "storage_lifecycle_tmp_prefix",
            "must be a printable key prefix of at most 1024 bytes".to_owned(),
        );
    }
    if raw.storage_lifecycle_tmp_expiry_days == 0 {
        bad(
            "storage_lifecycle_tmp_expiry_days",
            "must be at least 1 (S3 expires after whole days)".to_owned(),
        );
    }
    let abort_days = raw.storage_lifecycle_abort_multipart_days;
    if u64::from(abort_days) * SECS_PER_DAY <= raw.upload_intent_ttl_secs {
        bad(
            "storage_lifecycle_abort_multipart_days",
            format!(
                "must be longer than upload_intent_ttl_secs ({} s), or live uploads are aborted",
                raw.upload_intent_ttl_secs
            ),
        );
    }
    let cold = raw
        .storage_lifecycle_cold_tag
        .as_deref()
        .filter(|tag| !tag.is_empty())
        .and_then(|tag| cold_transition(raw, tag, bad));
    LifecycleRules {
        tmp_prefix: prefix.clone(),
        tmp_expiry_days: raw.storage_lifecycle_tmp_expiry_days,
        abort_multipart_days: abort_days,
        cold,
    }
}

fn cold_transition(
    raw: &RawConfig,
    tag: &str,
    bad: &mut dyn FnMut(&str, String),
) -> Option<ColdTransition> {
    let parsed = tag.split_once('=').filter(|(key, value)| {
        !key.is_empty()
            && key.chars().count() <= MAX_TAG_KEY_CHARS
            && value.chars().count() <= MAX_TAG_VALUE_CHARS
            && !tag.chars().any(char::is_control)
    });
    let Some((key, value)) = parsed else {
        bad(
            "storage_lifecycle_cold_tag",
            format!("`{tag}` is not a tag like `studio-tier=cold` (key up to 128 characters)"),
        );
        return None;
    };
    let class = raw.storage_lifecycle_cold_storage_class.as_str();
    let well_formed = !class.is_empty()
        && class.len() <= MAX_STORAGE_CLASS_CHARS
        && class
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !well_formed || class == "STANDARD" {
        bad(
            "storage_lifecycle_cold_storage_class",
            format!("`{class}` is not a storage class to move to, like GLACIER_IR or STANDARD_IA"),
        );
        return None;
    }
    let days = raw.storage_lifecycle_cold_days;
    if THIRTY_DAY_CLASSES.contains(&class) && days < MIN_IA_TRANSITION_DAYS {
        bad(
            "storage_lifecycle_cold_days",
            format!("must be at least {MIN_IA_TRANSITION_DAYS} for {class} (an S3 rule)"),
        );
        return None;
    }
    Some(ColdTransition {
        tag_key: key.to_owned(),
        tag_value: value.to_owned(),
        days,
        storage_class: class.to_owned(),
    })
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail's closures must return figment's own (large) error"
)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_expire_tmp_and_abort_uploads_without_cold_rule() {
        let config = RawConfig::defaults().unwrap().validate().unwrap();
        assert_eq!(
            config.storage_lifecycle,
            LifecycleRules {
                tmp_prefix: "tmp/".into(),
                tmp_expiry_days: 1,
                abort_multipart_days: 2,
                cold: None,
            }
        );
    }

    #[test]
    fn cold_transition_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STUDIO_STORAGE_LIFECYCLE_COLD_TAG", "studio-tier=cold");
            jail.set_env("STUDIO_STORAGE_LIFECYCLE_COLD_DAYS", "45");
            jail.set_env("STUDIO_STORAGE_LIFECYCLE_COLD_STORAGE_CLASS", "STANDARD_IA");
            let config = RawConfig::load(None).unwrap().validate().unwrap();
            assert_eq!(
                config.storage_lifecycle.cold,
                Some(ColdTransition {
                    tag_key: "studio-tier".into(),
                    tag_value: "cold".into(),
                    days: 45,
                    storage_class: "STANDARD_IA".into(),
                })
            );
            jail.set_env("STUDIO_STORAGE_LIFECYCLE_COLD_TAG", "");
            let config = RawConfig::load(None).unwrap().validate().unwrap();
            assert_eq!(config.storage_lifecycle.cold, None);
            Ok(())
        });
    }

    #[test]
    fn bad_settings_are_refused() {
        let errors = |adjust: &dyn Fn(&mut RawConfig)| {
            let mut raw = RawConfig::defaults().unwrap();
            adjust(&mut raw);
            raw.validate().unwrap_err().to_string()
        };
        for prefix in ["", "tmp", "/tmp/"] {
            let err = errors(&|raw| raw.storage_lifecycle_tmp_prefix = prefix.into());
            assert!(err.contains("storage_lifecycle_tmp_prefix"), "{err}");
        }
        let err = errors(&|raw| raw.storage_lifecycle_tmp_expiry_days = 0);
        assert!(err.contains("storage_lifecycle_tmp_expiry_days"), "{err}");
        // Intents live one day by default: aborting after one day could cut a live upload.
        let err = errors(&|raw| raw.storage_lifecycle_abort_multipart_days = 1);
        assert!(
            err.contains("storage_lifecycle_abort_multipart_days"),
            "{err}"
        );
        let err = errors(&|raw| raw.storage_lifecycle_cold_tag = Some("cold".into()));
        assert!(err.contains("storage_lifecycle_cold_tag"), "{err}");
        let err = errors(&|raw| {
            raw.storage_lifecycle_cold_tag = Some("t=cold".into());
            raw.storage_lifecycle_cold_storage_class = "STANDARD".into();
        });
        assert!(
            err.contains("storage_lifecycle_cold_storage_class"),
            "{err}"
        );
        let err = errors(&|raw| {
            raw.storage_lifecycle_cold_tag = Some("t=cold".into());
            raw.storage_lifecycle_cold_storage_class = "ONEZONE_IA".into();
            raw.storage_lifecycle_cold_days = 7;
        });
        assert!(err.contains("storage_lifecycle_cold_days"), "{err}");
    }
}
