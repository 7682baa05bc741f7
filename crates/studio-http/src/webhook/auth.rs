//! Who may deliver to the storage webhook: a sender holding the configured bearer token, or one
//! signing with the configured Standard Webhooks secret. Either proves the delivery on its own,
//! so a request is accepted when any credential it carries checks out. With neither configured,
//! nothing is accepted: an open webhook would let anyone make us probe storage.

use axum::http::{HeaderMap, header};
use secrecy::ExposeSecret as _;

use super::signature::{self, SignatureError, Signed};
use crate::settings::WebhookAuth;

pub const WEBHOOK_ID: &str = "webhook-id";
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// How a delivery proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    Token,
    Signature,
}

/// Why a delivery was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the storage webhook is disabled: no token or signing secret is configured")]
    NotConfigured,
    #[error("send `Authorization: Bearer <token>` or a Standard Webhooks signature")]
    MissingCredentials,
    #[error("the bearer token is not the storage webhook's")]
    BadToken,
    #[error("{0}")]
    Signature(SignatureError),
}

impl Refusal {
    /// A stable name for logs.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotConfigured => "not_configured",
            Self::MissingCredentials => "missing_credentials",
            Self::BadToken => "bad_token",
            Self::Signature(SignatureError::MissingHeader) => "signature_headers_incomplete",
            Self::Signature(SignatureError::BadId) => "bad_webhook_id",
            Self::Signature(SignatureError::BadTimestamp) => "bad_timestamp",
            Self::Signature(SignatureError::Stale) => "stale_timestamp",
            Self::Signature(SignatureError::NoMatch) => "bad_signature",
        }
    }
}

/// A header's value as text, if it is there and visible ASCII.
pub fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks the credentials of a delivery of `body`, at `now` (Unix seconds).
pub fn authenticate(
    config: &WebhookAuth,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Verified, Refusal> {
    if config.token.is_none() && config.signing_key.is_none() {
        return Err(Refusal::NotConfigured);
    }
    let mut refusal = Refusal::MissingCredentials;
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let presented = value
            .to_str()
            .ok()
            .and_then(|text| text.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        if let (Some(expected), Some(presented)) = (&config.token, presented)
            && signature::token_matches(expected.expose_secret().as_bytes(), presented.as_bytes())
        {
            return Ok(Verified::Token);
        }
        refusal = Refusal::BadToken;
    }
    let id = header_text(headers, WEBHOOK_ID);
    let timestamp = header_text(headers, WEBHOOK_TIMESTAMP);
    let signatures = header_text(headers, WEBHOOK_SIGNATURE);
    if let Some(key) = &config.signing_key
        && (id.is_some() || timestamp.is_some() || signatures.is_some())
    {
        let result = match (id, timestamp, signatures) {
            (Some(id), Some(timestamp), Some(signatures)) => signature::verify(
                key.expose_secret(),
                Signed {
                    id,
                    timestamp,
                    signatures,
                },
                body,
                now,
            ),
            _ => Err(SignatureError::MissingHeader),
        };
        match result {
            Ok(()) => return Ok(Verified::Signature),
            Err(err) => refusal = Refusal::Signature(err),
        }
    }
    Err(refusal)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use secrecy::{SecretSlice, SecretString};

    use super::*;

    const TOKEN: &str = "a-webhook-token-of-at-least-32-bytes";
    const KEY: &[u8] = b"twenty-four bytes or more of key";
    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"Records":[]}"#;

    fn both() -> WebhookAuth {
        WebhookAuth {
            token: Some(SecretString::from(TOKEN)),
            signing_key: Some(SecretSlice::from(KEY.to_vec())),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn signed(id: &str, ts: i64, body: &[u8]) -> HeaderMap {
        let sig = signature::sign(KEY, id, ts, body);
        headers(&[
            (WEBHOOK_ID, id),
            (WEBHOOK_TIMESTAMP, &ts.to_string()),
            (WEBHOOK_SIGNATURE, &sig),
        ])
    }

    #[test]
    fn nothing_configured_refuses_everything() {
        let none = WebhookAuth::default();
        let bearer = headers(&[("authorization", &format!("Bearer {TOKEN}"))]);
        assert_eq!(
            authenticate(&none, &bearer, BODY, NOW),
            Err(Refusal::NotConfigured)
        );
        assert_eq!(
            authenticate(&none, &signed("msg_1", NOW, BODY), BODY, NOW),
            Err(Refusal::NotConfigured)
        );
    }

    #[test]
    fn a_bearer_token_is_checked() {
        let ok = headers(&[("authorization", &format!("bearer  {TOKEN} "))]);
        assert_eq!(authenticate(&both(), &ok, BODY, NOW), Ok(Verified::Token));
        for bad in [
            format!("Bearer {TOKEN}x"),
            "Bearer".to_owned(),
            format!("Basic {TOKEN}"),
            TOKEN.to_owned(),
        ] {
            let h = headers(&[("authorization", &bad)]);
            assert_eq!(
                authenticate(&both(), &h, BODY, NOW),
                Err(Refusal::BadToken),
                "{bad}"
            );
        }
        assert_eq!(
            authenticate(&both(), &HeaderMap::new(), BODY, NOW),
            Err(Refusal::MissingCredentials)
        );
        // A token is no use where only signatures are configured.
        let only_key = WebhookAuth {
            token: None,
            ..both()
        };
        let h = headers(&[("authorization", &format!("Bearer {TOKEN}"))]);
        assert_eq!(
            authenticate(&only_key, &h, BODY, NOW),
            Err(Refusal::BadToken)
        );
    }

    #[test]
    fn a_signature_is_checked() {
        let ok = signed("msg_1", NOW, BODY);
        assert_eq!(
            authenticate(&both(), &ok, BODY, NOW),
            Ok(Verified::Signature)
        );
        assert_eq!(
            authenticate(&both(), &ok, br#"{"Records":[{}]}"#, NOW),
            Err(Refusal::Signature(SignatureError::NoMatch))
        );
        assert_eq!(
            authenticate(&both(), &ok, BODY, NOW + 301),
            Err(Refusal::Signature(SignatureError::Stale))
        );
        let mut partial = ok.clone();
        partial.remove(WEBHOOK_SIGNATURE);
        assert_eq!(
            authenticate(&both(), &partial, BODY, NOW),
            Err(Refusal::Signature(SignatureError::MissingHeader))
        );
        // Signatures are no use where only a token is configured.
        let only_token = WebhookAuth {
            signing_key: None,
            ..both()
        };
        assert_eq!(
            authenticate(&only_token, &ok, BODY, NOW),
            Err(Refusal::MissingCredentials)
        );
    }

    #[test]
    fn either_valid_credential_is_enough() {
        let mut h = signed("msg_1", NOW, BODY);
        h.insert("authorization", HeaderValue::from_static("Bearer wrong"));
        assert_eq!(
            authenticate(&both(), &h, BODY, NOW),
            Ok(Verified::Signature)
        );
        let mut h = signed("msg_1", NOW - 3600, BODY);
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap(),
        );
        assert_eq!(authenticate(&both(), &h, BODY, NOW), Ok(Verified::Token));
    }
}
