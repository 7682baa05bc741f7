//! A parsed JWKS: the keys we can use for ES256/RS256, and the lookup of the key a token names.
//!
//! Parsing is per key and forgiving: a key we cannot use (encryption key, other curve, unknown
//! type, malformed) is skipped rather than failing the whole set, because providers publish keys
//! for other purposes next to signing keys.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// Smallest RSA modulus we trust; NIST has disallowed shorter keys for signatures since 2013.
const MIN_RSA_MODULUS_BITS: usize = 2048;

/// Length of a P-256 coordinate in bytes.
const P256_COORDINATE_BYTES: usize = 32;

/// The kind of public key, which decides the algorithm it can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    EcP256,
    Rsa,
}

impl KeyKind {
    fn verifies(self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (Self::EcP256, Algorithm::ES256) | (Self::Rsa, Algorithm::RS256)
        )
    }
}

/// One usable signing key.
struct SetKey {
    kid: Option<String>,
    /// The key's own `alg`, when it states one.
    alg: Option<Algorithm>,
    kind: KeyKind,
    key: DecodingKey,
}

impl SetKey {
    fn fits(&self, alg: Algorithm) -> bool {
        self.kind.verifies(alg) && self.alg.is_none_or(|own| own == alg)
    }
}

/// The usable keys of one fetched JWKS.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<SetKey>,
}

/// Result of looking up the key for a token.
pub(crate) enum Lookup<'a> {
    Found(&'a DecodingKey),
    /// No key has the token's `kid` (or, without a `kid`, no key fits): a rotation we have not
    /// seen yet, so a refetch may help.
    Unknown,
    /// The `kid` is known but its key cannot verify this algorithm, or several keys would fit a
    /// token without `kid`. A refetch would not help.
    Unusable,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Parses a JWKS document. Fails only when the document is not `{"keys": [...]}`.
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        let raw: RawSet = serde_json::from_slice(body)?;
        let keys = raw.keys.into_iter().filter_map(usable_key).collect();
        Ok(Self { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key for a token with this header `kid` and (already allowed) `alg`.
    pub fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup<'_> {
        match kid {
            Some(kid) => {
                let mut named = self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid));
                let Some(first) = named.next() else {
                    return Lookup::Unknown;
                };
                // Providers may publish one kid for several algorithms; take the one that fits.
                match std::iter::once(first).chain(named).find(|k| k.fits(alg)) {
                    Some(key) => Lookup::Found(&key.key),
                    None => Lookup::Unusable,
                }
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(only), None) => Lookup::Found(&only.key),
                    (None, _) => Lookup::Unknown,
                    // Trying each would let a token pick among keys; refuse instead.
                    (Some(_), Some(_)) => Lookup::Unusable,
                }
            }
        }
    }
}

/// Turns one JWKS entry into a key we can verify with, or `None` (with a debug log) if we
/// cannot or must not use it.
fn usable_key(value: serde_json::Value) -> Option<SetKey> {
    let jwk: Jwk = match serde_json::from_value(value) {
        Ok(jwk) => jwk,
        Err(error) => {
            tracing::debug!(%error, "skipping malformed JWKS key");
            return None;
        }
    };
    let kid = jwk.common.key_id.clone();
    let skip = |reason: &str| {
        tracing::debug!(jwks.kid = ?kid, reason, "skipping JWKS key");
        None
    };

    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return skip("not a signature key");
    }
    if jwk
        .common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return skip("key_ops lacks verify");
    }
    let alg = match jwk.common.key_algorithm {
        None => None,
        // Unknown names and encryption algorithms (RSA-OAEP, ...) fail this conversion.
        Some(key_alg) => match Algorithm::try_from(key_alg) {
            Ok(alg) => Some(alg),
            Err(_) => return skip("alg is not a signature algorithm"),
        },
    };

    let kind = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) => {
            if ec.curve != EllipticCurve::P256 {
                return skip("curve is not P-256");
            }
            let coordinate_ok = |c: &str| decoded_len(c) == Some(P256_COORDINATE_BYTES);
            if !coordinate_ok(&ec.x) || !coordinate_ok(&ec.y) {
                return skip("bad P-256 coordinates");
            }
            KeyKind::EcP256
        }
        AlgorithmParameters::RSA(rsa) => {
            if modulus_bits(&rsa.n).is_none_or(|bits| bits < MIN_RSA_MODULUS_BITS) {
                return skip("RSA modulus missing or too short");
            }
            KeyKind::Rsa
        }
        // Symmetric (`oct`) keys in a public set are a provider mistake; HS256 uses only the
        // configured secret. Ed25519 and unknown types are not supported.
        _ => return skip("unsupported key type"),
    };
    if alg.is_some_and(|alg| !kind.verifies(alg)) {
        return skip("alg does not match key type");
    }

    match DecodingKey::from_jwk(&jwk) {
        Ok(key) => Some(SetKey {
            kid,
            alg,
            kind,
            key,
        }),
        Err(_) => skip("key material does not decode"),
    }
}

/// Decodes base64url (JWKs omit padding) and returns the byte length.
fn decoded_len(b64: &str) -> Option<usize> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .ok()
        .map(|bytes| bytes.len())
}

/// Bit length of a base64url big-endian RSA modulus.
fn modulus_bits(n: &str) -> Option<usize> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(n)
        .ok()?;
    let first = bytes.iter().position(|&b| b != 0)?;
    let leading_zero_bits = bytes[first].leading_zeros() as usize;
    Some((bytes.len() - first) * 8 - leading_zero_bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/jwks.json");

    fn fixture_keys() -> Vec<serde_json::Value> {
        let set: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        set["keys"].as_array().unwrap().clone()
    }

    fn set_of(keys: Vec<serde_json::Value>) -> KeySet {
        KeySet::parse(serde_json::json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    fn found(lookup: Lookup<'_>) -> bool {
        matches!(lookup, Lookup::Found(_))
    }

    #[test]
    fn parses_the_fixture_set() {
        assert_eq!(set_of(fixture_keys()).len(), 3);
    }

    #[test]
    fn looks_up_by_kid_and_checks_the_fit() {
        let set = set_of(fixture_keys());
        assert!(found(set.lookup(Some("ec-1"), Algorithm::ES256)));
        assert!(found(set.lookup(Some("rsa-1"), Algorithm::RS256)));
        assert!(matches!(
            set.lookup(Some("ec-1"), Algorithm::RS256),
            Lookup::Unusable
        ));
        assert!(matches!(
            set.lookup(Some("rsa-1"), Algorithm::ES256),
            Lookup::Unusable
        ));
        assert!(matches!(
            set.lookup(Some("nope"), Algorithm::ES256),
            Lookup::Unknown
        ));
    }

    #[test]
    fn without_kid_only_a_single_fitting_key_is_used() {
        let set = set_of(fixture_keys());
        // Two EC keys: ambiguous. One RSA key: fine.
        assert!(matches!(
            set.lookup(None, Algorithm::ES256),
            Lookup::Unusable
        ));
        assert!(found(set.lookup(None, Algorithm::RS256)));
        let ec_only = set_of(fixture_keys().into_iter().take(1).collect());
        assert!(found(ec_only.lookup(None, Algorithm::ES256)));
        assert!(matches!(
            ec_only.lookup(None, Algorithm::RS256),
            Lookup::Unknown
        ));
    }

    #[test]
    fn skips_keys_we_must_not_use() {
        let mut keys = fixture_keys();
        keys[0]["use"] = "enc".into();
        keys[1]["alg"] = "RS256".into(); // an EC key claiming RSA
        keys[2]["alg"] = "RSA-OAEP".into();
        keys.push(serde_json::json!({ "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" }));
        keys.push(serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": "AAAA" }));
        keys.push(serde_json::json!({ "kty": "RSA", "kid": "tiny", "n": "AQAB", "e": "AQAB" }));
        keys.push(serde_json::json!({ "kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA" }));
        keys.push(serde_json::json!({ "use": 5 }));
        assert_eq!(set_of(keys).len(), 0);
    }

    #[test]
    fn refuses_documents_that_are_not_key_sets() {
        for bad in [&b"<html>"[..], b"{}", b"{\"keys\": 3}", b"[]"] {
            assert!(KeySet::parse(bad).is_err());
        }
    }

    #[test]
    fn measures_rsa_moduli() {
        assert_eq!(modulus_bits("AQAB"), Some(17)); // 0x010001
        assert_eq!(modulus_bits("AAEA"), Some(9)); // leading zero byte ignored
        assert_eq!(modulus_bits("AAAA"), None);
    }
}
