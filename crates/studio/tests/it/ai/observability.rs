//! What operators see of AI calls: one log line per call with its `request_id`, provider,
//! model, cache status, tokens and latency (never the provider key), and per-provider metrics.

use serde_json::Value;

use studio_testkit::fake_ai::{FakeOpenAi, Script};

use super::{KEY, MODEL, UiReader, app_with, ask, chat_to_end};
use crate::support::process::{SECRET, database, mint, serve, studio, terminate};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_call_is_one_log_line_with_the_request_id_and_no_key() {
    let fake = FakeOpenAi::start(Script::chat(["logged"]).with_usage(9, 1)).await;
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path()).await;
    let mut command = studio(dir.path(), &db.url);
    command
        .env("STUDIO_JWT_SECRET", SECRET)
        .env("STUDIO_AUTO_MIGRATE", "true")
        .env("STUDIO_AI_OPENAI_BASE_URL", fake.base_url())
        .env("STUDIO_AI_OPENAI_MODELS", MODEL)
        .env("STUDIO_AI_OPENAI_API_KEY", KEY);
    let (child, url, logs) = serve(command).await;
    let client = reqwest::Client::new();
    for request_id in ["ai-log-1", "ai-log-2"] {
        let response = client
            .post(format!("{url}/api/ai/chat"))
            .bearer_auth(mint(SECRET))
            .header("x-request-id", request_id)
            .json(&ask("log me"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        UiReader::new(response).finish().await;
    }
    terminate(&child).await;
    let lines = logs.await.unwrap();
    assert!(
        !lines.iter().any(|l| l.contains(KEY)),
        "the provider key leaked"
    );
    let calls: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "ai call")
        .collect();
    assert_eq!(calls.len(), 2, "{lines:#?}");
    for (call, (request_id, cache)) in calls
        .iter()
        .zip([("ai-log-1", "miss"), ("ai-log-2", "hit")])
    {
        assert_eq!(call["request_id"], request_id, "{call}");
        assert_eq!(call["provider"], "openai");
        assert_eq!(call["model"], MODEL);
        assert_eq!(call["cache"], cache);
        assert_eq!(call["outcome"], "finished");
        assert_eq!(
            (
                call["input_tokens"].as_u64(),
                call["output_tokens"].as_u64()
            ),
            (Some(9), Some(1))
        );
        assert!(
            call["latency_ms"].is_number() && call["first_byte_ms"].is_number(),
            "{call}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_count_calls_hits_tokens_and_errors_per_provider() {
    let fake = FakeOpenAi::start(Script::chat(["counted"]).with_usage(5, 3)).await;
    let app = app_with(&fake, |_| {}).await;
    chat_to_end(&app, "alice", ask("q")).await;
    chat_to_end(&app, "alice", ask("q")).await;
    fake.set_script(Script::failure(500));
    let failed = super::post_chat(&app, "alice", ask("fails")).await;
    assert_eq!(failed.status(), 502);

    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"studio_ai_requests_total{provider="openai",kind="chat",cache="miss"} 1"#,
        r#"studio_ai_requests_total{provider="openai",kind="chat",cache="hit"} 1"#,
        r#"studio_ai_upstream_calls_total{provider="openai",kind="chat"} 2"#,
        r#"studio_ai_tokens_total{provider="openai",direction="input"} 5"#,
        r#"studio_ai_tokens_total{provider="openai",direction="output"} 3"#,
        r#"studio_ai_errors_total{provider="openai",code="ai_provider_error"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
}
