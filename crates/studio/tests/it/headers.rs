//! Security headers, request ids and CORS on every kind of response.

use reqwest::Method;
use studio_testkit::TestApp;

const HELMET: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("origin-agent-cluster", "?1"),
    ("referrer-policy", "no-referrer"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-dns-prefetch-control", "off"),
    ("x-download-options", "noopen"),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-permitted-cross-domain-policies", "none"),
    ("x-xss-protection", "0"),
];

#[tokio::test]
async fn every_response_carries_the_helmet_headers_and_no_server_banner() {
    let app = TestApp::spawn().await;
    let project = app.create_project("alice", "H").await;
    let requests = vec![
        app.client.get(app.url("/health")),
        app.client.get(app.url("/api/projects")),
        app.client.get(app.url("/missing")),
        app.request(Method::GET, "/api/projects", "alice"),
        app.request(
            Method::DELETE,
            &format!("/api/projects/{}", project["id"].as_str().unwrap()),
            "mallory",
        ),
        app.client.post(app.url("/health")),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        for (name, value) in HELMET {
            assert_eq!(
                response.headers().get(*name).map(|v| v.to_str().unwrap()),
                Some(*value),
                "{name} on {} {}",
                response.url(),
                response.status()
            );
        }
        assert!(!response.headers().contains_key("server"));
        assert!(!response.headers().contains_key("x-powered-by"));
    }
}

#[tokio::test]
async fn request_ids_are_adopted_when_valid_and_made_otherwise() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "edge-1234_abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "edge-1234_abc");

    for bad in ["has space", "quote\"", &"a".repeat(200)] {
        let response = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 32);
    }
    let a = app.client.get(app.url("/health")).send().await.unwrap();
    let b = app.client.get(app.url("/health")).send().await.unwrap();
    assert_ne!(a.headers()["x-request-id"], b.headers()["x-request-id"]);
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = TestApp::spawn_with(|c| {
        c.cors_origins = Some(vec!["https://editor.example.test".into()]);
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/projects"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://editor.example.test").await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://editor.example.test"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");

    let refused = preflight("https://evil.example.test").await.unwrap();
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );

    let simple = app
        .request(Method::GET, "/api/projects", "alice")
        .header("origin", "https://editor.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://editor.example.test"
    );
    let exposed = simple.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    // What a cross-origin editor reads: the request id, the timeline's version and its problems.
    for header in ["x-request-id", "etag", "timeline-problems"] {
        assert!(exposed.contains(header), "{header} not in {exposed}");
    }
}
