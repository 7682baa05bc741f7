//! `Authorization: Bearer <JWT>` → the calling user.
//!
//! Every failure is a 401 with `WWW-Authenticate: Bearer` (RFC 6750, with `error="invalid_token"`
//! when a token was sent), except a JWKS outage, which is our problem and answers 503.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use studio_auth::{AuthErrorKind, Authenticator};
use studio_core::UserId;

use crate::{ApiError, ErrorCode};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: UserId,
}

fn challenge(code: ErrorCode, detail: &str, token_sent: bool) -> ApiError {
    let value = if token_sent {
        HeaderValue::from_static(r#"Bearer error="invalid_token""#)
    } else {
        HeaderValue::from_static("Bearer")
    };
    ApiError::new(code, detail).with_header(header::WWW_AUTHENTICATE, value)
}

/// The bearer token of a request, if it has a well-formed `Authorization: Bearer` header.
fn bearer_token(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || {
        challenge(
            ErrorCode::InvalidToken,
            "The Authorization header must be `Bearer <token>`.",
            true,
        )
    };
    let text = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = text.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(malformed());
    }
    Ok(Some(token.trim()))
}

impl<S> FromRequestParts<S> for AuthUser
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        let Some(token) = bearer_token(parts)? else {
            return Err(challenge(
                ErrorCode::Unauthenticated,
                "This route needs an `Authorization: Bearer <token>` header.",
                false,
            ));
        };
        let authenticator = Arc::<Authenticator>::from_ref(state);
        let user_id = verify_token(&authenticator, token).await?;
        let user = AuthUser { user_id };
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// Verifies a bearer token (from a header, or where a route takes it otherwise): the user, or
/// 401 (`token_expired` / `invalid_token`), or 503 when the keys cannot be fetched.
pub async fn verify_token(authenticator: &Authenticator, token: &str) -> Result<UserId, ApiError> {
    let user = authenticator.verify(token).await.map_err(|err| {
        // The reason is useful to operators; the token itself is never logged.
        tracing::info!(auth.error = %err, "token refused");
        match err.kind() {
            AuthErrorKind::Expired => {
                challenge(ErrorCode::TokenExpired, "The token has expired.", true)
            }
            AuthErrorKind::Invalid => challenge(
                ErrorCode::InvalidToken,
                "The token is not valid for this service.",
                true,
            ),
            AuthErrorKind::Unavailable => ApiError::new(
                ErrorCode::AuthUnavailable,
                "Token keys cannot be fetched right now; try again shortly.",
            ),
        }
    })?;
    Ok(user.user_id)
}
