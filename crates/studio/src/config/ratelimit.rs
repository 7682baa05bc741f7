//! The API rate limit settings (`rate_limit_*`, `trusted_proxies`): a budget per route class,
//! and the proxies whose `X-Forwarded-For` is believed.

use studio_http::ratelimit::{Budget, Class, IpRange, RateLimitSettings, TrustedProxies};

use super::RawConfig;

/// Checks the rate limit fields of `raw`, adding a line to `errors` for each bad one.
pub(super) fn validate(raw: &RawConfig, bad: &mut dyn FnMut(&str, String)) -> RateLimitSettings {
    let mut budget = |class: Class, per_minute: u32, burst: u32| {
        let name = class.as_str();
        // Zero would refuse every request of the class: turning limits off is
        // `rate_limit_enabled = false`, not a zero budget.
        if per_minute == 0 {
            bad(
                &format!("rate_limit_{name}_per_minute"),
                "must be greater than 0".to_owned(),
            );
        }
        if burst == 0 {
            bad(
                &format!("rate_limit_{name}_burst"),
                "must be greater than 0".to_owned(),
            );
        }
        Budget { per_minute, burst }
    };
    let read = budget(
        Class::Read,
        raw.rate_limit_read_per_minute,
        raw.rate_limit_read_burst,
    );
    let write = budget(
        Class::Write,
        raw.rate_limit_write_per_minute,
        raw.rate_limit_write_burst,
    );
    let upload = budget(
        Class::Upload,
        raw.rate_limit_upload_per_minute,
        raw.rate_limit_upload_burst,
    );
    let ai = budget(
        Class::Ai,
        raw.rate_limit_ai_per_minute,
        raw.rate_limit_ai_burst,
    );
    let mut trusted = Vec::new();
    for entry in raw.trusted_proxies.iter().flatten() {
        match entry.parse::<IpRange>() {
            Ok(range) => trusted.push(range),
            Err(err) => bad("trusted_proxies", err.to_string()),
        }
    }
    RateLimitSettings {
        enabled: raw.rate_limit_enabled,
        read,
        write,
        upload,
        ai,
        trusted_proxies: TrustedProxies(trusted),
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
        let expected = RateLimitSettings::default();
        assert!(config.rate_limit.enabled);
        for class in Class::ALL {
            assert_eq!(
                config.rate_limit.budget(class),
                expected.budget(class),
                "{class:?}"
            );
        }
        assert!(config.rate_limit.trusted_proxies.0.is_empty());
    }

    #[test]
    fn settings_come_from_the_environment_and_bad_ones_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STUDIO_RATE_LIMIT_WRITE_BURST", "7");
            jail.set_env("STUDIO_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1");
            let config = RawConfig::load(None).unwrap().validate().unwrap();
            assert_eq!(config.rate_limit.write.burst, 7);
            assert_eq!(config.rate_limit.trusted_proxies.0.len(), 2);
            jail.set_env("STUDIO_RATE_LIMIT_AI_PER_MINUTE", "0");
            jail.set_env("STUDIO_TRUSTED_PROXIES", "10.0.0.0/33");
            let err = RawConfig::load(None).unwrap().validate().unwrap_err();
            let text = err.to_string();
            assert!(text.contains("STUDIO_RATE_LIMIT_AI_PER_MINUTE"), "{text}");
            assert!(text.contains("STUDIO_TRUSTED_PROXIES"), "{text}");
            Ok(())
        });
    }
}
