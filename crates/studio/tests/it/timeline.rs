//! The project timeline over HTTP: reading and writing it with versions, validation against the
//! project's assets (every error at once), asset deletion that respects it, the published
//! schema, the re-check once an asset is probed, and the OpenTimelineIO export. The media tests
//! upload real (tiny) files made with ffmpeg and let the in-process worker probe them.

use std::time::Duration;

use reqwest::{Method, Response, header};
use serde_json::{Value, json};
use studio_core::timeline::{Project, TimelineLimits};
use studio_testkit::TestApp;

use crate::support::assert_problem;

/// Asset deletion and probed media.
mod media;

/// Bounds on polling loops (not assertions about speed: generous for a slow machine).
const POLL: Duration = Duration::from_millis(100);
const MAX_POLLS: u32 = 1200;

// ---- helpers -------------------------------------------------------------------------------

async fn project(app: &TestApp, user: &str, name: &str) -> String {
    app.create_project(user, name).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn timeline_path(project: &str) -> String {
    format!("/api/projects/{project}/timeline")
}

async fn get_timeline(app: &TestApp, user: &str, project: &str) -> Response {
    app.request(Method::GET, &timeline_path(project), user)
        .send()
        .await
        .unwrap()
}

/// `PUT` of `document` with `If-Match: if_match` when given.
async fn put_timeline(
    app: &TestApp,
    user: &str,
    project: &str,
    document: &Value,
    if_match: Option<&str>,
) -> Response {
    let mut request = app
        .request(Method::PUT, &timeline_path(project), user)
        .json(document);
    if let Some(tag) = if_match {
        request = request.header(header::IF_MATCH, tag);
    }
    request.send().await.unwrap()
}

fn etag(response: &Response) -> String {
    response.headers()[header::ETAG]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn document(response: Response) -> Project {
    let bytes = response.bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A timeline of `name` with `video` and `audio` clips (`(id, assetId, start, duration)`).
fn timeline(
    name: &str,
    video: &[(&str, &str, f64, f64)],
    audio: &[(&str, &str, f64, f64)],
) -> Value {
    let clips = |clips: &[(&str, &str, f64, f64)]| -> Vec<Value> {
        clips
            .iter()
            .map(|(id, asset, start, duration)| {
                json!({ "id": id, "assetId": asset, "start": start, "duration": duration })
            })
            .collect()
    };
    json!({
        "schemaVersion": 1,
        "name": name,
        "fps": 30,
        "width": 1280,
        "height": 720,
        "sampleRate": 48000,
        "tracks": [
            { "id": "v1", "kind": "video", "name": "Video", "muted": false, "locked": false,
              "clips": clips(video) },
            { "id": "a1", "kind": "audio", "name": "Audio", "muted": false, "locked": false,
              "clips": clips(audio) },
            { "id": "t1", "kind": "text", "name": "Titles", "muted": false, "locked": false,
              "clips": [ { "id": "title", "start": 0, "duration": 1, "text": "Hello" } ] }
        ],
        "markers": [ { "id": "m1", "time": 0.5, "label": "Cut" } ]
    })
}

/// `(pointer, code)` of each error of an `invalid_timeline` problem, sorted.
fn errors(problem: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {problem}"))
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
            (
                e["pointer"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut expected: Vec<(String, String)> = expected
        .iter()
        .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
        .collect();
    expected.sort();
    expected
}

/// An upload intent; returns (asset id, the intent's body).
async fn intent(
    app: &TestApp,
    user: &str,
    project: &str,
    name: &str,
    content_type: &str,
    size: usize,
) -> (String, Value) {
    let response = app
        .request(Method::POST, "/api/media/upload-intent", user)
        .json(&json!({"projectId": project, "filename": name, "contentType": content_type, "size": size}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    (body["assetId"].as_str().unwrap().to_owned(), body)
}

// ---- reading and writing -------------------------------------------------------------------

#[tokio::test]
async fn a_new_project_has_a_valid_empty_timeline_at_version_1() {
    let app = TestApp::spawn().await;
    let film = project(&app, "olivia", "Launch film").await;
    let response = get_timeline(&app, "olivia", &film).await;
    assert_eq!(response.status(), 200);
    assert_eq!(etag(&response), "\"1\"");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(response.headers().get("timeline-problems").is_none());
    let bytes = response.bytes().await.unwrap();
    let empty = studio_core::timeline::parse_and_validate(
        &bytes,
        &TimelineLimits::default(),
        &std::collections::HashMap::new(),
    )
    .expect("the starting timeline is valid");
    assert_eq!(empty, Project::empty("Launch film"));

    // Revalidation: the version held is current.
    let cached = app
        .request(Method::GET, &timeline_path(&film), "olivia")
        .header(header::IF_NONE_MATCH, "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    assert_eq!(etag(&cached), "\"1\"");
}

#[tokio::test]
async fn writes_answer_the_stored_document_with_a_new_etag() {
    let app = TestApp::spawn().await;
    let film = project(&app, "olivia", "Film").await;
    app.add_member("olivia", &film, "eddie", "editor").await;
    app.add_member("olivia", &film, "victor", "viewer").await;

    let first = timeline("Cut 1", &[], &[]);
    let response = put_timeline(&app, "olivia", &film, &first, Some("\"1\"")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(etag(&response), "\"2\"");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    let stored = document(response).await;
    assert_eq!(stored.name, "Cut 1");
    assert_eq!(stored.tracks.len(), 3);

    // Every member reads what was written.
    for user in ["olivia", "eddie", "victor"] {
        let response = get_timeline(&app, user, &film).await;
        assert_eq!(etag(&response), "\"2\"");
        assert_eq!(document(response).await, stored);
    }

    // An editor writes too; without If-Match the last write wins, `*` matches any version.
    let second = timeline("Cut 2", &[], &[]);
    let response = put_timeline(&app, "eddie", &film, &second, None).await;
    assert_eq!(
        (response.status().as_u16(), etag(&response)),
        (200, "\"3\"".to_owned())
    );
    let response = put_timeline(&app, "olivia", &film, &first, Some("*")).await;
    assert_eq!(
        (response.status().as_u16(), etag(&response)),
        (200, "\"4\"".to_owned())
    );
    // A list naming the current version matches.
    let response = put_timeline(&app, "olivia", &film, &second, Some("\"1\", \"4\"")).await;
    assert_eq!(
        (response.status().as_u16(), etag(&response)),
        (200, "\"5\"".to_owned())
    );
    assert_eq!(
        document(get_timeline(&app, "victor", &film).await)
            .await
            .name,
        "Cut 2"
    );
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let film = project(&app, "olivia", "Film").await;
    let mine = timeline("Mine", &[], &[]);
    assert_eq!(
        put_timeline(&app, "olivia", &film, &mine, Some("\"1\""))
            .await
            .status(),
        200
    );
    // A second tab still holding version 1, and tags that never match strongly.
    let theirs = timeline("Theirs", &[], &[]);
    for stale in ["\"1\"", "W/\"2\"", "\"7\"", "2", "\"abc\""] {
        let response = put_timeline(&app, "olivia", &film, &theirs, Some(stale)).await;
        assert_eq!(etag(&response), "\"2\"", "{stale}");
        let problem = assert_problem(response, 412, "timeline_version_mismatch").await;
        assert_eq!(problem["currentVersion"], 2, "{stale}: {problem}");
    }
    // Even an invalid body is refused for its version first: nothing is looked at.
    let response = put_timeline(&app, "olivia", &film, &json!({"nope": 1}), Some("\"1\"")).await;
    assert_problem(response, 412, "timeline_version_mismatch").await;

    let response = get_timeline(&app, "olivia", &film).await;
    assert_eq!(etag(&response), "\"2\"");
    assert_eq!(document(response).await.name, "Mine");
}

#[tokio::test]
async fn an_invalid_timeline_is_422_with_every_error_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let film = project(&app, "olivia", "Film").await;
    let (asset, _) = intent(&app, "olivia", &film, "a.mp4", "video/mp4", 1000).await;

    // Shape: everything the schema can say, at once.
    let mut shape = timeline("Film", &[("c1", &asset, 0.0, 1.0)], &[]);
    shape["colour"] = json!("red");
    shape["fps"] = json!(1000);
    shape["tracks"][0]["clips"][0]["start"] = json!(-1);
    shape["tracks"][0]["clips"][0]["startt"] = json!(1);
    shape["tracks"][1]["muted"] = json!("no");
    shape["tracks"][2]["kind"] = json!("subtitle");
    let response = put_timeline(&app, "olivia", &film, &shape, None).await;
    let problem = assert_problem(response, 422, "invalid_timeline").await;
    assert_eq!(
        errors(&problem),
        pairs(&[
            ("/colour", "unknown_field"),
            ("/fps", "out_of_range"),
            ("/tracks/0/clips/0/start", "negative_time"),
            ("/tracks/0/clips/0/startt", "unknown_field"),
            ("/tracks/1/muted", "invalid_type"),
            ("/tracks/2/kind", "invalid_value"),
        ])
    );

    // Rules: ids, overlaps, assets, lengths.
    let unknown = "ast_00000000000000000000000000";
    let mut rules = timeline(
        "Film",
        &[("c1", &asset, 0.0, 2.0), ("c2", &asset, 1.0, 2.0)],
        &[("c1", unknown, 0.0, 1.0)],
    );
    rules["tracks"][0]["clips"][1]["fadeIn"] = json!(1.5);
    rules["tracks"][0]["clips"][1]["fadeOut"] = json!(1.0);
    rules["markers"][0]["time"] = json!(1e9);
    let response = put_timeline(&app, "olivia", &film, &rules, None).await;
    let problem = assert_problem(response, 422, "invalid_timeline").await;
    assert_eq!(
        errors(&problem),
        pairs(&[
            ("/tracks/0/clips/1/start", "clip_overlap"),
            ("/tracks/0/clips/1/fadeOut", "fade_too_long"),
            ("/tracks/1/clips/0/id", "duplicate_id"),
            ("/tracks/1/clips/0/assetId", "asset_not_found"),
            ("/markers/0/time", "beyond_max_length"),
        ])
    );
    assert!(problem["detail"].as_str().unwrap().contains("5 problems"));

    // Not JSON at all.
    let response = app
        .request(Method::PUT, &timeline_path(&film), "olivia")
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"schemaVersion\":")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "invalid_timeline").await;
    assert_eq!(errors(&problem), pairs(&[("", "invalid_json")]));
    // Not sent as JSON.
    let response = app
        .request(Method::PUT, &timeline_path(&film), "olivia")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(serde_json::to_vec(&timeline("Film", &[], &[])).unwrap())
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "unsupported_media_type").await;

    let response = get_timeline(&app, "olivia", &film).await;
    assert_eq!(etag(&response), "\"1\"", "nothing was stored");
    assert_eq!(document(response).await, Project::empty("Film"));
}

#[tokio::test]
async fn viewers_cannot_write_and_strangers_cannot_see() {
    let app = TestApp::spawn().await;
    let film = project(&app, "olivia", "Film").await;
    app.add_member("olivia", &film, "victor", "viewer").await;
    let doc = timeline("Film", &[], &[]);

    let response = put_timeline(&app, "victor", &film, &doc, None).await;
    assert_problem(response, 403, "forbidden").await;
    assert_eq!(get_timeline(&app, "victor", &film).await.status(), 200);

    for path in [
        timeline_path(&film),
        format!("{}/problems", timeline_path(&film)),
        format!("/api/projects/{film}/timeline.otio"),
    ] {
        let response = app
            .request(Method::GET, &path, "mallory")
            .send()
            .await
            .unwrap();
        assert_problem(response, 404, "project_not_found").await;
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
    }
    let response = put_timeline(&app, "mallory", &film, &doc, None).await;
    assert_problem(response, 404, "project_not_found").await;
    assert_eq!(etag(&get_timeline(&app, "olivia", &film).await), "\"1\"");
}

#[tokio::test]
async fn another_projects_asset_cannot_be_used() {
    let app = TestApp::spawn().await;
    let film = project(&app, "olivia", "Film").await;
    let other = project(&app, "mallory", "Other").await;
    let (theirs, _) = intent(&app, "mallory", &other, "b.mp4", "video/mp4", 1000).await;
    let (mine, _) = intent(&app, "olivia", &film, "a.mp4", "video/mp4", 1000).await;

    let doc = timeline(
        "Film",
        &[("c1", &mine, 0.0, 1.0), ("c2", &theirs, 1.0, 1.0)],
        &[],
    );
    let response = put_timeline(&app, "olivia", &film, &doc, None).await;
    let problem = assert_problem(response, 422, "invalid_timeline").await;
    assert_eq!(
        errors(&problem),
        pairs(&[("/tracks/0/clips/1/assetId", "asset_not_found")])
    );
    let doc = timeline("Film", &[("c1", &mine, 0.0, 1.0)], &[]);
    assert_eq!(
        put_timeline(&app, "olivia", &film, &doc, None)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_body_over_the_document_limit_is_413_even_above_the_api_limit() {
    let app = TestApp::spawn_with(|c| {
        c.body_limit_bytes = 1024;
        c.timeline_max_document_bytes = 16 * 1024;
    })
    .await;
    let film = project(&app, "olivia", "Film").await;
    let with_markers = |count: usize| {
        let mut doc = timeline("Film", &[], &[]);
        doc["markers"] = (0..count)
            .map(|i| json!({ "id": format!("m{i}"), "time": i, "label": "a marker" }))
            .collect();
        doc
    };
    // Larger than the API's body limit, within the timeline's.
    let mid = with_markers(100);
    assert!(serde_json::to_vec(&mid).unwrap().len() > 1024);
    let response = put_timeline(&app, "olivia", &film, &mid, None).await;
    assert_eq!(response.status(), 200);

    let large = with_markers(1000);
    assert!(serde_json::to_vec(&large).unwrap().len() > 16 * 1024);
    let response = put_timeline(&app, "olivia", &film, &large, None).await;
    let problem = assert_problem(response, 413, "document_too_large").await;
    assert_eq!(problem["limitBytes"], 16 * 1024);
    // Streamed without a length: cut off as it passes the limit.
    let bytes = serde_json::to_vec(&large).unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let response = app
        .request(Method::PUT, &timeline_path(&film), "olivia")
        .header(header::CONTENT_TYPE, "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_problem(response, 413, "document_too_large").await;
    assert_eq!(etag(&get_timeline(&app, "olivia", &film).await), "\"2\"");
}

#[tokio::test]
async fn the_schema_is_published_as_json_schema_2020_12() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/api/schema/project.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/schema+json"
    );
    assert!(
        response.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let tag = etag(&response);
    let schema: Value = response.json().await.unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["title"], "Project");
    assert_eq!(&schema, studio_core::timeline::json_schema());
    let again = app
        .client
        .get(app.url("/api/schema/project.json"))
        .header(header::IF_NONE_MATCH, &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
}
