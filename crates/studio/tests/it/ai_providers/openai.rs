//! The OpenAI-compatible client against [`FakeOpenAi`]. The shared HTTP behaviour (redirects,
//! refused connections) is tested here once.

use std::time::Duration;

use secrecy::SecretString;
use studio_ai::openai::{OpenAiConfig, OpenAiProvider};
use studio_ai::{ChatEvent, ChatProvider as _, FinishReason, ProviderError, Timeouts, Usage};
use studio_testkit::fake_ai::{Ending, FakeOpenAi, Script};

use super::*;

fn provider_at(base_url: &str, timeouts: Timeouts) -> OpenAiProvider {
    let config = OpenAiConfig::new("openai", base_url, Some(SecretString::from(KEY)), timeouts);
    OpenAiProvider::new(config).expect("provider")
}

fn provider(fake: &FakeOpenAi) -> OpenAiProvider {
    provider_at(&fake.base_url(), timeouts())
}

async fn run(fake: &FakeOpenAi) -> Vec<Result<ChatEvent, ProviderError>> {
    let stream = provider(fake)
        .stream_chat(&chat_request("gpt-fake"))
        .await
        .expect("accepted");
    collect(stream).await
}

#[tokio::test]
async fn streams_deltas_as_they_are_generated() {
    let script = Script::chat(["Hel", "lo", " world"])
        .with_usage(7, 3)
        .pause_after(1);
    let fake = FakeOpenAi::start(script).await;
    let mut stream = provider(&fake)
        .stream_chat(&chat_request("gpt-fake"))
        .await
        .expect("accepted");
    // The fake holds the rest until released: this delta cannot be a buffered whole answer.
    assert_eq!(
        next(&mut stream).await,
        Ok(ChatEvent::Delta {
            text: "Hel".to_owned()
        })
    );
    assert_eq!(fake.completed(), 0);
    fake.release();
    let rest = collect(stream).await;
    assert_eq!(
        rest,
        vec![
            Ok(ChatEvent::Delta {
                text: "lo".to_owned()
            }),
            Ok(ChatEvent::Delta {
                text: " world".to_owned()
            }),
            Ok(ChatEvent::Usage {
                usage: Usage {
                    input_tokens: 7,
                    output_tokens: 3
                }
            }),
            Ok(ChatEvent::Finish {
                reason: FinishReason::Stop
            }),
        ]
    );
    fake.wait_completed(1).await;
    assert_eq!(
        fake.cancelled(),
        0,
        "a finished stream is not a cancellation"
    );

    let request = fake.last_request().expect("recorded");
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(request.header("user-agent"), Some("studio-engine"));
    assert_eq!(
        request.body,
        serde_json::json!({
            "model": "gpt-fake",
            "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "Name this clip."},
            ],
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": 64,
            "temperature": 0.5,
        })
    );
}

#[tokio::test]
async fn events_cut_anywhere_give_the_same_stream() {
    let tokens = ["h\u{e9}llo", " \u{1f3ac}", " w\u{f6}rld", "!"];
    let fake = FakeOpenAi::start(Script::chat(tokens).with_usage(5, 4)).await;
    let whole = run(&fake).await;
    for split in [2, 7] {
        fake.set_script(Script::chat(tokens).with_usage(5, 4).split_every(split));
        assert_eq!(run(&fake).await, whole, "split every {split} bytes");
    }
    assert_eq!(text_of(&whole), tokens.concat());
}

#[tokio::test]
async fn the_finish_reason_and_usage_are_reported() {
    let fake = FakeOpenAi::start(
        Script::chat(["a"])
            .with_finish_reason("length")
            .with_usage(11, 1),
    )
    .await;
    let events = run(&fake).await;
    assert_eq!(
        &events[1..],
        &[
            Ok(ChatEvent::Usage {
                usage: Usage {
                    input_tokens: 11,
                    output_tokens: 1
                }
            }),
            Ok(ChatEvent::Finish {
                reason: FinishReason::Length
            }),
        ]
    );
    fake.set_script(Script::chat(["a"]).with_finish_reason("content_filter"));
    let events = run(&fake).await;
    assert_eq!(
        events.last(),
        Some(&Ok(ChatEvent::Finish {
            reason: FinishReason::ContentFilter
        }))
    );
}

#[tokio::test]
async fn a_mid_stream_error_event_ends_the_stream_with_an_error() {
    let fake = FakeOpenAi::start(Script::chat(["a", "b"]).ending(Ending::ErrorEvent)).await;
    let events = run(&fake).await;
    assert_eq!(text_of(&events), "ab");
    assert!(matches!(final_error(&events), ProviderError::BadGateway(_)));
}

#[tokio::test]
async fn a_stream_cut_short_is_an_error() {
    let fake = FakeOpenAi::start(Script::chat(["a"]).ending(Ending::EndEarly)).await;
    let events = run(&fake).await;
    assert_eq!(
        final_error(&events),
        ProviderError::BadGateway("stream ended early".to_owned())
    );
    fake.set_script(Script::chat(["a"]).ending(Ending::DropConnection));
    let events = run(&fake).await;
    assert_eq!(text_of(&events), "a");
    assert!(matches!(final_error(&events), ProviderError::BadGateway(_)));
}

#[tokio::test]
async fn error_statuses_map_to_their_kind() {
    let fake = FakeOpenAi::start(Script::failure(401).with_body(format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {KEY}","type":"invalid_request_error"}}}}"#
    )))
    .await;
    let provider = provider(&fake);
    let request = chat_request("gpt-fake");
    let err = expect_err(provider.stream_chat(&request).await);
    let ProviderError::Rejected(message) = &err else {
        panic!("401 is Rejected, got {err:?}");
    };
    assert!(
        message.contains("401") && message.contains("[redacted]"),
        "{message}"
    );

    fake.set_script(Script::failure(429).with_retry_after("7"));
    assert_eq!(
        expect_err(provider.stream_chat(&request).await),
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    fake.set_script(Script::failure(500));
    assert!(matches!(
        expect_err(provider.stream_chat(&request).await),
        ProviderError::BadGateway(_)
    ));
    fake.set_script(Script::failure(503));
    assert!(matches!(
        expect_err(provider.stream_chat(&request).await),
        ProviderError::Unavailable(_)
    ));
}

#[tokio::test]
async fn a_provider_that_never_answers_times_out_and_is_hung_up_on() {
    let fake = FakeOpenAi::start(Script::never_answer()).await;
    let provider = provider_at(&fake.base_url(), short_timeouts());
    let result = provider.stream_chat(&chat_request("gpt-fake")).await;
    assert_eq!(expect_err(result), ProviderError::Timeout);
    fake.wait_cancelled(1).await;
}

#[tokio::test]
async fn a_stream_that_stalls_times_out() {
    let fake = FakeOpenAi::start(Script::chat(["a", "b"]).pause_after(1)).await;
    let provider = provider_at(&fake.base_url(), short_timeouts());
    let stream = provider
        .stream_chat(&chat_request("gpt-fake"))
        .await
        .expect("accepted");
    let events = collect(stream).await;
    assert_eq!(text_of(&events), "a");
    assert_eq!(final_error(&events), ProviderError::Timeout);
    fake.wait_cancelled(1).await;
}

#[tokio::test]
async fn dropping_the_stream_closes_the_upstream_connection() {
    let fake = FakeOpenAi::start(Script::chat(["a", "b"]).pause_after(1)).await;
    let mut stream = provider(&fake)
        .stream_chat(&chat_request("gpt-fake"))
        .await
        .expect("accepted");
    assert!(matches!(
        next(&mut stream).await,
        Ok(ChatEvent::Delta { .. })
    ));
    drop(stream);
    fake.wait_cancelled(1).await;
    assert_eq!(fake.completed(), 0);
}

#[tokio::test]
async fn without_a_key_no_authorization_is_sent() {
    let fake = FakeOpenAi::start(Script::chat(["a"])).await;
    let config = OpenAiConfig::new("ollama", fake.base_url(), None, timeouts());
    let provider = OpenAiProvider::new(config).expect("provider");
    let stream = provider
        .stream_chat(&chat_request("llama3"))
        .await
        .expect("accepted");
    assert_eq!(text_of(&collect(stream).await), "a");
    let request = fake.last_request().expect("recorded");
    assert_eq!(request.header("authorization"), None);
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed() {
    let elsewhere = FakeOpenAi::start(Script::chat(["stolen"])).await;
    let target = format!("{}/chat/completions", elsewhere.base_url());
    let fake = FakeOpenAi::start(Script::redirect(target)).await;
    let err = expect_err(provider(&fake).stream_chat(&chat_request("gpt-fake")).await);
    assert!(matches!(err, ProviderError::BadGateway(_)), "{err:?}");
    assert_eq!(
        elsewhere.requests(),
        0,
        "the key must not reach another origin"
    );
    // `localhost` is another host than `127.0.0.1`, even on the same port.
    let port = fake.addr().port();
    fake.set_script(Script::redirect(format!(
        "http://localhost:{port}/v1/chat/completions"
    )));
    expect_err(provider(&fake).stream_chat(&chat_request("gpt-fake")).await);
    assert_eq!(fake.requests(), 2);
}

#[tokio::test]
async fn same_origin_redirects_are_followed_at_most_three_times() {
    let fake = FakeOpenAi::start(Script::chat(["a"])).await;
    fake.set_script(Script::redirect(format!(
        "{}/chat/completions",
        fake.base_url()
    )));
    let err = expect_err(provider(&fake).stream_chat(&chat_request("gpt-fake")).await);
    assert!(matches!(err, ProviderError::BadGateway(_)), "{err:?}");
    assert_eq!(fake.requests(), 4, "the request and three redirects");
    let request = fake.last_request().expect("recorded");
    assert_eq!(
        request.header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let provider = provider_at(&closed_port_url().await, timeouts());
    let err = expect_err(provider.stream_chat(&chat_request("gpt-fake")).await);
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
    assert!(
        !err.to_string().contains("127.0.0.1"),
        "no URL in errors: {err}"
    );
}

#[tokio::test]
async fn a_bad_base_url_is_a_configuration_error() {
    for bad in ["", "ftp://x", "https://user:pw@x/v1", "https://x/v1?key=1"] {
        let config = OpenAiConfig::new("openai", bad, None, timeouts());
        assert!(OpenAiProvider::new(config).is_err(), "{bad:?}");
    }
}

/// Guards the split tests: the fake's pieces really reach the client as separate reads.
#[tokio::test]
async fn the_fake_really_delivers_split_events_in_pieces() {
    let fake = FakeOpenAi::start(Script::chat(["a", "b"]).split_every(7)).await;
    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", fake.base_url()))
        .json(&serde_json::json!({"model": "m"}))
        .send()
        .await
        .expect("response");
    let mut body = response.bytes_stream();
    let (mut reads, mut bytes) = (0, Vec::new());
    while let Some(chunk) = next_opt(&mut body).await {
        let chunk = chunk.expect("chunk");
        assert!(chunk.len() <= 7, "a read of {} bytes", chunk.len());
        reads += 1;
        bytes.extend_from_slice(&chunk);
    }
    assert!(reads > 50, "only {reads} reads");
    assert!(bytes.ends_with(b"data: [DONE]\n\n"));
}

async fn next_opt<S: futures::Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    use futures::StreamExt as _;
    tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("in time")
}
