//! [`Authenticator`]: checks a bearer token and says who it belongs to.
//!
//! Order of checks, each failing closed: size, header shape, `alg` in the configured list, no
//! `crit` extensions, the key (the HS256 secret, or the JWKS key named by `kid`), then signature
//! and claims in `jsonwebtoken::decode` with a `Validation` built once per algorithm, then the
//! subject as a [`UserId`].

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use studio_core::UserId;
use time::OffsetDateTime;

use crate::claims::VerifiedClaims;
use crate::config::CheckedConfig;
use crate::jwks::JwksCache;
use crate::{AuthConfig, AuthConfigError, AuthError};

/// Longest token we look at. Supabase tokens are about 1 KiB; the cap bounds the work a bogus
/// `Authorization` header can cause before any signature check.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Who a verified token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedUser {
    /// The token's `sub`.
    pub user_id: UserId,
    /// The token's `role` (Supabase: `"authenticated"`), if any.
    pub role: Option<String>,
    /// The token's `exp`.
    pub expires_at: OffsetDateTime,
}

/// Verifies tokens. Cheap to clone: clones share the JWKS cache.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    /// One `Validation` per accepted algorithm: `jsonwebtoken` requires every algorithm in a
    /// `Validation` to belong to the key's family, so each is pinned to exactly one.
    validations: Vec<(Algorithm, Validation)>,
    hs256_key: Option<DecodingKey>,
    jwks: Option<JwksCache>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algorithms: Vec<_> = self.inner.validations.iter().map(|(alg, _)| alg).collect();
        f.debug_struct("Authenticator")
            .field("algorithms", &algorithms)
            .field("jwks", &self.inner.jwks.is_some())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Checks the config once; `http` is used only for JWKS fetches (each with its own timeout).
    pub fn new(config: AuthConfig, http: reqwest::Client) -> Result<Self, AuthConfigError> {
        let checked = config.check()?;
        let validations = checked
            .algorithms
            .iter()
            .map(|&alg| (alg, validation_for(alg, &checked)))
            .collect();
        let hs256_key = checked
            .hs256_secret
            .as_ref()
            .map(|secret| DecodingKey::from_secret(secret.expose_secret().as_bytes()));
        let jwks = checked
            .jwks_url
            .map(|url| JwksCache::new(http, url, checked.jwks_cache_ttl));
        Ok(Self {
            inner: Arc::new(Inner {
                validations,
                hs256_key,
                jwks,
            }),
        })
    }

    /// Verifies `token` (without the `Bearer ` prefix) and returns its user.
    pub async fn verify(&self, token: &str) -> Result<AuthenticatedUser, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        // Fails for `alg: none` and other names `jsonwebtoken` does not know.
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        let Some((alg, validation)) = self
            .inner
            .validations
            .iter()
            .find(|(alg, _)| *alg == header.alg)
        else {
            return Err(AuthError::AlgorithmNotAllowed);
        };
        // RFC 7515 §4.1.11: a recipient must reject critical extensions it does not understand,
        // and we understand none.
        if header.crit.is_some() {
            return Err(AuthError::Malformed);
        }

        // The key comes from our config for the configured algorithm, never from the token
        // (`jku`, `jwk` and `x5u` headers are ignored), which rules out HS/RS confusion.
        let jwks_key;
        let key = match (alg, &self.inner.hs256_key, &self.inner.jwks) {
            (Algorithm::HS256, Some(secret), _) => secret,
            (Algorithm::ES256 | Algorithm::RS256, _, Some(jwks)) => {
                jwks_key = jwks.key_for(header.kid.as_deref(), *alg).await?;
                &jwks_key
            }
            // `AuthConfig::check` guarantees each accepted algorithm has its key source.
            _ => return Err(AuthError::AlgorithmNotAllowed),
        };

        let data = jsonwebtoken::decode::<VerifiedClaims>(token, key, validation)
            .map_err(|e| AuthError::from_decode(&e))?;
        let claims = data.claims;
        Ok(AuthenticatedUser {
            user_id: UserId::parse(claims.sub()?).map_err(AuthError::BadSubject)?,
            role: claims.role()?,
            expires_at: claims.expires_at()?,
        })
    }
}

fn validation_for(alg: Algorithm, config: &CheckedConfig) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = config.leeway_secs;
    validation.validate_exp = true;
    // Off by default in `jsonwebtoken`.
    validation.validate_nbf = true;
    let mut required = vec!["exp", "sub"];
    // `jsonwebtoken` checks `aud`/`iss` only when the token has them: an absent claim passes
    // unless it is also required.
    match &config.audience {
        Some(aud) => {
            validation.set_audience(&[aud]);
            required.push("aud");
        }
        // Otherwise `jsonwebtoken` would reject every token that carries an `aud`.
        None => validation.validate_aud = false,
    }
    if let Some(iss) = &config.issuer {
        validation.set_issuer(&[iss]);
        required.push("iss");
    }
    validation.set_required_spec_claims(&required);
    validation
}
