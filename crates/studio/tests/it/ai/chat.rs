//! Streaming, the cache, errors and task templates of `/api/ai/chat`.

use std::time::Duration;

use serde_json::json;
use studio_testkit::TestApp;
use studio_testkit::fake_ai::{Ending, FakeGemini, FakeOpenAi, Script};

use super::{KEY, MODEL, UiReader, app_with, ask, chat_to_end, header, post_chat, problem};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_provider_the_ai_routes_answer_503() {
    let app = TestApp::spawn().await;
    let (status, code, _) = problem(post_chat(&app, "alice", ask("hi")).await).await;
    assert_eq!((status, code.as_str()), (503, "ai_unavailable"));
    let tts = app
        .request(reqwest::Method::POST, "/api/ai/tts", "alice")
        .json(&json!({"text": "hi", "voiceId": "v1"}))
        .send()
        .await
        .unwrap();
    let (status, code, _) = problem(tts).await;
    assert_eq!((status, code.as_str()), (503, "ai_unavailable"));
    // And anonymously: 401 first.
    let anonymous = app
        .client
        .post(app.url("/api/ai/chat"))
        .json(&ask("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_reach_the_browser_while_the_provider_is_still_generating() {
    // The fake sends two tokens, then holds the rest until released.
    let fake = FakeOpenAi::start(Script::chat(["Hel", "lo", ", ", "world"]).pause_after(2)).await;
    let app = app_with(&fake, |_| {}).await;
    let response = post_chat(&app, "alice", ask("greet me")).await;
    assert_eq!(response.status(), 200);
    for (name, value) in [
        ("content-type", "text/event-stream"),
        ("x-vercel-ai-ui-message-stream", "v1"),
        ("cache-control", "no-cache"),
        ("x-accel-buffering", "no"),
        ("x-cache", "MISS"),
    ] {
        assert_eq!(header(&response, name), value, "{name}");
    }
    let mut reader = UiReader::new(response);
    assert!(reader.read_until(|s| s.text == "Hello").await);
    assert_eq!(fake.completed(), 0, "the provider has not finished");
    fake.release();
    let stream = reader.finish().await;
    assert_eq!(stream.text, "Hello, world");
    assert!(stream.done);
    assert_eq!(
        stream.types(),
        [
            "start",
            "start-step",
            "text-start",
            "text-delta",
            "text-delta",
            "text-delta",
            "text-delta",
            "text-end",
            "finish-step",
            "finish"
        ]
    );
    let finish = stream.finish().unwrap();
    assert_eq!(finish["finishReason"], "stop");
    assert_eq!(finish["messageMetadata"]["cache"], "MISS");
    assert_eq!(finish["messageMetadata"]["model"], MODEL);

    // The provider got our key, the model and the conversation; streaming with usage.
    let sent = fake.last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(sent.body["model"], MODEL);
    assert_eq!(sent.body["stream"], true);
    assert_eq!(
        sent.body["messages"],
        json!([{"role": "user", "content": "greet me"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeated_request_is_served_from_the_cache_without_calling_the_provider() {
    let fake = FakeOpenAi::start(Script::chat(["Four", " ideas"]).with_usage(12, 2)).await;
    let app = app_with(&fake, |_| {}).await;
    let (cache, first) = chat_to_end(&app, "alice", ask("ideas")).await;
    assert_eq!(cache, "MISS");
    assert_eq!(
        first.finish().unwrap()["messageMetadata"]["usage"],
        json!({"inputTokens": 12, "outputTokens": 2})
    );

    let (cache, second) = chat_to_end(&app, "alice", ask("ideas")).await;
    assert_eq!(cache, "HIT");
    assert_eq!(fake.requests(), 1, "a hit makes no upstream call");
    assert_eq!(second.text, first.text);
    assert_eq!(
        second.types(),
        first.types(),
        "a hit has the same stream shape"
    );
    assert_eq!(second.finish().unwrap()["messageMetadata"]["cache"], "HIT");

    // Anything that shapes the answer makes it another request.
    let mut warmer = ask("ideas");
    warmer["temperature"] = json!(0.9);
    assert_eq!(chat_to_end(&app, "alice", warmer).await.0, "MISS");
    assert_eq!(
        chat_to_end(&app, "alice", ask("other ideas")).await.0,
        "MISS"
    );
    assert_eq!(fake.requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cache_control_skips_the_read_or_the_store() {
    let fake = FakeOpenAi::start(Script::chat(["a"])).await;
    let app = app_with(&fake, |_| {}).await;
    let send = |directive: &'static str| {
        app.request(reqwest::Method::POST, "/api/ai/chat", "alice")
            .header("cache-control", directive)
            .json(&ask("q"))
            .send()
    };
    // no-store: called, and not stored.
    let response = send("no-store").await.unwrap();
    assert_eq!(header(&response, "x-cache"), "BYPASS");
    UiReader::new(response).finish().await;
    assert_eq!(chat_to_end(&app, "alice", ask("q")).await.0, "MISS");
    assert_eq!(chat_to_end(&app, "alice", ask("q")).await.0, "HIT");
    // no-cache: called even though it is cached (and the fresh answer is stored).
    let response = send("no-cache").await.unwrap();
    assert_eq!(header(&response, "x-cache"), "BYPASS");
    UiReader::new(response).finish().await;
    assert_eq!(fake.requests(), 3);
    assert_eq!(chat_to_end(&app, "alice", ask("q")).await.0, "HIT");
    assert_eq!(fake.requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_split_across_tcp_chunks_and_use_chat_bodies_are_read() {
    let tokens = ["Ein", " élan", " 🎬", " vital", "\n\"ok\""];
    let fake = FakeOpenAi::start(Script::chat(tokens).split_every(3)).await;
    let app = app_with(&fake, |_| {}).await;
    // The body `useChat` sends: UI messages with parts, plus fields we do not need.
    let body = json!({
        "id": "chat-1",
        "trigger": "submit-message",
        "messages": [
            {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "Say "}, {"type": "text", "text": "it"}]},
            {"id": "m2", "role": "assistant", "parts": [{"type": "step-start"}, {"type": "text", "text": "Sure"}]},
            {"id": "m3", "role": "user", "parts": [{"type": "file", "url": "x", "mediaType": "image/png"}, {"type": "text", "text": "again"}]}
        ]
    });
    let (_, stream) = chat_to_end(&app, "alice", body).await;
    assert_eq!(stream.text, tokens.concat());
    assert_eq!(
        fake.last_body().unwrap()["messages"],
        json!([
            {"role": "user", "content": "Say it"},
            {"role": "assistant", "content": "Sure"},
            {"role": "user", "content": "again"}
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_failure_mid_stream_is_an_error_part_and_is_not_cached() {
    let fake = FakeOpenAi::start(Script::chat(["partial"]).ending(Ending::ErrorEvent)).await;
    let app = app_with(&fake, |_| {}).await;
    let (cache, stream) = chat_to_end(&app, "alice", ask("q")).await;
    assert_eq!(cache, "MISS");
    assert_eq!(stream.text, "partial");
    assert_eq!(stream.error(), Some("The AI provider failed."));
    assert!(stream.done, "a clean end after the error");
    assert!(stream.finish().is_none());
    assert_eq!(*stream.types().last().unwrap(), "error");

    // An early end of the provider's body is an error too; neither was cached.
    fake.set_script(Script::chat(["cut"]).ending(Ending::DropConnection));
    let (cache, stream) = chat_to_end(&app, "alice", ask("q")).await;
    assert_eq!(cache, "MISS");
    assert!(stream.error().is_some());
    fake.set_script(Script::chat(["whole"]));
    let (cache, stream) = chat_to_end(&app, "alice", ask("q")).await;
    assert_eq!((cache.as_str(), stream.text.as_str()), ("MISS", "whole"));
    assert_eq!(fake.requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_before_the_first_byte_are_problems_with_the_real_status() {
    let fake = FakeOpenAi::start(Script::failure(401)).await;
    let app = app_with(&fake, |raw| raw.ai_read_timeout_secs = 1).await;
    let cases = [
        (Script::failure(401), 502, "ai_provider_rejected"),
        (Script::failure(500), 502, "ai_provider_error"),
        (Script::failure(503), 503, "ai_provider_unavailable"),
        (
            Script::failure(429).with_retry_after("7"),
            429,
            "ai_provider_rate_limited",
        ),
        (Script::never_answer(), 504, "ai_provider_timeout"),
    ];
    for (i, (script, status, code)) in cases.into_iter().enumerate() {
        fake.set_script(script);
        let response = post_chat(&app, "alice", ask(&format!("q{i}"))).await;
        let retry_after = header(&response, "retry-after");
        let (got_status, got_code, body) = problem(response).await;
        assert_eq!((got_status, got_code.as_str()), (status, code), "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            !detail.contains(KEY) && !detail.contains("127.0.0.1"),
            "{detail}"
        );
        if status == 429 {
            assert_eq!(retry_after, "7");
        }
    }
    // Bad requests never reach the provider.
    let before = fake.requests();
    for (body, pointer) in [
        (json!({"messages": []}), "/messages"),
        (
            json!({"messages": [{"role": "wizard", "content": "x"}]}),
            "/messages/0/role",
        ),
        (json!({"messages": [{"role": "user"}]}), "/messages/0"),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "temperature": 9}),
            "/temperature",
        ),
        (json!({"task": "poems"}), "/task"),
    ] {
        let (status, code, problem) = problem(post_chat(&app, "alice", body).await).await;
        assert_eq!(
            (status, code.as_str()),
            (422, "validation_failed"),
            "{problem}"
        );
        assert_eq!(problem["errors"][0]["pointer"], pointer);
    }
    let (status, code, body) = problem(
        post_chat(
            &app,
            "alice",
            json!({"messages": [{"role": "user", "content": "x"}], "model": "gpt-huge"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (422, "unknown_model"));
    assert_eq!(body["allowedModels"], json!([MODEL]));
    assert_eq!(fake.requests(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keep_alive_comments_flow_while_the_provider_is_slow() {
    let fake =
        FakeOpenAi::start(Script::chat(["slow", " answer"]).delay(Duration::from_millis(2500)))
            .await;
    let app = app_with(&fake, |raw| raw.ai_keep_alive_secs = 1).await;
    let (_, stream) = chat_to_end(&app, "alice", ask("q")).await;
    assert_eq!(stream.text, "slow answer");
    assert!(stream.comments >= 1, "no keep-alive in a 2.5 s pause");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_are_written_by_the_server_with_the_projects_context() {
    let fake = FakeOpenAi::start(Script::chat(["Title"])).await;
    let app = app_with(&fake, |_| {}).await;
    let project = app.create_project("alice", "Alps trip").await;
    let id = project["id"].as_str().unwrap();
    let (_, stream) = chat_to_end(&app, "alice", json!({"task": "titles", "projectId": id})).await;
    assert_eq!(stream.text, "Title");
    let messages = fake.last_body().unwrap()["messages"].clone();
    let system = messages[0]["content"].as_str().unwrap();
    assert_eq!(messages[0]["role"], "system");
    assert!(
        system.contains("titles") && system.contains("Project: Alps trip"),
        "{system}"
    );
    assert!(system.contains("Timeline:"), "{system}");
    assert_eq!(
        messages[1],
        json!({"role": "user", "content": "Suggest titles."})
    );

    // A project the caller cannot read does not exist for them.
    let (status, code, _) =
        problem(post_chat(&app, "mallory", json!({"task": "titles", "projectId": id})).await).await;
    assert_eq!((status, code.as_str()), (404, "project_not_found"));
    // A collaborator may.
    app.add_member("alice", id, "bob", "viewer").await;
    let response = post_chat(&app, "bob", json!({"task": "script", "projectId": id})).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gemini_streams_through_the_same_endpoint() {
    let fake = FakeGemini::start(
        Script::chat(["Hola", " mundo"])
            .split_every(5)
            .with_usage(3, 4),
    )
    .await;
    let base = fake.base_url();
    let app = TestApp::spawn_with(move |raw| {
        raw.ai_gemini_base_url = base;
        raw.ai_gemini_models = Some(vec!["gemini-test".to_owned()]);
        raw.ai_gemini_api_key = Some("gm-key".to_owned().into());
    })
    .await;
    let (cache, stream) = chat_to_end(&app, "alice", ask("hola")).await;
    assert_eq!(
        (cache.as_str(), stream.text.as_str()),
        ("MISS", "Hola mundo")
    );
    let finish = stream.finish().unwrap();
    assert_eq!(finish["messageMetadata"]["provider"], "gemini");
    assert_eq!(
        finish["messageMetadata"]["usage"],
        json!({"inputTokens": 3, "outputTokens": 4})
    );
    let sent = fake.last_request().unwrap();
    assert!(
        sent.path
            .contains("gemini-test:streamGenerateContent?alt=sse"),
        "{}",
        sent.path
    );
    assert_eq!(sent.header("x-goog-api-key"), Some("gm-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_provider_is_a_504_even_past_the_general_request_timeout() {
    // The AI routes are outside the general request timeout: the provider timeouts bound them.
    let fake = FakeOpenAi::start(Script::never_answer()).await;
    let app = app_with(&fake, |raw| {
        raw.request_timeout_secs = 1;
        raw.ai_connect_timeout_secs = 1;
        raw.ai_read_timeout_secs = 2;
    })
    .await;
    let (status, code, _) = problem(post_chat(&app, "alice", ask("q")).await).await;
    assert_eq!((status, code.as_str()), (504, "ai_provider_timeout"));
    fake.wait_cancelled(1).await;
}
