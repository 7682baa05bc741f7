//! Small assertions shared by the test modules.

pub mod media;
pub mod process;

use reqwest::Response;
use serde_json::Value;

/// Asserts `response` is problem+json with `status` and `code`, and returns the body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let request_id = response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(actual, status, "status; body: {body}");
    assert_eq!(
        content_type, "application/problem+json",
        "content type; body: {body}"
    );
    assert_eq!(body["code"], code, "code; body: {body}");
    assert_eq!(body["status"], status, "status in body: {body}");
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    assert!(body["type"].as_str().unwrap().ends_with(code), "{body}");
    assert_eq!(
        body["requestId"].as_str(),
        request_id.as_deref(),
        "the body quotes the request id of the header"
    );
    body
}
