//! [`AuthConfig`], what the caller hands us, and its one-time validation into the form the
//! authenticator uses. Every config mistake is caught here, at start-up, so verification never
//! meets a half-configured algorithm.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use secrecy::{ExposeSecret, SecretString};

/// Shortest HS256 secret we accept: RFC 7518 §3.2 asks for a key at least as long as the hash
/// output (256 bits); shorter secrets are guessable offline from any one token.
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// Largest clock-skew allowance we accept. Real skew is seconds; a larger value silently extends
/// every token's life (and keeps `jsonwebtoken`'s unchecked `now ± leeway` arithmetic far from
/// overflow).
pub const MAX_LEEWAY: Duration = Duration::from_secs(10 * 60);

/// How tokens are verified. Built by the caller from the application config.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Shared secret for HS256; used only when `algorithms` lists HS256.
    pub hs256_secret: Option<SecretString>,
    /// Where the identity provider publishes its ES256/RS256 public keys (a JWKS).
    pub jwks_url: Option<String>,
    /// Accepted algorithms: only these, never the token's choice. HS256, ES256 and RS256 are
    /// supported.
    pub algorithms: Vec<Algorithm>,
    /// Required `aud` (the caller's default is `"authenticated"`); `None` skips the check.
    pub audience: Option<String>,
    /// Required `iss` when `Some`.
    pub issuer: Option<String>,
    /// Clock skew allowed for `exp` and `nbf` (whole seconds; at most [`MAX_LEEWAY`]).
    pub leeway: Duration,
    /// How long a fetched JWKS is trusted before it is fetched again.
    pub jwks_cache_ttl: Duration,
}

/// A configuration that cannot work. Reported once at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    #[error("no token algorithms are configured")]
    NoAlgorithms,
    #[error("token algorithm {0:?} is not supported (use HS256, ES256 or RS256)")]
    UnsupportedAlgorithm(Algorithm),
    #[error("HS256 is enabled but no HS256 secret is configured")]
    MissingHs256Secret,
    #[error("the HS256 secret must be at least {MIN_HS256_SECRET_BYTES} bytes long")]
    Hs256SecretTooShort,
    #[error("{0:?} is enabled but no JWKS URL is configured")]
    MissingJwksUrl(Algorithm),
    #[error("the JWKS URL is not a valid http(s) URL: {0}")]
    BadJwksUrl(String),
    #[error("the token leeway must be at most {} seconds", MAX_LEEWAY.as_secs())]
    LeewayTooLarge,
}

/// The checked configuration, in the shapes verification needs.
pub(crate) struct CheckedConfig {
    /// Accepted algorithms, without duplicates.
    pub algorithms: Vec<Algorithm>,
    /// Present exactly when HS256 is accepted.
    pub hs256_secret: Option<SecretString>,
    /// Present exactly when ES256 or RS256 is accepted.
    pub jwks_url: Option<reqwest::Url>,
    pub audience: Option<String>,
    pub issuer: Option<String>,
    pub leeway_secs: u64,
    pub jwks_cache_ttl: Duration,
}

impl AuthConfig {
    pub(crate) fn check(self) -> Result<CheckedConfig, AuthConfigError> {
        let mut algorithms = Vec::with_capacity(self.algorithms.len());
        for alg in self.algorithms {
            if !matches!(alg, Algorithm::HS256 | Algorithm::ES256 | Algorithm::RS256) {
                return Err(AuthConfigError::UnsupportedAlgorithm(alg));
            }
            if !algorithms.contains(&alg) {
                algorithms.push(alg);
            }
        }
        if algorithms.is_empty() {
            return Err(AuthConfigError::NoAlgorithms);
        }

        // A secret or URL given for an algorithm that is not enabled is kept out of the checked
        // config: the CLI mints with the secret even where the server verifies with a JWKS.
        let hs256_secret = if algorithms.contains(&Algorithm::HS256) {
            let secret = self
                .hs256_secret
                .ok_or(AuthConfigError::MissingHs256Secret)?;
            if secret.expose_secret().len() < MIN_HS256_SECRET_BYTES {
                return Err(AuthConfigError::Hs256SecretTooShort);
            }
            Some(secret)
        } else {
            None
        };

        let jwks_alg = algorithms
            .iter()
            .copied()
            .find(|alg| matches!(alg, Algorithm::ES256 | Algorithm::RS256));
        let jwks_url = match jwks_alg {
            Some(alg) => {
                let raw = self.jwks_url.ok_or(AuthConfigError::MissingJwksUrl(alg))?;
                Some(parse_jwks_url(&raw)?)
            }
            None => None,
        };

        if self.leeway > MAX_LEEWAY {
            return Err(AuthConfigError::LeewayTooLarge);
        }

        Ok(CheckedConfig {
            algorithms,
            hs256_secret,
            jwks_url,
            audience: self.audience,
            issuer: self.issuer,
            leeway_secs: self.leeway.as_secs(),
            jwks_cache_ttl: self.jwks_cache_ttl,
        })
    }
}

fn parse_jwks_url(raw: &str) -> Result<reqwest::Url, AuthConfigError> {
    let url = reqwest::Url::parse(raw).map_err(|e| AuthConfigError::BadJwksUrl(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(AuthConfigError::BadJwksUrl(format!(
            "scheme `{other}` is not http or https"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(algorithms: Vec<Algorithm>) -> AuthConfig {
        AuthConfig {
            hs256_secret: Some(SecretString::from("x".repeat(MIN_HS256_SECRET_BYTES))),
            jwks_url: Some("https://auth.example.test/.well-known/jwks.json".to_owned()),
            algorithms,
            audience: Some("authenticated".to_owned()),
            issuer: None,
            leeway: Duration::from_secs(5),
            jwks_cache_ttl: Duration::from_secs(600),
        }
    }

    #[test]
    fn accepts_a_full_config_and_dedupes_algorithms() {
        let checked = config(vec![Algorithm::HS256, Algorithm::ES256, Algorithm::HS256])
            .check()
            .unwrap();
        assert_eq!(checked.algorithms, [Algorithm::HS256, Algorithm::ES256]);
        assert!(checked.hs256_secret.is_some());
        assert!(checked.jwks_url.is_some());
    }

    #[test]
    fn drops_settings_for_algorithms_that_are_not_enabled() {
        let checked = config(vec![Algorithm::RS256]).check().unwrap();
        assert!(checked.hs256_secret.is_none());
        let checked = config(vec![Algorithm::HS256]).check().unwrap();
        assert!(checked.jwks_url.is_none());
    }

    #[test]
    fn refuses_unworkable_configs() {
        assert_eq!(
            config(vec![]).check().err(),
            Some(AuthConfigError::NoAlgorithms)
        );
        assert_eq!(
            config(vec![Algorithm::HS512]).check().err(),
            Some(AuthConfigError::UnsupportedAlgorithm(Algorithm::HS512))
        );

        let mut no_secret = config(vec![Algorithm::HS256]);
        no_secret.hs256_secret = None;
        assert_eq!(
            no_secret.check().err(),
            Some(AuthConfigError::MissingHs256Secret)
        );

        let mut short_secret = config(vec![Algorithm::HS256]);
        short_secret.hs256_secret = Some(SecretString::from("x".repeat(31)));
        assert_eq!(
            short_secret.check().err(),
            Some(AuthConfigError::Hs256SecretTooShort)
        );

        let mut no_url = config(vec![Algorithm::HS256, Algorithm::ES256]);
        no_url.jwks_url = None;
        assert_eq!(
            no_url.check().err(),
            Some(AuthConfigError::MissingJwksUrl(Algorithm::ES256))
        );

        for bad in ["not a url", "file:///etc/jwks.json"] {
            let mut bad_url = config(vec![Algorithm::RS256]);
            bad_url.jwks_url = Some(bad.to_owned());
            assert!(matches!(
                bad_url.check(),
                Err(AuthConfigError::BadJwksUrl(_))
            ));
        }

        let mut lax = config(vec![Algorithm::HS256]);
        lax.leeway = MAX_LEEWAY + Duration::from_secs(1);
        assert_eq!(lax.check().err(), Some(AuthConfigError::LeewayTooLarge));
    }
}
