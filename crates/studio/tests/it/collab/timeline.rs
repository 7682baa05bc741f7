//! The Project JSON inside the Yjs document: a valid edit becomes the project's timeline, an
//! invalid one is reported and kept out, and a `PUT …/timeline` reaches connected editors.

use serde_json::{Value, json};
use studio_testkit::TestApp;

use super::{config_for, scenario, shared_project, try_scenario, with};

async fn timeline(app: &TestApp, room: &str) -> Value {
    app.get_json(&format!("/api/projects/{room}/timeline"), Some("alice"))
        .await
}

async fn quick_snapshots() -> TestApp {
    TestApp::spawn_with(|raw| raw.collab_snapshot_interval_secs = 1).await
}

#[tokio::test]
async fn a_new_document_starts_from_the_projects_timeline() {
    let app = TestApp::spawn().await;
    let room = shared_project(&app).await;
    let current = timeline(&app, &room).await;
    scenario(
        "wait-project",
        with(config_for(&app, &room), json!({"project": current})),
    )
    .await;
}

#[tokio::test]
async fn a_valid_edit_is_promoted_and_an_invalid_one_reported_and_kept_out() {
    let app = quick_snapshots().await;
    let room = shared_project(&app).await;
    let mut document = timeline(&app, &room).await;

    // Valid: a text clip and a renamed project.
    document["name"] = json!("Edited live");
    document["tracks"].as_array_mut().unwrap().push(
        json!({"id": "titles", "kind": "text", "name": "Titles", "muted": false, "locked": false,
            "clips": [{"id": "t1", "start": 0, "duration": 2, "text": "Hello"}]}),
    );
    scenario(
        "set-project",
        with(config_for(&app, &room), json!({"project": document})),
    )
    .await;
    scenario(
        "wait-awareness-field",
        with(
            config_for(&app, &room),
            json!({"path": ["studio", "timeline", "status"], "equals": "valid"}),
        ),
    )
    .await;
    let promoted = timeline(&app, &room).await;
    assert_eq!(promoted["name"], "Edited live", "{promoted}");
    assert_eq!(promoted["tracks"][2]["clips"][0]["text"], "Hello");

    // Invalid: two clips overlapping on one track.
    let mut invalid = document.clone();
    invalid["tracks"][2]["clips"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "t2", "start": 1, "duration": 2, "text": "Overlap"}));
    scenario(
        "set-project",
        with(config_for(&app, &room), json!({"project": invalid})),
    )
    .await;
    let state = scenario(
        "wait-awareness-field",
        with(
            config_for(&app, &room),
            json!({"path": ["studio", "timeline", "status"], "equals": "invalid"}),
        ),
    )
    .await;
    let problems = &state["studio"]["timeline"]["problems"];
    assert!(
        problems.as_array().is_some_and(|p| p
            .iter()
            .any(|v| v["pointer"].as_str().unwrap_or("").starts_with("/tracks/2"))),
        "{state}"
    );
    // The project's timeline is still the valid one, and says why it is not what editors see.
    let current = timeline(&app, &room).await;
    assert_eq!(current, promoted);
    let response = app
        .request(
            reqwest::Method::GET,
            &format!("/api/projects/{room}/timeline"),
            "alice",
        )
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("collab-problems"));
    let problems = app
        .get_json(
            &format!("/api/projects/{room}/timeline/problems"),
            Some("alice"),
        )
        .await;
    let listed = problems["collabProblems"]
        .as_array()
        .expect("collabProblems");
    assert!(
        listed.iter().any(|p| p["code"] == "clip_overlap"),
        "{problems}"
    );

    // Fixing the document clears them.
    scenario(
        "set-project",
        with(config_for(&app, &room), json!({"project": document})),
    )
    .await;
    scenario(
        "wait-awareness-field",
        with(
            config_for(&app, &room),
            json!({"path": ["studio", "timeline", "status"], "equals": "valid"}),
        ),
    )
    .await;
    let problems = app
        .get_json(
            &format!("/api/projects/{room}/timeline/problems"),
            Some("alice"),
        )
        .await;
    assert_eq!(problems["collabProblems"], json!([]), "{problems}");
}

#[tokio::test]
async fn a_put_timeline_reaches_connected_editors() {
    let app = TestApp::spawn().await;
    let room = shared_project(&app).await;
    let mut document = timeline(&app, &room).await;
    document["name"] = json!("Put from the API");
    document["markers"] = json!([{"id": "m1", "time": 1.5, "label": "Cut here"}]);
    // A connected editor waits for exactly this document.
    let waiting = tokio::spawn(try_scenario(
        "wait-project",
        with(
            config_for(&app, &room),
            json!({"project": document.clone()}),
        ),
    ));
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let response = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/projects/{room}/timeline"),
            "alice",
        )
        .json(&document)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    waiting
        .await
        .unwrap()
        .expect("the editor sees the PUT document");
}
