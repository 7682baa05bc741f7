//! The bytes each real provider sends, as a plan the connection task writes out.

use serde_json::{Value, json};

use super::{Ending, Flavor, HttpFailure, RecordedRequest, Script};

/// What to write for one request that gets a stream.
pub(super) struct Plan {
    pub content_type: &'static str,
    pub extra_headers: Vec<(&'static str, String)>,
    /// Events (or audio chunks), each written as one HTTP chunk (or several, when split).
    pub events: Vec<Vec<u8>>,
    /// Wait for the release before writing `events[i]`.
    pub pause_before: Option<usize>,
    /// Close the connection after the events instead of ending the chunked body.
    pub abrupt_end: bool,
}

pub(super) fn plan(flavor: Flavor, script: &Script, request: &RecordedRequest) -> Plan {
    match flavor {
        Flavor::OpenAi => openai(script, request),
        Flavor::Gemini => gemini(script),
        Flavor::ElevenLabs => elevenlabs(script),
    }
}

/// The body of an HTTP error, in the provider's style unless the script set one.
pub(super) fn failure_body(flavor: Flavor, failure: &HttpFailure) -> String {
    if !failure.body.is_empty() {
        return failure.body.clone();
    }
    let status = failure.status;
    match flavor {
        Flavor::OpenAi => json!({"error": {
            "message": format!("fake failure {status}"),
            "type": "fake_error", "param": null, "code": null,
        }}),
        Flavor::Gemini => json!({"error": {
            "code": status, "message": format!("fake failure {status}"), "status": "FAKE",
        }}),
        Flavor::ElevenLabs => json!({"detail": {
            "status": "fake_error", "message": format!("fake failure {status}"),
        }}),
    }
    .to_string()
}

fn sse(payload: &Value) -> Vec<u8> {
    format!("data: {payload}\n\n").into_bytes()
}

/// OpenAI's shape: a role chunk with empty content, a chunk per token, a chunk with the finish
/// reason and an empty delta, a usage chunk with empty `choices`, then `[DONE]`.
fn openai(script: &Script, request: &RecordedRequest) -> Plan {
    let model = request.body["model"]
        .as_str()
        .unwrap_or("fake-model")
        .to_owned();
    let chunk = |choices: Value, usage: Value| {
        sse(&json!({
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": model, "system_fingerprint": "fp_fake", "choices": choices, "usage": usage,
        }))
    };
    let mut events = vec![chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": null},
                "logprobs": null, "finish_reason": null}]),
        Value::Null,
    )];
    for token in &script.tokens {
        events.push(chunk(
            json!([{"index": 0, "delta": {"content": token}, "logprobs": null,
                    "finish_reason": null}]),
            Value::Null,
        ));
    }
    let mut abrupt_end = false;
    match script.ending {
        Ending::Complete => {
            let reason = script.finish_reason.as_deref().unwrap_or("stop");
            events.push(chunk(
                json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": reason}]),
                Value::Null,
            ));
            if let Some((input, output)) = script.usage {
                events.push(chunk(
                    json!([]),
                    json!({"prompt_tokens": input, "completion_tokens": output,
                           "total_tokens": input + output,
                           "prompt_tokens_details": {"cached_tokens": 0},
                           "completion_tokens_details": {"reasoning_tokens": 0}}),
                ));
            }
            events.push(b"data: [DONE]\n\n".to_vec());
        }
        Ending::ErrorEvent => events.push(sse(&json!({"error": {
            "message": "The server had an error while processing your request.",
            "type": "server_error", "param": null, "code": null,
        }}))),
        Ending::EndEarly => {}
        Ending::DropConnection => abrupt_end = true,
    }
    Plan {
        content_type: "text/event-stream; charset=utf-8",
        extra_headers: vec![("x-request-id", "req_fake".to_owned())],
        events,
        // After the role chunk and `pause_after` tokens.
        pause_before: script.pause_after.map(|n| n + 1),
        abrupt_end,
    }
}

/// Gemini's shape: one `GenerateContentResponse` per token, `\r\n\r\n`-terminated, with a
/// cumulative `usageMetadata`; the last carries `finishReason` and the final usage.
fn gemini(script: &Script) -> Plan {
    let complete = script.ending == Ending::Complete;
    let tokens: Vec<&str> = if script.tokens.is_empty() && complete {
        vec![""]
    } else {
        script.tokens.iter().map(String::as_str).collect()
    };
    let mut events = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let last = i + 1 == tokens.len();
        let mut candidate = json!({
            "content": {"parts": [{"text": token}], "role": "model"}, "index": 0,
        });
        if last && complete {
            let reason = script.finish_reason.as_deref().unwrap_or("STOP");
            candidate["finishReason"] = json!(reason);
        }
        let mut response = json!({
            "candidates": [candidate], "modelVersion": "gemini-fake", "responseId": "fake",
        });
        if let Some((input, output)) = script.usage {
            // Cumulative, like the real API; exact on the last event.
            let so_far = if last {
                output
            } else {
                (i as u64 + 1).min(output)
            };
            response["usageMetadata"] = json!({
                "promptTokenCount": input, "candidatesTokenCount": so_far,
                "totalTokenCount": input + so_far,
            });
        }
        events.push(format!("data: {response}\r\n\r\n").into_bytes());
    }
    let mut abrupt_end = false;
    match script.ending {
        Ending::Complete | Ending::EndEarly => {}
        Ending::ErrorEvent => events.push(
            format!(
                "data: {}\r\n\r\n",
                json!({"error": {"code": 500, "message": "An internal error has occurred.",
                                 "status": "INTERNAL"}})
            )
            .into_bytes(),
        ),
        Ending::DropConnection => abrupt_end = true,
    }
    Plan {
        content_type: "text/event-stream",
        extra_headers: vec![("server", "scaffolding on HTTPServer2".to_owned())],
        events,
        pause_before: script.pause_after,
        abrupt_end,
    }
}

/// ElevenLabs' shape: raw audio chunks; `character-cost` and `request-id` headers.
fn elevenlabs(script: &Script) -> Plan {
    let mut extra_headers = vec![("request-id", "fake-request".to_owned())];
    if let Some(cost) = script.character_cost {
        extra_headers.push(("character-cost", cost.to_string()));
    }
    Plan {
        content_type: "audio/mpeg",
        extra_headers,
        events: script.audio.clone(),
        pause_before: script.pause_after,
        abrupt_end: matches!(script.ending, Ending::ErrorEvent | Ending::DropConnection),
    }
}
