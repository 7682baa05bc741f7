//! The media pipeline end to end: an upload through the normal intent → PUT → complete flow is
//! processed by the in-process worker into a `ready` asset whose proxy, waveform, poster and
//! metadata are right; a file that is not media fails once with `not_media`. Runs on whichever
//! database and storage `STUDIO_TEST_BACKEND` / `STUDIO_TEST_STORAGE` name.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use studio_core::JobId;
use studio_db::JobState;
use studio_testkit::TestApp;

use crate::support::media::{make_clip, upload};
use crate::support::process;

/// How long to wait between looks at the asset, and how many looks before giving up (a bound on
/// the loop, not an assertion about speed: generous for a slow CI machine).
const POLL: Duration = Duration::from_millis(100);
const MAX_POLLS: u32 = 1200;

/// Polls `GET /api/assets/{id}` until it is `ready` or `failed`.
async fn settled(app: &TestApp, user: &str, asset: &str) -> Value {
    for _ in 0..MAX_POLLS {
        let body = app
            .get_json(&format!("/api/assets/{asset}"), Some(user))
            .await;
        if matches!(body["status"].as_str(), Some("ready" | "failed")) {
            return body;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("asset {asset} never settled");
}

/// Polls the job until it is finished.
async fn finished_job(app: &TestApp, job: &str) -> studio_db::QueueJob {
    let id: JobId = job.parse().unwrap();
    for _ in 0..MAX_POLLS {
        let row = app.store.queue_job(&id).await.unwrap().unwrap();
        if matches!(
            row.state,
            JobState::Completed | JobState::Failed | JobState::Cancelled
        ) {
            return row;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("job {job} never finished");
}

async fn download(app: &TestApp, signed: &Value) -> Vec<u8> {
    let response = app
        .client
        .get(signed["url"].as_str().expect("a signed URL"))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "GET answered {}",
        response.status()
    );
    response.bytes().await.unwrap().to_vec()
}

async fn ffprobe(path: &Path) -> Value {
    let out = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
        ])
        .arg(path)
        .output()
        .await
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn an_uploaded_video_becomes_ready_with_proxy_waveform_and_poster() {
    let app = TestApp::spawn_with(|c| c.run_in_process_worker = true).await;
    let dir = tempfile::tempdir().unwrap();
    let project = app.create_project("olivia", "Pipeline").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.add_member("olivia", &project, "victor", "viewer").await;
    let (asset, job) = upload(
        &app,
        "olivia",
        &project,
        "clip.mp4",
        make_clip(dir.path(), "clip.mp4", 2.0).await,
    )
    .await;

    let ready = settled(&app, "olivia", &asset).await;
    assert_eq!(ready["status"], "ready", "{ready:#}");
    let job = finished_job(&app, &job).await;
    assert_eq!(job.state, JobState::Completed);
    assert_eq!(job.attempts, 1);
    // The stages were reported as the job went; the last one stays on the row.
    assert_eq!(job.stage.as_deref(), Some("uploading"));
    assert_eq!(job.progress, 100.0);

    let metadata = &ready["metadata"];
    let duration = metadata["durationSecs"].as_f64().unwrap();
    assert!((duration - 2.0).abs() < 0.1, "duration {duration}");
    assert_eq!(metadata["width"], 1280);
    assert_eq!(metadata["height"], 720);
    assert_eq!(metadata["hasAudio"], true);

    let urls = &ready["urls"];
    let proxy = dir.path().join("proxy.mp4");
    tokio::fs::write(&proxy, download(&app, &urls["proxy"]).await)
        .await
        .unwrap();
    let probed = ffprobe(&proxy).await;
    let video = probed["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream");
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["height"], 720);
    assert_eq!(video["width"], 1280);

    let waveform: Value =
        serde_json::from_slice(&download(&app, &urls["waveformJson"]).await).unwrap();
    assert_eq!(waveform["version"], 2);
    assert_eq!(waveform["sample_rate"], 48_000);
    assert!(!waveform["data"].as_array().unwrap().is_empty());
    let dat = download(&app, &urls["waveformDat"]).await;
    assert_eq!(&dat[..4], &2_i32.to_le_bytes());
    let png = download(&app, &urls["waveformPng"]).await;
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let poster = download(&app, &urls["poster"]).await;
    assert_eq!(&poster[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");

    // The job's temp dir is gone; only this worker's (empty) scratch dir remains.
    let scratch = app
        .config
        .temp_dir
        .join("jobs")
        .join(format!("w-{}", std::process::id()));
    assert!(std::fs::read_dir(&scratch).unwrap().next().is_none());

    // Viewers get the derived files and the metadata, not the original.
    let seen = app
        .get_json(&format!("/api/assets/{asset}"), Some("victor"))
        .await;
    assert!(seen["urls"]["proxy"]["url"].is_string());
    assert!(seen["urls"]["poster"]["url"].is_string());
    assert!(seen["urls"].get("original").is_none());
    assert_eq!(seen["metadata"], *metadata);
}

#[tokio::test]
async fn a_text_file_fails_as_not_media_after_one_attempt() {
    let app = TestApp::spawn_with(|c| c.run_in_process_worker = true).await;
    let project = app.create_project("olivia", "Pipeline").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let text = b"this is a text file, not a video\n".repeat(8);
    let (asset, job) = upload(&app, "olivia", &project, "notes.mp4", text).await;

    let failed = settled(&app, "olivia", &asset).await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert_eq!(failed["errorCode"], "not_media");
    assert!(!failed["error"].as_str().unwrap().is_empty());
    assert!(failed.get("metadata").is_none());
    assert!(failed["urls"].get("proxy").is_none());
    let job = finished_job(&app, &job).await;
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.attempts, 1);

    // The in-process worker records into the app's /metrics: one attempt, one failure by code,
    // its duration, no retry; the queue gauges count the failed job.
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"studio_job_attempts_total{kind="process_asset"} 1"#,
        r#"studio_job_failures_total{kind="process_asset",code="not_media"} 1"#,
        r#"studio_job_duration_seconds_count{kind="process_asset",outcome="failed"} 1"#,
        r#"studio_jobs{kind="process_asset",state="failed"} 1"#,
        r#"studio_queue_depth{kind="process_asset"} 0"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "`{line}` missing from:\n{metrics}"
        );
    }
    assert!(!metrics.contains("studio_job_retries_total{"), "{metrics}");
}

/// `studio serve` without its in-process worker leaves the job queued; a separate `studio
/// worker` process (same database and storage) runs it, and stops cleanly on SIGTERM.
#[tokio::test]
async fn a_separate_worker_process_runs_the_job() {
    let app = TestApp::spawn_with(|c| c.run_in_process_worker = false).await;
    let dir = tempfile::tempdir().unwrap();
    let project = app.create_project("olivia", "Pipeline").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (asset, _) = upload(
        &app,
        "olivia",
        &project,
        "clip.mp4",
        make_clip(dir.path(), "clip.mp4", 2.0).await,
    )
    .await;
    let waiting = app
        .get_json(&format!("/api/assets/{asset}"), Some("olivia"))
        .await;
    assert_eq!(waiting["status"], "uploaded");

    // Whatever engine this run uses (embedded, or Redis in the scaled-out pass).
    let mut command = process::worker(dir.path(), &app.config);
    command.stdout(std::process::Stdio::null());
    let mut worker = command.spawn().expect("studio worker starts");

    let ready = settled(&app, "olivia", &asset).await;
    assert_eq!(ready["status"], "ready", "{ready:#}");
    assert!(ready["urls"]["proxy"]["url"].is_string());

    process::terminate(&worker).await;
    let status = tokio::time::timeout(Duration::from_secs(60), worker.wait())
        .await
        .expect("the worker stops")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
