//! The Gemini client against [`FakeGemini`].

use std::time::Duration;

use secrecy::SecretString;
use studio_ai::gemini::{GeminiConfig, GeminiProvider};
use studio_ai::{ChatEvent, ChatProvider as _, FinishReason, ProviderError, Timeouts, Usage};
use studio_testkit::fake_ai::{Ending, FakeGemini, Script};

use super::*;

const MODEL: &str = "gemini-2.5-flash";

fn provider_at(base_url: &str, timeouts: Timeouts) -> GeminiProvider {
    let config = GeminiConfig::new("gemini", base_url, SecretString::from(KEY), timeouts);
    GeminiProvider::new(config).expect("provider")
}

fn provider(fake: &FakeGemini) -> GeminiProvider {
    provider_at(&fake.base_url(), timeouts())
}

async fn run(fake: &FakeGemini) -> Vec<Result<ChatEvent, ProviderError>> {
    let stream = provider(fake)
        .stream_chat(&chat_request(MODEL))
        .await
        .expect("accepted");
    collect(stream).await
}

#[tokio::test]
async fn streams_deltas_as_they_are_generated() {
    let script = Script::chat(["Hel", "lo"]).with_usage(6, 2).pause_after(1);
    let fake = FakeGemini::start(script).await;
    let mut stream = provider(&fake)
        .stream_chat(&chat_request(MODEL))
        .await
        .expect("accepted");
    assert_eq!(
        next(&mut stream).await,
        Ok(ChatEvent::Delta {
            text: "Hel".to_owned()
        })
    );
    assert_eq!(fake.completed(), 0);
    fake.release();
    assert_eq!(
        collect(stream).await,
        vec![
            Ok(ChatEvent::Delta {
                text: "lo".to_owned()
            }),
            Ok(ChatEvent::Usage {
                usage: Usage {
                    input_tokens: 6,
                    output_tokens: 2
                }
            }),
            Ok(ChatEvent::Finish {
                reason: FinishReason::Stop
            }),
        ]
    );

    let request = fake.last_request().expect("recorded");
    assert_eq!(
        request.path,
        format!("/v1beta/models/{MODEL}:streamGenerateContent?alt=sse")
    );
    assert_eq!(request.header("x-goog-api-key"), Some(KEY));
    assert!(!request.path.contains(KEY), "the key stays out of the URL");
    assert_eq!(
        request.body,
        serde_json::json!({
            "contents": [{"role": "user", "parts": [{"text": "Name this clip."}]}],
            "systemInstruction": {"parts": [{"text": "Answer briefly."}]},
            "generationConfig": {"maxOutputTokens": 64, "temperature": 0.5},
        })
    );
}

#[tokio::test]
async fn events_cut_anywhere_give_the_same_stream() {
    let tokens = ["h\u{e9}llo", " \u{1f3ac}", " w\u{f6}rld"];
    let fake = FakeGemini::start(Script::chat(tokens).with_usage(5, 3)).await;
    let whole = run(&fake).await;
    for split in [3, 7] {
        fake.set_script(Script::chat(tokens).with_usage(5, 3).split_every(split));
        assert_eq!(run(&fake).await, whole, "split every {split} bytes");
    }
    assert_eq!(text_of(&whole), tokens.concat());
}

#[tokio::test]
async fn the_last_usage_and_the_finish_reason_are_reported() {
    let fake = FakeGemini::start(
        Script::chat(["a", "b", "c", "d"])
            .with_usage(9, 40)
            .with_finish_reason("MAX_TOKENS"),
    )
    .await;
    let events = run(&fake).await;
    let n = events.len();
    assert_eq!(
        &events[n - 2..],
        &[
            Ok(ChatEvent::Usage {
                usage: Usage {
                    input_tokens: 9,
                    output_tokens: 40
                }
            }),
            Ok(ChatEvent::Finish {
                reason: FinishReason::Length
            }),
        ]
    );
    fake.set_script(Script::chat(["a"]).with_finish_reason("SAFETY"));
    assert_eq!(
        run(&fake).await.last(),
        Some(&Ok(ChatEvent::Finish {
            reason: FinishReason::ContentFilter
        }))
    );
}

#[tokio::test]
async fn a_mid_stream_error_object_ends_the_stream_with_an_error() {
    let fake = FakeGemini::start(Script::chat(["a"]).ending(Ending::ErrorEvent)).await;
    let events = run(&fake).await;
    assert_eq!(text_of(&events), "a");
    assert!(matches!(final_error(&events), ProviderError::BadGateway(_)));
}

#[tokio::test]
async fn a_stream_cut_short_is_an_error() {
    let fake = FakeGemini::start(Script::chat(["a", "b"]).ending(Ending::EndEarly)).await;
    let events = run(&fake).await;
    assert_eq!(text_of(&events), "ab");
    assert_eq!(
        final_error(&events),
        ProviderError::BadGateway("stream ended early".to_owned())
    );
    fake.set_script(Script::chat(["a", "b"]).ending(Ending::DropConnection));
    let events = run(&fake).await;
    assert!(matches!(final_error(&events), ProviderError::BadGateway(_)));
}

#[tokio::test]
async fn error_statuses_map_to_their_kind() {
    // Gemini answers a bad key with 400 INVALID_ARGUMENT.
    let fake = FakeGemini::start(Script::failure(400)).await;
    let provider = provider(&fake);
    let request = chat_request(MODEL);
    let err = expect_err(provider.stream_chat(&request).await);
    assert!(matches!(err, ProviderError::Rejected(_)), "{err:?}");
    fake.set_script(Script::failure(429).with_retry_after("3"));
    assert_eq!(
        expect_err(provider.stream_chat(&request).await),
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3))
        }
    );
    fake.set_script(Script::failure(503));
    assert!(matches!(
        expect_err(provider.stream_chat(&request).await),
        ProviderError::Unavailable(_)
    ));
}

#[tokio::test]
async fn timeouts_before_and_during_the_stream() {
    let fake = FakeGemini::start(Script::never_answer()).await;
    let provider = provider_at(&fake.base_url(), short_timeouts());
    let result = provider.stream_chat(&chat_request(MODEL)).await;
    assert_eq!(expect_err(result), ProviderError::Timeout);
    fake.wait_cancelled(1).await;

    fake.set_script(Script::chat(["a", "b"]).pause_after(1));
    let stream = provider
        .stream_chat(&chat_request(MODEL))
        .await
        .expect("accepted");
    let events = collect(stream).await;
    assert_eq!(text_of(&events), "a");
    assert_eq!(final_error(&events), ProviderError::Timeout);
    fake.wait_cancelled(2).await;
}

#[tokio::test]
async fn dropping_the_stream_closes_the_upstream_connection() {
    let fake = FakeGemini::start(Script::chat(["a", "b"]).pause_after(1)).await;
    let mut stream = provider(&fake)
        .stream_chat(&chat_request(MODEL))
        .await
        .expect("accepted");
    assert!(matches!(
        next(&mut stream).await,
        Ok(ChatEvent::Delta { .. })
    ));
    drop(stream);
    fake.wait_cancelled(1).await;
}

#[tokio::test]
async fn an_unsafe_model_id_is_rejected_before_any_request() {
    let fake = FakeGemini::start(Script::chat(["a"])).await;
    let err = expect_err(
        provider(&fake)
            .stream_chat(&chat_request("../../v1/files"))
            .await,
    );
    assert!(matches!(err, ProviderError::Rejected(_)), "{err:?}");
    assert_eq!(fake.requests(), 0);
}
