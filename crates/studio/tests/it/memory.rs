//! Uploads stream: a large PUT to local storage goes through the real `studio` process with its
//! peak resident memory (VmHWM) barely moving. The 4 GiB run of the same check is in
//! `scripts/bench-upload.sh` (BENCHMARKS.md); here 512 MiB keeps the suite's disk and time modest.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::process::{SECRET, database, mint, serve, studio, terminate};

const MIB: u64 = 1024 * 1024;
const UPLOAD_BYTES: u64 = 512 * MIB;
/// Growth of peak RSS allowed while the upload runs: buffers, not the file.
const MAX_PEAK_GROWTH_BYTES: u64 = 96 * MIB;

/// Peak resident set size of a process, from `/proc/{pid}/status` (`VmHWM`, in KiB).
fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status");
    kib * 1024
}

#[tokio::test]
async fn a_512_mib_upload_streams_without_holding_the_file_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path()).await;
    let mut command = studio(dir.path(), &db.url);
    command
        .env("STUDIO_JWT_SECRET", SECRET)
        .env("STUDIO_AUTO_MIGRATE", "true")
        .env("STUDIO_LOG_LEVEL", "warn")
        .env("STUDIO_MULTIPART_THRESHOLD_BYTES", (2048 * MIB).to_string());
    let (child, url, _logs) = serve(command).await;
    let pid = child.id().unwrap();
    let token = mint(SECRET);
    let client = reqwest::Client::new();
    let project: Value = client
        .post(format!("{url}/api/projects"))
        .bearer_auth(&token)
        .json(&json!({"name": "Big"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let intent: Value = client
        .post(format!("{url}/api/media/upload-intent"))
        .bearer_auth(&token)
        .json(&json!({"projectId": project["id"], "filename": "big.mov", "contentType": "video/quicktime", "size": UPLOAD_BYTES}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload = &intent["upload"];
    assert_eq!(upload["method"], "PUT", "{intent}");

    let before = peak_rss_bytes(pid);
    let chunk = bytes::Bytes::from(vec![7u8; MIB as usize]);
    let body = futures::stream::iter(
        (0..UPLOAD_BYTES / MIB).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    );
    let response = client
        .put(upload["url"].as_str().unwrap())
        .header("content-type", "video/quicktime")
        .header("content-length", UPLOAD_BYTES.to_string())
        .body(reqwest::Body::wrap_stream(body))
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let after = peak_rss_bytes(pid);
    assert!(
        after.saturating_sub(before) < MAX_PEAK_GROWTH_BYTES,
        "peak RSS grew by {} MiB during a {} MiB upload",
        after.saturating_sub(before) / MIB,
        UPLOAD_BYTES / MIB
    );

    let done = client
        .post(format!(
            "{url}/api/media/{}/complete",
            intent["assetId"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 202);
    terminate(&child).await;
}
