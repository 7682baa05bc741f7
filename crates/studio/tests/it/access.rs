//! Access control on every project route: strangers get 404 (existence is not leaked), members
//! who may see but not act get 403, and each role gets exactly its rights.

use reqwest::Method;
use serde_json::{Value, json};
use studio_testkit::TestApp;

use crate::support::assert_problem;

/// Every project route, with a body where it needs one.
fn routes(project: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, format!("/api/projects/{project}"), None),
        (
            Method::PATCH,
            format!("/api/projects/{project}"),
            Some(json!({"name": "renamed"})),
        ),
        (
            Method::GET,
            format!("/api/projects/{project}/members"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/projects/{project}/members/dave"),
            Some(json!({"role": "viewer"})),
        ),
        (
            Method::DELETE,
            format!("/api/projects/{project}/members/erin"),
            None,
        ),
        (Method::DELETE, format!("/api/projects/{project}"), None),
    ]
}

async fn call(
    app: &TestApp,
    user: &str,
    route: &(Method, String, Option<Value>),
) -> reqwest::Response {
    let (method, path, body) = route;
    let mut request = app.request(method.clone(), path, user);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let project = app.create_project("olivia", "Shared").await;
    let id = project["id"].as_str().unwrap().to_owned();
    app.add_member("olivia", &id, "ed", "editor").await;
    app.add_member("olivia", &id, "vic", "viewer").await;
    app.add_member("olivia", &id, "erin", "viewer").await;
    (app, id)
}

#[tokio::test]
async fn strangers_get_404_on_every_project_route() {
    let (app, id) = setup().await;
    for route in routes(&id) {
        let response = call(&app, "stranger", &route).await;
        assert_problem(response, 404, "project_not_found").await;
    }
    // The same answer as for a project that does not exist or an id that is not one.
    for missing in ["prj_00000000000000000000000000", "nope", "prj_%2e%2e"] {
        for route in routes(missing) {
            let response = call(&app, "olivia", &route).await;
            assert_problem(response, 404, "project_not_found").await;
        }
    }
    // Nothing changed.
    let members: Value = app
        .request(
            Method::GET,
            &format!("/api/projects/{id}/members"),
            "olivia",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(members["items"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn anonymous_callers_get_401_before_anything_else() {
    let (app, id) = setup().await;
    for (method, path, _) in routes(&id) {
        let response = app
            .client
            .request(method, app.url(&path))
            .send()
            .await
            .unwrap();
        assert_problem(response, 401, "unauthenticated").await;
    }
}

#[tokio::test]
async fn viewers_read_but_cannot_write_or_manage() {
    let (app, id) = setup().await;
    let routes = routes(&id);
    for route in &routes[..3] {
        let response = call(&app, "vic", route).await;
        let expected = if route.0 == Method::PATCH { 403 } else { 200 };
        if expected == 403 {
            assert_problem(response, 403, "forbidden").await;
        } else {
            assert_eq!(response.status(), 200, "{} {}", route.0, route.1);
        }
    }
    for route in &routes[3..] {
        let response = call(&app, "vic", route).await;
        assert_problem(response, 403, "forbidden").await;
    }
    let project: Value = app
        .get_json(&format!("/api/projects/{id}"), Some("vic"))
        .await;
    assert_eq!(project["name"], "Shared");
    assert_eq!(project["role"], "viewer");
}

#[tokio::test]
async fn editors_write_but_cannot_manage() {
    let (app, id) = setup().await;
    let routes = routes(&id);
    for route in &routes[..3] {
        let response = call(&app, "ed", route).await;
        assert_eq!(response.status(), 200, "{} {}", route.0, route.1);
    }
    for route in &routes[3..] {
        let response = call(&app, "ed", route).await;
        assert_problem(response, 403, "forbidden").await;
    }
}

#[tokio::test]
async fn the_owner_can_do_everything() {
    let (app, id) = setup().await;
    let expected = [200, 200, 200, 201, 204, 204];
    for (route, status) in routes(&id).iter().zip(expected) {
        let response = call(&app, "olivia", route).await;
        assert_eq!(response.status(), status, "{} {}", route.0, route.1);
    }
}
