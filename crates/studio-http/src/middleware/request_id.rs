//! Request ids: every request has one, from a valid incoming `x-request-id` header (so a proxy's
//! or client's id carries through) or freshly made. It is echoed in the response and kept in a
//! task-local so anything answering inside the request (problem bodies) can quote it.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;

/// The header carrying the request id both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming id we adopt; longer ones are replaced (they would bloat every log line).
const MAX_INCOMING_LEN: usize = 128;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The request id, as an extension on the request for handlers that want it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The id of the request being served by this task, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// An incoming id is adopted only if it is short and made of safe characters, so it cannot
/// inject anything into logs or headers.
fn is_acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_INCOMING_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn generate() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The middleware.
pub async fn layer(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_acceptable(v))
        .map_or_else(generate, str::to_owned);
    // Checked above or generated from hex digits, so always a valid header value.
    let header = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    request.headers_mut().insert(X_REQUEST_ID, header.clone());
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = REQUEST_ID.scope(id, next.run(request)).await;
    response.headers_mut().insert(X_REQUEST_ID, header);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_safe_ids_are_adopted() {
        assert!(is_acceptable("abc-123_x.y:z"));
        assert!(!is_acceptable(""));
        assert!(!is_acceptable("a b"));
        assert!(!is_acceptable("a\"b"));
        assert!(!is_acceptable(&"a".repeat(MAX_INCOMING_LEN + 1)));
        assert_eq!(generate().len(), 32);
    }
}
