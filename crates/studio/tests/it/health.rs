//! `/health`, `/ready` and `/metrics`.

use reqwest::Method;
use serde_json::Value;
use studio_testkit::TestApp;

fn check<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {body}"))
}

#[tokio::test]
async fn health_is_200_without_auth() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn ready_checks_the_database_and_temp_space() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    for name in ["database", "tempSpace"] {
        assert_eq!(check(&body, name)["status"], "ok");
        assert!(check(&body, name)["latencyMs"].as_f64().unwrap() >= 0.0);
    }
    // Redis is checked only when configured (the Redis queue of the scaled-out run needs it).
    let redis_checked = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "redis");
    assert_eq!(redis_checked, app.config.redis_url.is_some(), "{body}");
}

#[tokio::test]
async fn ready_pings_redis_when_configured() {
    let app = TestApp::spawn_with(|c| c.redis_url = Some("redis://127.0.0.1:6379".into())).await;
    let response = app.client.get(app.url("/ready")).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(check(&body, "redis")["status"], "ok", "{body}");
}

#[tokio::test]
async fn ready_is_503_when_a_configured_redis_is_unreachable() {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    // The API starts without Redis, even with the Redis queue: jobs wait in the database's
    // outbox until Redis is back, and /ready says it is not.
    let app = TestApp::spawn_with(|c| c.redis_url = Some("redis://127.0.0.1:1".into())).await;
    let response = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "fail");
    assert_eq!(check(&body, "redis")["status"], "fail");
    assert!(
        check(&body, "redis")["detail"]
            .as_str()
            .unwrap()
            .contains("connect")
    );
    assert_eq!(check(&body, "database")["status"], "ok");
    // Liveness does not depend on Redis.
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn ready_is_503_when_temp_space_is_below_the_minimum() {
    let app = TestApp::spawn_with(|c| c.min_free_temp_bytes = u64::MAX).await;
    let response = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    let temp = check(&body, "tempSpace");
    assert_eq!(temp["status"], "fail");
    assert!(temp["detail"].as_str().unwrap().contains("minimum"));
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = TestApp::spawn().await;
    let project = app.create_project("alice", "M").await;
    let path = format!("/api/projects/{}", project["id"].as_str().unwrap());
    for _ in 0..3 {
        app.request(Method::GET, &path, "alice")
            .send()
            .await
            .unwrap();
    }
    app.request(Method::GET, &path, "mallory")
        .send()
        .await
        .unwrap();
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |status: &str| {
        format!(
            "http_requests_total{{method=\"GET\",route=\"/api/projects/{{projectId}}\",status=\"{status}\"}}"
        )
    };
    assert!(text.contains(&format!("{} 3", line("200"))), "{text}");
    assert!(text.contains(&format!("{} 1", line("404"))), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/projects/{projectId}\",status=\"200\",le=\"0.005\"}"),
        "{text}"
    );
    // Raw ids never become labels.
    assert!(!text.contains(project["id"].as_str().unwrap()));
}
