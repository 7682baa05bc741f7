//! Cold storage of idle originals, end to end: the archiver pass with a chosen clock moves
//! originals unused for the configured days (and nothing else) to the cold tier; the asset
//! still opens and its proxy is still served; uses are recorded on open, read, reprocess and
//! export; reprocess restores a cold original first (at once from the local cold directory; from
//! S3 GLACIER on moto it answers 409 `original_archived` and starts the restore, and works once
//! the restore is done); and the temp sweep removes stale scratch and keeps held or fresh files.
//!
//! Runs on whichever database `STUDIO_TEST_BACKEND` names; storage is the local store unless
//! `STUDIO_TEST_STORAGE=s3` (then `s3s-fs`, which knows only STANDARD and REDUCED_REDUNDANCY, so
//! those runs archive into REDUCED_REDUNDANCY). The GLACIER test always runs on moto.

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use secrecy::SecretString;
use serde_json::Value;
use studio_core::AssetId;
use studio_db::{AssetOutputs, AssetRecord, OriginalTier};
use studio_http::archive::archive_pass;
use studio_storage::BlobKey;
use studio_testkit::TestApp;
use studio_testkit::moto::{self, MotoServer};
use time::OffsetDateTime;

use crate::support::assert_problem;
use crate::support::media::upload;

const DAYS: u32 = 30;

fn day(n: i64) -> time::Duration {
    time::Duration::days(n)
}

/// The cold storage class a run can use: s3s-fs refuses every class but two.
fn cold_class() -> &'static str {
    match studio_testkit::storage() {
        studio_testkit::Storage::S3 => "REDUCED_REDUNDANCY",
        studio_testkit::Storage::Local => "GLACIER",
    }
}

/// An app archiving after [`DAYS`] days, recording every use (no granularity), its cold
/// directory in `cold_dir`.
async fn app(cold_dir: &Path) -> TestApp {
    let cold_dir = cold_dir.to_owned();
    TestApp::spawn_with(move |raw| {
        raw.cold_storage_after_days = DAYS;
        raw.cold_storage_class = cold_class().to_owned();
        raw.cold_storage_dir = Some(cold_dir);
        raw.cold_touch_granularity_secs = 0;
    })
    .await
}

/// A `ready` asset: uploaded through the API, "processed" straight in the store with a proxy
/// put in storage (no ffmpeg needed to test tiers).
async fn ready_asset(app: &TestApp, user: &str, project: &str) -> AssetRecord {
    let (asset, _job) = upload(
        app,
        user,
        project,
        "take.mp4",
        b"original bytes".repeat(100),
    )
    .await;
    let id: AssetId = asset.parse().unwrap();
    let proxy = format!("derived/{id}/proxy.mp4");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"proxy bytes").unwrap();
    app.state
        .blobs
        .put_file(&BlobKey::parse(&proxy).unwrap(), file.path(), "video/mp4")
        .await
        .unwrap();
    assert!(app.store.start_processing(&id).await.unwrap());
    let outputs = AssetOutputs {
        proxy_key: Some(proxy),
        ..AssetOutputs::default()
    };
    app.store
        .finish_processing(&id, &outputs, "{}")
        .await
        .unwrap()
}

async fn reread(app: &TestApp, id: &AssetId) -> AssetRecord {
    app.store.asset(id).await.unwrap().unwrap()
}

async fn project(app: &TestApp, user: &str) -> String {
    app.create_project(user, "Archive").await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn reprocess(app: &TestApp, user: &str, id: &AssetId) -> reqwest::Response {
    app.request(Method::POST, &format!("/api/assets/{id}/reprocess"), user)
        .send()
        .await
        .unwrap()
}

async fn download(app: &TestApp, signed: &Value) -> Vec<u8> {
    let response = app
        .client
        .get(signed["url"].as_str().expect("a signed URL"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.bytes().await.unwrap().to_vec()
}

/// A directory on another filesystem than the data dir when the machine has one.
fn other_disk() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap())
}

#[tokio::test]
async fn idle_originals_go_cold_and_the_asset_still_opens() {
    let cold = other_disk();
    let app = app(cold.path()).await;
    let film = project(&app, "olivia").await;
    let idle = ready_asset(&app, "olivia", &film).await;
    let used = ready_asset(&app, "olivia", &film).await;
    let pending = app
        .request(Method::POST, "/api/media/upload-intent", "olivia")
        .json(&serde_json::json!({"projectId": film, "filename": "p.mp4", "contentType": "video/mp4", "size": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(pending.status(), 201);
    let start = idle.last_accessed_at;
    // `used` is used 20 days later; 31 days after the start only `idle` has been idle 30 days.
    app.store
        .touch_asset(&used.id, start + day(20), Duration::ZERO)
        .await
        .unwrap();
    let early = archive_pass(&app.state, start + day(29)).await;
    assert_eq!(early.archived, 0, "not idle long enough: {early:?}");
    let report = archive_pass(&app.state, start + day(31)).await;
    assert_eq!((report.archived, report.failed), (1, 0), "{report:?}");
    // Another pass has nothing more to do.
    assert_eq!(archive_pass(&app.state, start + day(31)).await.archived, 0);

    let archived = reread(&app, &idle.id).await;
    assert_eq!(archived.original_tier, OriginalTier::Cold);
    assert_eq!(archived.original_tier_changed_at, Some(start + day(31)));
    assert_eq!(
        reread(&app, &used.id).await.original_tier,
        OriginalTier::Hot
    );
    let original = BlobKey::parse(&idle.original_key).unwrap();
    let status = app
        .state
        .blobs
        .tier_status(&original)
        .await
        .unwrap()
        .unwrap();
    // s3s-fs accepts the copy into another class but does not keep the class (it reports
    // STANDARD): the storage class itself is checked against moto (the GLACIER test below and
    // studio-storage's `cold` tests).
    if studio_testkit::storage() == studio_testkit::Storage::Local {
        assert!(status.cold, "{status:?}");
        assert!(
            cold.path()
                .join("objects")
                .join(&idle.original_key)
                .is_file()
        );
    }
    // The proxy stays hot.
    let proxy = BlobKey::parse(idle.outputs.proxy_key.as_deref().unwrap()).unwrap();
    assert!(
        !app.state
            .blobs
            .tier_status(&proxy)
            .await
            .unwrap()
            .unwrap()
            .cold
    );

    // The asset still opens: its proxy is served, the original's URL is left out.
    let body = app
        .get_json(&format!("/api/assets/{}", idle.id), Some("olivia"))
        .await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["originalTier"], "cold");
    assert!(body["urls"].get("original").is_none(), "{body:#}");
    assert_eq!(download(&app, &body["urls"]["proxy"]).await, b"proxy bytes");
    let listed = app
        .get_json(&format!("/api/projects/{film}/assets"), Some("olivia"))
        .await;
    let tiers: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["originalTier"].as_str().unwrap())
        .collect();
    assert_eq!(tiers, ["cold", "hot", "hot"]);
}

#[tokio::test]
async fn uses_are_recorded_on_open_read_reprocess_and_export() {
    let cold = tempfile::tempdir().unwrap();
    let app = app(cold.path()).await;
    let film = project(&app, "olivia").await;
    let asset = ready_asset(&app, "olivia", &film).await;
    let mut last = asset.last_accessed_at;
    let steps: [(&str, Method, String); 4] = [
        ("open", Method::GET, format!("/api/projects/{film}")),
        ("read", Method::GET, format!("/api/assets/{}", asset.id)),
        (
            "export",
            Method::GET,
            format!("/api/projects/{film}/timeline.otio"),
        ),
        (
            "reprocess",
            Method::POST,
            format!("/api/assets/{}/reprocess", asset.id),
        ),
    ];
    for (what, method, path) in steps {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let response = app.request(method, &path, "olivia").send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{what}: {}",
            response.status()
        );
        let now = reread(&app, &asset.id).await.last_accessed_at;
        assert!(now > last, "{what} recorded no use");
        last = now;
    }
}

#[tokio::test]
async fn reprocess_restores_a_cold_local_original_at_once() {
    let cold = other_disk();
    let app = app(cold.path()).await;
    let film = project(&app, "olivia").await;
    let asset = ready_asset(&app, "olivia", &film).await;
    let later = asset.last_accessed_at + day(31);
    assert_eq!(archive_pass(&app.state, later).await.archived, 1);

    // Viewers cannot restore; editors can, and reprocessing restores first.
    app.add_member("olivia", &film, "victor", "viewer").await;
    let denied = reprocess(&app, "victor", &asset.id).await;
    assert_eq!(denied.status(), 403);
    let response = reprocess(&app, "olivia", &asset.id).await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    let restored = reread(&app, &asset.id).await;
    assert_eq!(restored.original_tier, OriginalTier::Hot);
    let original = BlobKey::parse(&asset.original_key).unwrap();
    assert!(
        !app.state
            .blobs
            .tier_status(&original)
            .await
            .unwrap()
            .unwrap()
            .cold
    );
    let body = app
        .get_json(&format!("/api/assets/{}", asset.id), Some("olivia"))
        .await;
    assert_eq!(body["originalTier"], "hot");
    assert_eq!(
        download(&app, &body["urls"]["original"]).await,
        b"original bytes".repeat(100)
    );
    // A restore is a use: the original goes cold again only after a whole new idle period.
    let restored_at = restored.last_accessed_at;
    assert_eq!(
        archive_pass(&app.state, restored_at + day(29))
            .await
            .archived,
        0
    );
    assert_eq!(
        archive_pass(&app.state, restored_at + day(31))
            .await
            .archived,
        1
    );
    // The explicit restore endpoint does the same.
    let response = app
        .request(
            Method::POST,
            &format!("/api/assets/{}/restore", asset.id),
            "olivia",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["originalTier"], "hot");
    assert_eq!(
        reread(&app, &asset.id).await.original_tier,
        OriginalTier::Hot
    );
}

#[tokio::test]
async fn reprocess_of_a_glacier_original_starts_the_restore_and_works_once_it_is_done() {
    let moto = MotoServer::start().await;
    let url = moto.storage_url();
    let app = TestApp::spawn_with(move |raw| {
        raw.storage_url = Some(url);
        raw.s3_access_key_id = Some(moto::ACCESS_KEY.to_owned());
        raw.s3_secret_access_key = Some(SecretString::from(moto::SECRET_KEY));
        raw.cold_storage_after_days = DAYS;
        raw.cold_storage_class = "GLACIER".to_owned();
        raw.cold_restore_days = 2;
    })
    .await;
    let film = project(&app, "olivia").await;
    let asset = ready_asset(&app, "olivia", &film).await;
    let later = asset.last_accessed_at + day(31);
    assert_eq!(archive_pass(&app.state, later).await.archived, 1);
    let original = BlobKey::parse(&asset.original_key).unwrap();
    let status = app
        .state
        .blobs
        .tier_status(&original)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.storage_class.as_deref(), Some("GLACIER"));

    // The original is needed: the restore starts, the client is told to come back.
    let problem = assert_problem(
        reprocess(&app, "olivia", &asset.id).await,
        409,
        "original_archived",
    )
    .await;
    assert_eq!(problem["restore"], "started", "{problem:#}");
    assert_eq!(
        reread(&app, &asset.id).await.original_tier,
        OriginalTier::Restoring
    );
    let status = app
        .state
        .blobs
        .tier_status(&original)
        .await
        .unwrap()
        .unwrap();
    assert!(status.restore_ongoing.is_some(), "{status:?}");
    // The asset still opens meanwhile.
    let body = app
        .get_json(&format!("/api/assets/{}", asset.id), Some("olivia"))
        .await;
    assert_eq!(body["originalTier"], "restoring");
    assert!(body["urls"]["proxy"]["url"].is_string());

    // moto completes restores at once; the archiver's next pass sees it done and copies the
    // original back to STANDARD.
    let report = archive_pass(&app.state, OffsetDateTime::now_utc()).await;
    assert_eq!(report.restored, 1, "{report:?}");
    assert_eq!(
        reread(&app, &asset.id).await.original_tier,
        OriginalTier::Hot
    );
    let status = app
        .state
        .blobs
        .tier_status(&original)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.storage_class.as_deref(), Some("STANDARD"));
    let response = reprocess(&app, "olivia", &asset.id).await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn the_temp_sweep_removes_stale_scratch_and_keeps_held_and_fresh_files() {
    let app = TestApp::spawn().await;
    let jobs = app.config.temp_dir.join("jobs");
    let own = jobs.join(format!("w-{}", std::process::id()));
    let (stale, held, fresh) = (
        own.join("job-old"),
        own.join("job-held"),
        own.join("job-new"),
    );
    let dead = jobs.join("w-999999999");
    for dir in [&stale, &held, &fresh, &dead] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("original"), b"bytes").unwrap();
    }
    let age = |path: &Path| {
        let past = std::time::SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::open(path)
            .unwrap()
            .set_modified(past)
            .unwrap();
    };
    for dir in [&stale, &held, &dead] {
        age(dir);
    }
    let sweeper = studio::sweeper::Sweeper {
        temp_dir: app.config.temp_dir.clone(),
        max_age: Duration::from_secs(3600),
        interval: Duration::from_secs(3600),
        held: studio::sweeper::HeldDirs::default(),
        local: app.state.local_blobs.clone(),
    };
    let _running = sweeper.held.hold(&held);
    // A partial write of the local store cut off two hours ago, and one in progress.
    let partials = app.config.data_dir.join("blobs/.tmp");
    if app.state.local_blobs.is_some() {
        std::fs::create_dir_all(&partials).unwrap();
        std::fs::write(partials.join("cut.tmp"), b"x").unwrap();
        std::fs::write(partials.join("live.tmp"), b"x").unwrap();
        age(&partials.join("cut.tmp"));
    }
    let report = sweeper.sweep_once().await;
    assert_eq!(report.temp_entries, 2, "{report:?}");
    assert!(!stale.exists() && !dead.exists());
    assert!(held.exists() && fresh.exists());
    if app.state.local_blobs.is_some() {
        assert_eq!(report.partial_writes, 1, "{report:?}");
        assert!(!partials.join("cut.tmp").exists());
        assert!(partials.join("live.tmp").exists());
    }
}
