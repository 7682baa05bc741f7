//! API rate limits: a budget per user (or, anonymous, per client IP) and route class, 429
//! `rate_limited` with `Retry-After` and the IETF RateLimit fields past it, shared by nodes
//! through Redis, and `X-Forwarded-For` believed only from a trusted proxy.
//!
//! Budgets here refill at one request a minute, so nothing refills during a test and the
//! counts are exact; no assertion depends on how long anything took.

use reqwest::{Method, RequestBuilder, Response};
use studio::RawConfig;
use studio_testkit::{RedisPrefix, TestApp, redis_url};

use crate::support::assert_problem;

/// Every class gets `burst` requests and (practically) no refill during the test.
fn tight(raw: &mut RawConfig, burst: u32) {
    raw.rate_limit_read_per_minute = 1;
    raw.rate_limit_read_burst = burst;
    raw.rate_limit_write_per_minute = 1;
    raw.rate_limit_write_burst = burst;
    raw.rate_limit_upload_per_minute = 1;
    raw.rate_limit_upload_burst = burst;
    raw.rate_limit_ai_per_minute = 1;
    raw.rate_limit_ai_burst = burst;
}

async fn spawn_tight(burst: u32) -> TestApp {
    TestApp::spawn_with(|raw| tight(raw, burst)).await
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("request")
}

/// Asserts a 429 for `class` and returns its `Retry-After` seconds.
async fn assert_limited(response: Response, class: &str) -> u64 {
    let retry_after: u64 = header(&response, "retry-after")
        .expect("Retry-After on a 429")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        header(&response, "ratelimit").as_deref(),
        Some(format!("\"{class}\";r=0;t={retry_after}").as_str())
    );
    assert!(
        header(&response, "ratelimit-policy")
            .unwrap()
            .starts_with(&format!("\"{class}\";q=")),
    );
    let body = assert_problem(response, 429, "rate_limited").await;
    assert_eq!(body["class"], class, "{body}");
    assert_eq!(body["retryAfterSeconds"], retry_after, "{body}");
    assert_eq!(
        body["violated-policies"],
        serde_json::json!([class]),
        "{body}"
    );
    retry_after
}

#[tokio::test]
async fn a_user_gets_the_burst_then_429_with_retry_after_and_ratelimit_fields() {
    let app = spawn_tight(3).await;
    for remaining in [2, 1, 0] {
        let response = send(app.request(Method::GET, "/api/projects", "alice")).await;
        assert_eq!(response.status(), 200);
        // Three requests per 180 s (a full burst refills at one a minute).
        assert_eq!(
            header(&response, "ratelimit-policy").as_deref(),
            Some("\"read\";q=3;w=180")
        );
        let limit = header(&response, "ratelimit").unwrap();
        assert!(
            limit.starts_with(&format!("\"read\";r={remaining};t=")),
            "{limit}"
        );
    }
    assert_limited(
        send(app.request(Method::GET, "/api/projects", "alice")).await,
        "read",
    )
    .await;
    // Operators see refusals per class.
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"studio_http_rate_limited_total{class="read"} 1"#),
        "{metrics}"
    );
    // A browser can read the fields of a cross-origin answer only when they are exposed.
    let app = TestApp::spawn_with(|raw| {
        tight(raw, 1);
        raw.cors_origins = Some(vec!["https://app.example".to_owned()]);
    })
    .await;
    let cross_origin = |app: &TestApp| {
        app.request(Method::GET, "/api/projects", "alice")
            .header("origin", "https://app.example")
    };
    send(cross_origin(&app)).await;
    let refused = send(cross_origin(&app)).await;
    assert_eq!(refused.status(), 429);
    let exposed = header(&refused, "access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in ["retry-after", "ratelimit", "ratelimit-policy"] {
        assert!(exposed.split(',').any(|h| h.trim() == name), "{exposed}");
    }
}

#[tokio::test]
async fn users_and_classes_have_budgets_of_their_own() {
    let app = spawn_tight(2).await;
    for _ in 0..2 {
        send(app.request(Method::GET, "/api/projects", "alice")).await;
    }
    assert_limited(
        send(app.request(Method::GET, "/api/projects", "alice")).await,
        "read",
    )
    .await;
    // Another user is untouched.
    let bob = send(app.request(Method::GET, "/api/projects", "bob")).await;
    assert_eq!(bob.status(), 200);
    // Exhausted reads do not block writes.
    let created = send(
        app.request(Method::POST, "/api/projects", "alice")
            .json(&serde_json::json!({ "name": "still allowed" })),
    )
    .await;
    assert_eq!(created.status(), 201);
    assert!(
        header(&created, "ratelimit")
            .unwrap()
            .starts_with("\"write\";r=1;")
    );
}

#[tokio::test]
async fn upload_intents_and_ai_calls_are_classes_of_their_own() {
    let app = spawn_tight(1).await;
    // Counted whatever the answer (here a validation error).
    let intent = || app.request(Method::POST, "/api/media/upload-intent", "alice");
    let first = send(intent().json(&serde_json::json!({}))).await;
    assert_ne!(first.status(), 429);
    assert_limited(send(intent().json(&serde_json::json!({}))).await, "upload").await;
    // Uppy's token-in-the-path routes count for the token's user.
    let token = app.token("alice");
    let uppy = send(
        app.client
            .get(app.url(&format!("/api/uppy/token/{token}/s3/params?filename=a.mp4"))),
    )
    .await;
    assert_limited(uppy, "upload").await;
    // AI calls: no provider is configured (503), but the second call never gets that far.
    let chat = || {
        app.request(Method::POST, "/api/ai/chat", "alice")
            .json(&serde_json::json!({ "messages": [] }))
    };
    assert_ne!(send(chat()).await.status(), 429);
    assert_limited(send(chat()).await, "ai").await;
    // Reads are still available.
    let read = send(app.request(Method::GET, "/api/me", "alice")).await;
    assert_eq!(read.status(), 200);
}

#[tokio::test]
async fn anonymous_requests_are_limited_per_ip_and_bad_tokens_are_anonymous() {
    let app = spawn_tight(2).await;
    let anonymous = send(app.client.get(app.url("/api/projects"))).await;
    assert_eq!(anonymous.status(), 401);
    assert!(
        header(&anonymous, "ratelimit")
            .unwrap()
            .starts_with("\"read\";r=1;")
    );
    // A token that does not verify is counted against the IP too; it is still a 401.
    let forged = send(
        app.client
            .get(app.url("/api/projects"))
            .bearer_auth("not.a.token"),
    )
    .await;
    assert_problem(forged, 401, "invalid_token").await;
    assert_limited(send(app.client.get(app.url("/api/projects"))).await, "read").await;
    // A signed-in user from the same address has a budget of their own.
    let alice = send(app.request(Method::GET, "/api/projects", "alice")).await;
    assert_eq!(alice.status(), 200);
}

#[tokio::test]
async fn operational_routes_and_the_storage_webhook_are_not_limited() {
    let app = spawn_tight(1).await;
    let paths = [
        (Method::GET, "/health"),
        (Method::GET, "/ready"),
        (Method::GET, "/metrics"),
        (Method::GET, "/docs"),
        (Method::GET, "/problems"),
        (Method::GET, "/problems/rate_limited"),
        (Method::POST, "/api/webhooks/storage"),
        (Method::OPTIONS, "/api/projects"),
    ];
    for (method, path) in paths {
        for _ in 0..3 {
            let response = send(app.client.request(method.clone(), app.url(path))).await;
            assert_ne!(response.status(), 429, "{method} {path}");
            assert!(header(&response, "ratelimit").is_none(), "{method} {path}");
        }
    }
    // The code is documented like every other.
    let described = app.get_json("/problems/rate_limited", None).await;
    assert_eq!(described["status"], 429);
}

#[tokio::test]
async fn limits_can_be_turned_off() {
    let app = TestApp::spawn_with(|raw| {
        tight(raw, 1);
        raw.rate_limit_enabled = false;
    })
    .await;
    for _ in 0..3 {
        let response = send(app.request(Method::GET, "/api/projects", "alice")).await;
        assert_eq!(response.status(), 200);
        assert!(header(&response, "ratelimit").is_none());
    }
}

#[tokio::test]
async fn nodes_sharing_redis_share_the_budgets() {
    let keys = RedisPrefix::new();
    let node = || {
        let prefix = keys.prefix.clone();
        TestApp::spawn_with(move |raw| {
            tight(raw, 4);
            raw.redis_url = Some(redis_url());
            raw.queue_prefix = prefix;
        })
    };
    let a = node().await;
    let b = node().await;
    let mut remaining = Vec::new();
    for app in [&a, &b, &a, &b] {
        let response = send(app.request(Method::GET, "/api/projects", "alice")).await;
        assert_eq!(response.status(), 200);
        let limit = header(&response, "ratelimit").unwrap();
        remaining.push(limit.split(';').nth(1).unwrap().to_owned());
    }
    assert_eq!(remaining, ["r=3", "r=2", "r=1", "r=0"]);
    assert_limited(
        send(a.request(Method::GET, "/api/projects", "alice")).await,
        "read",
    )
    .await;
    assert_limited(
        send(b.request(Method::GET, "/api/projects", "alice")).await,
        "read",
    )
    .await;
    // Anonymous clients too: the same address on either node.
    send(a.client.get(a.url("/api/projects"))).await;
    for _ in 0..3 {
        send(b.client.get(b.url("/api/projects"))).await;
    }
    assert_limited(send(a.client.get(a.url("/api/projects"))).await, "read").await;
    // Another user, on either node, is untouched.
    let bob = send(b.request(Method::GET, "/api/projects", "bob")).await;
    assert_eq!(bob.status(), 200);
}

#[tokio::test]
async fn with_redis_down_each_node_keeps_limiting_on_its_own() {
    let app = TestApp::spawn_with(|raw| {
        tight(raw, 2);
        // Nothing listens on port 1: every Redis call fails.
        raw.redis_url = Some("redis://127.0.0.1:1".to_owned());
    })
    .await;
    for _ in 0..2 {
        let response = send(app.request(Method::GET, "/api/projects", "alice")).await;
        assert_eq!(response.status(), 200);
    }
    assert_limited(
        send(app.request(Method::GET, "/api/projects", "alice")).await,
        "read",
    )
    .await;
}

/// An anonymous read claiming to come from `forwarded_for`.
async fn read_as(app: &TestApp, forwarded_for: &str) -> Response {
    send(
        app.client
            .get(app.url("/api/projects"))
            .header("x-forwarded-for", forwarded_for),
    )
    .await
}

#[tokio::test]
async fn forwarded_for_is_ignored_without_a_trusted_proxy() {
    let app = spawn_tight(2).await;
    assert_eq!(read_as(&app, "198.51.100.1").await.status(), 401);
    assert_eq!(read_as(&app, "198.51.100.2").await.status(), 401);
    // A fresh address in the header buys nothing: the socket's address is the client.
    assert_limited(read_as(&app, "198.51.100.3").await, "read").await;
    assert_limited(read_as(&app, "203.0.113.9, 198.51.100.4").await, "read").await;
}

#[tokio::test]
async fn forwarded_for_names_the_client_behind_a_trusted_proxy() {
    let app = TestApp::spawn_with(|raw| {
        tight(raw, 2);
        raw.trusted_proxies = Some(vec!["127.0.0.1".to_owned()]);
    })
    .await;
    assert_eq!(read_as(&app, "198.51.100.1").await.status(), 401);
    assert_eq!(read_as(&app, "198.51.100.1").await.status(), 401);
    assert_limited(read_as(&app, "198.51.100.1").await, "read").await;
    // A forged left-most entry does not help: the proxy appended the real address last.
    assert_limited(read_as(&app, "203.0.113.50, 198.51.100.1").await, "read").await;
    // Another client behind the same proxy has its own budget.
    assert_eq!(read_as(&app, "198.51.100.2").await.status(), 401);
    // Trusted hops on the right are skipped.
    assert_limited(read_as(&app, "198.51.100.1, 127.0.0.1").await, "read").await;
    // Without the header, the proxy itself is the client: a budget of its own.
    let direct = send(app.client.get(app.url("/api/projects"))).await;
    assert_eq!(direct.status(), 401);
}

#[tokio::test]
async fn bad_budgets_and_proxies_are_refused_at_start() {
    let mut raw = RawConfig::defaults().unwrap();
    raw.rate_limit_read_burst = 0;
    raw.trusted_proxies = Some(vec!["10.0.0.0/40".to_owned()]);
    let text = raw.validate().unwrap_err().to_string();
    assert!(text.contains("STUDIO_RATE_LIMIT_READ_BURST"), "{text}");
    assert!(text.contains("STUDIO_TRUSTED_PROXIES"), "{text}");
}
