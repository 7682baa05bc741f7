//! Configuration: embedded defaults (`config.default.toml`) → optional file → `STUDIO_*`
//! environment variables, validated once at start into [`Config`].
//!
//! Validation collects every problem before failing, so an operator fixes a bad deployment in
//! one go; nothing after start-up checks or `.expect()`s configuration again.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use jsonwebtoken::Algorithm;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

mod ai;
mod cold;
mod collab;
mod lifecycle;
mod media;
mod ratelimit;
mod timeline;
mod worker;
pub use ai::{AiConfig, ProviderSettings};
pub use cold::ColdConfig;
pub use media::{DEFAULT_PLAN, MediaConfig, StorageConfig};
pub use worker::{MIN_JOB_LEASE_SECS, QueueEngineKind, WorkerSettings};

/// The embedded defaults, also the commented reference of every setting.
pub const DEFAULTS_TOML: &str = include_str!("config.default.toml");

/// The file read when it exists and no other is named.
pub const DEFAULT_CONFIG_FILE: &str = "studio.toml";

/// Shortest HS256 secret accepted: RFC 7518 asks for a key at least as long as the hash (256 bits).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Settings as written, before validation. Field names are the file keys and, in capitals with
/// the `STUDIO_` prefix, the environment variables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub data_dir: PathBuf,
    pub bind: String,
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    pub auto_migrate: Option<bool>,
    pub jwt_secret: Option<SecretString>,
    pub jwt_secret_file: Option<PathBuf>,
    pub jwks_url: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub jwt_algorithms: Option<Vec<String>>,
    pub jwt_audience: String,
    pub jwt_issuer: Option<String>,
    pub jwt_leeway_secs: u64,
    pub jwks_cache_ttl_secs: u64,
    #[serde(deserialize_with = "list")]
    pub cors_origins: Option<Vec<String>>,
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    pub shutdown_timeout_secs: u64,
    pub temp_dir: Option<PathBuf>,
    pub min_free_temp_bytes: u64,
    pub log_format: LogFormat,
    pub log_level: String,
    pub storage_url: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<SecretString>,
    pub public_url: Option<String>,
    pub storage_signing_secret: Option<SecretString>,
    pub multipart_threshold_bytes: u64,
    pub multipart_part_size_bytes: u64,
    pub upload_url_ttl_secs: u64,
    pub upload_intent_ttl_secs: u64,
    pub download_url_ttl_secs: u64,
    pub plans: std::collections::BTreeMap<String, studio_core::PlanLimits>,
    pub storage_webhook_token: Option<SecretString>,
    pub storage_webhook_secret: Option<SecretString>,
    pub storage_lifecycle_tmp_prefix: String,
    pub storage_lifecycle_tmp_expiry_days: u32,
    pub storage_lifecycle_abort_multipart_days: u32,
    pub storage_lifecycle_cold_tag: Option<String>,
    pub storage_lifecycle_cold_days: u32,
    pub storage_lifecycle_cold_storage_class: String,
    pub reconcile_interval_secs: u64,
    pub cold_storage_after_days: u32,
    pub cold_storage_class: String,
    pub cold_storage_dir: Option<PathBuf>,
    pub cold_archive_interval_secs: u64,
    pub cold_restore_days: u32,
    pub cold_touch_granularity_secs: u64,
    pub temp_sweep_interval_secs: u64,
    pub temp_max_age_secs: u64,
    pub run_in_process_worker: bool,
    pub worker_concurrency: usize,
    pub job_lease_secs: u64,
    pub queue: QueueEngineKind,
    pub queue_prefix: String,
    pub job_retention_secs: u64,
    pub job_purge_interval_secs: u64,
    pub worker_metrics_listen: Option<String>,
    pub timeline_max_duration_secs: f64,
    pub timeline_max_tracks: usize,
    pub timeline_max_clips: usize,
    pub timeline_max_markers: usize,
    pub timeline_max_document_bytes: usize,
    pub collab_max_frame_bytes: usize,
    pub collab_max_document_bytes: usize,
    pub collab_send_queue: usize,
    pub collab_messages_per_second: u32,
    pub collab_message_burst: u32,
    pub collab_flush_interval_ms: u64,
    pub collab_snapshot_interval_secs: u64,
    pub collab_awareness_timeout_secs: u64,
    pub collab_ping_interval_secs: u64,
    pub ai_openai_api_key: Option<SecretString>,
    pub ai_openai_base_url: String,
    #[serde(default, deserialize_with = "list")]
    pub ai_openai_models: Option<Vec<String>>,
    pub ai_openai_max_tokens_field: ai::MaxTokensFieldName,
    pub ai_gemini_api_key: Option<SecretString>,
    pub ai_gemini_base_url: String,
    #[serde(default, deserialize_with = "list")]
    pub ai_gemini_models: Option<Vec<String>>,
    pub ai_elevenlabs_api_key: Option<SecretString>,
    pub ai_elevenlabs_base_url: String,
    #[serde(default, deserialize_with = "list")]
    pub ai_elevenlabs_models: Option<Vec<String>>,
    pub ai_default_model: Option<String>,
    pub ai_connect_timeout_secs: u64,
    pub ai_read_timeout_secs: u64,
    pub ai_cache_scope: studio_ai::key::CacheScope,
    pub ai_cache_ttl_secs: u64,
    pub ai_cache_max_bytes: u64,
    pub ai_cache_max_answer_bytes: u64,
    pub ai_max_output_tokens: u32,
    pub ai_max_input_chars: usize,
    pub ai_max_speech_chars: usize,
    pub ai_keep_alive_secs: u64,
    pub ai_plans: std::collections::BTreeMap<String, studio_ai::AiPlanLimits>,
    pub rate_limit_enabled: bool,
    pub rate_limit_read_per_minute: u32,
    pub rate_limit_read_burst: u32,
    pub rate_limit_write_per_minute: u32,
    pub rate_limit_write_burst: u32,
    pub rate_limit_upload_per_minute: u32,
    pub rate_limit_upload_burst: u32,
    pub rate_limit_ai_per_minute: u32,
    pub rate_limit_ai_burst: u32,
    #[serde(default, deserialize_with = "list")]
    pub trusted_proxies: Option<Vec<String>>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Pretty on a terminal, JSON lines otherwise.
    Auto,
    Json,
    Pretty,
}

/// Accepts a list either as a TOML/JSON array or, as environment variables are written, as one
/// comma-separated string.
fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        String(String),
    }
    Ok(
        Option::<ListOrString>::deserialize(deserializer)?.map(|value| match value {
            ListOrString::List(items) => items,
            ListOrString::String(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }),
    )
}

/// Where a secret (the HS256 key, the local storage signing key) comes from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// Given in the configuration.
    Inline(SecretString),
    /// Read from a file an operator manages (e.g. a mounted secret).
    File(PathBuf),
    /// Generated on first start and kept in the data dir.
    Generated(PathBuf),
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    pub database_url: String,
    pub auto_migrate: bool,
    pub redis_url: Option<String>,
    pub jwt_secret: Option<SecretSource>,
    pub jwks_url: Option<String>,
    pub jwt_algorithms: Vec<Algorithm>,
    pub jwt_audience: Option<String>,
    pub jwt_issuer: Option<String>,
    pub jwt_leeway: Duration,
    pub jwks_cache_ttl: Duration,
    pub cors_origins: Vec<axum::http::HeaderValue>,
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub temp_dir: PathBuf,
    pub min_free_temp_bytes: u64,
    pub log_format: LogFormat,
    pub log_level: String,
    pub media: MediaConfig,
    pub worker: WorkerSettings,
    /// Bounds on project timelines.
    pub timeline: studio_core::timeline::TimelineLimits,
    /// Limits and intervals of the collaboration server.
    pub collab: studio_collab::CollabConfig,
    /// AI providers, cache and limits.
    pub ai: AiConfig,
    /// Cold storage of idle originals, and sweeping of scratch space.
    pub cold: ColdConfig,
    /// The API rate limits.
    pub rate_limit: studio_http::ratelimit::RateLimitSettings,
    /// The bucket lifecycle rules (`studio storage lifecycle`).
    pub storage_lifecycle: studio_storage::lifecycle::LifecycleRules,
}

/// Every problem found in the configuration, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

impl RawConfig {
    /// The embedded defaults alone (what tests start from).
    pub fn defaults() -> Result<Self, ConfigError> {
        Self::extract(Figment::from(Toml::string(DEFAULTS_TOML)))
    }

    /// Defaults, then `file` (or `studio.toml` if it exists), then `STUDIO_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS_TOML));
        match file {
            Some(path) if !path.exists() => {
                return Err(ConfigError(vec![format!(
                    "config file {} does not exist",
                    path.display()
                )]));
            }
            Some(path) => figment = figment.merge(Toml::file(path)),
            None => figment = figment.merge(Toml::file(DEFAULT_CONFIG_FILE)),
        }
        // STUDIO_CONFIG names the file (read by the CLI) and STUDIO_TEST_* belong to the test
        // suite; neither is a setting.
        let env = Env::prefixed("STUDIO_").filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            key != "config" && !key.starts_with("test_")
        });
        Self::extract(figment.merge(env))
    }

    fn extract(figment: Figment) -> Result<Self, ConfigError> {
        figment.extract().map_err(|err| {
            ConfigError(
                err.into_iter()
                    .map(|e| {
                        let key = e.path.join(".");
                        if key.is_empty() {
                            e.to_string()
                        } else {
                            format!("{} (STUDIO_{}): {}", key, key.to_uppercase(), e.kind)
                        }
                    })
                    .collect(),
            )
        })
    }

    /// Checks every field and resolves defaults that depend on others.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let mut errors = Vec::new();
        let mut bad = |key: &str, why: String| {
            errors.push(format!("{key} (STUDIO_{}): {why}", key.to_uppercase()));
        };

        let bind = self.bind.parse::<SocketAddr>().unwrap_or_else(|_| {
            bad(
                "bind",
                format!("`{}` is not an address like 127.0.0.1:8080", self.bind),
            );
            SocketAddr::from(([127, 0, 0, 1], 0))
        });

        let database_url = match &self.database_url {
            None => format!("sqlite://{}", self.data_dir.join("studio.db").display()),
            Some(url) => url.clone(),
        };
        let is_sqlite = database_url.starts_with("sqlite:");
        if !is_sqlite
            && !database_url.starts_with("postgres://")
            && !database_url.starts_with("postgresql://")
        {
            bad(
                "database_url",
                "must start with postgres://, postgresql:// or sqlite:".to_owned(),
            );
        }

        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            bad(
                "redis_url",
                "must start with redis:// or rediss://".to_owned(),
            );
        }

        if let Some(url) = &self.jwks_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            bad("jwks_url", "must be an http(s) URL".to_owned());
        }

        let algorithm_names = self.jwt_algorithms.clone().unwrap_or_else(|| {
            let mut names = Vec::new();
            if self.jwks_url.is_none()
                || self.jwt_secret.is_some()
                || self.jwt_secret_file.is_some()
            {
                names.push("HS256".to_owned());
            }
            if self.jwks_url.is_some() {
                names.extend(["ES256".to_owned(), "RS256".to_owned()]);
            }
            names
        });
        let mut jwt_algorithms = Vec::new();
        for name in &algorithm_names {
            match name.as_str() {
                "HS256" => jwt_algorithms.push(Algorithm::HS256),
                "ES256" => jwt_algorithms.push(Algorithm::ES256),
                "RS256" => jwt_algorithms.push(Algorithm::RS256),
                other => bad(
                    "jwt_algorithms",
                    format!("`{other}` is not one of HS256, ES256, RS256"),
                ),
            }
        }
        if algorithm_names.is_empty() {
            bad(
                "jwt_algorithms",
                "at least one algorithm is needed".to_owned(),
            );
        }
        let wants_hs = jwt_algorithms.contains(&Algorithm::HS256);
        let wants_keys = jwt_algorithms
            .iter()
            .any(|a| matches!(a, Algorithm::ES256 | Algorithm::RS256));
        if wants_keys && self.jwks_url.is_none() {
            bad(
                "jwks_url",
                "ES256/RS256 are accepted but no JWKS URL says where their keys are".to_owned(),
            );
        }

        use secrecy::ExposeSecret as _;
        let jwt_secret = match (&self.jwt_secret, &self.jwt_secret_file) {
            (Some(_), Some(_)) => {
                bad(
                    "jwt_secret",
                    "set jwt_secret or jwt_secret_file, not both".to_owned(),
                );
                None
            }
            (Some(secret), None) => {
                if secret.expose_secret().len() < MIN_JWT_SECRET_BYTES {
                    bad(
                        "jwt_secret",
                        format!("must be at least {MIN_JWT_SECRET_BYTES} bytes"),
                    );
                }
                Some(SecretSource::Inline(secret.clone()))
            }
            (None, Some(path)) => Some(SecretSource::File(path.clone())),
            (None, None) if wants_hs => {
                Some(SecretSource::Generated(self.data_dir.join("jwt-secret")))
            }
            (None, None) => None,
        };

        let mut cors_origins = Vec::new();
        for origin in self.cors_origins.clone().unwrap_or_default() {
            // An origin is scheme://host[:port]: nothing after the authority, not even `/`.
            let authority = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let well_formed = authority.is_some_and(|a| !a.is_empty() && !a.contains('/'));
            match axum::http::HeaderValue::from_str(&origin) {
                Ok(value) if well_formed => cors_origins.push(value),
                _ => bad(
                    "cors_origins",
                    format!("`{origin}` is not an origin like https://app.example.com"),
                ),
            }
        }

        if self.body_limit_bytes == 0 {
            bad("body_limit_bytes", "must be greater than 0".to_owned());
        }
        if self.request_timeout_secs == 0 {
            bad("request_timeout_secs", "must be greater than 0".to_owned());
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            bad(
                "log_level",
                format!(
                    "`{}` is not a log filter like `info` or `studio=debug`",
                    self.log_level
                ),
            );
        }

        let media = media::validate(&self, &mut bad);
        let worker = worker::validate(&self, &mut bad);
        let timeline = timeline::validate(&self, &mut bad);
        let collab = collab::validate(&self, &mut bad);
        let ai = ai::validate(&self, &mut bad);
        let cold = cold::validate(&self, &mut bad);
        let rate_limit = ratelimit::validate(&self, &mut bad);
        let storage_lifecycle = lifecycle::validate(&self, &mut bad);

        if !errors.is_empty() {
            return Err(ConfigError(errors));
        }
        let temp_dir = self
            .temp_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("tmp"));
        Ok(Config {
            bind,
            auto_migrate: self.auto_migrate.unwrap_or(is_sqlite),
            database_url,
            redis_url: self.redis_url,
            jwt_secret,
            jwks_url: self.jwks_url,
            jwt_algorithms,
            jwt_audience: Some(self.jwt_audience).filter(|a| !a.is_empty()),
            jwt_issuer: self.jwt_issuer.filter(|i| !i.is_empty()),
            jwt_leeway: Duration::from_secs(self.jwt_leeway_secs),
            jwks_cache_ttl: Duration::from_secs(self.jwks_cache_ttl_secs),
            cors_origins,
            body_limit_bytes: self.body_limit_bytes,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_secs),
            temp_dir,
            min_free_temp_bytes: self.min_free_temp_bytes,
            log_format: self.log_format,
            log_level: self.log_level,
            media,
            worker,
            timeline,
            collab,
            ai,
            cold,
            rate_limit,
            storage_lifecycle,
            data_dir: self.data_dir,
        })
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
    fn embedded_defaults_validate_to_the_zero_setup_configuration() {
        let config = RawConfig::defaults().unwrap().validate().unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url, "sqlite://./data/studio.db");
        assert!(config.auto_migrate);
        assert_eq!(config.jwt_algorithms, vec![Algorithm::HS256]);
        assert!(matches!(
            config.jwt_secret,
            Some(SecretSource::Generated(_))
        ));
        assert_eq!(config.jwt_audience.as_deref(), Some("authenticated"));
        assert!(config.redis_url.is_none());
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut raw = RawConfig::defaults().unwrap();
        raw.bind = "nope".into();
        raw.database_url = Some("mysql://x".into());
        raw.redis_url = Some("http://x".into());
        raw.jwt_algorithms = Some(vec!["none".into(), "RS256".into()]);
        raw.jwt_secret = Some("short".into());
        raw.cors_origins = Some(vec!["*".into()]);
        raw.log_level = "=[".into();
        let err = raw.validate().unwrap_err();
        let text = err.to_string();
        for key in [
            "STUDIO_BIND",
            "STUDIO_DATABASE_URL",
            "STUDIO_REDIS_URL",
            "STUDIO_JWT_ALGORITHMS",
            "STUDIO_JWKS_URL",
            "STUDIO_JWT_SECRET",
            "STUDIO_CORS_ORIGINS",
            "STUDIO_LOG_LEVEL",
        ] {
            assert!(text.contains(key), "{key} missing from:\n{text}");
        }
        assert!(!text.contains("short"), "the secret leaked into: {text}");
    }

    #[test]
    fn jwks_enables_asymmetric_algorithms_by_default() {
        let mut raw = RawConfig::defaults().unwrap();
        raw.jwks_url = Some("https://example.test/jwks.json".into());
        let config = raw.validate().unwrap();
        assert_eq!(
            config.jwt_algorithms,
            vec![Algorithm::ES256, Algorithm::RS256]
        );
        assert!(config.jwt_secret.is_none());
    }

    #[test]
    fn environment_lists_are_comma_separated() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "STUDIO_CORS_ORIGINS",
                "https://a.example, https://b.example",
            );
            jail.set_env("STUDIO_BIND", "0.0.0.0:9000");
            jail.set_env("STUDIO_CONFIG", "ignored-here.toml");
            jail.set_env("STUDIO_TEST_BACKEND", "postgres");
            let config = RawConfig::load(None).unwrap().validate().unwrap();
            assert_eq!(config.cors_origins.len(), 2);
            assert_eq!(config.bind.port(), 9000);
            Ok(())
        });
    }

    #[test]
    fn unknown_settings_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STUDIO_DATABSE_URL", "postgres://typo");
            let err = RawConfig::load(None).unwrap_err();
            assert!(err.to_string().contains("databse_url"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_config_file_overrides_defaults_and_env_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "studio.toml",
                "bind = \"127.0.0.1:7000\"\nlog_level = \"debug\"",
            )?;
            jail.set_env("STUDIO_LOG_LEVEL", "warn");
            let config = RawConfig::load(None).unwrap().validate().unwrap();
            assert_eq!(config.bind.port(), 7000);
            assert_eq!(config.log_level, "warn");
            Ok(())
        });
    }
}
