//! Studio Engine authentication: turns a bearer JWT into an [`AuthenticatedUser`], and mints
//! HS256 tokens for local use (`studio token`).
//!
//! Tokens look like Supabase Auth's: claims `sub` (the user id), `role`, `aud`
//! (`"authenticated"`), `exp`, `iat`, optional `nbf` and `iss`. They are signed either with a shared
//! HS256 secret or with an ES256/RS256 key published in a JWKS by the identity provider.
//!
//! Invariants this crate keeps:
//! - Only the algorithms listed in [`AuthConfig::algorithms`] are accepted; the token's header
//!   never chooses the algorithm or the key (no `alg: none`, no HS/RS confusion, no `jku`/`jwk`).
//! - JWKS keys are fetched lazily, cached, and refetched on an unknown `kid` at most once per
//!   [`MIN_REFETCH_INTERVAL`], so random kids cannot make us hammer the provider.
//! - Tokens and secrets are never logged.
//!
//! No HTTP framework here: the HTTP layer maps [`AuthError::kind`] to a status code.

mod authenticator;
mod claims;
mod config;
mod error;
mod jwks;
mod mint;

pub use authenticator::{AuthenticatedUser, Authenticator};
pub use config::{AuthConfig, AuthConfigError, MAX_LEEWAY, MIN_HS256_SECRET_BYTES};
pub use error::{AuthError, AuthErrorKind, JwksFetchError};
pub use jwks::{JWKS_FETCH_TIMEOUT, MAX_JWKS_BYTES, MIN_REFETCH_INTERVAL};
pub use mint::{DEFAULT_AUDIENCE, DEFAULT_ROLE, MintClaims, mint_hs256};

/// Re-exported so callers can name algorithms without depending on `jsonwebtoken` themselves.
pub use jsonwebtoken::Algorithm;
