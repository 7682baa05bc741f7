//! `/api/jobs/{jobId}`, its event stream, and reprocessing: visible to the job's project only.

use std::time::Duration;

use futures::StreamExt as _;
use reqwest::Method;
use serde_json::{Value, json};
use studio_testkit::TestApp;

use crate::support::assert_problem;

/// An uploaded (confirmed) asset whose bytes are not media; returns (asset id, job id).
async fn uploaded_asset(app: &TestApp, owner: &str, project: &str) -> (String, String) {
    let intent: Value = app
        .request(Method::POST, "/api/media/upload-intent", owner)
        .json(&json!({"projectId": project, "filename": "x.mp4", "contentType": "video/mp4", "size": 64}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload = &intent["upload"];
    let put = app
        .client
        .put(upload["url"].as_str().unwrap())
        .header("content-type", "video/mp4")
        .body(vec![b'x'; 64])
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let asset = intent["assetId"].as_str().unwrap().to_owned();
    let done: Value = app
        .request(Method::POST, &format!("/api/media/{asset}/complete"), owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (asset, done["jobId"].as_str().unwrap().to_owned())
}

const STATES: [&str; 6] = [
    "queued",
    "active",
    "completed",
    "failed",
    "retrying",
    "cancelled",
];

#[tokio::test]
async fn a_job_is_visible_to_its_projects_members_only() {
    let app = TestApp::spawn().await;
    let project = app.create_project("olivia", "Jobs").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.add_member("olivia", &project, "vic", "viewer").await;
    let (_, job) = uploaded_asset(&app, "olivia", &project).await;
    for user in ["olivia", "vic"] {
        let seen = app.get_json(&format!("/api/jobs/{job}"), Some(user)).await;
        assert_eq!(seen["id"], job);
        assert_eq!(seen["kind"], "process_asset");
        assert!(STATES.contains(&seen["state"].as_str().unwrap()), "{seen}");
        assert!(seen["createdAt"].is_string());
    }
    for path in [
        format!("/api/jobs/{job}"),
        format!("/api/jobs/{job}/events"),
        "/api/jobs/job_00000000000000000000000000".to_owned(),
        "/api/jobs/nope".to_owned(),
    ] {
        let response = app
            .request(Method::GET, &path, "stranger")
            .send()
            .await
            .unwrap();
        assert_problem(response, 404, "job_not_found").await;
    }
    let anonymous = app
        .client
        .get(app.url(&format!("/api/jobs/{job}")))
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, 401, "unauthenticated").await;
}

#[tokio::test]
async fn the_event_stream_follows_a_job_until_it_ends() {
    let app = TestApp::spawn().await;
    let project = app.create_project("olivia", "Jobs").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, job) = uploaded_asset(&app, "olivia", &project).await;
    let response = app
        .request(Method::GET, &format!("/api/jobs/{job}/events"), "olivia")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(response.headers()["cache-control"], "no-cache");
    // Whether or not a worker picks it up first, cancelling ends it.
    let id = job.parse().unwrap();
    app.state.queue.cancel(&id).await.unwrap();
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream did not end: {text}");
    let events: Vec<Value> = text
        .split("\n\n")
        .filter(|block| block.contains("event: job"))
        .map(|block| {
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap();
            serde_json::from_str(data).unwrap()
        })
        .collect();
    assert!(!events.is_empty(), "{text}");
    assert!(events.iter().all(|e| e["jobId"] == job.as_str()));
    let last = events.last().unwrap()["state"].as_str().unwrap();
    assert!(
        ["completed", "failed", "cancelled"].contains(&last),
        "{text}"
    );
}

#[tokio::test]
async fn reprocessing_queues_a_new_job_for_editors_only() {
    let app = TestApp::spawn().await;
    let project = app.create_project("olivia", "Jobs").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.add_member("olivia", &project, "vic", "viewer").await;
    let (asset, first_job) = uploaded_asset(&app, "olivia", &project).await;
    let reprocess = |user: &'static str| {
        app.request(
            Method::POST,
            &format!("/api/assets/{asset}/reprocess"),
            user,
        )
        .send()
    };
    assert_problem(reprocess("vic").await.unwrap(), 403, "forbidden").await;
    assert_problem(reprocess("stranger").await.unwrap(), 404, "asset_not_found").await;
    // A worker may be processing it right now: wait for that to end, boundedly.
    let mut accepted = None;
    for _ in 0..120 {
        let response = reprocess("olivia").await.unwrap();
        match response.status().as_u16() {
            202 => {
                accepted = Some(response.json::<Value>().await.unwrap());
                break;
            }
            409 => tokio::time::sleep(Duration::from_millis(250)).await,
            other => panic!(
                "reprocess answered {other}: {}",
                response.text().await.unwrap()
            ),
        }
    }
    let accepted = accepted.expect("reprocessing was accepted");
    assert_eq!(accepted["assetId"], asset.as_str());
    let job = accepted["jobId"].as_str().unwrap();
    assert_ne!(job, first_job);
    let seen = app.get_json(&format!("/api/jobs/{job}"), Some("vic")).await;
    assert_eq!(seen["kind"], "process_asset");

    // An intent without confirmed bytes has nothing to process.
    let pending: Value = app
        .request(Method::POST, "/api/media/upload-intent", "olivia")
        .json(&json!({"projectId": project, "filename": "y.mp4", "contentType": "video/mp4", "size": 10}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = app
        .request(
            Method::POST,
            &format!(
                "/api/assets/{}/reprocess",
                pending["assetId"].as_str().unwrap()
            ),
            "olivia",
        )
        .send()
        .await
        .unwrap();
    assert_problem(response, 409, "upload_incomplete").await;
}
