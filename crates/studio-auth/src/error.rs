//! The crate's error type, [`AuthError`], and its coarse [`AuthErrorKind`] that the HTTP layer
//! maps to a status. Messages describe what was wrong with a token, never its content.

use std::sync::Arc;

use studio_core::UserIdError;

/// Why a token was not accepted (or, for [`mint_hs256`](crate::mint_hs256), not made).
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// Not a JWT: wrong shape, bad base64 or JSON, an unknown `alg` such as `none`, a `crit`
    /// header, or an absurd size.
    #[error("token is malformed")]
    Malformed,
    /// The header's `alg` is not one of the configured algorithms.
    #[error("token algorithm is not accepted")]
    AlgorithmNotAllowed,
    /// No key in the JWKS has the token's `kid` (after any refetch we were allowed to make), or
    /// the token has no `kid` and the set holds no fitting key.
    #[error("token signing key is unknown")]
    UnknownKey,
    /// The key named by `kid` cannot verify this algorithm (other key type, other `alg`), or the
    /// token has no `kid` and more than one key would fit.
    #[error("no usable key for this token")]
    NoUsableKey,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token audience is not accepted")]
    WrongAudience,
    #[error("token issuer is not accepted")]
    WrongIssuer,
    #[error("token lacks the `{0}` claim")]
    MissingClaim(String),
    #[error("token claim `{0}` has the wrong type or range")]
    BadClaim(String),
    #[error("token subject is not a valid user id")]
    BadSubject(#[source] UserIdError),
    /// The JWKS could not be fetched and no cached key fits: the fault is ours or the identity
    /// provider's, not the client's.
    #[error("signing keys are unavailable")]
    KeysUnavailable(#[source] Arc<JwksFetchError>),
    /// [`mint_hs256`](crate::mint_hs256) refused its input or could not sign.
    #[error("cannot mint token: {0}")]
    Mint(String),
}

/// Coarse outcome for the HTTP layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthErrorKind {
    /// `401 invalid_token`.
    Invalid,
    /// `401 token_expired`: the client should refresh its token.
    Expired,
    /// `503`: the JWKS could not be fetched and no cached key fits.
    Unavailable,
}

impl AuthError {
    /// How the HTTP layer should answer.
    pub fn kind(&self) -> AuthErrorKind {
        match self {
            Self::Expired => AuthErrorKind::Expired,
            Self::KeysUnavailable(_) => AuthErrorKind::Unavailable,
            // `Mint` only reaches the CLI; it is a refusal of bad input, hence `Invalid`.
            Self::Malformed
            | Self::AlgorithmNotAllowed
            | Self::UnknownKey
            | Self::NoUsableKey
            | Self::BadSignature
            | Self::NotYetValid
            | Self::WrongAudience
            | Self::WrongIssuer
            | Self::MissingClaim(_)
            | Self::BadClaim(_)
            | Self::BadSubject(_)
            | Self::Mint(_) => AuthErrorKind::Invalid,
        }
    }

    /// Maps a `jsonwebtoken` decode failure to ours.
    pub(crate) fn from_decode(err: &jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind as K;
        match err.kind() {
            K::InvalidSignature => Self::BadSignature,
            K::ExpiredSignature => Self::Expired,
            K::ImmatureSignature => Self::NotYetValid,
            K::InvalidAudience => Self::WrongAudience,
            K::InvalidIssuer => Self::WrongIssuer,
            K::MissingRequiredClaim(claim) => Self::MissingClaim(claim.clone()),
            K::InvalidClaimFormat(claim) => Self::BadClaim(claim.clone()),
            K::InvalidAlgorithm | K::MissingAlgorithm => Self::AlgorithmNotAllowed,
            // The key itself was unusable (e.g. a JWKS point that is not on the curve).
            K::InvalidEcdsaKey | K::InvalidRsaKey(_) | K::InvalidKeyFormat => Self::NoUsableKey,
            // Shape, base64, JSON and UTF-8 errors, plus anything added later: not a token we
            // understand.
            _ => Self::Malformed,
        }
    }
}

/// Why fetching the JWKS failed. Kept as the source of [`AuthError::KeysUnavailable`] so the
/// HTTP layer can log it once with its 503.
#[derive(Debug, thiserror::Error)]
pub enum JwksFetchError {
    #[error("JWKS request failed")]
    Request(#[source] reqwest::Error),
    #[error("JWKS endpoint answered HTTP {0}")]
    Status(u16),
    #[error("JWKS response is larger than {} bytes", crate::MAX_JWKS_BYTES)]
    TooLarge,
    #[error("JWKS response is not a JSON key set")]
    Json(#[source] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_http_mapping() {
        assert_eq!(AuthError::Expired.kind(), AuthErrorKind::Expired);
        assert_eq!(
            AuthError::KeysUnavailable(Arc::new(JwksFetchError::Status(500))).kind(),
            AuthErrorKind::Unavailable
        );
        assert_eq!(AuthError::NotYetValid.kind(), AuthErrorKind::Invalid);
        assert_eq!(AuthError::BadSignature.kind(), AuthErrorKind::Invalid);
    }
}
