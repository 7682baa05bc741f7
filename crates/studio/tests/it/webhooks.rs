//! The storage webhook (`POST /api/webhooks/storage`) against the storage backend of this run:
//! authentication (bearer token, Standard Webhooks signatures), AWS, MinIO and Supabase payloads
//! confirming real uploads, de-duplication, out-of-order deliveries and races with `complete`.
//!
//! The payloads are the recorded-style fixtures of `tests/fixtures/webhooks/`, with the key of
//! a real asset put in at test time (our keys are `originals/{projectId}/{assetId}`).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use reqwest::{Method, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use studio_http::webhook::payload::encode_key;
use studio_http::webhook::signature;
use studio_testkit::TestApp;

use crate::support::assert_problem;

const MIB: u64 = 1024 * 1024;
const PATH: &str = "/api/webhooks/storage";
const TOKEN: &str = "storage-webhook-token-0123456789abcdefghij";
/// The Standard Webhooks signing key, and the `whsec_…` secret configured from it.
const KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

fn secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(KEY)
    )
}

/// An app that accepts both credentials, with small multipart thresholds, and a reconciler
/// that stays out of the way (these tests are about the webhook alone).
async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

async fn spawn_with(adjust: impl FnOnce(&mut studio::RawConfig)) -> TestApp {
    TestApp::spawn_with(|c| {
        c.storage_webhook_token = Some(SecretString::from(TOKEN));
        c.storage_webhook_secret = Some(SecretString::from(secret()));
        c.multipart_threshold_bytes = 6 * MIB;
        c.multipart_part_size_bytes = 5 * MIB;
        c.reconcile_interval_secs = 3600;
        adjust(c);
    })
    .await
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn deliver_bearer(app: &TestApp, body: &[u8]) -> Response {
    app.client
        .post(app.url(PATH))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// A delivery signed as a Standard Webhooks sender signs it.
async fn deliver_signed(app: &TestApp, id: &str, timestamp: i64, body: &[u8]) -> Response {
    let signature = signature::sign(KEY, id, timestamp, body);
    deliver_with(app, id, timestamp, &signature, body).await
}

async fn deliver_with(
    app: &TestApp,
    id: &str,
    timestamp: i64,
    signature: &str,
    body: &[u8],
) -> Response {
    app.client
        .post(app.url(PATH))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

async fn ok_json(response: Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A fixture announcing `key` (of `size` bytes), in that sender's key encoding.
fn event_for(fixture_name: &str, key: &str, size: u64) -> Vec<u8> {
    let mut event = fixture(fixture_name);
    match fixture_name {
        "aws-put.json" => {
            event["Records"][0]["s3"]["object"]["key"] = json!(encode_key(key));
            event["Records"][0]["s3"]["object"]["size"] = json!(size);
        }
        "minio-put.json" => {
            // MinIO escapes `/` as well.
            event["Records"][0]["s3"]["object"]["key"] = json!(encode_key(key).replace('/', "%2F"));
            event["Records"][0]["s3"]["object"]["size"] = json!(size);
            event["Key"] = json!(format!("media/{key}"));
        }
        "supabase-storage.json" => {
            event["event"]["payload"]["name"] = json!(key);
            event["event"]["payload"]["metadata"]["size"] = json!(size);
        }
        "supabase-db-insert.json" => {
            event["record"]["name"] = json!(key);
            event["record"]["metadata"]["size"] = json!(size);
        }
        other => panic!("no key to set in {other}"),
    }
    serde_json::to_vec(&event).unwrap()
}

fn bytes(len: u64, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn project(app: &TestApp, owner: &str) -> String {
    app.create_project(owner, "Media").await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Sends a signed request as a browser would (see `media.rs`).
async fn send_signed(app: &TestApp, signed: &Value, body: Vec<u8>) -> Response {
    let method = Method::from_bytes(signed["method"].as_str().unwrap().as_bytes()).unwrap();
    let mut request = app.client.request(method, signed["url"].as_str().unwrap());
    for (name, value) in signed["headers"].as_object().unwrap() {
        if name != "content-length" {
            request = request.header(name, value.as_str().unwrap());
        }
    }
    request.body(body).send().await.unwrap()
}

/// An upload intent: the asset id, its storage key and the intent's `upload`.
async fn intent(app: &TestApp, user: &str, project: &str, size: u64) -> (String, String, Value) {
    let response = app
        .request(Method::POST, "/api/media/upload-intent", user)
        .json(&json!({"projectId": project, "filename": "clip.mp4", "contentType": "video/mp4", "size": size}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let asset = created["assetId"].as_str().unwrap().to_owned();
    let key = app
        .store
        .asset(&asset.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .original_key;
    assert_eq!(key, format!("originals/{project}/{asset}"));
    (asset, key, created["upload"].clone())
}

/// An intent whose bytes are in storage, not yet confirmed: (asset id, key).
async fn uploaded(app: &TestApp, user: &str, project: &str, size: u64) -> (String, String) {
    let (asset, key, upload) = intent(app, user, project, size).await;
    let put = send_signed(app, &upload, bytes(size, 5)).await;
    assert!(put.status().is_success(), "{}", put.status());
    (asset, key)
}

async fn complete(app: &TestApp, user: &str, asset: &str, body: Option<Value>) -> Response {
    let mut request = app.request(Method::POST, &format!("/api/media/{asset}/complete"), user);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn asset_json(app: &TestApp, user: &str, asset: &str) -> Value {
    app.get_json(&format!("/api/assets/{asset}"), Some(user))
        .await
}

/// (bytes used, bytes reserved) of `user`.
async fn usage(app: &TestApp, user: &str) -> (u64, u64) {
    let me = app.get_json("/api/me", Some(user)).await;
    (
        me["bytesUsed"].as_u64().unwrap(),
        me["bytesReserved"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn bearer_tokens_are_checked() {
    let app = spawn().await;
    let body = serde_json::to_vec(&fixture("aws-test-event.json")).unwrap();
    let summary = ok_json(deliver_bearer(&app, &body).await).await;
    assert_eq!(summary["records"], 0);

    let wrong = app
        .client
        .post(app.url(PATH))
        .bearer_auth(format!("{TOKEN}x"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    assert_problem(wrong, 401, "webhook_unauthorized").await;
    let missing = app.client.post(app.url(PATH)).body(body.clone());
    assert_problem(missing.send().await.unwrap(), 401, "webhook_unauthorized").await;
    // A user's JWT is not the webhook's token.
    let jwt = app.request(Method::POST, PATH, "alice").body(body.clone());
    assert_problem(jwt.send().await.unwrap(), 401, "webhook_unauthorized").await;
}

#[tokio::test]
async fn with_nothing_configured_every_delivery_is_refused() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&fixture("aws-test-event.json")).unwrap();
    assert_problem(
        deliver_bearer(&app, &body).await,
        401,
        "webhook_unauthorized",
    )
    .await;
    assert_problem(
        deliver_signed(&app, "msg_1", now(), &body).await,
        401,
        "webhook_unauthorized",
    )
    .await;
}

#[tokio::test]
async fn standard_webhook_signatures_are_checked() {
    let app = spawn().await;
    let body = serde_json::to_vec(&fixture("aws-test-event.json")).unwrap();
    ok_json(deliver_signed(&app, "msg_ok", now(), &body).await).await;
    // Several signatures (a sender rotating keys): one match is enough.
    let good = signature::sign(KEY, "msg_rot", now(), &body);
    let other = signature::sign(b"another key of thirty-two bytes!", "msg_rot", now(), &body);
    ok_json(deliver_with(&app, "msg_rot", now(), &format!("{other} {good}"), &body).await).await;

    // Signed with another key.
    assert_problem(
        deliver_with(&app, "msg_bad", now(), &other, &body).await,
        401,
        "webhook_unauthorized",
    )
    .await;
    // Too old, and too far ahead.
    for timestamp in [now() - 600, now() + 600] {
        assert_problem(
            deliver_signed(&app, "msg_stale", timestamp, &body).await,
            401,
            "webhook_unauthorized",
        )
        .await;
    }
    // A captured delivery's headers replayed with another body.
    let ts = now();
    let captured = signature::sign(KEY, "msg_cap", ts, &body);
    let forged = br#"{"Records":[]}"#;
    let problem = assert_problem(
        deliver_with(&app, "msg_cap", ts, &captured, forged).await,
        401,
        "webhook_unauthorized",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("signature"),
        "{problem}"
    );
    // Or under another id.
    assert_problem(
        deliver_with(&app, "msg_other", ts, &captured, &body).await,
        401,
        "webhook_unauthorized",
    )
    .await;
    // Incomplete headers.
    let partial = app
        .client
        .post(app.url(PATH))
        .header("webhook-id", "msg_x")
        .header("webhook-signature", captured.clone())
        .body(body.clone());
    assert_problem(partial.send().await.unwrap(), 401, "webhook_unauthorized").await;
}

#[tokio::test]
async fn aws_minio_and_supabase_events_confirm_real_uploads() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    let size = 300_000;
    let mut used = 0;
    for name in [
        "aws-put.json",
        "minio-put.json",
        "supabase-storage.json",
        "supabase-db-insert.json",
    ] {
        let (asset, key) = uploaded(&app, "alice", &project, size).await;
        let summary = ok_json(deliver_bearer(&app, &event_for(name, &key, size)).await).await;
        assert_eq!(summary["records"], 1, "{name}: {summary}");
        assert_eq!(summary["confirmed"], 1, "{name}: {summary}");
        let result = &summary["results"][0];
        assert_eq!(result["outcome"], "confirmed", "{name}");
        assert_eq!(result["assetId"], asset.as_str());
        let got = asset_json(&app, "alice", &asset).await;
        assert_eq!(got["status"], "uploaded", "{name}");
        assert_eq!(got["size"], size);
        assert_eq!(got["jobId"], result["jobId"], "{name}");
        // The client's own `complete` afterwards answers the same job.
        let done: Value = complete(&app, "alice", &asset, None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(done["jobId"], result["jobId"], "{name}");
        used += size;
        assert_eq!(usage(&app, "alice").await, (used, 0), "{name}");
    }
}

#[tokio::test]
async fn the_payload_is_not_trusted_for_size_or_type() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    // An event claiming the declared size and type, for an object storage does not hold,
    // changes nothing.
    let (pending, pending_key, _) = intent(&app, "alice", &project, 2000).await;
    let summary = ok_json(
        deliver_bearer(
            &app,
            &event_for("supabase-storage.json", &pending_key, 2000),
        )
        .await,
    )
    .await;
    assert_eq!(summary["results"][0]["outcome"], "deferred", "{summary}");
    assert_eq!(summary["results"][0]["reason"], "upload_incomplete");
    assert_eq!(
        asset_json(&app, "alice", &pending).await["status"],
        "pending_upload"
    );
    // An event claiming another size and type for an object that is there: storage decides.
    let (asset, key) = uploaded(&app, "alice", &project, 1000).await;
    let mut event = fixture("supabase-storage.json");
    event["event"]["payload"]["name"] = json!(key);
    event["event"]["payload"]["metadata"]["size"] = json!(1);
    event["event"]["payload"]["metadata"]["mimetype"] = json!("text/plain");
    let summary = ok_json(deliver_bearer(&app, &serde_json::to_vec(&event).unwrap()).await).await;
    assert_eq!(summary["confirmed"], 1, "{summary}");
    let got = asset_json(&app, "alice", &asset).await;
    assert_eq!(
        (got["size"].as_u64(), got["kind"].as_str()),
        (Some(1000), Some("video"))
    );
    assert_eq!(usage(&app, "alice").await, (1000, 2000));
}

#[tokio::test]
async fn the_same_delivery_five_times_does_one_thing() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    let size = 4000;

    // With a `webhook-id`: one id, five deliveries.
    let (asset, key) = uploaded(&app, "alice", &project, size).await;
    let body = event_for("minio-put.json", &key, size);
    let ts = now();
    let mut outcomes = Vec::new();
    let mut jobs = Vec::new();
    for _ in 0..5 {
        let summary = ok_json(deliver_signed(&app, "msg_five", ts, &body).await).await;
        outcomes.push(
            summary["results"][0]["outcome"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        jobs.push(summary["results"][0]["jobId"].clone());
    }
    assert_eq!(
        outcomes,
        [
            "confirmed",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate"
        ]
    );
    assert!(jobs.iter().all(|j| j == &jobs[0] && j.is_string()));
    assert_eq!(asset_json(&app, "alice", &asset).await["jobId"], jobs[0]);
    assert_eq!(usage(&app, "alice").await, (size, 0));

    // Without one (bearer, AWS): the key comes from bucket, key and sequencer.
    let (asset, key) = uploaded(&app, "alice", &project, size).await;
    let body = event_for("aws-put.json", &key, size);
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        let summary = ok_json(deliver_bearer(&app, &body).await).await;
        outcomes.push(
            summary["results"][0]["outcome"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        outcomes,
        [
            "confirmed",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate"
        ]
    );
    assert_eq!(usage(&app, "alice").await, (2 * size, 0));

    // Five at once: one confirmation, one job.
    let (asset2, key) = uploaded(&app, "alice", &project, size).await;
    let body = event_for("supabase-db-insert.json", &key, size);
    let deliveries = (0..5).map(|_| deliver_bearer(&app, &body));
    let mut confirmed = 0;
    let mut jobs = Vec::new();
    for response in futures::future::join_all(deliveries).await {
        let summary = ok_json(response).await;
        confirmed += summary["confirmed"].as_u64().unwrap();
        jobs.push(summary["results"][0]["jobId"].clone());
    }
    assert_eq!(confirmed, 1);
    assert!(jobs.iter().all(|j| j == &jobs[0] && j.is_string()));
    assert_eq!(asset_json(&app, "alice", &asset2).await["jobId"], jobs[0]);
    assert_eq!(usage(&app, "alice").await, (3 * size, 0));
    assert_ne!(asset, asset2);
}

#[tokio::test]
async fn an_event_before_the_bytes_is_harmless() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    let size = 5000;
    let (asset, key, upload) = intent(&app, "alice", &project, size).await;
    let body = event_for("aws-put.json", &key, size);
    let summary = ok_json(deliver_bearer(&app, &body).await).await;
    assert_eq!(summary["deferred"], 1, "{summary}");
    assert_eq!(summary["results"][0]["reason"], "upload_incomplete");
    assert_eq!(
        asset_json(&app, "alice", &asset).await["status"],
        "pending_upload"
    );
    assert_eq!(usage(&app, "alice").await, (0, size));

    // The bytes arrive; `complete` works as if nothing happened.
    assert!(
        send_signed(&app, &upload, bytes(size, 2))
            .await
            .status()
            .is_success()
    );
    let done = complete(&app, "alice", &asset, None).await;
    assert_eq!(done.status(), 202);
    let done: Value = done.json().await.unwrap();
    // The same event delivered again (it was not recorded, having done nothing) now finds
    // the upload confirmed.
    let summary = ok_json(deliver_bearer(&app, &body).await).await;
    assert_eq!(
        summary["results"][0]["outcome"], "already_confirmed",
        "{summary}"
    );
    assert_eq!(summary["results"][0]["jobId"], done["jobId"]);
    assert_eq!(usage(&app, "alice").await, (size, 0));
}

#[tokio::test]
async fn webhooks_and_completes_racing_give_one_job() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    let size = 7000;
    let (asset, key) = uploaded(&app, "alice", &project, size).await;
    let body = event_for("supabase-storage.json", &key, size);

    let webhooks = futures::future::join_all((0..5).map(|_| deliver_bearer(&app, &body)));
    let completes =
        futures::future::join_all((0..5).map(|_| complete(&app, "alice", &asset, None)));
    let (webhooks, completes) = tokio::join!(webhooks, completes);
    let mut jobs = Vec::new();
    let mut newly = 0;
    for response in webhooks {
        let summary = ok_json(response).await;
        newly += summary["confirmed"].as_u64().unwrap();
        jobs.push(summary["results"][0]["jobId"].clone());
    }
    for response in completes {
        assert_eq!(response.status(), 202);
        let done: Value = response.json().await.unwrap();
        jobs.push(done["jobId"].clone());
    }
    assert!(newly <= 1);
    assert!(
        jobs.iter().all(|j| j == &jobs[0] && j.is_string()),
        "{jobs:?}"
    );
    let got = asset_json(&app, "alice", &asset).await;
    assert_eq!(got["jobId"], jobs[0]);
    let job = app
        .store
        .job(&jobs[0].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.kind, "process_asset");
    assert_eq!(usage(&app, "alice").await, (size, 0));
}

#[tokio::test]
async fn multipart_events_never_complete_the_upload() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    let size = 12 * MIB;
    let content = bytes(size, 3);
    let (asset, key, upload) = intent(&app, "alice", &project, size).await;
    assert_eq!(upload["multipart"]["partCount"], 3);
    let urls: Value = app
        .request(Method::POST, &format!("/api/media/{asset}/parts"), "alice")
        .json(&json!({"partNumbers": [1, 2, 3]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut parts = Vec::new();
    for (i, part) in urls["parts"].as_array().unwrap().iter().enumerate() {
        let start = i * 5 * MIB as usize;
        let end = (start + 5 * MIB as usize).min(content.len());
        let response = send_signed(&app, part, content[start..end].to_vec()).await;
        assert!(response.status().is_success());
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        parts.push(json!({"partNumber": i + 1, "etag": etag}));
    }
    // An event for the key while the upload is still open (out of order, or a forged one):
    // the webhook must not assemble the parts itself.
    let mut event = fixture("aws-put.json");
    event["Records"][0]["eventName"] = json!("ObjectCreated:CompleteMultipartUpload");
    event["Records"][0]["s3"]["object"]["key"] = json!(encode_key(&key));
    let body = serde_json::to_vec(&event).unwrap();
    let summary = ok_json(deliver_bearer(&app, &body).await).await;
    assert_eq!(
        summary["results"][0]["reason"], "upload_incomplete",
        "{summary}"
    );
    // So the client's completion with its parts still works.
    let done = complete(&app, "alice", &asset, Some(json!({ "parts": parts }))).await;
    assert_eq!(done.status(), 202, "{}", done.text().await.unwrap());
    let summary = ok_json(deliver_bearer(&app, &body).await).await;
    assert_eq!(
        summary["results"][0]["outcome"], "already_confirmed",
        "{summary}"
    );
    assert_eq!(asset_json(&app, "alice", &asset).await["size"], size);
    assert_eq!(usage(&app, "alice").await, (size, 0));
}

#[tokio::test]
async fn unknown_keys_other_events_and_bad_records_are_reported_not_fatal() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    let (asset, key) = uploaded(&app, "alice", &project, 1000).await;
    let mut event = fixture("aws-mixed.json");
    // The first record (a key we never issued) stays; the last now names our object.
    event["Records"][4]["s3"]["object"]["key"] = json!(encode_key(&key));
    event["Records"]
        .as_array_mut()
        .unwrap()
        .push(json!({"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "originals/prj_00000000000000000000000000/ast_00000000000000000000000000"}}}));
    let summary = ok_json(deliver_bearer(&app, &serde_json::to_vec(&event).unwrap()).await).await;
    let outcomes: Vec<&str> = summary["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "ignored",
            "ignored",
            "invalid",
            "invalid",
            "confirmed",
            "ignored"
        ],
        "{summary}"
    );
    assert_eq!(summary["results"][0]["reason"], "unknown_key");
    assert_eq!(summary["results"][1]["reason"], "other_event");
    assert_eq!(summary["results"][2]["reason"], "invalid_record");
    assert_eq!(summary["results"][2]["pointer"], "/Records/2/s3/object/key");
    assert!(summary["results"][2]["detail"].is_string(), "{summary}");
    assert_eq!(
        (
            summary["records"].as_u64(),
            summary["ignored"].as_u64(),
            summary["invalid"].as_u64()
        ),
        (Some(6), Some(3), Some(2))
    );
    assert_eq!(
        asset_json(&app, "alice", &asset).await["status"],
        "uploaded"
    );
}

#[tokio::test]
async fn malformed_bodies_are_problems() {
    let app = spawn().await;
    assert_problem(
        deliver_bearer(&app, b"{\"Records\": [").await,
        400,
        "malformed_json",
    )
    .await;
    assert_problem(deliver_bearer(&app, b"").await, 400, "malformed_json").await;
    let problem = assert_problem(
        deliver_bearer(&app, br#"{"hello":"world"}"#).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["code"], "unrecognized_notification");
    let problem = assert_problem(
        deliver_bearer(&app, br#"{"Records":{"eventName":"x"}}"#).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["pointer"], "/Records");
    // Authentication comes first: an unauthenticated body is not even parsed.
    let anonymous = app.client.post(app.url(PATH)).body("not json");
    assert_problem(anonymous.send().await.unwrap(), 401, "webhook_unauthorized").await;
}

#[tokio::test]
async fn bodies_up_to_the_api_limit_are_read() {
    // A limit above axum's own 2 MiB default for byte bodies, to show that one is lifted.
    let limit = 3 * MIB as usize;
    let app = spawn_with(|c| c.body_limit_bytes = limit).await;
    let record = json!({"eventName": "ObjectRemoved:Delete", "s3": {"object": {"key": "k"}}});
    let one = serde_json::to_vec(&record).unwrap().len() + 1;
    let count = (limit - 64) / one;
    let body = serde_json::to_vec(&json!({ "Records": vec![record.clone(); count] })).unwrap();
    assert!(body.len() > 2 * MIB as usize && body.len() <= limit);
    let summary = ok_json(deliver_bearer(&app, &body).await).await;
    assert_eq!(summary["ignored"].as_u64(), Some(count as u64));
    // Signed, the same.
    ok_json(deliver_signed(&app, "msg_big", now(), &body).await).await;

    let too_big = serde_json::to_vec(&json!({ "Records": vec![record; count + 200] })).unwrap();
    assert!(too_big.len() > limit);
    assert_problem(
        deliver_bearer(&app, &too_big).await,
        413,
        "payload_too_large",
    )
    .await;
}

/// A storage failure on one record fails the delivery (503, so the sender retries), without
/// losing the records that worked; the retry then finishes the job. Local storage only: the
/// failure is made by turning the object's directory into a symlink loop.
#[tokio::test]
async fn a_storage_failure_is_a_503_and_the_retry_finishes() {
    let app = spawn().await;
    let studio::config::StorageConfig::Local { root } = app.config.media.storage.clone() else {
        return;
    };
    let good_project = project(&app, "alice").await;
    let bad_project = project(&app, "alice").await;
    let (good, good_key) = uploaded(&app, "alice", &good_project, 1000).await;
    let (bad, bad_key) = uploaded(&app, "alice", &bad_project, 2000).await;
    let mut event = fixture("aws-put.json");
    let record = event["Records"][0].clone();
    let mut second = record.clone();
    event["Records"][0]["s3"]["object"]["key"] = json!(encode_key(&good_key));
    second["s3"]["object"]["key"] = json!(encode_key(&bad_key));
    second["s3"]["object"]["sequencer"] = json!("0055AED6DCD90281F0");
    event["Records"].as_array_mut().unwrap().push(second);
    let body = serde_json::to_vec(&event).unwrap();

    // The directory holding the object (whatever the store's layout under its root).
    let dir = find_file(&root, &bad)
        .and_then(|file| file.parent().map(Path::to_path_buf))
        .expect("the uploaded object is a file named after its asset");
    let aside = dir.with_extension("aside");
    std::fs::rename(&dir, &aside).unwrap();
    std::os::unix::fs::symlink(&dir, &dir).unwrap();
    let response = deliver_bearer(&app, &body).await;
    assert_eq!(response.headers()["retry-after"], "30");
    let problem = assert_problem(response, 503, "service_unavailable").await;
    let summary = &problem["summary"];
    assert_eq!(summary["results"][0]["outcome"], "confirmed", "{problem}");
    assert_eq!(summary["results"][1]["outcome"], "failed", "{problem}");
    assert_eq!(summary["results"][1]["reason"], "storage_unavailable");
    assert_eq!(asset_json(&app, "alice", &good).await["status"], "uploaded");
    assert_eq!(
        asset_json(&app, "alice", &bad).await["status"],
        "pending_upload"
    );

    std::fs::remove_file(&dir).unwrap();
    std::fs::rename(&aside, &dir).unwrap();
    let summary = ok_json(deliver_bearer(&app, &body).await).await;
    assert_eq!(summary["results"][0]["outcome"], "duplicate", "{summary}");
    assert_eq!(summary["results"][1]["outcome"], "confirmed", "{summary}");
    assert_eq!(usage(&app, "alice").await, (3000, 0));
}

/// The first file named `name` under `dir`.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let kind = entry.file_type().ok()?;
        if kind.is_file() && entry.file_name() == name {
            return Some(path);
        }
        if kind.is_dir()
            && let Some(found) = find_file(&path, name)
        {
            return Some(found);
        }
    }
    None
}
