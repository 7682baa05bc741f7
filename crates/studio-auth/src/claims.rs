//! The claims we read from a token whose signature and standard claims `jsonwebtoken` has
//! checked (`exp`, `nbf`, `aud`, `iss`, presence of `sub`); this type only extracts what
//! [`AuthenticatedUser`](crate::AuthenticatedUser) needs.

use serde::Deserialize;
use time::OffsetDateTime;

use crate::AuthError;

/// Claims read after verification. Unknown claims are ignored: providers add their own
/// (Supabase: `email`, `session_id`, `app_metadata`, ...).
///
/// Every field is a loose JSON value because `jsonwebtoken` deserializes the claims *before* it
/// validates them: a strict type here would turn "missing `sub`" or "expired" into a generic
/// JSON error. Presence and types of `sub` and `exp` are then guaranteed by the validation.
#[derive(Debug, Deserialize)]
pub(crate) struct VerifiedClaims {
    #[serde(default)]
    sub: Option<serde_json::Value>,
    #[serde(default)]
    role: Option<serde_json::Value>,
    #[serde(default)]
    exp: Option<serde_json::Value>,
}

impl VerifiedClaims {
    /// `sub`, which validation required to be a string.
    pub fn sub(&self) -> Result<&str, AuthError> {
        match &self.sub {
            Some(serde_json::Value::String(sub)) => Ok(sub),
            _ => Err(AuthError::MissingClaim("sub".to_owned())),
        }
    }

    /// `role` when present; not a string is an error rather than silently no role.
    pub fn role(&self) -> Result<Option<String>, AuthError> {
        match &self.role {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(role)) => Ok(Some(role.clone())),
            Some(_) => Err(AuthError::BadClaim("role".to_owned())),
        }
    }

    /// `exp` as a timestamp. RFC 7519 allows fractional seconds and `jsonwebtoken` accepts
    /// them; the fraction is dropped (the check itself is done in whole seconds).
    pub fn expires_at(&self) -> Result<OffsetDateTime, AuthError> {
        let bad_exp = || AuthError::BadClaim("exp".to_owned());
        let Some(serde_json::Value::Number(exp)) = &self.exp else {
            return Err(bad_exp());
        };
        let secs = match exp.as_i64() {
            Some(secs) => secs,
            // `as` saturates for out-of-range floats, and `from_unix_timestamp` then refuses them.
            None => exp.as_f64().ok_or_else(bad_exp)?.trunc() as i64,
        };
        OffsetDateTime::from_unix_timestamp(secs).map_err(|_| bad_exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(body: serde_json::Value) -> VerifiedClaims {
        serde_json::from_value(body).unwrap()
    }

    fn with_exp(exp: serde_json::Value) -> VerifiedClaims {
        claims(serde_json::json!({ "sub": "u", "exp": exp }))
    }

    #[test]
    fn reads_integer_and_fractional_exp() {
        let at = |c: VerifiedClaims| c.expires_at().unwrap().unix_timestamp();
        assert_eq!(at(with_exp(1_700_000_000.into())), 1_700_000_000);
        assert_eq!(
            at(with_exp(serde_json::json!(1_700_000_000.75))),
            1_700_000_000
        );
    }

    #[test]
    fn refuses_exp_beyond_the_calendar_or_of_the_wrong_type() {
        for exp in [u64::MAX.into(), serde_json::json!("soon")] {
            assert!(matches!(
                with_exp(exp).expires_at(),
                Err(AuthError::BadClaim(_))
            ));
        }
    }

    #[test]
    fn tolerates_odd_types_until_asked() {
        let odd = claims(serde_json::json!({ "sub": 7, "role": ["admin"], "exp": "x" }));
        assert!(matches!(odd.sub(), Err(AuthError::MissingClaim(_))));
        assert!(matches!(odd.role(), Err(AuthError::BadClaim(_))));
        let plain = claims(serde_json::json!({ "sub": "u", "role": "authenticated" }));
        assert_eq!(plain.sub().unwrap(), "u");
        assert_eq!(plain.role().unwrap().as_deref(), Some("authenticated"));
    }
}
