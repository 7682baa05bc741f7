//! Real-time collaboration with the real npm client (`yjs` + `y-websocket`, driven by
//! `tests/collab/scenario.mjs`) and raw WebSocket clients for what a well-behaved client never
//! does (garbage frames, never reading).

mod limits;
mod nodes;
mod persistence;
mod timeline;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use studio_testkit::TestApp;
use tokio::process::Command;

use crate::support::assert_problem;

/// The directory of the npm scenario runner.
fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/collab")
}

/// Runs one scenario; its JSON output, or a panic with what it printed.
pub async fn scenario(name: &str, config: Value) -> Value {
    match try_scenario(name, config).await {
        Ok(out) => out,
        Err(err) => panic!("scenario {name} failed:\n{err}"),
    }
}

/// Runs one scenario; its JSON output, or what it said on failure.
pub async fn try_scenario(name: &str, config: Value) -> Result<Value, String> {
    let output = tokio::time::timeout(
        Duration::from_secs(90),
        Command::new("node")
            .arg("scenario.mjs")
            .arg(name)
            .arg(config.to_string())
            .current_dir(scenarios_dir())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "the scenario did not finish in 90 s".to_owned())?
    .map_err(|err| format!("cannot run node: {err} (run `make deps`)"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("stdout: {stdout}\nstderr: {stderr}"));
    }
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|err| format!("not JSON ({err}): {stdout}\n{stderr}"))
}

/// The collaboration base URL of an app (`ws://…/api/collab`).
pub fn collab_url(base_url: &str) -> String {
    format!("{}/api/collab", base_url.replacen("http://", "ws://", 1))
}

/// A project of `alice` with `bob` as editor and `vera` as viewer; its id.
pub async fn shared_project(app: &TestApp) -> String {
    let project = app.create_project("alice", "Collab").await;
    let id = project["id"].as_str().unwrap().to_owned();
    app.add_member("alice", &id, "bob", "editor").await;
    app.add_member("alice", &id, "vera", "viewer").await;
    id
}

/// The scenario config for `app`'s project `room` with tokens of alice, bob and vera.
pub fn config_for(app: &TestApp, room: &str) -> Value {
    json!({
        "urls": [collab_url(&app.base_url)],
        "room": room,
        "tokens": {
            "editor": app.token("alice"),
            "editor2": app.token("bob"),
            "viewer": app.token("vera"),
        },
        "timeoutMs": 30000,
    })
}

/// `config` with `extra`'s fields added.
pub fn with(mut config: Value, extra: Value) -> Value {
    if let (Some(target), Value::Object(fields)) = (config.as_object_mut(), extra) {
        target.extend(fields);
    }
    config
}

#[tokio::test]
async fn clients_converge_on_text_map_and_array_edits() {
    let app = TestApp::spawn().await;
    let room = shared_project(&app).await;
    let out = scenario(
        "converge",
        with(config_for(&app, &room), json!({"clients": 4, "rounds": 5})),
    )
    .await;
    assert_eq!(out["clients"], 4);
}

#[tokio::test]
async fn a_late_joiner_gets_the_whole_state_from_the_server() {
    let app = TestApp::spawn().await;
    let room = shared_project(&app).await;
    for disconnect_first in [false, true] {
        let out = scenario(
            "late-joiner",
            with(
                config_for(&app, &room),
                json!({"disconnectFirst": disconnect_first}),
            ),
        )
        .await;
        assert_eq!(out["sameAsA"], true, "{out}");
    }
}

#[tokio::test]
async fn awareness_is_echoed_and_removed_when_a_client_leaves() {
    let app = TestApp::spawn().await;
    let room = shared_project(&app).await;
    for abrupt in [false, true] {
        let out = scenario(
            "awareness",
            with(
                config_for(&app, &room),
                json!({"abrupt": abrupt, "requireEcho": true}),
            ),
        )
        .await;
        assert_eq!(out["loneClientEcho"], true, "{out}");
    }
}

#[tokio::test]
async fn a_viewers_edits_reach_nobody_and_are_not_stored() {
    let app = TestApp::spawn().await;
    let room = shared_project(&app).await;
    let out = scenario("viewer", config_for(&app, &room)).await;
    assert_eq!(out["viewerWriteBlocked"], true, "{out}");
    // Nothing of the viewer's is in the durable log either.
    let project: studio_core::ProjectId = room.parse().unwrap();
    let stored = app.store.collab_load(&project).await.unwrap();
    let logged: Vec<u8> = stored
        .updates
        .iter()
        .flat_map(|u| u.update.clone())
        .chain(stored.snapshot.map(|s| s.state).unwrap_or_default())
        .collect();
    assert!(
        !String::from_utf8_lossy(&logged).contains("viewer"),
        "a viewer's write reached storage"
    );
}

#[tokio::test]
async fn access_is_checked_before_the_upgrade() {
    let app = TestApp::spawn().await;
    let room = shared_project(&app).await;
    let path = format!("/api/collab/{room}");
    let upgrade = |request: reqwest::RequestBuilder| {
        request
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    };
    // No token, a bad one, an expired one.
    let response = upgrade(app.client.get(app.url(&path)))
        .send()
        .await
        .unwrap();
    assert_problem(response, 401, "unauthenticated").await;
    let response = upgrade(app.client.get(app.url(&format!("{path}?token=nonsense"))))
        .send()
        .await
        .unwrap();
    assert_problem(response, 401, "invalid_token").await;
    let expired = app.token_with("alice", Duration::from_secs(1), None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let response = upgrade(app.client.get(app.url(&format!("{path}?token={expired}"))))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(status, 401);
    // A stranger cannot tell the project exists; neither can anyone for a made-up id.
    let stranger = app.token("mallory");
    let response = upgrade(app.client.get(app.url(&format!("{path}?token={stranger}"))))
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "project_not_found").await;
    let response = upgrade(app.client.get(app.url(&format!(
        "/api/collab/prj_00000000000000000000000000?token={}",
        app.token("alice")
    ))))
    .send()
    .await
    .unwrap();
    assert_problem(response, 404, "project_not_found").await;
    // A member who does not upgrade is told to.
    let response = app
        .client
        .get(app.url(&format!("{path}?token={}", app.token("alice"))))
        .send()
        .await
        .unwrap();
    assert_problem(response, 426, "upgrade_required").await;
}

#[tokio::test]
async fn the_token_may_come_as_a_subprotocol_which_is_echoed() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let app = TestApp::spawn().await;
    let room = shared_project(&app).await;
    let protocol = format!("yauth-{}", app.token("bob"));
    let mut request = format!("{}/{room}", collab_url(&app.base_url))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (_socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connects with the token as a subprotocol");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        protocol.as_str()
    );
}

#[tokio::test]
async fn removing_a_member_or_deleting_the_project_closes_their_connections_for_good() {
    let app = TestApp::spawn().await;
    let room = shared_project(&app).await;
    let dir = tempfile::tempdir().unwrap();

    let held = hold_connected(
        dir.path(),
        with(config_for(&app, &room), json!({"as": "editor2"})),
    )
    .await;
    let response = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/projects/{room}/members/bob"),
            "alice",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let out = held.await.unwrap().expect("hold ends");
    assert_eq!(out["code"], 4401, "{out}");
    assert_eq!(out["reconnecting"], false, "{out}");

    let held = hold_connected(dir.path(), config_for(&app, &room)).await;
    let response = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/projects/{room}"),
            "alice",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let out = held.await.unwrap().expect("hold ends");
    assert_eq!(out["code"], 4404, "{out}");
    assert_eq!(out["reconnecting"], false, "{out}");
}

/// Starts a `hold` scenario with `config` and returns once its client is connected and synced;
/// the handle ends with what the client saw when the server closed it.
pub async fn hold_connected(
    dir: &std::path::Path,
    config: Value,
) -> tokio::task::JoinHandle<Result<Value, String>> {
    static HELD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = HELD.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let signal = dir.join(format!("held-{n}"));
    let held = tokio::spawn(try_scenario(
        "hold",
        with(config, json!({"signalFile": signal})),
    ));
    wait_for_file(&signal).await;
    held
}

/// Waits until a scenario has written its signal file (it is connected and synced).
pub async fn wait_for_file(path: &std::path::Path) {
    for _ in 0..300 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never appeared", path.display());
}

#[tokio::test]
async fn studio_passes_the_same_client_checks_as_the_reference_server() {
    // tests/collab/compare.mjs: the same scenarios against @y/websocket-server 0.1.1 and studio
    // (what anyone can run to compare the two; see tests/collab/README.md).
    let app = TestApp::spawn().await;
    let room = shared_project(&app).await;
    let output = tokio::time::timeout(
        Duration::from_secs(180),
        Command::new("node")
            .arg("compare.mjs")
            .args(["--url", &collab_url(&app.base_url), "--room", &room])
            .args([
                "--token",
                &app.token("alice"),
                "--token2",
                &app.token("bob"),
            ])
            .args(["--viewer-token", &app.token("vera"), "--json"])
            .current_dir(scenarios_dir())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the comparison finishes")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|err| panic!("{err}: {stdout}"));
    for row in report["rows"].as_array().expect("rows") {
        for target in ["reference", "studio"] {
            let result = &row["results"][target];
            assert!(
                result["skipped"] == true || result["ok"] == true,
                "{} on {target}: {result}",
                row["label"]
            );
        }
    }
    assert!(output.status.success(), "{stdout}");
}
