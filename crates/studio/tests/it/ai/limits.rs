//! Per-user cost control: concurrent streams, requests per minute and tokens per day from the
//! plan; cache scopes that keep users' answers apart; usage in `GET /api/me`.

use serde_json::json;
use studio_ai::AiPlanLimits;
use studio_testkit::fake_ai::{FakeOpenAi, Script};

use super::{
    GENEROUS, UiReader, app_with, ask, chat_to_end, free_plan, header, post_chat, problem,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_streams_are_limited_and_freed_when_a_stream_ends() {
    let fake = FakeOpenAi::start(Script::chat(["a", "b"]).pause_after(1)).await;
    let app = app_with(&fake, |raw| {
        free_plan(
            raw,
            AiPlanLimits {
                concurrent_streams: 1,
                ..GENEROUS
            },
        )
    })
    .await;
    let streaming = post_chat(&app, "alice", ask("first")).await;
    assert_eq!(streaming.status(), 200);
    let response = post_chat(&app, "alice", ask("second")).await;
    assert!(!header(&response, "retry-after").is_empty());
    let (status, code, body) = problem(response).await;
    assert_eq!((status, code.as_str()), (429, "ai_limit_exceeded"));
    assert_eq!(body["limit"], "concurrent_streams");
    // Someone else is not affected.
    let bob = post_chat(&app, "bob", ask("second")).await;
    assert_eq!(bob.status(), 200);
    fake.release();
    UiReader::new(streaming).finish().await;
    UiReader::new(bob).finish().await;
    assert_eq!(chat_to_end(&app, "alice", ask("second")).await.0, "MISS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_per_minute_are_limited_with_retry_after() {
    let fake = FakeOpenAi::start(Script::chat(["ok"])).await;
    let app = app_with(&fake, |raw| {
        free_plan(
            raw,
            AiPlanLimits {
                requests_per_minute: 3,
                ..GENEROUS
            },
        )
    })
    .await;
    for i in 0..3 {
        chat_to_end(&app, "alice", ask(&format!("q{i}"))).await;
    }
    let response = post_chat(&app, "alice", ask("q3")).await;
    let retry_after: u64 = header(&response, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let (status, code, body) = problem(response).await;
    assert_eq!((status, code.as_str()), (429, "ai_limit_exceeded"));
    assert_eq!(body["limit"], "requests_per_minute");
    assert_eq!(fake.requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_daily_token_allowance_counts_reported_usage_and_shows_in_me() {
    let fake = FakeOpenAi::start(Script::chat(["spent"]).with_usage(100, 50)).await;
    let app = app_with(&fake, |raw| {
        free_plan(
            raw,
            AiPlanLimits {
                tokens_per_day: 200,
                ..GENEROUS
            },
        )
    })
    .await;
    chat_to_end(&app, "alice", ask("one")).await;
    let me = app.get_json("/api/me", Some("alice")).await;
    assert_eq!(
        me["ai"],
        json!({
            "requests": 1, "inputTokens": 100, "outputTokens": 50, "tokensPerDay": 200,
            "speechCharacters": 0, "speechCharactersPerDay": 1_000_000,
            "activeStreams": 0, "concurrentStreams": 20, "requestsPerMinute": 1000
        })
    );
    // A cache hit is free.
    assert_eq!(chat_to_end(&app, "alice", ask("one")).await.0, "HIT");
    assert_eq!(
        app.get_json("/api/me", Some("alice")).await["ai"]["requests"],
        1
    );
    // 150 of 200 spent: one more call is admitted, and it overshoots...
    chat_to_end(&app, "alice", ask("two")).await;
    // ...after which the day is over for alice, but not for bob.
    let response = post_chat(&app, "alice", ask("three")).await;
    let retry_after: u64 = header(&response, "retry-after").parse().unwrap();
    assert!((1..=86_400).contains(&retry_after));
    let (status, code, body) = problem(response).await;
    assert_eq!(
        (status, code.as_str(), body["limit"].as_str()),
        (429, "ai_limit_exceeded", Some("tokens_per_day"))
    );
    assert_eq!(chat_to_end(&app, "bob", ask("three")).await.0, "MISS");
    assert_eq!(fake.requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cached_answers_do_not_leak_between_users_unless_configured() {
    let fake = FakeOpenAi::start(Script::chat(["private"])).await;
    let app = app_with(&fake, |_| {}).await;
    assert_eq!(
        chat_to_end(&app, "alice", ask("secret plan")).await.0,
        "MISS"
    );
    assert_eq!(chat_to_end(&app, "bob", ask("secret plan")).await.0, "MISS");
    assert_eq!(fake.requests(), 2);

    // Project scope: shared by the project's members, not across projects or with outsiders.
    let app = app_with(&fake, |raw| {
        raw.ai_cache_scope = studio_ai::key::CacheScope::Project
    })
    .await;
    let project = app.create_project("alice", "Shared").await;
    let id = project["id"].as_str().unwrap();
    app.add_member("alice", id, "bob", "editor").await;
    let about =
        |text: &str| json!({"messages": [{"role": "user", "content": text}], "projectId": id});
    assert_eq!(chat_to_end(&app, "alice", about("q")).await.0, "MISS");
    assert_eq!(chat_to_end(&app, "bob", about("q")).await.0, "HIT");
    assert_eq!(
        chat_to_end(&app, "bob", ask("q")).await.0,
        "MISS",
        "no project: bob's own scope"
    );
    assert_eq!(fake.requests(), 4);

    // Global scope: everyone.
    let app = app_with(&fake, |raw| {
        raw.ai_cache_scope = studio_ai::key::CacheScope::Global
    })
    .await;
    assert_eq!(chat_to_end(&app, "alice", ask("common")).await.0, "MISS");
    assert_eq!(chat_to_end(&app, "carol", ask("common")).await.0, "HIT");
    assert_eq!(fake.requests(), 5);
}
