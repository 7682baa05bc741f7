//! Uppy's real client against the Companion routes (`/api/uppy`): `tests/uppy/upload.mjs` runs
//! the unmodified npm packages `@uppy/core` and `@uppy/aws-s3` (v6, pinned in
//! `tests/uppy/package-lock.json`) in Node against a test app, on the storage backend of this
//! run: the local store (form POST to `/storage`, parts to `/storage/…`) or, with
//! `STUDIO_TEST_STORAGE=s3`, `s3s-fs` (a SigV4 POST policy, presigned part PUTs). `make deps`
//! runs `npm ci` there; without Node or the packages these tests fail and say so.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use studio_testkit::TestApp;

use crate::support::assert_problem;

const MIB: u64 = 1024 * 1024;
/// How long one Uppy run may take (two uploads of a few MiB on loopback take about a second).
const NODE_TIMEOUT: Duration = Duration::from_secs(120);

/// Parts of 5 MiB (Uppy's and S3's smallest), multipart above 5 MiB; the reconciler is slowed
/// down so the test, not a reconciler pass, decides when a single upload is confirmed; no
/// in-process worker, so a confirmed asset stays `uploaded` (its bytes are not media).
async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| {
        c.multipart_threshold_bytes = 5 * MIB;
        c.multipart_part_size_bytes = 5 * MIB;
        c.reconcile_interval_secs = 3600;
        c.run_in_process_worker = false;
    })
    .await
}

fn uppy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/uppy")
}

/// The bytes `upload.mjs` makes for a file: byte i is `(i * 31 + seed) & 255`.
fn content(size: u64, seed: u64) -> Vec<u8> {
    (0..size).map(|i| ((i * 31 + seed) & 255) as u8).collect()
}

/// Runs `upload.mjs` with `files` (`[{name, type, size, seed}]`) and returns its report
/// (`{successful:[{name,key,location}], failed:[{name,error}]}`).
async fn run_uppy(app: &TestApp, token: &str, project: &str, auth: &str, files: Value) -> Value {
    let dir = uppy_dir();
    assert!(
        dir.join("node_modules/@uppy/aws-s3/package.json").is_file(),
        "{}/node_modules is missing: run `make deps` (it runs `npm ci` there)",
        dir.display()
    );
    let child = tokio::process::Command::new("node")
        .arg("upload.mjs")
        .current_dir(&dir)
        .env("STUDIO_URL", &app.base_url)
        .env("STUDIO_TOKEN", token)
        .env("STUDIO_PROJECT_ID", project)
        .env("UPPY_AUTH", auth)
        .env("UPPY_FILES", files.to_string())
        .env(
            "UPPY_MULTIPART_ABOVE",
            app.config.media.multipart_threshold_bytes.to_string(),
        )
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(NODE_TIMEOUT, child)
        .await
        .expect("the Uppy run finishes in time")
        .expect("`node` runs (Node 20 or later must be installed: see README)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "upload.mjs failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let report = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(report)
        .unwrap_or_else(|e| panic!("upload.mjs printed no report ({e}):\n{stdout}\n{stderr}"))
}

async fn project(app: &TestApp, owner: &str) -> String {
    app.create_project(owner, "Uppy").await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn usage(app: &TestApp, user: &str) -> (u64, u64) {
    let me = app.get_json("/api/me", Some(user)).await;
    (
        me["bytesUsed"].as_u64().unwrap(),
        me["bytesReserved"].as_u64().unwrap(),
    )
}

/// The asset behind a key Uppy reported (`originals/{projectId}/{assetId}`).
async fn asset_of(app: &TestApp, user: &str, project: &str, key: &str) -> Value {
    let prefix = format!("originals/{project}/");
    let id = key
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{key} is not under {prefix}"));
    app.get_json(&format!("/api/assets/{id}"), Some(user)).await
}

/// Downloads an uploaded asset's original through its signed URL.
async fn download(app: &TestApp, asset: &Value) -> Vec<u8> {
    let original = &asset["urls"]["original"];
    let mut request = app
        .client
        .get(original["url"].as_str().expect("a download URL"));
    for (name, value) in original["headers"].as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

fn report_by_name<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["successful"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} did not upload: {report}"))
}

#[tokio::test]
async fn uppy_uploads_a_form_and_a_multipart_file_through_the_intents() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    let small = 300 * 1024;
    // Three parts as Uppy cuts them: 5 MiB, 5 MiB, the rest.
    let large = 12 * MIB + 123;
    let report = run_uppy(
        &app,
        &app.token("alice"),
        &project,
        "path",
        json!([
            {"name": "small clip.mp4", "type": "video/mp4", "size": small, "seed": 1},
            {"name": "large take.mov", "type": "video/quicktime", "size": large, "seed": 2},
        ]),
    )
    .await;
    assert_eq!(report["failed"], json!([]), "{report}");

    // The multipart upload: Uppy completed it through Companion's route, so it is confirmed,
    // its bytes used and its processing job recorded.
    let uploaded = report_by_name(&report, "large take.mov");
    let key = uploaded["key"].as_str().unwrap();
    // The bytes went to the store of this run: studio's `/storage`, or the bucket.
    let location = uploaded["location"].as_str().unwrap();
    assert!(location.ends_with(key), "{uploaded}");
    let to_studio = location.starts_with(&app.url("/storage/"));
    assert_eq!(
        to_studio,
        studio_testkit::storage() == studio_testkit::Storage::Local,
        "{location}"
    );
    let large_asset = asset_of(&app, "alice", &project, key).await;
    assert_eq!(large_asset["status"], "uploaded", "{large_asset}");
    assert_eq!(large_asset["size"], large);
    assert_eq!(large_asset["filename"], "large take.mov");
    assert_eq!(large_asset["contentType"], "video/quicktime");
    let job_id = large_asset["jobId"].as_str().expect("a job");
    let job = app
        .store
        .job(&job_id.parse().unwrap())
        .await
        .unwrap()
        .expect("the job is recorded");
    assert_eq!(job.kind, "process_asset");
    assert_eq!(download(&app, &large_asset).await, content(large, 2));
    // A client confirming every Uppy upload, multipart too, gets the same job back.
    let again: Value = app
        .request(
            Method::POST,
            &format!(
                "/api/media/{}/complete",
                large_asset["id"].as_str().unwrap()
            ),
            "alice",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["jobId"], job_id);

    // The form upload: the bytes are in storage, but nothing told studio yet, so the asset is
    // pending and its bytes still reserved (the webhook, the reconciler or the client's
    // `complete` confirms it).
    let uploaded = report_by_name(&report, "small clip.mp4");
    let key = uploaded["key"].as_str().unwrap();
    let location = uploaded["location"].as_str().unwrap();
    assert_eq!(
        location.starts_with(&app.url("/storage/")),
        to_studio,
        "{location}"
    );
    let small_asset = asset_of(&app, "alice", &project, key).await;
    assert_eq!(small_asset["status"], "pending_upload", "{small_asset}");
    assert_eq!(small_asset["declaredSize"], small);
    assert_eq!(usage(&app, "alice").await, (large, small));

    let asset_id = small_asset["id"].as_str().unwrap();
    let done = app
        .request(
            Method::POST,
            &format!("/api/media/{asset_id}/complete"),
            "alice",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 202);
    let small_asset = asset_of(&app, "alice", &project, key).await;
    assert_eq!(small_asset["status"], "uploaded");
    assert_eq!(small_asset["size"], small);
    assert!(small_asset["jobId"].is_string());
    assert_eq!(download(&app, &small_asset).await, content(small, 1));
    assert_eq!(usage(&app, "alice").await, (large + small, 0));
}

#[tokio::test]
async fn uppy_works_with_a_bearer_header_too() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    let report = run_uppy(
        &app,
        &app.token("alice"),
        &project,
        "header",
        json!([
            {"name": "voice.wav", "type": "audio/wav", "size": 64 * 1024, "seed": 3},
            {"name": "b-roll.mp4", "type": "video/mp4", "size": 6 * MIB, "seed": 4},
        ]),
    )
    .await;
    assert_eq!(report["failed"], json!([]), "{report}");
    let multipart = report_by_name(&report, "b-roll.mp4");
    let asset = asset_of(&app, "alice", &project, multipart["key"].as_str().unwrap()).await;
    assert_eq!(asset["status"], "uploaded");
    assert_eq!(asset["size"], 6 * MIB);
    assert_eq!(usage(&app, "alice").await, (6 * MIB, 64 * 1024));
}

#[tokio::test]
async fn a_viewers_uppy_is_refused_and_reserves_nothing() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    app.add_member("alice", &project, "bob", "viewer").await;
    let report = run_uppy(
        &app,
        &app.token("bob"),
        &project,
        "path",
        json!([
            {"name": "small.mp4", "type": "video/mp4", "size": 1000, "seed": 5},
            {"name": "large.mp4", "type": "video/mp4", "size": 6 * MIB, "seed": 6},
        ]),
    )
    .await;
    assert_eq!(report["successful"], json!([]), "{report}");
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{report}");
    for file in failed {
        assert!(
            file["error"].as_str().unwrap().contains("Forbidden"),
            "{report}"
        );
    }
    let assets = app
        .get_json(&format!("/api/projects/{project}/assets"), Some("alice"))
        .await;
    assert_eq!(assets["items"], json!([]));
    assert_eq!(usage(&app, "bob").await, (0, 0));
    assert_eq!(usage(&app, "alice").await, (0, 0));
}

/// The Companion routes spoken directly: the shapes Uppy reads, and the refusals.
#[tokio::test]
async fn the_companion_shapes_and_refusals() {
    let app = spawn().await;
    let project = project(&app, "alice").await;
    app.add_member("alice", &project, "bob", "viewer").await;
    let params = |user: Option<&str>, query: &str| {
        let url = format!("/api/uppy/s3/params?{query}");
        match user {
            Some(user) => app.request(Method::GET, &url, user),
            None => app.client.get(app.url(&url)),
        }
    };
    let query = format!(
        "filename=a.mp4&type=video%2Fmp4&metadata%5BprojectId%5D={project}&metadata%5Bsize%5D=1000"
    );

    let anonymous = params(None, &query).send().await.unwrap();
    assert_problem(anonymous, 401, "unauthenticated").await;
    let bad_token = app
        .client
        .get(app.url(&format!("/api/uppy/token/not-a-jwt/s3/params?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.headers()["cache-control"], "no-store");
    assert_problem(bad_token, 401, "invalid_token").await;
    assert_problem(
        params(Some("bob"), &query).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        params(Some("carol"), &query).send().await.unwrap(),
        404,
        "project_not_found",
    )
    .await;
    // Without the size (what an unconfigured Uppy sends), nothing is reserved.
    let body = assert_problem(
        params(
            Some("alice"),
            &format!("filename=a.mp4&type=video%2Fmp4&metadata%5BprojectId%5D={project}"),
        )
        .send()
        .await
        .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["pointer"], "/metadata/size");
    assert_problem(
        params(
            Some("alice"),
            &format!(
                "filename=a.txt&type=text%2Fplain&metadata%5BprojectId%5D={project}&metadata%5Bsize%5D=10"
            ),
        )
        .send()
        .await
        .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    assert_eq!(usage(&app, "alice").await, (0, 0));

    let response = params(Some("alice"), &query).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let form: Value = response.json().await.unwrap();
    assert_eq!(form["method"], "POST");
    assert_eq!(form["expires"], app.config.media.upload_url_ttl.as_secs());
    let asset = form["assetId"].as_str().unwrap();
    assert_eq!(
        form["fields"]["key"],
        format!("originals/{project}/{asset}")
    );
    assert_eq!(form["fields"]["Content-Type"], "video/mp4");
    assert_eq!(usage(&app, "alice").await, (0, 1000));

    // Multipart: create, sign, list, abort; the reservation comes back.
    let created: Value = app
        .request(Method::POST, "/api/uppy/s3/multipart", "alice")
        .json(&json!({"filename": "big.mp4", "type": "video/mp4",
            "metadata": {"projectId": project, "size": 11 * MIB, "name": "big.mp4"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap();
    let upload = created["uploadId"].as_str().unwrap();
    assert!(
        key.starts_with(&format!("originals/{project}/ast_")),
        "{created}"
    );
    assert_eq!(usage(&app, "alice").await, (0, 1000 + 11 * MIB));
    let key_query = format!("key={}", key.replace('/', "%2F"));
    let part: Value = app
        .get_json(
            &format!("/api/uppy/s3/multipart/{upload}/3?{key_query}"),
            Some("alice"),
        )
        .await;
    assert!(part["url"].is_string(), "{part}");
    assert_eq!(part["headers"]["content-length"], (MIB).to_string());
    assert_problem(
        app.request(
            Method::GET,
            &format!("/api/uppy/s3/multipart/{upload}/4?{key_query}"),
            "alice",
        )
        .send()
        .await
        .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    // Another upload's id, or a key the caller cannot write: not found.
    assert_problem(
        app.request(
            Method::GET,
            &format!("/api/uppy/s3/multipart/other/1?{key_query}"),
            "alice",
        )
        .send()
        .await
        .unwrap(),
        404,
        "asset_not_found",
    )
    .await;
    assert_problem(
        app.request(
            Method::GET,
            &format!("/api/uppy/s3/multipart/{upload}/1?{key_query}"),
            "bob",
        )
        .send()
        .await
        .unwrap(),
        403,
        "forbidden",
    )
    .await;
    let parts = app
        .get_json(
            &format!("/api/uppy/s3/multipart/{upload}?{key_query}"),
            Some("alice"),
        )
        .await;
    assert_eq!(parts, json!([]));
    let aborted = app
        .request(
            Method::DELETE,
            &format!("/api/uppy/s3/multipart/{upload}?{key_query}"),
            "alice",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(aborted.status(), 200);
    assert_eq!(aborted.json::<Value>().await.unwrap(), json!({}));
    assert_eq!(usage(&app, "alice").await, (0, 1000));
}

/// The signed form refuses what its signature does not allow, on the store of this run: the
/// local store's `POST /storage`, or the bucket (`s3s-fs` checks the POST policy as S3 does).
#[tokio::test]
async fn the_form_upload_enforces_the_signed_fields() {
    let app = spawn().await;
    let local = studio_testkit::storage() == studio_testkit::Storage::Local;
    let project = project(&app, "alice").await;
    let form: Value = app
        .get_json(
            &format!(
                "/api/uppy/s3/params?filename=a.mp4&type=video%2Fmp4&metadata%5BprojectId%5D={project}&metadata%5Bsize%5D=10"
            ),
            Some("alice"),
        )
        .await;
    let url = form["url"].as_str().unwrap();
    if local {
        assert_eq!(url, app.url("/storage"));
    }
    let post = |fields: &[(String, String)], file: &[u8]| {
        let boundary = "b0undary";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        app.client
            .post(url)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
    };
    let fields: Vec<(String, String)> = form["fields"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let other_key: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| {
            let v = if k == "key" {
                format!("originals/{project}/ast_other")
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    let refused = post(&other_key, b"0123456789").await.unwrap();
    if local {
        assert_problem(refused, 403, "signature_invalid").await;
    } else {
        assert!(refused.status().is_client_error(), "{}", refused.status());
    }
    let too_long = post(&fields, b"0123456789a").await.unwrap();
    if local {
        assert_problem(too_long, 400, "bad_request").await;
    } else {
        assert_eq!(too_long.status(), 400);
    }
    let asset = form["assetId"].as_str().unwrap();
    let early = app
        .request(
            Method::POST,
            &format!("/api/media/{asset}/complete"),
            "alice",
        )
        .send()
        .await
        .unwrap();
    assert_problem(early, 409, "upload_incomplete").await;

    let stored = post(&fields, b"0123456789").await.unwrap();
    assert_eq!(stored.status(), 204);
    // S3 answers the form's ETag too; s3s-fs 0.14.1's 204 has none (Uppy does not need it).
    if local {
        assert!(stored.headers().contains_key("etag"));
    }
    let done = app
        .request(
            Method::POST,
            &format!("/api/media/{asset}/complete"),
            "alice",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 202);
    assert_eq!(usage(&app, "alice").await, (10, 0));
}
