//! Prefixed, unguessable resource ids (`prj_…`), in the style of Stripe and svix.
//!
//! Invariant: an id is its prefix followed by exactly [`RANDOM_CHARS`] characters of lowercase
//! Crockford base32 that encode 130 random bits from the operating system's generator. Ids carry no
//! timestamp or counter, so knowing one id tells nothing about any other.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Number of base32 characters after the prefix; 26 × 5 bits = 130 bits of randomness, so ids
/// cannot be enumerated or guessed.
pub const RANDOM_CHARS: usize = 26;

/// Crockford's base32 alphabet, lowercase: no `i`, `l`, `o` or `u`, so ids survive being read
/// aloud or retyped.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Why a string is not a valid id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected an id of the form `{prefix}` followed by {RANDOM_CHARS} base32 characters")]
pub struct IdParseError {
    /// The prefix the id should have had, e.g. `prj_`.
    pub prefix: &'static str,
}

fn random_suffix() -> String {
    let mut bytes = [0u8; RANDOM_CHARS];
    rand::rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 0x1f)] as char)
        .collect()
}

fn is_valid(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == RANDOM_CHARS && rest.bytes().all(|b| ALPHABET.contains(&b))
    })
}

macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A new random id.
            pub fn generate() -> Self {
                Self(format!("{}{}", Self::PREFIX, random_suffix()))
            }

            /// The id as text, prefix included.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if is_valid(Self::PREFIX, s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdParseError { prefix: Self::PREFIX })
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(format!(
                        "^{}[0-9a-hjkmnp-tv-z]{{{}}}$",
                        Self::PREFIX,
                        RANDOM_CHARS
                    )))
                    .examples([serde_json::Value::String(format!(
                        "{}{}",
                        Self::PREFIX,
                        "0".repeat(RANDOM_CHARS)
                    ))])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

prefixed_id!(
    /// Identifies a project: `prj_` + 26 base32 characters.
    ProjectId,
    "prj_"
);

prefixed_id!(
    /// Identifies an asset (an uploaded media file): `ast_` + 26 base32 characters.
    AssetId,
    "ast_"
);

prefixed_id!(
    /// Identifies a background job: `job_` + 26 base32 characters.
    JobId,
    "job_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_differ() {
        let a = ProjectId::generate();
        let b = ProjectId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().parse::<ProjectId>().unwrap(), a);
        assert_eq!(a.as_str().len(), 4 + RANDOM_CHARS);
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "prj_",
            "ast_0123456789abcdefghjkmnpqrs",
            "prj_0123456789abcdefghjkmnpqr",
            "prj_0123456789abcdefghjkmnpqrst",
            "prj_0123456789ABCDEFGHJKMNPQRS",
            "prj_0123456789abcdefghjkmnpqri",
            "prj_../../etc/passwd0000000000",
        ] {
            assert!(bad.parse::<ProjectId>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn serde_refuses_a_malformed_id() {
        let err = serde_json::from_str::<ProjectId>("\"prj_nope\"").unwrap_err();
        assert!(err.to_string().contains("prj_"));
    }
}
