//! Property tests standing in for a fuzzer: whatever a sender posts, the parser answers with
//! records or a client error and never panics; keys survive every sender's encoding; a
//! signature holds for exactly the body, id and time it was made for.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::payload::{self, PayloadError, Record, decode_key, encode_key};
use super::signature::{self, SignatureError, Signed, TOLERANCE_SECS};

/// JSON built from the names the parser looks for, so random values often reach deep into
/// every shape instead of stopping at the first missing member.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("ObjectCreated:Put".to_owned()),
            Just("s3:ObjectCreated:Post".to_owned()),
            Just("ObjectRemoved:Delete".to_owned()),
            Just("Webhook".to_owned()),
            Just("INSERT".to_owned()),
            Just("storage".to_owned()),
            Just("objects".to_owned()),
            Just("s3:TestEvent".to_owned()),
            "[a-zA-Z0-9 %+/é]{0,12}",
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                "Records|eventName|s3|object|bucket|name|key|size|eTag|sequencer|type|event|\
                 payload|bucketId|bucket_id|metadata|mimetype|table|schema|record|old_record|\
                 Event|version",
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// What `routes::webhooks` answers for a body the parser refuses: 400 or 422, never 5xx.
fn status_of(err: &PayloadError) -> u16 {
    match err {
        PayloadError::Malformed(_) => 400,
        PayloadError::Unrecognized { pointer, .. } => {
            assert!(pointer.is_empty() || pointer.starts_with('/'), "{pointer}");
            422
        }
    }
}

fn check_records(records: &[Record]) {
    for record in records {
        match record {
            Record::Created(created) => assert!(!created.key.is_empty()),
            Record::Invalid(err) => assert!(err.pointer.starts_with('/'), "{err:?}"),
            Record::Ignored { .. } => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_are_records_or_a_4xx(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        match payload::parse(&bytes) {
            Ok(parsed) => check_records(&parsed.records),
            Err(err) => prop_assert!(matches!(status_of(&err), 400 | 422)),
        }
    }

    #[test]
    fn arbitrary_json_is_records_or_a_422(value in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        match payload::parse(&bytes) {
            Ok(parsed) => {
                check_records(&parsed.records);
                if let Some(Value::Array(records)) = value.get("Records") {
                    // One record out per record in: a bad one never hides the others.
                    prop_assert_eq!(parsed.records.len(), records.len());
                }
            }
            Err(err) => prop_assert_eq!(status_of(&err), 422),
        }
    }

    #[test]
    fn keys_survive_every_senders_encoding(key in "\\PC{1,40}") {
        prop_assert_eq!(decode_key(&encode_key(&key)), Ok(key.clone()));
        let aws = json!({"Records": [{"eventName": "ObjectCreated:Put",
            "s3": {"object": {"key": encode_key(&key)}}}]});
        let minio = json!({"Records": [{"eventName": "s3:ObjectCreated:Put",
            "s3": {"object": {"key": encode_key(&key).replace('/', "%2F")}}}]});
        let supabase = json!({"type": "Webhook", "event": {"type": "ObjectCreated:Put",
            "payload": {"name": key, "bucketId": "b"}}});
        let database = json!({"type": "INSERT", "schema": "storage", "table": "objects",
            "record": {"name": key, "bucket_id": "b"}, "old_record": null});
        for body in [aws, minio, supabase, database] {
            let parsed = payload::parse(&serde_json::to_vec(&body).unwrap()).unwrap();
            match &parsed.records[..] {
                [Record::Created(created)] => prop_assert_eq!(&created.key, &key),
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            }
        }
    }

    #[test]
    fn decoding_any_text_never_panics(text in "\\PC{0,40}|[%+0-9a-fA-FgG]{0,12}") {
        if let Ok(decoded) = decode_key(&text) {
            // Whatever decodes, re-encodes to something that decodes to it again.
            prop_assert_eq!(decode_key(&encode_key(&decoded)), Ok(decoded));
        }
    }

    #[test]
    fn a_signature_holds_for_exactly_what_was_signed(
        key in prop::collection::vec(any::<u8>(), 24..64),
        id in "[!-~]{1,40}",
        body in prop::collection::vec(any::<u8>(), 0..256),
        skew in -TOLERANCE_SECS..=TOLERANCE_SECS,
        flip in any::<prop::sample::Index>(),
    ) {
        let now = 1_700_000_000;
        let timestamp = (now + skew).to_string();
        let header = signature::sign(&key, &id, now + skew, &body);
        let signed = Signed { id: &id, timestamp: &timestamp, signatures: &header };
        prop_assert_eq!(signature::verify(&key, signed, &body, now), Ok(()));
        if !body.is_empty() {
            let mut other = body.clone();
            other[flip.index(body.len())] ^= 0x01;
            prop_assert_eq!(
                signature::verify(&key, signed, &other, now),
                Err(SignatureError::NoMatch)
            );
        }
        let later = now + skew + TOLERANCE_SECS + 1;
        prop_assert_eq!(
            signature::verify(&key, signed, &body, later),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn arbitrary_signature_headers_never_panic(
        id in "\\PC{0,20}",
        timestamp in "\\PC{0,20}|[0-9]{1,25}",
        header in "\\PC{0,80}|(v1,[A-Za-z0-9+/=]{0,60} ?){0,4}",
    ) {
        let signed = Signed { id: &id, timestamp: &timestamp, signatures: &header };
        let verdict = signature::verify(b"key", signed, br#"{"a":1}"#, 1_700_000_000);
        prop_assert!(verdict.is_err());
    }
}
