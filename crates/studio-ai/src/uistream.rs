//! The Vercel AI SDK **UI message stream** (protocol v1), the wire format `useChat` reads:
//! Server-Sent Events whose `data` is one JSON chunk each (`start`, `start-step`, `text-start`,
//! `text-delta`, `text-end`, `finish-step`, `finish`, `error`), ending with `data: [DONE]`.
//! The response carries `x-vercel-ai-ui-message-stream: v1`.
//!
//! [`UiMessageStream`] turns our generation events into those bytes, one SSE event per call,
//! in the order the AI SDK's own `toUIMessageStreamResponse` writes them, so a frontend sees
//! the same stream from us as from a Next.js route.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::FinishReason;

/// The header that tells the AI SDK client which protocol the body speaks.
pub const PROTOCOL_HEADER: &str = "x-vercel-ai-ui-message-stream";
/// Its value.
pub const PROTOCOL_VERSION: &str = "v1";
/// An SSE comment: keeps proxies and browsers from timing out an idle stream; readers skip it.
pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// Writes one assistant message as a UI message stream.
#[derive(Debug)]
pub struct UiMessageStream {
    message_id: String,
    text_id: String,
    text_open: bool,
}

impl UiMessageStream {
    /// A stream for the message `message_id` (the id `useChat` gives the assistant message).
    pub fn new(message_id: String) -> Self {
        let text_id = format!("{message_id}-text");
        Self {
            message_id,
            text_id,
            text_open: false,
        }
    }

    /// The first bytes of the response: `start` and `start-step`.
    pub fn start(&self) -> Bytes {
        let mut out = event(&json!({"type": "start", "messageId": self.message_id}));
        out.extend(event(&json!({"type": "start-step"})));
        out.into()
    }

    /// Generated text (opening the text part on the first one).
    pub fn delta(&mut self, text: &str) -> Bytes {
        let mut out = Vec::new();
        if !self.text_open {
            self.text_open = true;
            out.extend(event(&json!({"type": "text-start", "id": self.text_id})));
        }
        out.extend(event(
            &json!({"type": "text-delta", "id": self.text_id, "delta": text}),
        ));
        out.into()
    }

    /// The normal end: closes the text part, then `finish-step`, `finish` (with the reason and
    /// `metadata` as the message's metadata) and `[DONE]`.
    pub fn finish(&mut self, reason: FinishReason, metadata: Value) -> Bytes {
        let mut out = self.close_text();
        out.extend(event(&json!({"type": "finish-step"})));
        out.extend(event(&json!({
            "type": "finish",
            "finishReason": finish_reason(reason),
            "messageMetadata": metadata,
        })));
        out.extend(DONE);
        out.into()
    }

    /// A failure after the first byte: closes the text part, an `error` part, then `[DONE]`,
    /// so the client ends cleanly with its error state set.
    pub fn error(&mut self, message: &str) -> Bytes {
        let mut out = self.close_text();
        out.extend(event(&json!({"type": "error", "errorText": message})));
        out.extend(DONE);
        out.into()
    }

    fn close_text(&mut self) -> Vec<u8> {
        if std::mem::take(&mut self.text_open) {
            event(&json!({"type": "text-end", "id": self.text_id}))
        } else {
            Vec::new()
        }
    }
}

const DONE: &[u8] = b"data: [DONE]\n\n";

/// One SSE event. JSON never holds a raw newline, so one `data:` line is always enough.
fn event(chunk: &Value) -> Vec<u8> {
    let mut out = b"data: ".to_vec();
    out.extend(chunk.to_string().as_bytes());
    out.extend(b"\n\n");
    out
}

/// The AI SDK's names for finish reasons.
fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::ContentFilter => "content-filter",
        FinishReason::ToolCalls => "tool-calls",
        FinishReason::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[Bytes]) -> String {
        bytes
            .iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect()
    }

    /// The JSON chunks of a stream (key order is serde_json's business, not the protocol's).
    fn chunks(out: &str) -> Vec<Value> {
        assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
        out.trim_end_matches("data: [DONE]\n\n")
            .split_terminator("\n\n")
            .map(|event| serde_json::from_str(event.strip_prefix("data: ").unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn a_message_is_written_as_the_ai_sdk_writes_it() {
        let mut stream = UiMessageStream::new("msg-1".into());
        let out = text(&[
            stream.start(),
            stream.delta("Hel"),
            stream.delta("lo\n\"x\""),
            stream.finish(FinishReason::Stop, json!({"cache": "MISS"})),
        ]);
        assert_eq!(
            chunks(&out),
            vec![
                json!({"type": "start", "messageId": "msg-1"}),
                json!({"type": "start-step"}),
                json!({"type": "text-start", "id": "msg-1-text"}),
                json!({"type": "text-delta", "id": "msg-1-text", "delta": "Hel"}),
                json!({"type": "text-delta", "id": "msg-1-text", "delta": "lo\n\"x\""}),
                json!({"type": "text-end", "id": "msg-1-text"}),
                json!({"type": "finish-step"}),
                json!({"type": "finish", "finishReason": "stop", "messageMetadata": {"cache": "MISS"}}),
            ]
        );
    }

    #[test]
    fn an_error_closes_the_open_text_and_ends_the_stream() {
        let mut stream = UiMessageStream::new("m".into());
        let out = text(&[stream.delta("a"), stream.error("boom")]);
        assert_eq!(
            chunks(&out)[2..],
            [
                json!({"type": "text-end", "id": "m-text"}),
                json!({"type": "error", "errorText": "boom"}),
            ]
        );
        // Without text there is nothing to close.
        let mut empty = UiMessageStream::new("m".into());
        assert_eq!(
            chunks(&text(&[empty.error("x")])),
            [json!({"type": "error", "errorText": "x"})]
        );
    }
}
