//! Translation of OpenAI chunks, without a network (the HTTP paths are tested against the fake
//! server in `crates/studio/tests/it/ai_providers`).

use super::*;
use crate::sse::SseEvent;

fn events(datas: &[&str]) -> EventStream {
    let items: Vec<Result<SseEvent, ProviderError>> = datas
        .iter()
        .map(|data| {
            Ok(SseEvent {
                event: "message".to_owned(),
                data: (*data).to_owned(),
                id: None,
            })
        })
        .collect();
    Box::pin(futures::stream::iter(items))
}

async fn collect(datas: &[&str]) -> Vec<Result<ChatEvent, ProviderError>> {
    chat_stream(events(datas), Some(SecretString::from("sk-test")))
        .collect()
        .await
}

fn delta(text: &str) -> Result<ChatEvent, ProviderError> {
    Ok(ChatEvent::Delta {
        text: text.to_owned(),
    })
}

#[tokio::test]
async fn a_complete_stream() {
    let got = collect(&[
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#,
        "[DONE]",
    ])
    .await;
    assert_eq!(
        got,
        vec![
            delta("Hel"),
            delta("lo"),
            Ok(ChatEvent::Usage {
                usage: Usage {
                    input_tokens: 9,
                    output_tokens: 2
                }
            }),
            Ok(ChatEvent::Finish {
                reason: FinishReason::Length
            }),
        ]
    );
}

#[tokio::test]
async fn done_without_finish_reason_means_stop() {
    let got = collect(&[r#"{"choices":[{"delta":{"content":"a"}}]}"#, "[DONE]"]).await;
    assert_eq!(
        got.last(),
        Some(&Ok(ChatEvent::Finish {
            reason: FinishReason::Stop
        }))
    );
}

#[tokio::test]
async fn a_finish_reason_without_done_still_finishes() {
    let got = collect(&[r#"{"choices":[{"delta":{},"finish_reason":"content_filter"}]}"#]).await;
    assert_eq!(
        got,
        vec![Ok(ChatEvent::Finish {
            reason: FinishReason::ContentFilter
        })]
    );
}

#[tokio::test]
async fn an_early_end_is_an_error() {
    let got = collect(&[r#"{"choices":[{"delta":{"content":"a"}}]}"#]).await;
    assert_eq!(
        got,
        vec![
            delta("a"),
            Err(ProviderError::BadGateway("stream ended early".to_owned()))
        ]
    );
}

#[tokio::test]
async fn error_events_end_the_stream() {
    let got = collect(&[
        r#"{"choices":[{"delta":{"content":"a"}}]}"#,
        r#"{"error":{"message":"boom sk-test","type":"server_error","code":null}}"#,
        r#"{"choices":[{"delta":{"content":"never"}}]}"#,
    ])
    .await;
    assert_eq!(got.len(), 2);
    let Err(ProviderError::BadGateway(message)) = &got[1] else {
        panic!("expected BadGateway, got {:?}", got[1]);
    };
    assert!(
        message.contains("boom") && !message.contains("sk-test"),
        "{message}"
    );

    let got = collect(&[
        r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
    ])
    .await;
    assert_eq!(
        got,
        vec![Err(ProviderError::RateLimited { retry_after: None })]
    );

    let got =
        collect(&[r#"{"object":"error","message":"bad","type":"BadRequestError","code":400}"#])
            .await;
    assert!(
        matches!(got[..], [Err(ProviderError::BadGateway(_))]),
        "{got:?}"
    );
}

#[tokio::test]
async fn garbage_is_an_error_not_a_panic() {
    let got = collect(&["{not json"]).await;
    assert!(
        matches!(got[..], [Err(ProviderError::BadGateway(_))]),
        "{got:?}"
    );
}

#[test]
fn finish_reasons_map() {
    assert_eq!(finish_reason("stop"), FinishReason::Stop);
    assert_eq!(finish_reason("length"), FinishReason::Length);
    assert_eq!(finish_reason("content_filter"), FinishReason::ContentFilter);
    assert_eq!(finish_reason("tool_calls"), FinishReason::ToolCalls);
    assert_eq!(finish_reason("eos"), FinishReason::Other);
}

/// Found by the `ai_stream` fuzz target: a value of the wrong type is quoted in serde's error.
#[tokio::test]
async fn the_key_is_scrubbed_from_parse_errors() {
    let got = collect(&[r#"{"choices":[{"index":"sk-test"}]}"#]).await;
    let [Err(ProviderError::BadGateway(text))] = got.as_slice() else {
        panic!("{got:?}");
    };
    assert!(
        !text.contains("sk-test") && text.contains("[redacted]"),
        "{text}"
    );
}
