//! Separate `studio worker` processes against one API node (`run_in_process_worker = false`),
//! sharing its database and storage: a worker killed with SIGKILL mid-job loses the job to
//! another once its lease lapses, and the asset still becomes `ready` once; two workers racing
//! over many jobs run each exactly once; and the API node streams a job's progress over SSE
//! while another process runs it. Runs on whichever database and storage
//! `STUDIO_TEST_BACKEND` / `STUDIO_TEST_STORAGE` name.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::Value;
use studio_core::JobId;
use studio_db::JobState;
use studio_testkit::TestApp;
use tokio::process::Child;
use tokio::task::JoinHandle;

use crate::support::media::{make_clip, upload};
use crate::support::process;

/// How long to wait between looks, and how many looks before giving up (a bound on the loop,
/// not an assertion about speed: generous for a slow CI machine).
const POLL: Duration = Duration::from_millis(100);
const MAX_POLLS: u32 = 1800;
/// The shortest lease the configuration allows: a killed worker's job runs again soon after.
const LEASE_SECS: u64 = studio::config::MIN_JOB_LEASE_SECS;

async fn project(app: &TestApp, user: &str) -> String {
    app.create_project(user, "Workers").await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Polls `GET /api/jobs/{id}` until `done` holds for it (or it finished, which `done` may
/// accept or not: the caller looks).
async fn job_until(app: &TestApp, user: &str, job: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..MAX_POLLS {
        let body = app.get_json(&format!("/api/jobs/{job}"), Some(user)).await;
        let finished = matches!(
            body["state"].as_str(),
            Some("completed" | "failed" | "cancelled")
        );
        if done(&body) || finished {
            return body;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("job {job} never got where the test waits for it");
}

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

/// A running `studio worker` process and its collected JSON log lines.
struct WorkerProcess {
    child: Child,
    logs: JoinHandle<Vec<String>>,
}

/// Starts `studio worker`; `lease_secs` is the lease of the jobs it claims (the default, 30 s,
/// when `None`).
fn start_worker(app: &TestApp, dir: &Path, lease_secs: Option<u64>) -> WorkerProcess {
    let mut command = process::worker(dir, &app.config);
    if let Some(lease) = lease_secs {
        command.env("STUDIO_JOB_LEASE_SECS", lease.to_string());
    }
    let mut child = command.spawn().expect("studio worker starts");
    let logs = process::stdout_lines(&mut child);
    WorkerProcess { child, logs }
}

impl WorkerProcess {
    /// SIGTERM, a clean exit, and the logs.
    async fn stop(mut self) -> Vec<Value> {
        process::terminate(&self.child).await;
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("the worker stops")
            .unwrap();
        assert_eq!(status.code(), Some(0));
        parse_logs(self.logs.await.unwrap())
    }

    /// SIGKILL, and the logs it wrote before it died.
    async fn kill(mut self) -> Vec<Value> {
        use std::os::unix::process::ExitStatusExt as _;

        process::kill(&self.child).await;
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("the worker dies")
            .unwrap();
        assert_eq!(status.signal(), Some(9), "{status:?}");
        parse_logs(self.logs.await.unwrap())
    }
}

fn parse_logs(lines: Vec<String>) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// The log lines saying `message` about `job`.
fn said<'a>(logs: &'a [Value], message: &str, job: &str) -> Vec<&'a Value> {
    logs.iter()
        .filter(|line| line["message"] == message && line["job_id"] == job)
        .collect()
}

/// A client without a total timeout: an event stream lasts as long as its job.
fn streaming_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Opens `GET /api/jobs/{id}/events` and reads it in the background until the stream ends;
/// returns once the first event (the job as it stands) has arrived, so every later change is
/// seen from here on.
async fn subscribe(app: &TestApp, user: &str, job: &str) -> (Value, JoinHandle<Vec<Value>>) {
    let response = streaming_client()
        .get(app.url(&format!("/api/jobs/{job}/events")))
        .bearer_auth(app.token(user))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    // Reads chunks into `buffer`, moving every complete event into `events`.
    async fn next_events(
        body: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
        buffer: &mut String,
        events: &mut Vec<Value>,
    ) -> bool {
        let Some(chunk) = body.next().await else {
            return false;
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk.expect("the stream reads")));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            assert!(
                !block.contains("event: error"),
                "the stream failed: {block}"
            );
            if block.contains("event: job") {
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .expect("a data line");
                events.push(serde_json::from_str(data).unwrap());
            }
        }
        true
    }
    let first = tokio::time::timeout(Duration::from_secs(60), async {
        while events.is_empty() {
            assert!(
                next_events(&mut body, &mut buffer, &mut events).await,
                "the stream ended before its first event"
            );
        }
        events[0].clone()
    })
    .await
    .expect("the first event arrives");
    let rest = tokio::spawn(async move {
        let ended = tokio::time::timeout(Duration::from_secs(180), async {
            while next_events(&mut body, &mut buffer, &mut events).await {}
        })
        .await;
        assert!(ended.is_ok(), "the stream did not end: {events:#?}");
        events
    });
    (first, rest)
}

/// A worker killed outright while transcoding leaves the job `active` with a lease nobody
/// renews; once it lapses, a second worker runs the job again (attempt 2) and the asset becomes
/// `ready` exactly once.
#[tokio::test]
async fn a_job_of_a_killed_worker_runs_again_on_another_worker() {
    let app = TestApp::spawn_with(|c| c.run_in_process_worker = false).await;
    let dir = tempfile::tempdir().unwrap();
    let project = project(&app, "olivia").await;
    let clip = make_clip(dir.path(), "long.mp4", 20.0).await;
    let (asset, job) = upload(&app, "olivia", &project, "long.mp4", clip).await;
    let (first, events) = subscribe(&app, "olivia", &job).await;
    assert_eq!(first["state"], "queued", "{first:#}");

    // A short lease for A's claim, so its job comes back soon after it dies; B's default lease
    // keeps a slow machine from taking the job away from B too.
    let a = start_worker(&app, dir.path(), Some(LEASE_SECS));
    let running = job_until(&app, "olivia", &job, |j| {
        j["state"] == "active" && j["stage"] == "transcoding"
    })
    .await;
    assert_eq!(
        running["state"], "active",
        "the job ended before worker A could be killed (a longer clip would help): {running:#}"
    );
    let a_logs = a.kill().await;

    // A died mid-job: its attempt is still `active` (nobody recorded an outcome) and the asset
    // is still `processing`.
    let id: JobId = job.parse().unwrap();
    let row = app.store.queue_job(&id).await.unwrap().unwrap();
    assert_eq!(row.state, JobState::Active, "{row:?}");
    assert_eq!(row.attempts, 1);
    let asset_now = app
        .get_json(&format!("/api/assets/{asset}"), Some("olivia"))
        .await;
    assert_eq!(asset_now["status"], "processing", "{asset_now:#}");

    let b = start_worker(&app, dir.path(), None);
    let ready = settled(&app, "olivia", &asset).await;
    assert_eq!(ready["status"], "ready", "{ready:#}");
    let done = job_until(&app, "olivia", &job, |_| false).await;
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(done["attempts"], 2, "{done:#}");
    assert_eq!(done["progress"], 100.0);
    assert!(done.get("errorCode").is_none(), "{done:#}");
    let duration = ready["metadata"]["durationSecs"].as_f64().unwrap();
    assert!((duration - 20.0).abs() < 0.2, "duration {duration}");
    let b_logs = b.stop().await;

    // Each worker started the job once; only B finished it, and the asset became ready once.
    assert_eq!(said(&a_logs, "job started", &job).len(), 1, "{a_logs:#?}");
    assert_eq!(said(&b_logs, "job started", &job).len(), 1, "{b_logs:#?}");
    assert!(said(&a_logs, "asset ready", &job).is_empty());
    assert_eq!(said(&b_logs, "asset ready", &job).len(), 1, "{b_logs:#?}");
    assert_eq!(said(&b_logs, "job completed", &job).len(), 1);
    assert_eq!(said(&b_logs, "job started", &job)[0]["job.attempt"], 2);

    // The event stream shows the first attempt, the re-run, and one completion at the end.
    let events = events.await.unwrap();
    let attempts: Vec<u64> = events
        .iter()
        .map(|e| e["attempts"].as_u64().unwrap())
        .collect();
    assert!(attempts.is_sorted(), "{events:#?}");
    assert!(
        events
            .iter()
            .any(|e| e["state"] == "active" && e["attempts"] == 1),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["state"] == "active" && e["attempts"] == 2),
        "{events:#?}"
    );
    let completed: Vec<_> = events
        .iter()
        .filter(|e| e["state"] == "completed")
        .collect();
    assert_eq!(completed.len(), 1, "{events:#?}");
    assert_eq!(events.last().unwrap()["state"], "completed");
    assert_eq!(events.last().unwrap()["attempts"], 2);
    assert!(
        events
            .iter()
            .all(|e| matches!(e["state"].as_str(), Some("queued" | "active" | "completed"))),
        "{events:#?}"
    );
    // Still ready, nothing ran after.
    let after = app
        .get_json(&format!("/api/assets/{asset}"), Some("olivia"))
        .await;
    assert_eq!(after["status"], "ready");
    assert_eq!(after["updatedAt"], ready["updatedAt"]);
}

/// Many queued jobs, two worker processes started together racing for them: every job runs
/// exactly once (one attempt, one start in one worker's log) and every asset becomes `ready`.
#[tokio::test]
async fn two_workers_run_each_of_many_jobs_exactly_once() {
    const JOBS: usize = 32;
    let app = TestApp::spawn_with(|c| c.run_in_process_worker = false).await;
    let dir = tempfile::tempdir().unwrap();
    let project = project(&app, "olivia").await;
    let clip = make_clip(dir.path(), "tiny.mp4", 0.5).await;
    let mut uploads = Vec::with_capacity(JOBS);
    for n in 0..JOBS {
        uploads.push(
            upload(
                &app,
                "olivia",
                &project,
                &format!("tiny-{n}.mp4"),
                clip.clone(),
            )
            .await,
        );
    }

    let a = start_worker(&app, dir.path(), None);
    let b = start_worker(&app, dir.path(), None);
    for (asset, _) in &uploads {
        let ready = settled(&app, "olivia", asset).await;
        assert_eq!(ready["status"], "ready", "{ready:#}");
    }
    for (_, job) in &uploads {
        let done = job_until(&app, "olivia", job, |_| false).await;
        assert_eq!(done["state"], "completed", "{done:#}");
        assert_eq!(done["attempts"], 1, "{done:#}");
    }
    let a_logs = a.stop().await;
    let b_logs = b.stop().await;
    for (_, job) in &uploads {
        let started =
            said(&a_logs, "job started", job).len() + said(&b_logs, "job started", job).len();
        assert_eq!(started, 1, "job {job} started {started} times");
        let completed =
            said(&a_logs, "job completed", job).len() + said(&b_logs, "job completed", job).len();
        assert_eq!(completed, 1, "job {job} completed {completed} times");
    }
}

/// The API node streams the progress of a job another process runs: states in order, stages
/// in order, progress never going back and ending at 100.
#[tokio::test]
async fn progress_from_a_worker_process_streams_over_sse() {
    const STAGES: [&str; 4] = ["downloading", "probing", "transcoding", "uploading"];
    let app = TestApp::spawn_with(|c| c.run_in_process_worker = false).await;
    let dir = tempfile::tempdir().unwrap();
    let project = project(&app, "olivia").await;
    let clip = make_clip(dir.path(), "clip.mp4", 6.0).await;
    let (asset, job) = upload(&app, "olivia", &project, "clip.mp4", clip).await;
    let (first, events) = subscribe(&app, "olivia", &job).await;
    assert_eq!(first["state"], "queued", "{first:#}");
    assert_eq!(first["progress"], 0.0);

    let worker = start_worker(&app, dir.path(), None);
    let events = events.await.unwrap();
    worker.stop().await;
    let ready = settled(&app, "olivia", &asset).await;
    assert_eq!(ready["status"], "ready", "{ready:#}");

    assert!(events.iter().all(|e| e["jobId"] == job.as_str()));
    assert!(events.iter().all(|e| e["attempts"].as_u64() <= Some(1)));
    // States: queued, then active, then one completed at the end.
    let states: Vec<&str> = events
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    let mut deduped = states.clone();
    deduped.dedup();
    assert_eq!(deduped, ["queued", "active", "completed"], "{events:#?}");
    // Progress never goes back, and ends at 100.
    let progress: Vec<f64> = events
        .iter()
        .map(|e| e["progress"].as_f64().unwrap())
        .collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(progress.last(), Some(&100.0));
    assert!(
        progress.iter().any(|&p| p > 15.0 && p < 90.0),
        "transcoding progress was streamed: {progress:?}"
    );
    // Stages only move forward. The stream reads the job every 200 ms, so the short stages
    // (downloading, probing) may come and go between two reads; transcoding and uploading last.
    let stages: Vec<usize> = events
        .iter()
        .filter_map(|e| e["stage"].as_str())
        .map(|s| {
            STAGES
                .iter()
                .position(|&known| known == s)
                .unwrap_or_else(|| panic!("unknown stage {s}"))
        })
        .collect();
    assert!(stages.is_sorted(), "{events:#?}");
    assert!(stages.contains(&2), "no transcoding event: {events:#?}");
    assert_eq!(stages.last(), Some(&3), "{events:#?}");
    let last = events.last().unwrap();
    assert_eq!(last["state"], "completed");
    assert_eq!(last["stage"], "uploading");
    assert_eq!(last["progress"], 100.0);
}
