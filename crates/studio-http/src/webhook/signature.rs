//! Standard Webhooks signatures (<https://www.standardwebhooks.com>), the scheme Svix and others
//! send: headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, a
//! space-separated list of `v1,<base64 HMAC-SHA256>` (several while a sender rotates keys). The
//! signed content is `{id}.{timestamp}.{body}`, keyed by the bytes of the `whsec_…` secret.
//!
//! Invariants: comparisons of secret-derived bytes take the same time whatever they contain
//! ([`constant_time_eq`]); a timestamp more than [`TOLERANCE_SECS`] away from now, either way, is
//! refused, so a captured delivery cannot be replayed later, and since the id and timestamp are
//! signed with the body, neither can be moved onto another body.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// How far a delivery's timestamp may be from our clock: five minutes, the scheme's advice
/// (room for clock skew and a sender's queue, short enough to bound replays).
pub const TOLERANCE_SECS: i64 = 5 * 60;
/// Longest `webhook-id` accepted: ids are short tokens (`msg_…`); this bounds what is signed
/// and what becomes a de-duplication key.
pub const MAX_ID_BYTES: usize = 256;
/// The only signature version this scheme defines for HMAC (`v1a` is asymmetric; not used).
const VERSION: &str = "v1";

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("`webhook-id`, `webhook-timestamp` and `webhook-signature` must all be sent")]
    MissingHeader,
    #[error("`webhook-id` must be 1 to {MAX_ID_BYTES} visible ASCII characters")]
    BadId,
    #[error("`webhook-timestamp` must be Unix seconds")]
    BadTimestamp,
    #[error("`webhook-timestamp` is more than five minutes away from the server's clock")]
    Stale,
    #[error("no `v1` signature matches the body")]
    NoMatch,
}

/// The three headers of a signed delivery, as sent.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub id: &'a str,
    pub timestamp: &'a str,
    /// The `webhook-signature` header: space-separated `v1,<base64>` entries.
    pub signatures: &'a str,
}

/// Checks `body` against the headers, at `now` (Unix seconds).
pub fn verify(key: &[u8], signed: Signed<'_>, body: &[u8], now: i64) -> Result<(), SignatureError> {
    if !valid_id(signed.id) {
        return Err(SignatureError::BadId);
    }
    let timestamp = parse_timestamp(signed.timestamp)?;
    if now.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let expected = mac(key, &signed_content(signed.id, signed.timestamp, body));
    // Every entry is compared, matching or not, so the time taken says nothing about which.
    let mut matched = false;
    for entry in signed.signatures.split_ascii_whitespace() {
        let Some((VERSION, encoded)) = entry.split_once(',') else {
            continue;
        };
        if let Ok(candidate) = STANDARD.decode(encoded) {
            matched |= constant_time_eq(&candidate, &expected);
        }
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// The `webhook-signature` value a sender computes: `v1,<base64>`. For tests and tools that
/// play the sender.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let content = signed_content(id, &timestamp.to_string(), body);
    format!("{VERSION},{}", STANDARD.encode(mac(key, &content)))
}

/// Whether `presented` is `expected`, in time independent of where they differ and of their
/// lengths: both are reduced to a MAC under `expected` first, then compared in constant time.
pub fn token_matches(expected: &[u8], presented: &[u8]) -> bool {
    constant_time_eq(&mac(expected, presented), &mac(expected, expected))
}

/// Whether `id` is usable as a `webhook-id`: 1 to [`MAX_ID_BYTES`] visible ASCII characters.
pub fn valid_id(id: &str) -> bool {
    (1..=MAX_ID_BYTES).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

fn parse_timestamp(text: &str) -> Result<i64, SignatureError> {
    // Digits only: no sign, no spaces, no fraction; `i64::from_str` alone would take `+1`.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::BadTimestamp);
    }
    text.parse().map_err(|_| SignatureError::BadTimestamp)
}

fn signed_content(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

/// HMAC-SHA256 of `message` under `key`.
fn mac(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit as _, Mac as _};
    // HMAC takes keys of any length, so this cannot fail.
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Equality whose running time depends only on the lengths (public here: 32-byte MACs).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries.
    const KEY_B64: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn key() -> Vec<u8> {
        STANDARD.decode(KEY_B64).unwrap()
    }

    fn signed<'a>(timestamp: &'a str, signatures: &'a str) -> Signed<'a> {
        Signed {
            id: ID,
            timestamp,
            signatures,
        }
    }

    #[test]
    fn matches_the_reference_vector() {
        assert_eq!(sign(&key(), ID, TIMESTAMP, BODY), EXPECTED);
        let ts = TIMESTAMP.to_string();
        assert_eq!(
            verify(&key(), signed(&ts, EXPECTED), BODY, TIMESTAMP),
            Ok(())
        );
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let ts = TIMESTAMP.to_string();
        let header = format!("v1,Zm9v v1a,whatever v2,{} {EXPECTED}", &EXPECTED[3..]);
        assert_eq!(
            verify(&key(), signed(&ts, &header), BODY, TIMESTAMP),
            Ok(())
        );
        // The right bytes under another version are not a match.
        let header = format!("v2,{}", &EXPECTED[3..]);
        assert_eq!(
            verify(&key(), signed(&ts, &header), BODY, TIMESTAMP),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn refuses_other_bodies_ids_keys_and_times() {
        let ts = TIMESTAMP.to_string();
        let ok = signed(&ts, EXPECTED);
        let check = |key: &[u8], s: Signed<'_>, body: &[u8], now: i64| verify(key, s, body, now);
        assert_eq!(
            check(&key(), ok, br#"{"test": 2432232315}"#, TIMESTAMP),
            Err(SignatureError::NoMatch)
        );
        let other_id = Signed { id: "msg_2", ..ok };
        assert_eq!(
            check(&key(), other_id, BODY, TIMESTAMP),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            check(b"another key", ok, BODY, TIMESTAMP),
            Err(SignatureError::NoMatch)
        );
        let ts2 = (TIMESTAMP + 1).to_string();
        assert_eq!(
            check(&key(), signed(&ts2, EXPECTED), BODY, TIMESTAMP),
            Err(SignatureError::NoMatch)
        );
        // Five minutes either way is fine; a second more is not.
        assert_eq!(check(&key(), ok, BODY, TIMESTAMP + TOLERANCE_SECS), Ok(()));
        assert_eq!(check(&key(), ok, BODY, TIMESTAMP - TOLERANCE_SECS), Ok(()));
        assert_eq!(
            check(&key(), ok, BODY, TIMESTAMP + TOLERANCE_SECS + 1),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check(&key(), ok, BODY, TIMESTAMP - TOLERANCE_SECS - 1),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for ts in [
            "",
            "+1614265330",
            "1614265330.5",
            " 1614265330",
            "99999999999999999999",
        ] {
            assert_eq!(
                verify(&key(), signed(ts, EXPECTED), BODY, TIMESTAMP),
                Err(SignatureError::BadTimestamp),
                "{ts:?}"
            );
        }
        let ts = TIMESTAMP.to_string();
        for id in ["", "has space", &"x".repeat(MAX_ID_BYTES + 1)] {
            let s = Signed {
                id,
                ..signed(&ts, EXPECTED)
            };
            assert_eq!(
                verify(&key(), s, BODY, TIMESTAMP),
                Err(SignatureError::BadId)
            );
        }
        for header in [
            "",
            "v1",
            "v1,",
            "v1,!!!",
            EXPECTED.trim_start_matches("v1,"),
        ] {
            assert_eq!(
                verify(&key(), signed(&ts, header), BODY, TIMESTAMP),
                Err(SignatureError::NoMatch),
                "{header:?}"
            );
        }
    }

    #[test]
    fn tokens_compare_by_value() {
        assert!(token_matches(
            b"a-long-configured-token",
            b"a-long-configured-token"
        ));
        assert!(!token_matches(
            b"a-long-configured-token",
            b"a-long-configured-tokeN"
        ));
        assert!(!token_matches(b"a-long-configured-token", b"a-long"));
        assert!(!token_matches(b"a-long-configured-token", b""));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b"ab"));
    }
}
