//! Property tests standing in for a fuzzer: whatever bytes arrive as a JSON body, the strict
//! parser answers with a value or a 4xx error (400 or 422), never a panic or a 5xx.

use proptest::prelude::*;
use serde::Deserialize;
use studio_http::extract::json::parse_json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct Body {
    name: String,
    role: Option<Role>,
    tags: Option<Vec<Tag>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Role {
    Editor,
    Viewer,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields exist to be parsed")]
struct Tag {
    size: u32,
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[a-z ]{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("name|role|tags|size|x", inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_are_a_value_or_a_4xx(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(err) = parse_json::<Body>(&bytes) {
            prop_assert!(err.code.status().is_client_error());
        }
    }

    #[test]
    fn arbitrary_json_is_a_value_or_a_422_with_a_pointer(value in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        if let Err(err) = parse_json::<Body>(&bytes) {
            prop_assert_eq!(err.code.status().as_u16(), 422);
            prop_assert_eq!(err.errors.len(), 1);
            prop_assert!(err.errors[0].pointer.is_empty() || err.errors[0].pointer.starts_with('/'));
        }
    }
}
