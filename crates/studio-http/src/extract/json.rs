//! `ApiJson<T>`: a JSON body parsed strictly, with every rejection mapped to problem+json.
//!
//! Syntax errors are 400 `malformed_json`; a body that is JSON but of the wrong shape (unknown
//! field, wrong type, missing field) is 422 `validation_failed` with the JSON pointer of the
//! offending value; a missing or wrong `Content-Type` is 415; too large is 413.

use axum::body::Bytes;
use axum::extract::{FromRequest, OptionalFromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::error::FieldError;
use crate::{ApiError, ErrorCode};

/// A strictly parsed JSON request body.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

fn is_json_content_type(request: &Request) -> bool {
    let Some(content_type) = request.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(text) = content_type.to_str() else {
        return false;
    };
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Turns serde's path (`members[2].role`) into a JSON pointer (`/members/2/role`).
fn pointer_from_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        pointer.push('/');
        match segment {
            Segment::Seq { index } => pointer.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Unknown => pointer.push('?'),
        }
    }
    pointer
}

/// Parses `bytes` as `T`, mapping failures to the API's errors.
///
/// Two steps, because serde_json cannot be trusted to tell syntax from shape in one: reading an
/// enum from `false`, say, is reported as a syntax error. So the bytes are first read as a JSON
/// value (failure: 400 `malformed_json`), then that value as `T` (failure: 422 with a pointer).
/// Bodies are bounded by the body limit, so the intermediate value is too.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|err| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!("The body is not valid JSON: {err}."),
        )
    })?;
    serde_path_to_error::deserialize(value).map_err(|err| {
        ApiError::validation(vec![FieldError {
            pointer: pointer_from_path(err.path()),
            code: "invalid".to_owned(),
            message: err.inner().to_string(),
        }])
    })
}

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(&request) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "The body must be sent with `Content-Type: application/json`.",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        ErrorCode::PayloadTooLarge,
                        "The request body is larger than allowed.",
                    )
                } else {
                    ApiError::new(ErrorCode::BadRequest, rejection.body_text())
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// An optional JSON body: absent when the request has no body and no `Content-Type`, so
/// `POST …/complete` works both bare and with parts.
impl<T, S> OptionalFromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let announced_empty = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0");
        let has_body = !announced_empty
            && (request.headers().contains_key(header::CONTENT_TYPE)
                || request.headers().contains_key(header::TRANSFER_ENCODING));
        if !has_body {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(request, state)
            .await
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist to be parsed")]
    struct Body {
        name: String,
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist to be parsed")]
    struct Item {
        size: u32,
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        let err = parse_json::<Body>(b"{\"name\":").unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedJson);
        let err = parse_json::<Body>(b"{\"name\":\"a\",\"items\":[]} trailing").unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedJson);
    }

    #[test]
    fn shape_errors_point_at_the_field() {
        let err =
            parse_json::<Body>(br#"{"name":"a","items":[{"size":1},{"size":"x"}]}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        assert_eq!(err.errors[0].pointer, "/items/1/size");
        let err = parse_json::<Body>(br#"{"name":"a","items":[],"extra":1}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        let err = parse_json::<Body>(br#"{"items":[]}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        // serde_json calls this one a syntax error when parsing straight into the type.
        let err = parse_json::<Kind>(b"false").unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
    }

    #[derive(Debug, serde::Deserialize)]
    enum Kind {
        Video,
    }
}
