//! User identity as the identity provider gives it (the JWT `sub`).
//!
//! Users are created by the identity provider (Supabase Auth, or `studio token` locally), not by
//! us, so a user id is an opaque string: Supabase uses UUIDs, other providers use other shapes.
//! We only bound its length and refuse characters that would make it unsafe to log or to put in a
//! URL path.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Longest user id we accept; far above a UUID (36) and typical OIDC subjects.
pub const MAX_USER_ID_LEN: usize = 128;

/// Why a string is not an acceptable user id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserIdError {
    #[error("user id is empty")]
    Empty,
    #[error("user id is longer than {MAX_USER_ID_LEN} characters")]
    TooLong,
    #[error("user id may only contain letters, digits and `-_.:@|`")]
    BadCharacter,
}

/// The stable id of a user: the `sub` claim of their token.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[schema(value_type = String, example = "8b6f0c0e-3e0a-4c5e-9d1a-2f4b7c9d1e23")]
pub struct UserId(String);

impl UserId {
    /// Checks and wraps a user id.
    pub fn parse(s: &str) -> Result<Self, UserIdError> {
        if s.is_empty() {
            return Err(UserIdError::Empty);
        }
        if s.len() > MAX_USER_ID_LEN {
            return Err(UserIdError::TooLong);
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:@|".contains(c);
        if !s.chars().all(allowed) {
            return Err(UserIdError::BadCharacter);
        }
        Ok(Self(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuids_and_provider_subjects() {
        for ok in [
            "8b6f0c0e-3e0a-4c5e-9d1a-2f4b7c9d1e23",
            "auth0|abc123",
            "alice",
        ] {
            assert_eq!(UserId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_empty_long_and_unsafe_ids() {
        assert_eq!(UserId::parse(""), Err(UserIdError::Empty));
        assert_eq!(
            UserId::parse(&"a".repeat(MAX_USER_ID_LEN + 1)),
            Err(UserIdError::TooLong)
        );
        for bad in ["a b", "a/b", "a\nb", "é", "a%2f"] {
            assert_eq!(
                UserId::parse(bad),
                Err(UserIdError::BadCharacter),
                "{bad:?}"
            );
        }
    }
}
