//! The upload flow against the storage backend of this run (`STUDIO_TEST_STORAGE`): intents,
//! signed single PUTs and multipart uploads with real bytes, completion, quotas, access.

use reqwest::Method;
use serde_json::{Value, json};
use studio_testkit::TestApp;

use crate::support::assert_problem;

const MIB: u64 = 1024 * 1024;

/// Small thresholds so multipart runs with a few MiB: parts of 5 MiB (S3's minimum).
async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| {
        c.multipart_threshold_bytes = 6 * MIB;
        c.multipart_part_size_bytes = 5 * MIB;
    })
    .await
}

fn bytes(len: u64, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn intent(
    app: &TestApp,
    user: &str,
    project: &str,
    size: u64,
    content_type: &str,
) -> reqwest::Response {
    app.request(Method::POST, "/api/media/upload-intent", user)
        .json(&json!({"projectId": project, "filename": "clip one.mp4", "contentType": content_type, "size": size}))
        .send()
        .await
        .unwrap()
}

async fn created_intent(app: &TestApp, user: &str, project: &str, size: u64) -> Value {
    let response = intent(app, user, project, size, "video/mp4").await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

/// Sends a signed request as a browser would: its method, URL and headers, with `body`
/// (`content-length` comes from the body itself, as `fetch` does).
async fn send_signed(
    app: &TestApp,
    signed: &Value,
    body: Vec<u8>,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let method = Method::from_bytes(signed["method"].as_str().unwrap().as_bytes()).unwrap();
    let mut request = app.client.request(method, signed["url"].as_str().unwrap());
    for (name, value) in signed["headers"].as_object().unwrap() {
        if name != "content-length" && !extra.iter().any(|(n, _)| n == name) {
            request = request.header(name, value.as_str().unwrap());
        }
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.body(body).send().await.unwrap()
}

async fn complete(
    app: &TestApp,
    user: &str,
    asset: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.request(Method::POST, &format!("/api/media/{asset}/complete"), user);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn me(app: &TestApp, user: &str) -> Value {
    app.get_json("/api/me", Some(user)).await
}

async fn project(app: &TestApp, owner: &str) -> String {
    app.create_project(owner, "Media").await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_single_put_upload_end_to_end() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    let content = bytes(300_000, 7);
    let created = created_intent(&app, "alice", &project, content.len() as u64).await;
    let asset = created["assetId"].as_str().unwrap();
    assert!(asset.starts_with("ast_"));
    let upload = &created["upload"];
    assert_eq!(upload["method"], "PUT");
    assert_eq!(upload["headers"]["content-type"], "video/mp4");
    // The file name never becomes the key.
    assert!(!upload["url"].as_str().unwrap().contains("clip"));
    let usage = me(&app, "alice").await;
    assert_eq!(usage["bytesReserved"], 300_000);
    assert_eq!(usage["bytesUsed"], 0);
    assert_eq!(usage["limitBytes"], 1024 * MIB);

    // Completing before the bytes are there is refused, and changes nothing.
    assert_problem(
        complete(&app, "alice", asset, None).await,
        409,
        "upload_incomplete",
    )
    .await;

    let put = send_signed(&app, upload, content.clone(), &[]).await;
    assert!(
        put.status().is_success(),
        "{} {}",
        put.status(),
        put.text().await.unwrap()
    );
    assert!(put.headers().contains_key("etag"));

    let done = complete(&app, "alice", asset, None).await;
    assert_eq!(done.status(), 202);
    let done: Value = done.json().await.unwrap();
    assert_eq!(done["assetId"], asset);
    assert!(done["jobId"].as_str().unwrap().starts_with("job_"));
    // Twice: the same job, nothing moves twice.
    let again: Value = complete(&app, "alice", asset, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["jobId"], done["jobId"]);
    let usage = me(&app, "alice").await;
    assert_eq!(
        (usage["bytesUsed"].as_u64(), usage["bytesReserved"].as_u64()),
        (Some(300_000), Some(0))
    );

    let got = app
        .get_json(&format!("/api/assets/{asset}"), Some("alice"))
        .await;
    assert_eq!(got["status"], "uploaded");
    assert_eq!(got["size"], 300_000);
    assert_eq!(got["kind"], "video");
    assert_eq!(got["filename"], "clip one.mp4");
    assert_eq!(got["jobId"], done["jobId"]);
    let original = &got["urls"]["original"];
    let downloaded = send_signed(&app, original, Vec::new(), &[]).await;
    assert_eq!(downloaded.status(), 200);
    assert_eq!(
        downloaded.bytes().await.unwrap().as_ref(),
        content.as_slice()
    );
    // Video players ask for ranges.
    let ranged = send_signed(&app, original, Vec::new(), &[("range", "bytes=100-199")]).await;
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &content[100..200]);

    let listed = app
        .get_json(&format!("/api/projects/{project}/assets"), Some("alice"))
        .await;
    assert_eq!(listed["items"][0]["id"], asset);

    let deleted = app
        .request(Method::DELETE, &format!("/api/assets/{asset}"), "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let usage = me(&app, "alice").await;
    assert_eq!(
        (usage["bytesUsed"].as_u64(), usage["bytesReserved"].as_u64()),
        (Some(0), Some(0))
    );
    let gone = send_signed(&app, original, Vec::new(), &[]).await;
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn signed_puts_refuse_another_size_type_or_a_tampered_url() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    let created = created_intent(&app, "alice", &project, 1000).await;
    let upload = &created["upload"];
    let refused = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    };
    refused(send_signed(&app, upload, bytes(999, 1), &[]).await).await;
    refused(send_signed(&app, upload, bytes(1001, 1), &[]).await).await;
    refused(
        send_signed(
            &app,
            upload,
            bytes(1000, 1),
            &[("content-type", "video/webm")],
        )
        .await,
    )
    .await;
    let mut tampered = upload.clone();
    let url = upload["url"].as_str().unwrap();
    let swapped = url.replacen("originals/", "originals/x", 1);
    tampered["url"] = Value::String(swapped);
    refused(send_signed(&app, &tampered, bytes(1000, 1), &[]).await).await;
    // Nothing was stored by the refused attempts.
    let asset = created["assetId"].as_str().unwrap();
    assert_problem(
        complete(&app, "alice", asset, None).await,
        409,
        "upload_incomplete",
    )
    .await;
}

#[tokio::test]
async fn expired_upload_urls_are_refused() {
    let app = TestApp::spawn_with(|c| c.upload_url_ttl_secs = 1).await;
    let project = project(&app, "alice").await;
    let created = created_intent(&app, "alice", &project, 1000).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = send_signed(&app, &created["upload"], bytes(1000, 1), &[]).await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_multipart_upload_with_resume() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    let size = 12 * MIB + 123;
    let content = bytes(size, 3);
    let created = created_intent(&app, "alice", &project, size).await;
    let asset = created["assetId"].as_str().unwrap().to_owned();
    let multipart = &created["upload"]["multipart"];
    assert_eq!(multipart["partSize"], 5 * MIB);
    assert_eq!(multipart["partCount"], 3);

    let urls: Value = app
        .request(Method::POST, &format!("/api/media/{asset}/parts"), "alice")
        .json(&json!({"partNumbers": [1, 2, 3]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parts = urls["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    let chunk = |n: usize| {
        let start = (n - 1) * 5 * MIB as usize;
        content[start..(start + 5 * MIB as usize).min(content.len())].to_vec()
    };
    let mut etags = Vec::new();
    for n in [1, 2] {
        let response = send_signed(&app, &parts[n - 1], chunk(n), &[]).await;
        assert!(response.status().is_success(), "{}", response.status());
        etags.push(response.headers()["etag"].to_str().unwrap().to_owned());
    }
    // The connection "dropped": the client asks what the store already has, then goes on.
    let have = app
        .get_json(&format!("/api/media/{asset}/parts"), Some("alice"))
        .await;
    let numbers: Vec<u64> = have["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["partNumber"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, vec![1, 2]);
    // A part of the wrong length is refused by its signature.
    let short = send_signed(&app, &parts[2], chunk(3)[..100].to_vec(), &[]).await;
    assert_eq!(short.status(), 403);
    let response = send_signed(&app, &parts[2], chunk(3), &[]).await;
    assert!(response.status().is_success());
    etags.push(response.headers()["etag"].to_str().unwrap().to_owned());

    // Completing without the parts list is a 422; with it, 202.
    assert_problem(
        complete(&app, "alice", &asset, None).await,
        422,
        "validation_failed",
    )
    .await;
    let body = json!({"parts": etags.iter().enumerate().map(|(i, e)| json!({"partNumber": i + 1, "etag": e})).collect::<Vec<_>>()});
    let done = complete(&app, "alice", &asset, Some(body.clone())).await;
    assert_eq!(done.status(), 202, "{}", done.text().await.unwrap());
    // A retry of the same completion answers the same job.
    let again = complete(&app, "alice", &asset, Some(body)).await;
    assert_eq!(again.status(), 202);

    let got = app
        .get_json(&format!("/api/assets/{asset}"), Some("alice"))
        .await;
    assert_eq!(got["size"], size);
    let downloaded = send_signed(&app, &got["urls"]["original"], Vec::new(), &[]).await;
    let downloaded = downloaded.bytes().await.unwrap();
    assert_eq!(downloaded.len() as u64, size);
    assert!(
        downloaded.as_ref() == content.as_slice(),
        "the assembled object differs"
    );
}

#[tokio::test]
async fn part_numbers_are_checked_and_single_uploads_have_none() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    let multi = created_intent(&app, "alice", &project, 12 * MIB).await;
    let asset = multi["assetId"].as_str().unwrap();
    let response = app
        .request(Method::POST, &format!("/api/media/{asset}/parts"), "alice")
        .json(&json!({"partNumbers": [0, 4]}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);
    let single = created_intent(&app, "alice", &project, 1000).await;
    let response = app
        .request(
            Method::POST,
            &format!("/api/media/{}/parts", single["assetId"].as_str().unwrap()),
            "alice",
        )
        .json(&json!({"partNumbers": [1]}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 409, "not_multipart").await;
}

#[tokio::test]
async fn intents_are_validated() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    assert_problem(
        intent(&app, "alice", &project, 10, "application/pdf").await,
        415,
        "unsupported_media_type",
    )
    .await;
    let too_big = assert_problem(
        intent(&app, "alice", &project, 2048 * MIB, "video/mp4").await,
        422,
        "file_too_large",
    )
    .await;
    assert_eq!(too_big["maxFileBytes"], 1024 * MIB);
    let empty = assert_problem(
        intent(&app, "alice", &project, 0, "video/mp4").await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(empty["errors"][0]["pointer"], "/size");
    assert_problem(
        intent(
            &app,
            "alice",
            "prj_00000000000000000000000000",
            10,
            "video/mp4",
        )
        .await,
        404,
        "project_not_found",
    )
    .await;
    assert_eq!(me(&app, "alice").await["bytesReserved"], 0);
}

#[tokio::test]
async fn concurrent_intents_never_pass_the_quota_together() {
    let app = TestApp::spawn_with(|c| {
        let free = c.plans.get_mut("free").unwrap();
        free.storage_bytes = 10 * MIB;
        free.max_file_bytes = 10 * MIB;
    })
    .await;
    let project = project(&app, "alice").await;
    let attempts = (0..30).map(|_| intent(&app, "alice", &project, MIB, "audio/mpeg"));
    let responses = futures::future::join_all(attempts).await;
    let admitted = responses.iter().filter(|r| r.status() == 201).count();
    assert_eq!(admitted, 10);
    for response in responses.into_iter().filter(|r| r.status() != 201) {
        let problem = assert_problem(response, 422, "quota_exceeded").await;
        assert_eq!(problem["limitBytes"], 10 * MIB);
        assert_eq!(problem["requestedBytes"], MIB);
    }
    let usage = me(&app, "alice").await;
    assert_eq!(usage["bytesReserved"], 10 * MIB);
}

#[tokio::test]
async fn aborting_an_upload_releases_its_reservation() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    for size in [1000, 12 * MIB] {
        let created = created_intent(&app, "alice", &project, size).await;
        let asset = created["assetId"].as_str().unwrap();
        let response = app
            .request(Method::DELETE, &format!("/api/media/{asset}"), "alice")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        assert_problem(
            app.request(Method::GET, &format!("/api/assets/{asset}"), "alice")
                .send()
                .await
                .unwrap(),
            404,
            "asset_not_found",
        )
        .await;
    }
    assert_eq!(me(&app, "alice").await["bytesReserved"], 0);
}

#[tokio::test]
async fn asset_access_follows_the_project() {
    let app = spawn().await;
    let project = project(&app, "olivia").await;
    app.add_member("olivia", &project, "vic", "viewer").await;
    let content = bytes(5000, 9);
    let created = created_intent(&app, "olivia", &project, content.len() as u64).await;
    let asset = created["assetId"].as_str().unwrap().to_owned();
    send_signed(&app, &created["upload"], content, &[]).await;
    assert_eq!(complete(&app, "olivia", &asset, None).await.status(), 202);

    // Strangers: 404 everywhere, as if it did not exist.
    for (method, path) in [
        (Method::GET, format!("/api/assets/{asset}")),
        (Method::DELETE, format!("/api/assets/{asset}")),
        (Method::POST, format!("/api/media/{asset}/complete")),
        (Method::GET, format!("/api/media/{asset}/parts")),
        (Method::DELETE, format!("/api/media/{asset}")),
    ] {
        let response = app.request(method, &path, "stranger").send().await.unwrap();
        assert_problem(response, 404, "asset_not_found").await;
    }
    assert_problem(
        intent(&app, "stranger", &project, 10, "video/mp4").await,
        404,
        "project_not_found",
    )
    .await;
    // Viewers: read, without the original; no writes.
    let seen = app
        .get_json(&format!("/api/assets/{asset}"), Some("vic"))
        .await;
    assert_eq!(seen["status"], "uploaded");
    assert!(seen["urls"]["original"].is_null());
    assert_problem(
        intent(&app, "vic", &project, 10, "video/mp4").await,
        403,
        "forbidden",
    )
    .await;
    let response = app
        .request(Method::DELETE, &format!("/api/assets/{asset}"), "vic")
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "forbidden").await;
}

#[tokio::test]
async fn deleting_a_project_gives_its_bytes_back() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    let content = bytes(4000, 2);
    let done = created_intent(&app, "alice", &project, content.len() as u64).await;
    send_signed(&app, &done["upload"], content, &[]).await;
    complete(&app, "alice", done["assetId"].as_str().unwrap(), None).await;
    created_intent(&app, "alice", &project, 777).await;
    let usage = me(&app, "alice").await;
    assert_eq!(
        (usage["bytesUsed"].as_u64(), usage["bytesReserved"].as_u64()),
        (Some(4000), Some(777))
    );
    let response = app
        .request(Method::DELETE, &format!("/api/projects/{project}"), "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let usage = me(&app, "alice").await;
    assert_eq!(
        (usage["bytesUsed"].as_u64(), usage["bytesReserved"].as_u64()),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn storage_urls_cannot_reach_outside_the_store() {
    let app = spawn().await;
    if studio_testkit::storage() != studio_testkit::Storage::Local {
        // With S3 there is no /storage route at all: the bucket serves the bytes.
        let response = app
            .client
            .get(app.url("/storage/x?op=get"))
            .send()
            .await
            .unwrap();
        assert_problem(response, 404, "route_not_found").await;
        return;
    }
    let project = project(&app, "alice").await;
    let created = created_intent(&app, "alice", &project, 10).await;
    let signed = created["upload"]["url"].as_str().unwrap();
    let query = signed.split_once('?').unwrap().1;
    for path in [
        "/storage/../../../etc/passwd",
        "/storage/%2e%2e/%2e%2e/etc/passwd",
        "/storage/originals/..%2f..%2fetc%2fpasswd",
        "/storage//etc/passwd",
        "/storage/originals/%00",
    ] {
        for method in [Method::GET, Method::PUT] {
            let response = app
                .client
                .request(method.clone(), format!("{}{path}?{query}", app.base_url))
                .header("content-type", "video/mp4")
                .body(vec![0u8; 10])
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            assert!(
                status == 403 || status == 404,
                "{method} {path} answered {status}"
            );
        }
    }
    // Unsigned and garbage-signed requests to a real key are refused too.
    let key_path = signed
        .split_once("/storage/")
        .unwrap()
        .1
        .split_once('?')
        .unwrap()
        .0;
    for query in ["", "op=get", "op=get&exp=99999999999&sig=00"] {
        let response = app
            .client
            .get(format!("{}/storage/{key_path}?{query}", app.base_url))
            .send()
            .await
            .unwrap();
        assert_problem(response, 403, "signature_invalid").await;
    }
}
