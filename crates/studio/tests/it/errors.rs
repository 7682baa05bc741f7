//! One error format for every failure the router and the middleware produce.

use reqwest::Method;
use studio_testkit::TestApp;

use crate::support::assert_problem;

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = TestApp::spawn().await;
    for path in ["/nope", "/api/projectz", "/api/projects/x/y/z"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_problem(response, 404, "route_not_found").await;
    }
}

#[tokio::test]
async fn wrong_methods_are_405_problems_with_allow() {
    let app = TestApp::spawn().await;
    let response = app
        .request(Method::PUT, "/api/projects", "alice")
        .send()
        .await
        .unwrap();
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert_problem(response, 405, "method_not_allowed").await;
    let response = app.client.post(app.url("/health")).send().await.unwrap();
    assert_problem(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    for body in ["{\"name\":", "not json", "{\"name\":\"a\"} {}", ""] {
        let response = app
            .request(Method::POST, "/api/projects", "alice")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "malformed_json").await;
    }
}

#[tokio::test]
async fn bodies_without_a_json_content_type_are_415() {
    let app = TestApp::spawn().await;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = app
            .request(Method::POST, "/api/projects", "alice")
            .body("{\"name\":\"a\"}");
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        assert_problem(response, 415, "unsupported_media_type").await;
    }
    // Parameters on the media type are fine.
    let response = app
        .request(Method::POST, "/api/projects", "alice")
        .header("content-type", "application/json; charset=utf-8")
        .body("{\"name\":\"a\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = TestApp::spawn_with(|c| c.body_limit_bytes = 1024).await;
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(4096));
    let response = app
        .request(Method::POST, "/api/projects", "alice")
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_problem(response, 413, "payload_too_large").await;
    // Also when the length is not announced up front (chunked body).
    let stream = futures::stream::iter(
        big.into_bytes()
            .chunks(512)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = app
        .request(Method::POST, "/api/projects", "alice")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_problem(response, 413, "payload_too_large").await;
}
