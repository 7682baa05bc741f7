//! Gemini (Google AI Studio API), streamed: `POST {base_url}/v1beta/models/{model}:
//! streamGenerateContent?alt=sse` with the key in `x-goog-api-key` (never in the URL, where
//! it would reach logs).
//!
//! Wire format: each `data:` event is a whole `GenerateContentResponse`; the text is in
//! `candidates[0].content.parts[].text`, the last one carries `finishReason`, `usageMetadata`
//! repeats and is cumulative (the last one wins), and the stream ends with the body (there is
//! no `[DONE]`). A prompt refused by a safety filter is a 200 with `promptFeedback.blockReason`
//! and no candidates. A body that ends before any finish reason was cut: an error.

use std::collections::VecDeque;

use futures::StreamExt as _;
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::redact;
use crate::sse::EventStream;
use crate::{ChatEvent, ChatStream, FinishReason, ProviderError, Usage};

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
pub use client::{DEFAULT_BASE_URL, GeminiConfig, GeminiProvider};

/// Longest upstream error message kept (for the log).
const MAX_ERROR_MESSAGE_CHARS: usize = 300;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseIn {
    candidates: Option<Vec<CandidateIn>>,
    usage_metadata: Option<UsageIn>,
    prompt_feedback: Option<PromptFeedbackIn>,
    error: Option<ErrorIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandidateIn {
    content: Option<ContentIn>,
    finish_reason: Option<String>,
    index: Option<u32>,
}

#[derive(Deserialize)]
struct ContentIn {
    parts: Option<Vec<PartIn>>,
}

#[derive(Deserialize)]
struct PartIn {
    text: Option<String>,
    /// A thought summary (only when thoughts are asked for): not part of the answer.
    thought: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageIn {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    thoughts_token_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedbackIn {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
struct ErrorIn {
    code: Option<u16>,
    message: Option<String>,
    status: Option<String>,
}

/// Maps Gemini's `finishReason`.
pub fn finish_reason(wire: &str) -> FinishReason {
    match wire {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" => FinishReason::ToolCalls,
        _ => FinishReason::Other,
    }
}

/// What the translation has seen so far.
#[derive(Default)]
struct Translator {
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

impl Translator {
    fn on_event(
        &mut self,
        data: &str,
        out: &mut VecDeque<ChatEvent>,
        key: Option<&SecretString>,
    ) -> Result<(), ProviderError> {
        let response: ResponseIn = serde_json::from_str(data)
            // serde quotes the value it could not take, which may be anything, the key too.
            .map_err(|err| {
                ProviderError::BadGateway(redact(&format!("unparseable stream event: {err}"), key))
            })?;
        if let Some(error) = response.error {
            let status = error.status.unwrap_or_default();
            if error.code == Some(429) || status == "RESOURCE_EXHAUSTED" {
                return Err(ProviderError::RateLimited { retry_after: None });
            }
            let message: String = error
                .message
                .unwrap_or_default()
                .chars()
                .take(MAX_ERROR_MESSAGE_CHARS)
                .collect();
            let code = error.code.unwrap_or(0);
            return Err(ProviderError::BadGateway(redact(
                &format!("error event ({code} {status}): {message}"),
                key,
            )));
        }
        if let Some(usage) = response.usage_metadata {
            // Thinking tokens are billed as output, so they count toward the user's budget.
            let output = usage
                .candidates_token_count
                .unwrap_or(0)
                .saturating_add(usage.thoughts_token_count.unwrap_or(0));
            self.usage = Some(Usage {
                input_tokens: usage.prompt_token_count.unwrap_or(0),
                output_tokens: output,
            });
        }
        if response
            .prompt_feedback
            .is_some_and(|feedback| feedback.block_reason.is_some())
        {
            self.finish = Some(FinishReason::ContentFilter);
        }
        let candidates = response.candidates.unwrap_or_default();
        // One candidate is asked for (the default `candidateCount`): index 0.
        if let Some(candidate) = candidates.iter().find(|c| c.index.unwrap_or(0) == 0) {
            let parts = candidate.content.as_ref().and_then(|c| c.parts.as_ref());
            let text: String = parts
                .into_iter()
                .flatten()
                .filter(|part| part.thought != Some(true))
                .filter_map(|part| part.text.as_deref())
                .collect();
            if !text.is_empty() {
                out.push_back(ChatEvent::Delta { text });
            }
            if let Some(reason) = &candidate.finish_reason {
                self.finish = Some(finish_reason(reason));
            }
        }
        Ok(())
    }

    /// The events that close a stream whose body ended.
    fn on_end(&self, out: &mut VecDeque<ChatEvent>) -> Result<(), ProviderError> {
        let Some(reason) = self.finish else {
            return Err(ProviderError::BadGateway("stream ended early".to_owned()));
        };
        if let Some(usage) = self.usage {
            out.push_back(ChatEvent::Usage { usage });
        }
        out.push_back(ChatEvent::Finish { reason });
        Ok(())
    }
}

/// Translates a Gemini event stream into [`ChatEvent`]s: deltas as they come, then (once the
/// body ended) the last usage and the finish. `key` is scrubbed from error text.
pub fn chat_stream(events: EventStream, key: Option<SecretString>) -> ChatStream {
    struct State {
        events: EventStream,
        translator: Translator,
        ready: VecDeque<ChatEvent>,
        done: bool,
        key: Option<SecretString>,
    }
    let state = State {
        events,
        translator: Translator::default(),
        ready: VecDeque::new(),
        done: false,
        key,
    };
    Box::pin(futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(event) = state.ready.pop_front() {
                return Some((Ok(event), state));
            }
            if state.done {
                return None;
            }
            let step = match state.events.next().await {
                Some(Ok(event)) => {
                    state
                        .translator
                        .on_event(&event.data, &mut state.ready, state.key.as_ref())
                }
                Some(Err(err)) => Err(err),
                None => {
                    state.done = true;
                    state.translator.on_end(&mut state.ready)
                }
            };
            if let Err(err) = step {
                state.done = true;
                state.ready.clear();
                return Some((Err(err), state));
            }
        }
    }))
}

#[cfg(test)]
mod tests;
