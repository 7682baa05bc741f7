//! The load tool (`studio-load scenario …`, crates/studio-load) end to end against a test app,
//! through its library API: a short mass-upload run with the in-process worker (no errors, and
//! every asset it uploaded became `ready`), a browse run and a collaboration run. Backend,
//! storage and queue are whatever the suite's run names, so on the PostgreSQL pass the uploads
//! go to S3 and the jobs through Redis. Nothing here asserts how fast anything was.

use std::time::Duration;

use studio_load::scenario::browse::{self, BrowseRun};
use studio_load::scenario::collab::{self, CollabRun};
use studio_load::scenario::media::Media;
use studio_load::scenario::uploads::{self, UploadsRun};
use studio_load::scenario::users::Load;
use studio_testkit::TestApp;

/// A load shape for `app`: `users` users started at once, iterations starting for `run_time`.
fn load(app: &TestApp, prefix: &str, users: usize, run_time: Duration) -> Load {
    Load {
        hosts: vec![app.base_url.clone()],
        jwt_secret: app.secret().clone(),
        users,
        hatch_rate: 1000.0,
        run_time,
        rate: None,
        timeout: Duration::from_secs(30),
        user_prefix: prefix.to_owned(),
        watch: Vec::new(),
    }
}

#[tokio::test]
async fn upload_scenario_brings_every_upload_to_ready() {
    let app = TestApp::spawn_with(|raw| raw.run_in_process_worker = true).await;
    let users = 3;
    let run = UploadsRun {
        load: load(&app, "up", users, Duration::from_secs(2)),
        media: Media::generate(1.0).await.expect("ffmpeg makes the clip"),
        poll_interval: Duration::from_millis(100),
        // A bound on the wait, generous for a slow CI machine; not a speed check.
        ready_timeout: Duration::from_secs(180),
    };
    let report = uploads::run(run).await.expect("the run completes");

    assert_eq!(report.errors, 0, "{report:#?}");
    assert_eq!(report.failed_iterations, 0, "{report:#?}");
    assert!(report.iterations >= users as u64, "{report:#?}");
    let step = |name: &str| {
        report
            .steps
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} step"))
    };
    assert_eq!(step("setup").ok, users as u64);
    for name in ["intent", "put", "complete", "ready"] {
        assert_eq!(step(name).ok, report.iterations, "{name}: {report:#?}");
    }
    assert_eq!(report.iteration_ms.count, report.iterations);

    // What the server holds agrees: each user's one project, every asset in it ready.
    let mut ready = 0;
    for n in 0..users {
        let user = format!("up-{n}");
        let projects = app.get_json("/api/projects", Some(&user)).await;
        let projects = projects["items"].as_array().expect("a project list");
        assert_eq!(projects.len(), 1, "{projects:?}");
        let id = projects[0]["id"].as_str().expect("an id");
        let assets = app
            .get_json(&format!("/api/projects/{id}/assets"), Some(&user))
            .await;
        for asset in assets["items"].as_array().expect("an asset list") {
            assert_eq!(asset["status"], "ready", "{asset}");
            ready += 1;
        }
    }
    assert_eq!(ready, report.iterations);
}

#[tokio::test]
async fn browse_scenario_reads_without_errors() {
    let app = TestApp::spawn().await;
    let report = browse::run(BrowseRun {
        load: load(&app, "br", 2, Duration::from_millis(500)),
        assets: 2,
    })
    .await
    .expect("the run completes");
    assert_eq!(report.errors, 0, "{report:#?}");
    assert!(report.iterations >= 2, "{report:#?}");
    for step in &report.steps[1..] {
        assert_eq!(step.ok, report.iterations, "{report:#?}");
    }
}

#[tokio::test]
async fn collab_scenario_relays_every_edit() {
    let app = TestApp::spawn().await;
    let report = collab::run(CollabRun {
        load: load(&app, "co", 3, Duration::from_millis(500)),
        edits_per_s: 10.0,
        warmup: Duration::from_millis(200),
    })
    .await
    .expect("the run completes");
    assert_eq!(report.room.connected, 3, "{report:#?}");
    assert!(report.room.updates_sent > 0, "{report:#?}");
    assert_eq!(report.room.missing_deliveries, 0, "{report:#?}");
    assert_eq!(report.room.connections.errors, 0, "{report:#?}");
}
