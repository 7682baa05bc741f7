//! Translation of Gemini responses, without a network (the HTTP paths
//! are tested against the fake server in `crates/studio/tests/it/ai_providers`).

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
    chat_stream(events(datas), Some(SecretString::from("AIza-test")))
        .collect()
        .await
}

fn delta(text: &str) -> Result<ChatEvent, ProviderError> {
    Ok(ChatEvent::Delta {
        text: text.to_owned(),
    })
}

#[tokio::test]
async fn a_complete_stream_keeps_the_last_usage() {
    let got = collect(&[
        r#"{"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":1,"totalTokenCount":6},"modelVersion":"gemini-2.5-flash"}"#,
        r#"{"candidates":[{"content":{"parts":[{"text":"lo"},{"text":"!"}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,"thoughtsTokenCount":4,"totalTokenCount":12}}"#,
    ])
    .await;
    assert_eq!(
        got,
        vec![
            delta("Hel"),
            delta("lo!"),
            Ok(ChatEvent::Usage {
                usage: Usage {
                    input_tokens: 5,
                    output_tokens: 7
                }
            }),
            Ok(ChatEvent::Finish {
                reason: FinishReason::Length
            }),
        ]
    );
}

#[tokio::test]
async fn a_finish_in_an_event_without_parts_counts() {
    let got = collect(&[
        r#"{"candidates":[{"content":{"parts":[{"text":"a"}],"role":"model"}}]}"#,
        r#"{"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1}}"#,
    ])
    .await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(
        got[2],
        Ok(ChatEvent::Finish {
            reason: FinishReason::Stop
        })
    );
}

#[tokio::test]
async fn a_blocked_prompt_is_a_content_filter_finish() {
    let got = collect(&[
        r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4}}"#,
    ])
    .await;
    assert_eq!(
        got.last(),
        Some(&Ok(ChatEvent::Finish {
            reason: FinishReason::ContentFilter
        }))
    );
}

#[tokio::test]
async fn an_early_end_is_an_error() {
    let got = collect(&[r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}"#]).await;
    assert_eq!(
        got,
        vec![
            delta("a"),
            Err(ProviderError::BadGateway("stream ended early".to_owned()))
        ]
    );
}

#[tokio::test]
async fn error_objects_end_the_stream() {
    let got = collect(&[
        r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}"#,
        r#"{"error":{"code":500,"message":"internal AIza-test","status":"INTERNAL"}}"#,
    ])
    .await;
    let Err(ProviderError::BadGateway(message)) = &got[1] else {
        panic!("expected BadGateway, got {got:?}");
    };
    assert!(message.contains("INTERNAL") && !message.contains("AIza-test"));
    let got =
        collect(&[r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}"#])
            .await;
    assert_eq!(
        got,
        vec![Err(ProviderError::RateLimited { retry_after: None })]
    );
    let got = collect(&["<html>"]).await;
    assert!(
        matches!(got[..], [Err(ProviderError::BadGateway(_))]),
        "{got:?}"
    );
}

#[test]
fn finish_reasons_map() {
    assert_eq!(finish_reason("STOP"), FinishReason::Stop);
    assert_eq!(finish_reason("MAX_TOKENS"), FinishReason::Length);
    for filtered in [
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
    ] {
        assert_eq!(finish_reason(filtered), FinishReason::ContentFilter);
    }
    assert_eq!(finish_reason("OTHER"), FinishReason::Other);
}

/// Found by the `ai_stream` fuzz target: a value of the wrong type is quoted in serde's error.
#[tokio::test]
async fn the_key_is_scrubbed_from_parse_errors() {
    let got = collect(&[r#"{"error":{"code":"AIza-test"}}"#]).await;
    let [Err(ProviderError::BadGateway(text))] = got.as_slice() else {
        panic!("{got:?}");
    };
    assert!(
        !text.contains("AIza-test") && text.contains("[redacted]"),
        "{text}"
    );
}
