//! Media for the pipeline and worker tests: clips made with ffmpeg, and the upload flow a
//! client goes through.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};
use studio_testkit::TestApp;

/// A `secs` long 1280×720 test pattern with a 440 Hz tone, made with ffmpeg.
pub async fn make_clip(dir: &Path, name: &str, secs: f64) -> Vec<u8> {
    let path = dir.join(name);
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=1280x720:rate=30:duration={secs}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate=48000:duration={secs}"
        ))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(&path)
        .status()
        .await
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not make the test clip");
    tokio::fs::read(&path).await.unwrap()
}

/// Intent → signed PUT → complete; returns (asset id, job id).
pub async fn upload(
    app: &TestApp,
    user: &str,
    project: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (String, String) {
    let response = app
        .request(Method::POST, "/api/media/upload-intent", user)
        .json(&json!({"projectId": project, "filename": name, "contentType": "video/mp4", "size": bytes.len()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let intent: Value = response.json().await.unwrap();
    let signed = &intent["upload"];
    let method = Method::from_bytes(signed["method"].as_str().unwrap().as_bytes()).unwrap();
    let mut put = app.client.request(method, signed["url"].as_str().unwrap());
    for (header, value) in signed["headers"].as_object().unwrap() {
        if header != "content-length" {
            put = put.header(header, value.as_str().unwrap());
        }
    }
    let put = put.body(bytes).send().await.unwrap();
    assert!(put.status().is_success(), "PUT answered {}", put.status());
    let asset = intent["assetId"].as_str().unwrap().to_owned();
    let done = app
        .request(Method::POST, &format!("/api/media/{asset}/complete"), user)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 202);
    let done: Value = done.json().await.unwrap();
    (asset, done["jobId"].as_str().unwrap().to_owned())
}
