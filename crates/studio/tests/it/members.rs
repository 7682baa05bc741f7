//! Managing who has access to a project.

use reqwest::Method;
use serde_json::{Value, json};
use studio_testkit::TestApp;

use crate::support::assert_problem;

async fn members(app: &TestApp, user: &str, id: &str) -> Vec<(String, String)> {
    let body: Value = app
        .request(Method::GET, &format!("/api/projects/{id}/members"), user)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["userId"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn put(app: &TestApp, id: &str, user: &str, body: Value) -> reqwest::Response {
    app.request(
        Method::PUT,
        &format!("/api/projects/{id}/members/{user}"),
        "olivia",
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn add_change_and_remove_a_member() {
    let app = TestApp::spawn().await;
    let project = app.create_project("olivia", "Team").await;
    let id = project["id"].as_str().unwrap();

    let response = put(&app, id, "sam", json!({"role": "viewer"})).await;
    assert_eq!(response.status(), 201);
    let member: Value = response.json().await.unwrap();
    assert_eq!(member["userId"], "sam");
    assert_eq!(member["role"], "viewer");

    // Setting the same role again, then another role: 200, no duplicate.
    assert_eq!(
        put(&app, id, "sam", json!({"role": "viewer"}))
            .await
            .status(),
        200
    );
    assert_eq!(
        put(&app, id, "sam", json!({"role": "editor"}))
            .await
            .status(),
        200
    );
    assert_eq!(
        members(&app, "sam", id).await,
        vec![
            ("olivia".into(), "owner".into()),
            ("sam".into(), "editor".into())
        ]
    );
    // Sam may now write.
    let response = app
        .request(Method::PATCH, &format!("/api/projects/{id}"), "sam")
        .json(&json!({"name": "Team 2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let response = app
        .request(
            Method::DELETE,
            &format!("/api/projects/{id}/members/sam"),
            "olivia",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = app
        .request(
            Method::DELETE,
            &format!("/api/projects/{id}/members/sam"),
            "olivia",
        )
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "member_not_found").await;
    // Removed means gone: the project is hidden from Sam again.
    let response = app
        .request(Method::GET, &format!("/api/projects/{id}"), "sam")
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "project_not_found").await;
}

#[tokio::test]
async fn the_owner_cannot_be_made_a_member_and_roles_are_checked() {
    let app = TestApp::spawn().await;
    let project = app.create_project("olivia", "Team").await;
    let id = project["id"].as_str().unwrap();
    let response = put(&app, id, "olivia", json!({"role": "viewer"})).await;
    assert_problem(response, 409, "owner_is_not_a_member").await;
    for body in [
        json!({"role": "owner"}),
        json!({"role": "admin"}),
        json!({}),
        json!({"role": "viewer", "x": 1}),
    ] {
        let response = put(&app, id, "sam", body).await;
        assert_problem(response, 422, "validation_failed").await;
    }
    let response = put(&app, id, "bad%20user", json!({"role": "viewer"})).await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["pointer"], "/userId");
    assert_eq!(members(&app, "olivia", id).await.len(), 1);
}

#[tokio::test]
async fn deleting_a_project_ends_every_members_access() {
    let app = TestApp::spawn().await;
    let project = app.create_project("olivia", "Short-lived").await;
    let id = project["id"].as_str().unwrap();
    app.add_member("olivia", id, "sam", "editor").await;
    let response = app
        .request(Method::DELETE, &format!("/api/projects/{id}"), "olivia")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let list: Value = app.get_json("/api/projects", Some("sam")).await;
    assert!(list["items"].as_array().unwrap().is_empty());
}
