//! The middleware stack around handlers that misbehave: a panic becomes a generic 500 problem
//! (logged once, with the request id, never shown to the client) and a slow handler a 408.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use http_body_util::BodyExt as _;
use studio_http::HttpSettings;
use studio_http::metrics::Metrics;
use tower::ServiceExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

fn app(timeout: Duration) -> Router {
    let routes = Router::new()
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("secret internal detail: db password is hunter2");
                }
                "unreachable"
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let settings = HttpSettings {
        request_timeout: timeout,
        ..HttpSettings::default()
    };
    let routes = studio_http::middleware::bounded(routes, &settings);
    studio_http::middleware::stack(routes, &settings, Metrics::new())
}

async fn body_json(response: axum::response::Response) -> serde_json::Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log of this test binary. A process-wide subscriber, not a per-thread `set_default`:
/// tracing caches per call site whether anyone listens, and a test on another thread without a
/// subscriber can make that cache say "nobody" for the request span.
fn captured_logs() -> &'static Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let sink = captured.clone();
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(move || sink.clone()),
            )
            .init();
        captured
    })
}

#[tokio::test]
async fn a_panicking_handler_is_a_generic_500_logged_once_with_the_request_id() {
    let captured = captured_logs();

    let response = app(Duration::from_secs(5))
        .oneshot(
            Request::get("/panic")
                .header("x-request-id", "panic-req-1")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(response.headers()["x-request-id"], "panic-req-1");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let body = body_json(response).await;
    assert_eq!(body["code"], "internal");
    assert_eq!(body["requestId"], "panic-req-1");
    assert!(!body.to_string().contains("hunter2"), "{body}");

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let panic_lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("handler panicked"))
        .collect();
    assert_eq!(panic_lines.len(), 1, "{logs}");
    assert!(panic_lines[0].contains("panic-req-1"), "{logs}");
}

#[tokio::test]
async fn a_handler_slower_than_the_timeout_is_a_408_problem() {
    captured_logs();
    let response = app(Duration::from_millis(50))
        .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body = body_json(response).await;
    assert_eq!(body["code"], "request_timeout");
    assert!(body["requestId"].is_string());
}
