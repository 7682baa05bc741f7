//! The timeline and media: deleting an asset the timeline uses, and assets probed by the
//! in-process worker (kinds, lengths, the re-check once ready, the OpenTimelineIO export).

use std::path::Path;

use reqwest::{Method, header};
use serde_json::{Value, json};
use studio_testkit::TestApp;

use super::{
    MAX_POLLS, POLL, document, errors, etag, get_timeline, intent, pairs, project, put_timeline,
    timeline, timeline_path,
};
use crate::support::assert_problem;
use crate::support::media::make_clip;

/// The signed PUT of an intent's bytes, then `complete` (which records the processing job).
async fn send_bytes(app: &TestApp, user: &str, intent: &Value, bytes: Vec<u8>) {
    let signed = &intent["upload"];
    let method = Method::from_bytes(signed["method"].as_str().unwrap().as_bytes()).unwrap();
    let mut put = app.client.request(method, signed["url"].as_str().unwrap());
    for (name, value) in signed["headers"].as_object().unwrap() {
        if name != "content-length" {
            put = put.header(name, value.as_str().unwrap());
        }
    }
    let put = put.body(bytes).send().await.unwrap();
    assert!(put.status().is_success(), "PUT answered {}", put.status());
    let asset = intent["assetId"].as_str().unwrap();
    let done = app
        .request(Method::POST, &format!("/api/media/{asset}/complete"), user)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 202);
}

/// Uploads `bytes` and waits until the worker made the asset ready.
async fn ready_asset(
    app: &TestApp,
    user: &str,
    project: &str,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> String {
    let (asset, body) = intent(app, user, project, name, content_type, bytes.len()).await;
    send_bytes(app, user, &body, bytes).await;
    wait_ready(app, user, &asset).await;
    asset
}

async fn wait_ready(app: &TestApp, user: &str, asset: &str) {
    for _ in 0..MAX_POLLS {
        let body = app
            .get_json(&format!("/api/assets/{asset}"), Some(user))
            .await;
        match body["status"].as_str() {
            Some("ready") => return,
            Some("failed") => panic!("processing failed: {body:#}"),
            _ => tokio::time::sleep(POLL).await,
        }
    }
    panic!("asset {asset} never became ready");
}

/// A `secs` long AAC sine tone in an `.m4a`, made with ffmpeg.
async fn make_tone(dir: &Path, secs: f64) -> Vec<u8> {
    let path = dir.join("tone.m4a");
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate=48000:duration={secs}"
        ))
        .args(["-c:a", "aac"])
        .arg(&path)
        .status()
        .await
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not make the tone");
    tokio::fs::read(&path).await.unwrap()
}

// ---- assets in use -------------------------------------------------------------------------

#[tokio::test]
async fn deleting_an_asset_in_use_is_409_naming_the_clips_unless_forced() {
    let app = TestApp::spawn().await;
    let film = project(&app, "olivia", "Film").await;
    let (used, _) = intent(&app, "olivia", &film, "a.mp4", "video/mp4", 1000).await;
    let (kept, _) = intent(&app, "olivia", &film, "b.mp4", "video/mp4", 1000).await;
    let doc = timeline(
        "Film",
        &[("c1", &kept, 0.0, 1.0), ("c2", &used, 1.0, 1.0)],
        &[("c3", &used, 0.0, 1.0)],
    );
    assert_eq!(
        put_timeline(&app, "olivia", &film, &doc, None)
            .await
            .status(),
        200
    );

    let response = app
        .request(Method::DELETE, &format!("/api/assets/{used}"), "olivia")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 409, "asset_in_use").await;
    assert_eq!(
        problem["clips"],
        json!([
            { "trackId": "v1", "clipId": "c2", "pointer": "/tracks/0/clips/1" },
            { "trackId": "a1", "clipId": "c3", "pointer": "/tracks/1/clips/0" },
        ])
    );
    // Aborting the upload is deleting it too.
    let response = app
        .request(Method::DELETE, &format!("/api/media/{used}"), "olivia")
        .send()
        .await
        .unwrap();
    assert_problem(response, 409, "asset_in_use").await;
    let response = app
        .request(
            Method::DELETE,
            &format!("/api/assets/{used}?force=maybe"),
            "olivia",
        )
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "invalid_query").await;
    let asset = app
        .get_json(&format!("/api/assets/{used}"), Some("olivia"))
        .await;
    assert_eq!(asset["id"], used.as_str(), "still there: {asset}");
    assert_eq!(etag(&get_timeline(&app, "olivia", &film).await), "\"2\"");

    let response = app
        .request(
            Method::DELETE,
            &format!("/api/assets/{used}?force=true"),
            "olivia",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = get_timeline(&app, "olivia", &film).await;
    assert_eq!(etag(&response), "\"3\"");
    let stored = document(response).await;
    let clips: Vec<&str> = stored.clips().map(|(_, _, c)| c.id.as_str()).collect();
    assert_eq!(clips, ["c1", "title"]);
    let response = app
        .request(Method::GET, &format!("/api/assets/{used}"), "olivia")
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "asset_not_found").await;

    // An asset nobody uses goes without `force`, and the timeline stays as it is.
    let (unused, _) = intent(&app, "olivia", &film, "c.mp4", "video/mp4", 1000).await;
    let response = app
        .request(Method::DELETE, &format!("/api/assets/{unused}"), "olivia")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(etag(&get_timeline(&app, "olivia", &film).await), "\"3\"");
}

// ---- probed media --------------------------------------------------------------------------

#[tokio::test]
async fn probed_assets_are_checked_for_kind_and_length_and_exported_to_otio() {
    let app = TestApp::spawn_with(|c| c.run_in_process_worker = true).await;
    let dir = tempfile::tempdir().unwrap();
    let film = project(&app, "olivia", "Film").await;
    app.add_member("olivia", &film, "victor", "viewer").await;
    let tone = ready_asset(
        &app,
        "olivia",
        &film,
        "tone.m4a",
        "audio/mp4",
        make_tone(dir.path(), 1.0).await,
    )
    .await;
    let video = ready_asset(
        &app,
        "olivia",
        &film,
        "clip.mp4",
        "video/mp4",
        make_clip(dir.path(), "clip.mp4", 1.0).await,
    )
    .await;

    // Sound on a video track; a clip longer than its (probed) asset.
    let doc = timeline(
        "Film",
        &[("c1", &tone, 0.0, 0.5), ("c2", &video, 0.5, 5.0)],
        &[],
    );
    let response = put_timeline(&app, "olivia", &film, &doc, None).await;
    let problem = assert_problem(response, 422, "invalid_timeline").await;
    assert_eq!(
        errors(&problem),
        pairs(&[
            ("/tracks/0/clips/0/assetId", "asset_kind_mismatch"),
            ("/tracks/0/clips/1/duration", "beyond_source"),
        ])
    );

    // Each where it belongs, within its length: the video's sound may go on an audio track.
    let doc = timeline(
        "Film",
        &[("c1", &video, 0.0, 0.5)],
        &[("c2", &tone, 0.0, 0.5), ("c3", &video, 0.5, 0.5)],
    );
    let response = put_timeline(&app, "olivia", &film, &doc, None).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("timeline-problems").is_none());

    // The OpenTimelineIO export, with signed media URLs that work.
    for user in ["olivia", "victor"] {
        let response = app
            .request(
                Method::GET,
                &format!("/api/projects/{film}/timeline.otio"),
                user,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let otio: Value = response.json().await.unwrap();
        assert_eq!(otio["OTIO_SCHEMA"], "Timeline.1");
        assert_eq!(otio["name"], "Film");
        let tracks = otio["tracks"]["children"].as_array().unwrap();
        assert_eq!(tracks.len(), 3);
        let clip = tracks[0]["children"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["OTIO_SCHEMA"] == "Clip.2")
            .expect("a clip on the video track");
        let key = clip["active_media_reference_key"].as_str().unwrap();
        let reference = &clip["media_references"][key];
        assert_eq!(
            reference["OTIO_SCHEMA"], "ExternalReference.1",
            "{reference:#}"
        );
        let url = reference["target_url"].as_str().unwrap();
        let media = app.client.get(url).send().await.unwrap();
        assert!(
            media.status().is_success(),
            "{user}: {url} answered {}",
            media.status()
        );
    }
}

#[tokio::test]
async fn an_asset_probed_after_its_clip_was_placed_leaves_a_problem() {
    let app = TestApp::spawn_with(|c| c.run_in_process_worker = true).await;
    let dir = tempfile::tempdir().unwrap();
    let film = project(&app, "olivia", "Film").await;
    let bytes = make_clip(dir.path(), "clip.mp4", 1.0).await;
    let (asset, body) = intent(&app, "olivia", &film, "clip.mp4", "video/mp4", bytes.len()).await;

    // Not probed yet: its length is unknown, so a 5 s clip of it is accepted for now.
    let doc = timeline("Film", &[("c1", &asset, 0.0, 5.0)], &[]);
    let response = put_timeline(&app, "olivia", &film, &doc, None).await;
    assert_eq!(response.status(), 200);
    let problems = app
        .get_json(
            &format!("{}/problems", timeline_path(&film)),
            Some("olivia"),
        )
        .await;
    assert_eq!(
        problems,
        json!({ "version": 2, "problems": [], "collabProblems": [] })
    );

    send_bytes(&app, "olivia", &body, bytes).await;
    wait_ready(&app, "olivia", &asset).await;
    let mut problems = Value::Null;
    for _ in 0..MAX_POLLS {
        problems = app
            .get_json(
                &format!("{}/problems", timeline_path(&film)),
                Some("olivia"),
            )
            .await;
        if problems["problems"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
        {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(problems["version"], 2, "{problems}");
    let found = problems["problems"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{problems}");
    assert_eq!(found[0]["pointer"], "/tracks/0/clips/0/duration");
    assert_eq!(found[0]["code"], "beyond_source");
    let response = get_timeline(&app, "olivia", &film).await;
    assert_eq!(response.headers()["timeline-problems"], "1");

    // Fixing the clip clears them.
    let doc = timeline("Film", &[("c1", &asset, 0.0, 0.5)], &[]);
    let response = put_timeline(&app, "olivia", &film, &doc, Some("\"2\"")).await;
    assert_eq!(response.status(), 200);
    let response = get_timeline(&app, "olivia", &film).await;
    assert!(response.headers().get("timeline-problems").is_none());
    let problems = app
        .get_json(
            &format!("{}/problems", timeline_path(&film)),
            Some("olivia"),
        )
        .await;
    assert_eq!(
        problems,
        json!({ "version": 3, "problems": [], "collabProblems": [] })
    );
}
