//! Minting HS256 tokens shaped like Supabase Auth's, for `studio token` and tests. Only HS256:
//! asymmetric keys belong to the identity provider, which mints its own tokens.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use studio_core::UserId;
use time::OffsetDateTime;

use crate::{AuthError, MIN_HS256_SECRET_BYTES};

/// The audience Supabase Auth puts in user tokens, and the usual configured audience.
pub const DEFAULT_AUDIENCE: &str = "authenticated";
/// The role Supabase Auth gives signed-in users.
pub const DEFAULT_ROLE: &str = "authenticated";

/// What to put in a minted token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintClaims {
    /// The user id; must parse as [`UserId`].
    pub sub: String,
    /// Lifetime from now (whole seconds, at least one).
    pub ttl: Duration,
    pub audience: Option<String>,
    pub issuer: Option<String>,
    /// Usually [`DEFAULT_ROLE`].
    pub role: String,
}

impl MintClaims {
    /// Claims for a signed-in user, as Supabase Auth would issue them: role and audience
    /// `"authenticated"`, no issuer.
    pub fn authenticated(sub: impl Into<String>, ttl: Duration) -> Self {
        Self {
            sub: sub.into(),
            ttl,
            audience: Some(DEFAULT_AUDIENCE.to_owned()),
            issuer: None,
            role: DEFAULT_ROLE.to_owned(),
        }
    }
}

#[derive(Serialize)]
struct MintedClaims<'a> {
    sub: &'a str,
    role: &'a str,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
}

/// Signs an HS256 token that [`Authenticator::verify`](crate::Authenticator::verify) accepts when
/// configured with the same secret, audience and issuer.
pub fn mint_hs256(secret: &SecretString, claims: &MintClaims) -> Result<String, AuthError> {
    // Same floor as verification, so we never mint a token our own server would refuse to check.
    if secret.expose_secret().len() < MIN_HS256_SECRET_BYTES {
        return Err(AuthError::Mint(format!(
            "the HS256 secret must be at least {MIN_HS256_SECRET_BYTES} bytes long"
        )));
    }
    UserId::parse(&claims.sub).map_err(AuthError::BadSubject)?;
    let ttl_secs = i64::try_from(claims.ttl.as_secs())
        .ok()
        .filter(|&secs| secs > 0)
        .ok_or_else(|| AuthError::Mint("ttl must be at least one second".to_owned()))?;

    let iat = OffsetDateTime::now_utc().unix_timestamp();
    let exp = iat
        .checked_add(ttl_secs)
        .ok_or_else(|| AuthError::Mint("ttl is too long".to_owned()))?;
    let body = MintedClaims {
        sub: &claims.sub,
        role: &claims.role,
        iat,
        exp,
        aud: claims.audience.as_deref(),
        iss: claims.issuer.as_deref(),
    };
    let key = EncodingKey::from_secret(secret.expose_secret().as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &body, &key)
        .map_err(|e| AuthError::Mint(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretString {
        SecretString::from("s".repeat(MIN_HS256_SECRET_BYTES))
    }

    #[test]
    fn refuses_bad_input() {
        let ok = MintClaims::authenticated("alice", Duration::from_secs(60));
        let short = SecretString::from("short");
        assert!(matches!(mint_hs256(&short, &ok), Err(AuthError::Mint(_))));

        let bad_sub = MintClaims::authenticated("a b", Duration::from_secs(60));
        assert!(matches!(
            mint_hs256(&secret(), &bad_sub),
            Err(AuthError::BadSubject(_))
        ));

        let no_ttl = MintClaims::authenticated("alice", Duration::from_millis(500));
        assert!(matches!(
            mint_hs256(&secret(), &no_ttl),
            Err(AuthError::Mint(_))
        ));

        let huge_ttl = MintClaims::authenticated("alice", Duration::MAX);
        assert!(matches!(
            mint_hs256(&secret(), &huge_ttl),
            Err(AuthError::Mint(_))
        ));
    }

    #[test]
    fn writes_the_supabase_claims() {
        let claims = MintClaims {
            issuer: Some("https://auth.example.test".to_owned()),
            ..MintClaims::authenticated("alice", Duration::from_secs(60))
        };
        let token = mint_hs256(&secret(), &claims).unwrap();
        let body: serde_json::Value =
            jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
        assert_eq!(body["sub"], "alice");
        assert_eq!(body["role"], "authenticated");
        assert_eq!(body["aud"], "authenticated");
        assert_eq!(body["iss"], "https://auth.example.test");
        assert_eq!(
            body["exp"].as_i64().unwrap() - body["iat"].as_i64().unwrap(),
            60
        );
    }
}
