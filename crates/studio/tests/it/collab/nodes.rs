//! Several `studio serve` nodes serving one project through Redis Streams: clients on each
//! node converge, awareness crosses nodes.

use serde_json::json;
use studio_testkit::TestApp;

use super::{collab_url, config_for, scenario, shared_project, with};

/// Two apps on one database and one Redis (the same stream prefix), like two nodes behind a
/// load balancer.
async fn two_nodes() -> (TestApp, TestApp) {
    let first = TestApp::spawn_with(|raw| {
        raw.redis_url = Some(studio_testkit::redis_url());
    })
    .await;
    let database_url = first.config.database_url.clone();
    let prefix = first.config.worker.queue_prefix.clone();
    let secret = first.secret().clone();
    let second = TestApp::spawn_with(move |raw| {
        raw.redis_url = Some(studio_testkit::redis_url());
        raw.database_url = Some(database_url);
        raw.queue_prefix = prefix;
        raw.jwt_secret = Some(secret);
    })
    .await;
    (first, second)
}

fn on_both(first: &TestApp, second: &TestApp, room: &str) -> serde_json::Value {
    with(
        config_for(first, room),
        json!({"urls": [collab_url(&first.base_url), collab_url(&second.base_url)]}),
    )
}

#[tokio::test]
async fn clients_on_two_nodes_converge() {
    let (first, second) = two_nodes().await;
    let room = shared_project(&first).await;
    let out = scenario(
        "converge",
        with(
            on_both(&first, &second, &room),
            json!({"clients": 4, "rounds": 5}),
        ),
    )
    .await;
    assert_eq!(out["clients"], 4);
    // A client that joins on the second node after writers on the first left sees their work.
    scenario(
        "late-joiner",
        with(
            on_both(&first, &second, &room),
            json!({"disconnectFirst": false}),
        ),
    )
    .await;
}

#[tokio::test]
async fn awareness_crosses_nodes() {
    let (first, second) = two_nodes().await;
    let room = shared_project(&first).await;
    scenario(
        "awareness",
        with(
            on_both(&first, &second, &room),
            json!({"requireEcho": true}),
        ),
    )
    .await;
}
