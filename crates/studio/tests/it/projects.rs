//! Creating, listing, reading, renaming and deleting projects.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};
use studio_testkit::TestApp;

use crate::support::assert_problem;

#[tokio::test]
async fn create_answers_201_with_location_and_an_unguessable_id() {
    let app = TestApp::spawn().await;
    let response = app
        .request(Method::POST, "/api/projects", "alice")
        .json(&json!({"name": "  Cats on YouTube  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("prj_") && id.len() == 30, "{id}");
    assert_eq!(location, format!("/api/projects/{id}"));
    assert_eq!(body["name"], "Cats on YouTube");
    assert_eq!(body["ownerId"], "alice");
    assert_eq!(body["role"], "owner");
    assert_eq!(body["createdAt"], body["updatedAt"]);

    let fetched: Value = app.get_json(&location, Some("alice")).await;
    assert_eq!(fetched, body);
}

#[tokio::test]
async fn invalid_names_are_422_with_a_pointer() {
    let app = TestApp::spawn().await;
    for (body, code) in [
        (json!({"name": "   "}), "empty"),
        (json!({"name": "x".repeat(201)}), "too_long"),
        (json!({"name": "a\u{7}b"}), "control_character"),
    ] {
        let response = app
            .request(Method::POST, "/api/projects", "alice")
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["pointer"], "/name");
        assert_eq!(problem["errors"][0]["code"], code);
    }
    for body in [
        json!({}),
        json!({"name": 3}),
        json!({"name": "a", "owner": "bob"}),
        json!([]),
    ] {
        let response = app
            .request(Method::POST, "/api/projects", "alice")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 422, "validation_failed").await;
    }
    // Nothing was stored by the refused requests.
    let list: Value = app.get_json("/api/projects", Some("alice")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn listing_shows_own_and_shared_projects_newest_first_in_pages() {
    let app = TestApp::spawn().await;
    let mut expected = Vec::new();
    for i in 0..3 {
        expected.push(app.create_project("alice", &format!("mine {i}")).await);
    }
    for i in 0..2 {
        let shared = app.create_project("bob", &format!("bob's {i}")).await;
        app.add_member("bob", shared["id"].as_str().unwrap(), "alice", "viewer")
            .await;
        expected.push(shared);
    }
    // Bob's unshared project must never show up for Alice.
    let hidden = app.create_project("bob", "private").await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/api/projects?limit=2".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app.get_json(&path, Some("alice")).await;
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().cloned());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    let ids: Vec<&str> = seen.iter().map(|p| p["id"].as_str().unwrap()).collect();
    let expected_ids: Vec<&str> = expected
        .iter()
        .rev()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, expected_ids, "newest first, each exactly once");
    assert!(!ids.contains(&hidden["id"].as_str().unwrap()));
    let roles: HashSet<&str> = seen.iter().map(|p| p["role"].as_str().unwrap()).collect();
    assert_eq!(roles, HashSet::from(["owner", "viewer"]));
}

#[tokio::test]
async fn bad_paging_parameters_are_400() {
    let app = TestApp::spawn().await;
    for (query, code) in [
        ("?limit=0", "invalid_query"),
        ("?limit=201", "invalid_query"),
        ("?limit=abc", "invalid_query"),
        ("?cursor=garbage", "invalid_cursor"),
        ("?cursor=djE6eA", "invalid_cursor"),
        ("?sort=name", "invalid_query"),
    ] {
        let response = app
            .request(Method::GET, &format!("/api/projects{query}"), "alice")
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, code).await;
    }
}

#[tokio::test]
async fn rename_and_delete() {
    let app = TestApp::spawn().await;
    let project = app.create_project("alice", "Draft").await;
    let path = format!("/api/projects/{}", project["id"].as_str().unwrap());

    let renamed: Value = app
        .request(Method::PATCH, &path, "alice")
        .json(&json!({"name": "Final"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["name"], "Final");
    assert_eq!(renamed["createdAt"], project["createdAt"]);

    // An empty patch changes nothing but is allowed.
    let response = app
        .request(Method::PATCH, &path, "alice")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = app
        .request(Method::PATCH, &path, "alice")
        .json(&json!({"name": ""}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 422, "validation_failed").await;

    let response = app
        .request(Method::DELETE, &path, "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    for method in [Method::GET, Method::DELETE] {
        let response = app.request(method, &path, "alice").send().await.unwrap();
        assert_problem(response, 404, "project_not_found").await;
    }
}
