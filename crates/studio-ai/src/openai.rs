//! OpenAI-compatible Chat Completions, streamed (`POST {base_url}/chat/completions` with
//! `stream: true`): OpenAI itself, and the servers that copy its API (Ollama, vLLM, LM Studio).
//!
//! Wire format: `data: {chat.completion.chunk}` events; `choices[0].delta.content` is text,
//! `choices[0].finish_reason` says why it stopped, a last chunk with empty `choices` carries
//! `usage` (asked for with `stream_options.include_usage`), and `data: [DONE]` ends the stream.
//! A stream that ends with neither `[DONE]` nor a finish reason was cut: it ends with an error.

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt as _;
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::redact;
use crate::sse::{self, EventStream};
use crate::{ChatEvent, ChatStream, FinishReason, ProviderError, Usage};

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
pub use client::{MaxTokensField, OpenAiConfig, OpenAiProvider};

/// After `[DONE]`, how long the stream keeps reading to the end of the body, so the
/// connection goes back to the pool instead of being closed (the end normally follows in the
/// same packet). Only a consumer that polls past `Finish` waits for it.
const DRAIN_AFTER_DONE: Duration = Duration::from_millis(250);

/// Longest upstream error message kept (for the log).
const MAX_ERROR_MESSAGE_CHARS: usize = 300;

/// One `data:` payload. Every field optional: compatibles differ, and an error event shares
/// none of a chunk's fields.
#[derive(Deserialize)]
struct Chunk {
    choices: Option<Vec<Choice>>,
    usage: Option<UsageIn>,
    error: Option<ErrorIn>,
    /// vLLM's mid-stream errors are `{"object":"error","message":..,"type":..,"code":..}`.
    object: Option<String>,
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Choice {
    index: Option<u32>,
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
}

#[derive(Deserialize)]
struct UsageIn {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorIn {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<serde_json::Value>,
}

/// Maps OpenAI's `finish_reason`.
pub fn finish_reason(wire: &str) -> FinishReason {
    match wire {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        _ => FinishReason::Other,
    }
}

/// The error an in-stream error object stands for.
fn stream_error(
    message: Option<&str>,
    kind: Option<&str>,
    code: Option<&serde_json::Value>,
    key: Option<&SecretString>,
) -> ProviderError {
    let code_text = match code {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let kind = kind.unwrap_or("");
    if kind.contains("rate_limit") || code_text.contains("rate_limit") || code_text == "429" {
        return ProviderError::RateLimited { retry_after: None };
    }
    let message: String = message
        .unwrap_or("no message")
        .chars()
        .take(MAX_ERROR_MESSAGE_CHARS)
        .collect();
    ProviderError::BadGateway(redact(
        &format!("error event ({kind} {code_text}): {message}"),
        key,
    ))
}

/// What the translation has seen so far.
#[derive(Default)]
struct Translator {
    finish: Option<FinishReason>,
}

impl Translator {
    /// Translates one event into `out`; `Ok(true)` when it was `[DONE]`.
    fn on_event(
        &mut self,
        event: &sse::SseEvent,
        out: &mut VecDeque<ChatEvent>,
        key: Option<&SecretString>,
    ) -> Result<bool, ProviderError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            out.push_back(ChatEvent::Finish {
                reason: self.finish.unwrap_or(FinishReason::Stop),
            });
            return Ok(true);
        }
        let chunk: Chunk = serde_json::from_str(data)
            // serde quotes the value it could not take, which may be anything, the key too.
            .map_err(|err| {
                ProviderError::BadGateway(redact(&format!("unparseable stream event: {err}"), key))
            })?;
        if let Some(error) = &chunk.error {
            return Err(stream_error(
                error.message.as_deref(),
                error.kind.as_deref(),
                error.code.as_ref(),
                key,
            ));
        }
        if event.event == "error" || chunk.object.as_deref() == Some("error") {
            return Err(stream_error(
                chunk.message.as_deref(),
                chunk.kind.as_deref(),
                chunk.code.as_ref(),
                key,
            ));
        }
        let choices = chunk.choices.unwrap_or_default();
        // One answer is asked for (no `n`), so the choice is index 0.
        if let Some(choice) = choices.iter().find(|c| c.index.unwrap_or(0) == 0) {
            if let Some(text) = choice.delta.as_ref().and_then(|d| d.content.as_deref())
                && !text.is_empty()
            {
                out.push_back(ChatEvent::Delta {
                    text: text.to_owned(),
                });
            }
            if let Some(reason) = &choice.finish_reason {
                self.finish = Some(finish_reason(reason));
            }
        }
        if let Some(usage) = chunk.usage {
            out.push_back(ChatEvent::Usage {
                usage: Usage {
                    input_tokens: usage.prompt_tokens.unwrap_or(0),
                    output_tokens: usage.completion_tokens.unwrap_or(0),
                },
            });
        }
        Ok(false)
    }
}

enum Phase {
    Streaming,
    /// `[DONE]` was seen and `Finish` queued: read to the end of the body, then end.
    Draining,
    Done,
}

/// Translates an OpenAI event stream into [`ChatEvent`]s. `key` is scrubbed from error text.
pub fn chat_stream(events: EventStream, key: Option<SecretString>) -> ChatStream {
    struct State {
        events: EventStream,
        translator: Translator,
        ready: VecDeque<ChatEvent>,
        phase: Phase,
        key: Option<SecretString>,
    }
    let state = State {
        events,
        translator: Translator::default(),
        ready: VecDeque::new(),
        phase: Phase::Streaming,
        key,
    };
    Box::pin(futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(event) = state.ready.pop_front() {
                return Some((Ok(event), state));
            }
            match state.phase {
                Phase::Done => return None,
                Phase::Draining => {
                    let drain = async { while state.events.next().await.is_some() {} };
                    let _ = tokio::time::timeout(DRAIN_AFTER_DONE, drain).await;
                    return None;
                }
                Phase::Streaming => {}
            }
            match state.events.next().await {
                Some(Ok(event)) => {
                    match state
                        .translator
                        .on_event(&event, &mut state.ready, state.key.as_ref())
                    {
                        Ok(true) => state.phase = Phase::Draining,
                        Ok(false) => {}
                        Err(err) => {
                            state.phase = Phase::Done;
                            return Some((Err(err), state));
                        }
                    }
                }
                Some(Err(err)) => {
                    state.phase = Phase::Done;
                    return Some((Err(err), state));
                }
                None => {
                    state.phase = Phase::Done;
                    // Some compatibles omit `[DONE]`; a finish reason says the answer is whole.
                    match state.translator.finish {
                        Some(reason) => state.ready.push_back(ChatEvent::Finish { reason }),
                        None => {
                            let err = ProviderError::BadGateway("stream ended early".to_owned());
                            return Some((Err(err), state));
                        }
                    }
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests;
