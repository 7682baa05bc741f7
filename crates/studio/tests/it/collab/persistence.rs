//! No edit lost: a `studio serve` process killed with SIGKILL after an edit was logged, or
//! stopped with SIGTERM, comes back with the edit.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use studio_core::ProjectId;
use studio_db::{MigrateMode, Store};

use super::{collab_url, scenario, with};
use crate::support::process::{SECRET, database, kill, mint, serve, studio, terminate};

/// `studio serve` on `db_url` with the collaboration intervals given.
async fn start(dir: &Path, db_url: &str) -> (tokio::process::Child, String) {
    let mut command = studio(dir, db_url);
    command
        .env("STUDIO_JWT_SECRET", SECRET)
        .env("STUDIO_AUTO_MIGRATE", "true")
        .env("STUDIO_LOG_LEVEL", "warn")
        // Long enough that only the log (not a snapshot) holds the edit when it is killed.
        .env("STUDIO_COLLAB_SNAPSHOT_INTERVAL_SECS", "3600");
    let (child, url, _logs) = serve(command).await;
    (child, url)
}

async fn create_project(url: &str) -> String {
    let project: Value = reqwest::Client::new()
        .post(format!("{url}/api/projects"))
        .bearer_auth(mint(SECRET))
        .json(&json!({"name": "Durable"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    project["id"].as_str().unwrap().to_owned()
}

fn config(url: &str, room: &str) -> Value {
    json!({
        "urls": [collab_url(url)],
        "room": room,
        "tokens": {"editor": mint(SECRET)},
        "timeoutMs": 30000,
    })
}

async fn open_store(db_url: &str) -> std::sync::Arc<dyn Store> {
    studio_db::open(db_url, MigrateMode::Skip).await.unwrap()
}

/// Waits until the durable log (or a snapshot) of `room` holds something.
async fn wait_until_durable(store: &dyn Store, room: &str) {
    let project: ProjectId = room.parse().unwrap();
    for _ in 0..100 {
        let stored = store.collab_load(&project).await.unwrap();
        if stored
            .updates
            .iter()
            .any(|u| contains(&u.update, b"survivor"))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the edit never reached the update log");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn an_edit_logged_before_sigkill_is_there_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path()).await;
    let (child, url) = start(dir.path(), &db.url).await;
    let room = create_project(&url).await;
    // A client stays connected, so the document is never idle and only the update log (no
    // snapshot) holds the edit when the server dies.
    let held = super::hold_connected(dir.path(), config(&url, &room)).await;
    scenario(
        "write",
        with(
            config(&url, &room),
            json!({"key": "k", "value": "survivor"}),
        ),
    )
    .await;
    let store = open_store(&db.url).await;
    wait_until_durable(store.as_ref(), &room).await;
    let project: ProjectId = room.parse().unwrap();
    assert!(
        store
            .collab_load(&project)
            .await
            .unwrap()
            .snapshot
            .is_none()
    );
    kill(&child).await;
    drop(child);
    held.abort();

    let (_child, url) = start(dir.path(), &db.url).await;
    let out = scenario(
        "expect",
        with(
            config(&url, &room),
            json!({"key": "k", "value": "survivor"}),
        ),
    )
    .await;
    assert_eq!(out["k"], "survivor", "{out}");
}

#[tokio::test]
async fn sigterm_writes_a_final_snapshot_and_the_edit_is_there_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path()).await;
    let (mut child, url) = start(dir.path(), &db.url).await;
    let room = create_project(&url).await;
    // A client stays connected through the shutdown: the document is still live when the
    // server stops, so only the shutdown's snapshot can fold the log.
    let held = super::hold_connected(dir.path(), config(&url, &room)).await;
    scenario(
        "write",
        with(
            config(&url, &room),
            json!({"key": "k", "value": "survivor"}),
        ),
    )
    .await;
    terminate(&child).await;
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("stops in time")
        .unwrap();
    assert!(status.success(), "{status}");
    let out = held.await.unwrap().expect("the held client was closed");
    assert_eq!(out["code"], 1001, "{out}");

    // Everything is in the snapshot; the log it covered is gone.
    let store = open_store(&db.url).await;
    let project: ProjectId = room.parse().unwrap();
    let stored = store.collab_load(&project).await.unwrap();
    let snapshot = stored.snapshot.expect("a snapshot was written on SIGTERM");
    assert!(contains(&snapshot.state, b"survivor"));
    assert!(
        stored.updates.is_empty(),
        "{} log entries left",
        stored.updates.len()
    );

    let (_child, url) = start(dir.path(), &db.url).await;
    scenario(
        "expect",
        with(
            config(&url, &room),
            json!({"key": "k", "value": "survivor"}),
        ),
    )
    .await;
}

#[tokio::test]
async fn the_last_client_leaving_snapshots_and_unloads_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path()).await;
    let (_child, url) = start(dir.path(), &db.url).await;
    let room = create_project(&url).await;
    scenario(
        "write",
        with(
            config(&url, &room),
            json!({"key": "k", "value": "survivor"}),
        ),
    )
    .await;
    let store = open_store(&db.url).await;
    let project: ProjectId = room.parse().unwrap();
    for _ in 0..100 {
        let stored = store.collab_load(&project).await.unwrap();
        if let Some(snapshot) = &stored.snapshot
            && contains(&snapshot.state, b"survivor")
            && stored.updates.is_empty()
        {
            let metrics = reqwest::get(format!("{url}/metrics"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                metrics.contains("studio_collab_documents 0"),
                "the document is still loaded:\n{metrics}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no snapshot after the last client left");
}
