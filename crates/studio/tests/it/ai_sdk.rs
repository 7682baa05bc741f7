//! `/api/ai/chat` read by the real Vercel AI SDK client (`ai` 6, pinned in `tests/ai`), driven
//! by `tests/ai/chat.mjs` exactly as a React `useChat` drives it: `DefaultChatTransport`,
//! `readUIMessageStream` and the SDK's chat state machine (`AbstractChat`), with no adapter.
//! The providers are the local fakes of `studio_testkit::fake_ai`. Like the collaboration
//! tests, these need node and `npm ci` in `tests/ai` (`make deps`).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use studio::config::RawConfig;
use studio_testkit::TestApp;
use studio_testkit::fake_ai::{Ending, FakeGemini, FakeOpenAi, FakeServer, Script};
use tokio::process::Command;

const MODEL: &str = "gpt-sdk-test";
const GEMINI_MODEL: &str = "gemini-sdk-test";

/// The directory of the npm runner.
fn runner_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/ai")
}

/// Runs `chat.mjs` against `app` as `user` with `request` (`text`, `mode`, …); its JSON line,
/// or a panic with what it printed.
async fn sdk_chat(app: &TestApp, user: &str, request: Value) -> Value {
    let output = tokio::time::timeout(
        Duration::from_secs(90),
        Command::new("node")
            .arg("chat.mjs")
            .arg(&app.base_url)
            .arg(app.token(user))
            .arg(request.to_string())
            .current_dir(runner_dir())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chat.mjs did not finish in 90 s")
    .unwrap_or_else(|err| panic!("cannot run node: {err} (run `make deps`)"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "chat.mjs failed ({}; run `make deps` if `ai` is missing)\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .unwrap_or_else(|err| panic!("chat.mjs printed no JSON ({err}): {stdout}\n{stderr}"))
}

/// An app whose OpenAI-compatible provider is `fake`.
async fn openai_app(fake: &FakeServer) -> TestApp {
    let base = fake.base_url();
    TestApp::spawn_with(move |raw: &mut RawConfig| {
        raw.ai_openai_base_url = base;
        raw.ai_openai_models = Some(vec![MODEL.to_owned()]);
        raw.ai_openai_api_key = Some("sk-sdk-test".to_owned().into());
        raw.ai_read_timeout_secs = 10;
    })
    .await
}

/// The chunk types of a complete answer of `deltas` text deltas, in protocol order.
fn complete_types(deltas: usize) -> Vec<String> {
    let mut types = vec!["start", "start-step", "text-start"];
    types.extend(std::iter::repeat_n("text-delta", deltas));
    types.extend(["text-end", "finish-step", "finish"]);
    types.into_iter().map(str::to_owned).collect()
}

fn types(out: &Value) -> Vec<String> {
    out["chunkTypes"]
        .as_array()
        .expect("chunkTypes")
        .iter()
        .map(|t| t.as_str().unwrap_or("?").to_owned())
        .collect()
}

/// What every successful run shows: the SDK built one assistant message holding exactly
/// `text` as one finished text part, from chunks in protocol order; the chat is `ready`.
fn assert_answer(out: &Value, text: &str) {
    assert_eq!(out["error"], Value::Null, "{out}");
    assert_eq!(out["status"], "ready", "{out}");
    assert_eq!(out["httpStatus"], 200, "{out}");
    assert_eq!(out["headers"]["x-vercel-ai-ui-message-stream"], "v1");
    assert_eq!(out["headers"]["content-type"], "text/event-stream");
    assert_eq!(out["text"], text, "{out}");
    let parts = out["parts"].as_array().expect("parts");
    let texts: Vec<&Value> = parts.iter().filter(|p| p["type"] == "text").collect();
    assert_eq!(texts.len(), 1, "one text part: {out}");
    assert_eq!(texts[0]["state"], "done", "{out}");
    let types = types(out);
    let deltas = types.iter().filter(|t| *t == "text-delta").count();
    assert!(deltas >= 1, "{out}");
    assert_eq!(types, complete_types(deltas), "{out}");
    // The SDK keeps the message id studio sent in `start`.
    assert_eq!(out["messageId"], out["chunks"][0]["messageId"]);
    assert!(out["messageId"].as_str().is_some_and(|id| !id.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sdk_reassembles_the_answer_and_a_repeat_is_a_cache_hit() {
    let tokens = [
        "Four",
        " ideas",
        ": a ",
        "time-lapse",
        ", a \"cold\" open",
        "\nand 🎬.",
    ];
    let fake = FakeOpenAi::start(Script::chat(tokens).with_usage(12, 6)).await;
    let app = openai_app(&fake).await;
    let expected: String = tokens.concat();

    // useChat: `chat.sendMessage({text})` through the SDK's own state machine.
    let first = sdk_chat(&app, "alice", json!({"text": "Give me video ideas"})).await;
    assert_answer(&first, &expected);
    assert_eq!(
        types(&first),
        complete_types(tokens.len()),
        "one delta per token"
    );
    assert_eq!(first["headers"]["x-cache"], "MISS");
    assert_eq!(
        first["metadata"],
        json!({
            "provider": "openai",
            "model": MODEL,
            "cache": "MISS",
            "usage": {"inputTokens": 12, "outputTokens": 6},
        }),
        "{first}"
    );
    // The chat's own state: the user's message and the assistant's, with its metadata.
    assert_eq!(first["chatText"], expected.as_str());
    assert_eq!(first["chatError"], Value::Null);
    let messages = first["chatMessages"].as_array().expect("chat messages");
    assert_eq!(messages.len(), 2, "{first}");
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["text"], "Give me video ideas");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["metadata"]["cache"], "MISS");
    // The provider got what useChat sent, as plain text.
    let sent = fake.last_body().expect("the provider was called");
    let provider_messages = sent["messages"].as_array().expect("messages");
    assert_eq!(
        provider_messages.last().unwrap(),
        &json!({"role": "user", "content": "Give me video ideas"})
    );

    // The same question again, by the transport and `readUIMessageStream`: from the cache.
    let second = sdk_chat(
        &app,
        "alice",
        json!({"text": "Give me video ideas", "mode": "transport"}),
    )
    .await;
    assert_answer(&second, &expected);
    assert_eq!(second["headers"]["x-cache"], "HIT");
    assert_eq!(second["metadata"]["cache"], "HIT", "{second}");
    assert_eq!(second["metadata"]["model"], MODEL);
    assert_ne!(
        second["messageId"], first["messageId"],
        "every answer is a new message"
    );
    // And once more through the chat: still a hit, the provider was called once in all.
    let third = sdk_chat(&app, "alice", json!({"text": "Give me video ideas"})).await;
    assert_answer(&third, &expected);
    assert_eq!(third["metadata"]["cache"], "HIT", "{third}");
    assert_eq!(third["chatText"], expected.as_str());
    assert_eq!(fake.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_error_mid_stream_is_the_sdks_error_and_the_stream_ends_cleanly() {
    let fake =
        FakeOpenAi::start(Script::chat(["partial", " answer"]).ending(Ending::ErrorEvent)).await;
    let app = openai_app(&fake).await;
    let public = studio_ai::ProviderError::BadGateway(String::new()).public_message();

    for (n, mode) in ["chat", "transport"].into_iter().enumerate() {
        let out = sdk_chat(&app, "alice", json!({"text": "q", "mode": mode})).await;
        assert_eq!(out["status"], "error", "{out}");
        assert_eq!(out["error"], public, "{out}");
        // Only our public message: no network or parse error, so the body ended cleanly
        // (`[DONE]` after the `error` part) and the provider's own words stayed on the server.
        assert_eq!(out["errors"], json!([public]), "{out}");
        assert_eq!(out["httpStatus"], 200);
        assert_eq!(out["headers"]["x-cache"], "MISS");
        // What streamed before the error is kept, its text part closed.
        assert_eq!(out["text"], "partial answer", "{out}");
        assert_eq!(
            types(&out),
            [
                "start",
                "start-step",
                "text-start",
                "text-delta",
                "text-delta",
                "text-end",
                "error"
            ],
            "{out}"
        );
        assert_eq!(out["metadata"], Value::Null, "no finish, no metadata");
        if mode == "chat" {
            assert_eq!(out["chatError"], public);
            assert_eq!(out["chatText"], "partial answer");
        }
        // A failed answer is not cached: each run reached the provider.
        fake.wait_requests(n + 1).await;
    }
    assert_eq!(fake.requests(), 2);

    // After the error the same question succeeds (and is a miss).
    fake.set_script(Script::chat(["whole"]));
    let out = sdk_chat(&app, "alice", json!({"text": "q"})).await;
    assert_answer(&out, "whole");
    assert_eq!(out["metadata"]["cache"], "MISS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_split_across_tcp_chunks_are_reassembled() {
    // Multi-byte characters too, so the 7-byte pieces cut UTF-8 sequences as well as events.
    let tokens = [
        "Scène ",
        "un",
        ": ",
        "🎬 ",
        "l'aube",
        " — ",
        "日本語",
        " end",
    ];
    let fake = FakeOpenAi::start(Script::chat(tokens).with_usage(5, 8).split_every(7)).await;
    let app = openai_app(&fake).await;
    let expected: String = tokens.concat();
    for mode in ["chat", "transport"] {
        let out = sdk_chat(
            &app,
            "alice",
            json!({"text": format!("split {mode}"), "mode": mode}),
        )
        .await;
        assert_answer(&out, &expected);
        assert_eq!(out["metadata"]["cache"], "MISS");
        assert_eq!(
            out["metadata"]["usage"],
            json!({"inputTokens": 5, "outputTokens": 8})
        );
    }
    assert_eq!(fake.requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gemini_answer_reads_the_same_in_the_sdk() {
    let tokens = ["Hola", " mundo", ", ¿qué", " tal?"];
    let fake = FakeGemini::start(Script::chat(tokens).with_usage(3, 4).split_every(7)).await;
    let base = fake.base_url();
    let app = TestApp::spawn_with(move |raw: &mut RawConfig| {
        raw.ai_gemini_base_url = base;
        raw.ai_gemini_models = Some(vec![GEMINI_MODEL.to_owned()]);
        raw.ai_gemini_api_key = Some("gm-sdk-test".to_owned().into());
        raw.ai_read_timeout_secs = 10;
    })
    .await;
    let expected: String = tokens.concat();
    let out = sdk_chat(&app, "alice", json!({"text": "hola"})).await;
    assert_answer(&out, &expected);
    assert_eq!(
        out["metadata"],
        json!({
            "provider": "gemini",
            "model": GEMINI_MODEL,
            "cache": "MISS",
            "usage": {"inputTokens": 3, "outputTokens": 4},
        }),
        "{out}"
    );
    // The model is chosen per request as useChat's transport `body` option sends it.
    let again = sdk_chat(
        &app,
        "alice",
        json!({"text": "hola", "mode": "transport", "body": {"model": GEMINI_MODEL}}),
    )
    .await;
    assert_answer(&again, &expected);
    assert_eq!(again["metadata"]["cache"], "HIT");
    assert_eq!(fake.requests(), 1);
}
