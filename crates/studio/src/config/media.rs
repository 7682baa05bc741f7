//! The media settings: where blobs live, how uploads are signed and split, and what each plan
//! allows. Validated together with the rest of the configuration.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use studio_core::PlanLimits;

use super::{MIN_JWT_SECRET_BYTES, RawConfig, SecretSource};

/// S3's smallest part (except the last): 5 MiB.
pub const MIN_PART_SIZE_BYTES: u64 = 5 * 1024 * 1024;
/// S3's largest part: 5 GiB.
pub const MAX_PART_SIZE_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// The plan users get unless their row says otherwise.
pub const DEFAULT_PLAN: &str = "free";

/// Where blobs are stored.
#[derive(Debug, Clone)]
pub enum StorageConfig {
    /// A local directory; studio serves the signed URLs itself.
    Local { root: PathBuf },
    /// An S3-compatible bucket (`s3://bucket?endpoint=…&region=…&path_style=…`).
    S3 {
        url: String,
        access_key_id: String,
        secret_access_key: SecretString,
    },
}

/// Validated media settings.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    pub storage: StorageConfig,
    /// The base URL clients reach studio at, for the local store's signed URLs; `None` means
    /// `http://` + the bound address.
    pub public_url: Option<String>,
    /// The key signing local storage URLs.
    pub storage_signing_secret: SecretSource,
    pub multipart_threshold_bytes: u64,
    pub multipart_part_size_bytes: u64,
    pub upload_url_ttl: Duration,
    pub upload_intent_ttl: Duration,
    pub download_url_ttl: Duration,
    pub plans: BTreeMap<String, PlanLimits>,
    /// Bearer token the storage webhook must present, if that is how it authenticates.
    pub storage_webhook_token: Option<SecretString>,
    /// Standard Webhooks signing key (the bytes of a `whsec_…` secret), if deliveries are signed.
    pub storage_webhook_key: Option<SecretBytes>,
    /// How often the reconciler looks for lapsed intents and unreported uploads.
    pub reconcile_interval: Duration,
}

/// Secret bytes, redacted in `Debug`.
pub type SecretBytes = secrecy::SecretSlice<u8>;

/// Checks the media fields of `raw`, adding a line to `errors` for each bad one.
pub(super) fn validate(raw: &RawConfig, bad: &mut dyn FnMut(&str, String)) -> MediaConfig {
    let storage = match raw.storage_url.as_deref() {
        None | Some("") => StorageConfig::Local {
            root: raw.data_dir.join("blobs"),
        },
        Some(url) if url.starts_with("s3://") => {
            let access_key_id = raw.s3_access_key_id.clone().unwrap_or_default();
            let secret_access_key = raw.s3_secret_access_key.clone();
            if access_key_id.is_empty() {
                bad(
                    "s3_access_key_id",
                    "an s3:// storage URL needs an access key id".to_owned(),
                );
            }
            if secret_access_key.is_none() {
                bad(
                    "s3_secret_access_key",
                    "an s3:// storage URL needs a secret access key".to_owned(),
                );
            }
            if url
                .trim_start_matches("s3://")
                .split(['?', '/'])
                .next()
                .unwrap_or("")
                .is_empty()
            {
                bad("storage_url", "the s3:// URL names no bucket".to_owned());
            }
            StorageConfig::S3 {
                url: url.to_owned(),
                access_key_id,
                secret_access_key: secret_access_key.unwrap_or_else(|| SecretString::from("")),
            }
        }
        Some(url) => match url.strip_prefix("file://") {
            Some(path) if !path.is_empty() => StorageConfig::Local {
                root: PathBuf::from(path),
            },
            _ => {
                bad(
                    "storage_url",
                    "must be s3://bucket?endpoint=… or file:///a/directory".to_owned(),
                );
                StorageConfig::Local {
                    root: raw.data_dir.join("blobs"),
                }
            }
        },
    };

    if let Some(url) = &raw.public_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        bad("public_url", "must be an http(s) URL".to_owned());
    }

    use secrecy::ExposeSecret as _;
    let storage_signing_secret = match &raw.storage_signing_secret {
        Some(secret) => {
            if secret.expose_secret().len() < MIN_JWT_SECRET_BYTES {
                bad(
                    "storage_signing_secret",
                    format!("must be at least {MIN_JWT_SECRET_BYTES} bytes"),
                );
            }
            SecretSource::Inline(secret.clone())
        }
        None => SecretSource::Generated(raw.data_dir.join("storage-secret")),
    };

    if !(MIN_PART_SIZE_BYTES..=MAX_PART_SIZE_BYTES).contains(&raw.multipart_part_size_bytes) {
        bad(
            "multipart_part_size_bytes",
            format!(
                "must be between {MIN_PART_SIZE_BYTES} and {MAX_PART_SIZE_BYTES} (S3's limits)"
            ),
        );
    }
    if raw.multipart_threshold_bytes < raw.multipart_part_size_bytes {
        bad(
            "multipart_threshold_bytes",
            "must be at least multipart_part_size_bytes".to_owned(),
        );
    }
    for (key, secs) in [
        ("upload_url_ttl_secs", raw.upload_url_ttl_secs),
        ("upload_intent_ttl_secs", raw.upload_intent_ttl_secs),
        ("download_url_ttl_secs", raw.download_url_ttl_secs),
    ] {
        if secs == 0 {
            bad(key, "must be greater than 0".to_owned());
        }
    }
    if raw.upload_intent_ttl_secs < raw.upload_url_ttl_secs {
        bad(
            "upload_intent_ttl_secs",
            "must be at least upload_url_ttl_secs (an intent outlives its URLs)".to_owned(),
        );
    }
    if !raw.plans.contains_key(DEFAULT_PLAN) {
        bad(
            "plans",
            format!("the `{DEFAULT_PLAN}` plan must be defined"),
        );
    }
    for (name, limits) in &raw.plans {
        if limits.storage_bytes == 0 || limits.max_file_bytes == 0 {
            bad("plans", format!("plan `{name}` has a zero limit"));
        }
    }

    let storage_webhook_key = raw.storage_webhook_secret.as_ref().and_then(|secret| {
        use base64::Engine as _;
        let text = secret.expose_secret();
        let encoded = text.strip_prefix("whsec_").unwrap_or(text);
        match base64::engine::general_purpose::STANDARD.decode(encoded) {
            Ok(bytes) if bytes.len() >= 24 => Some(SecretBytes::from(bytes)),
            _ => {
                bad(
                    "storage_webhook_secret",
                    "must be a Standard Webhooks secret: `whsec_` + base64 of at least 24 bytes"
                        .to_owned(),
                );
                None
            }
        }
    });
    if let Some(token) = &raw.storage_webhook_token
        && token.expose_secret().len() < MIN_JWT_SECRET_BYTES
    {
        bad(
            "storage_webhook_token",
            format!("must be at least {MIN_JWT_SECRET_BYTES} characters"),
        );
    }
    if raw.reconcile_interval_secs == 0 {
        bad(
            "reconcile_interval_secs",
            "must be greater than 0".to_owned(),
        );
    }

    MediaConfig {
        storage_webhook_token: raw.storage_webhook_token.clone(),
        storage_webhook_key,
        reconcile_interval: Duration::from_secs(raw.reconcile_interval_secs),
        storage,
        public_url: raw
            .public_url
            .as_ref()
            .map(|u| u.trim_end_matches('/').to_owned()),
        storage_signing_secret,
        multipart_threshold_bytes: raw.multipart_threshold_bytes,
        multipart_part_size_bytes: raw.multipart_part_size_bytes,
        upload_url_ttl: Duration::from_secs(raw.upload_url_ttl_secs),
        upload_intent_ttl: Duration::from_secs(raw.upload_intent_ttl_secs),
        download_url_ttl: Duration::from_secs(raw.download_url_ttl_secs),
        plans: raw.plans.clone(),
    }
}
