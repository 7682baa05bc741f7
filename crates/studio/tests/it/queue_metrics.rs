//! The queue seen from operations: the queue gauges `/metrics` reads from the `jobs` table at
//! scrape time, the janitor's retention of finished jobs, and the metrics endpoint of a
//! `studio worker` running without the API.

use std::time::Duration;

use serde_json::{Value, json};
use studio_core::JobId;
use studio_db::JobState;
use studio_http::metrics::Metrics;
use studio_queue::JobOptions;
use studio_testkit::TestApp;
use tokio_util::sync::CancellationToken;

/// The worker name the tests claim jobs as.
const WORKER: &str = "queue-metrics-test";
/// A lease far longer than any test, so no claim lapses midway.
const LEASE: Duration = Duration::from_secs(300);
/// A retention no job of a test reaches.
const LONG_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Bound on waiting for the endpoint task to stop: a hang fails the test instead of blocking it.
const STOP_WITHIN: Duration = Duration::from_secs(30);

/// Enqueues `n` jobs of `kind` and returns their ids.
async fn enqueue(app: &TestApp, kind: &str, n: usize) -> Vec<JobId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = app
            .state
            .queue
            .enqueue(kind, json!({ "n": i }), JobOptions::default())
            .await
            .expect("enqueue");
        ids.push(id);
    }
    ids
}

/// Claims up to `limit` jobs of `kind` as [`WORKER`].
async fn claim(app: &TestApp, kind: &str, limit: u32) -> Vec<JobId> {
    app.store
        .claim(WORKER, &[kind], LEASE, limit)
        .await
        .expect("claim")
        .into_iter()
        .map(|job| job.id)
        .collect()
}

async fn scrape(client: &reqwest::Client, url: &str) -> String {
    let response = client.get(url).send().await.expect("scrape");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
    );
    response.text().await.expect("metrics text")
}

fn assert_line(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "`{line}` missing from:\n{text}"
    );
}

#[tokio::test]
async fn metrics_show_queue_depth_and_running_jobs_per_kind() {
    let app = TestApp::spawn().await;
    let kind = "metrics_probe";
    enqueue(&app, kind, 3).await;
    let claimed = claim(&app, kind, 1).await;
    assert_eq!(claimed.len(), 1);

    let text = scrape(&app.client, &app.url("/metrics")).await;
    assert_line(&text, "studio_queue_depth{kind=\"metrics_probe\"} 2");
    assert_line(&text, "studio_queue_running{kind=\"metrics_probe\"} 1");
    assert_line(
        &text,
        "studio_jobs{kind=\"metrics_probe\",state=\"queued\"} 2",
    );
    assert_line(
        &text,
        "studio_jobs{kind=\"metrics_probe\",state=\"active\"} 1",
    );
    // States with no job are there, at 0, not missing.
    assert_line(
        &text,
        "studio_jobs{kind=\"metrics_probe\",state=\"completed\"} 0",
    );
    assert!(text.contains("# HELP studio_queue_depth"), "{text}");

    let done = app
        .store
        .complete(&claimed[0], WORKER, "{}")
        .await
        .expect("complete");
    assert!(done, "the lease was still ours");
    let text = scrape(&app.client, &app.url("/metrics")).await;
    assert_line(&text, "studio_queue_running{kind=\"metrics_probe\"} 0");
    assert_line(&text, "studio_queue_depth{kind=\"metrics_probe\"} 2");
    assert_line(
        &text,
        "studio_jobs{kind=\"metrics_probe\",state=\"completed\"} 1",
    );
}

#[tokio::test]
async fn the_janitor_purges_finished_jobs_past_retention_only() {
    let app = TestApp::spawn().await;
    let kind = "janitor_probe";
    let ids = enqueue(&app, kind, 4).await;
    let claimed = claim(&app, kind, 3).await;
    assert_eq!(claimed.len(), 3);
    let (completed, failed, running) = (&claimed[0], &claimed[1], &claimed[2]);
    assert!(app.store.complete(completed, WORKER, "{}").await.unwrap());
    assert!(
        app.store
            .fail(failed, WORKER, "broken_input", "not media", None)
            .await
            .unwrap()
    );
    let waiting = ids.iter().find(|id| !claimed.contains(id)).unwrap();

    let state = |id: JobId| {
        let store = app.store.clone();
        async move { store.queue_job(&id).await.unwrap().map(|job| job.state) }
    };
    assert_eq!(state(completed.clone()).await, Some(JobState::Completed));
    assert_eq!(state(failed.clone()).await, Some(JobState::Failed));

    // Finished, but recently: kept.
    let purged = studio::janitor::purge_once(&*app.store, LONG_RETENTION)
        .await
        .unwrap();
    assert_eq!(purged, 0);
    assert_eq!(state(completed.clone()).await, Some(JobState::Completed));

    // With no retention, every finished job is past it; unfinished ones stay whatever their age.
    let purged = studio::janitor::purge_once(&*app.store, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(purged, 2);
    assert_eq!(state(completed.clone()).await, None);
    assert_eq!(state(failed.clone()).await, None);
    assert_eq!(state(running.clone()).await, Some(JobState::Active));
    assert_eq!(state(waiting.clone()).await, Some(JobState::Queued));
}

#[tokio::test]
async fn the_janitor_loop_purges_at_once_and_stops_on_shutdown() {
    let app = TestApp::spawn().await;
    let kind = "janitor_loop_probe";
    enqueue(&app, kind, 1).await;
    let claimed = claim(&app, kind, 1).await;
    assert!(app.store.complete(&claimed[0], WORKER, "{}").await.unwrap());

    let shutdown = CancellationToken::new();
    let janitor = tokio::spawn(studio::janitor::run(
        app.store.clone(),
        Duration::ZERO,
        // Far longer than the test: only the first pass, the one made at once, can purge.
        LONG_RETENTION,
        shutdown.clone(),
    ));
    let mut purged = false;
    for _ in 0..300 {
        if app.store.queue_job(&claimed[0]).await.unwrap().is_none() {
            purged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(purged, "the first pass never purged the finished job");
    shutdown.cancel();
    tokio::time::timeout(STOP_WITHIN, janitor)
        .await
        .expect("the janitor stops on shutdown")
        .expect("the janitor did not panic");
}

#[tokio::test]
async fn a_worker_serves_metrics_and_health_until_shutdown() {
    let app = TestApp::spawn().await;
    let kind = "worker_metrics_probe";
    enqueue(&app, kind, 2).await;
    // A registry something has already recorded into (the API's, which counted this request):
    // the endpoint renders the registry it is given, not a fresh one.
    app.get_json("/health", None).await;
    let metrics: Metrics = app.state.metrics.clone();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(studio::worker_metrics::serve(
        listener,
        metrics,
        app.store.clone(),
        shutdown.clone(),
    ));

    let text = scrape(&app.client, &format!("{base}/metrics")).await;
    assert_line(&text, "studio_queue_depth{kind=\"worker_metrics_probe\"} 2");
    assert_line(
        &text,
        "studio_queue_running{kind=\"worker_metrics_probe\"} 0",
    );
    assert!(text.contains("http_requests_total{"), "{text}");

    let response = app
        .client
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "status": "ok" }));

    shutdown.cancel();
    tokio::time::timeout(STOP_WITHIN, server)
        .await
        .expect("the endpoint stops on shutdown")
        .expect("the endpoint task did not panic")
        .expect("the endpoint ran without error");
}
