//! The reconciler: unreported uploads get confirmed, lapsed intents give their bytes back.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use studio_http::reconciler::{ReconcileReport, reconcile_once};
use studio_testkit::TestApp;

use crate::support::assert_problem;

const MIB: u64 = 1024 * 1024;

async fn spawn(intent_ttl_secs: u64) -> TestApp {
    TestApp::spawn_with(move |c| {
        c.upload_url_ttl_secs = intent_ttl_secs;
        c.upload_intent_ttl_secs = intent_ttl_secs;
        c.multipart_threshold_bytes = 6 * MIB;
        c.multipart_part_size_bytes = 5 * MIB;
    })
    .await
}

async fn intent(app: &TestApp, project: &str, size: u64) -> Value {
    let response = app
        .request(Method::POST, "/api/media/upload-intent", "alice")
        .json(&json!({"projectId": project, "filename": "a.mp4", "contentType": "video/mp4", "size": size}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn put(app: &TestApp, signed: &Value, body: Vec<u8>) -> reqwest::Response {
    let mut request = app.client.put(signed["url"].as_str().unwrap());
    if let Some(content_type) = signed["headers"]["content-type"].as_str() {
        request = request.header("content-type", content_type);
    }
    request.body(body).send().await.unwrap()
}

async fn usage(app: &TestApp) -> (u64, u64) {
    let me = app.get_json("/api/me", Some("alice")).await;
    (
        me["bytesUsed"].as_u64().unwrap(),
        me["bytesReserved"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn an_upload_nobody_reported_is_confirmed() {
    let app = spawn(3600).await;
    let project = app.create_project("alice", "R").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = intent(&app, &project, 2000).await;
    assert!(
        put(&app, &created["upload"], vec![1; 2000])
            .await
            .status()
            .is_success()
    );
    let waiting = intent(&app, &project, 3000).await;

    let report = reconcile_once(&app.state).await;
    assert_eq!(
        report,
        ReconcileReport {
            confirmed: 1,
            expired: 0,
            failed: 0
        }
    );
    let asset = app
        .get_json(
            &format!("/api/assets/{}", created["assetId"].as_str().unwrap()),
            Some("alice"),
        )
        .await;
    assert_eq!(asset["status"], "uploaded");
    assert!(asset["jobId"].as_str().unwrap().starts_with("job_"));
    // The other intent is still open, its bytes not there: left alone.
    let other = app
        .get_json(
            &format!("/api/assets/{}", waiting["assetId"].as_str().unwrap()),
            Some("alice"),
        )
        .await;
    assert_eq!(other["status"], "pending_upload");
    assert_eq!(usage(&app).await, (2000, 3000));
    // A second pass changes nothing.
    assert_eq!(reconcile_once(&app.state).await, ReconcileReport::default());
}

#[tokio::test]
async fn lapsed_intents_expire_and_give_their_bytes_back() {
    let app = spawn(1).await;
    let project = app.create_project("alice", "R").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let single = intent(&app, &project, 1000).await;
    let multi = intent(&app, &project, 12 * MIB).await;
    let multi_id = multi["assetId"].as_str().unwrap().to_owned();
    // One part arrives, then the client vanishes.
    let parts: Value = app
        .request(
            Method::POST,
            &format!("/api/media/{multi_id}/parts"),
            "alice",
        )
        .json(&json!({"partNumbers": [1]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        put(&app, &parts["parts"][0], vec![2; 5 * MIB as usize])
            .await
            .status()
            .is_success()
    );
    let arrived = intent(&app, &project, 500).await;
    assert!(
        put(&app, &arrived["upload"], vec![3; 500])
            .await
            .status()
            .is_success()
    );
    assert_eq!(usage(&app).await, (0, 1000 + 12 * MIB + 500));

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let report = reconcile_once(&app.state).await;
    // The one whose bytes made it in time is confirmed, not expired.
    assert_eq!(
        report,
        ReconcileReport {
            confirmed: 1,
            expired: 2,
            failed: 0
        }
    );
    assert_eq!(usage(&app).await, (500, 0));
    for id in [single["assetId"].as_str().unwrap(), &multi_id] {
        let asset = app
            .get_json(&format!("/api/assets/{id}"), Some("alice"))
            .await;
        assert_eq!(asset["status"], "expired");
        let response = app
            .request(Method::POST, &format!("/api/media/{id}/complete"), "alice")
            .send()
            .await
            .unwrap();
        assert_problem(response, 410, "upload_expired").await;
    }
    // The expired intents can still be deleted, and nothing comes back to the quota twice.
    let response = app
        .request(Method::DELETE, &format!("/api/media/{multi_id}"), "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(usage(&app).await, (500, 0));
    assert_eq!(reconcile_once(&app.state).await, ReconcileReport::default());
}
