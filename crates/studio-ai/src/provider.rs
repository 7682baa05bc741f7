//! The provider contract: one trait for streamed text generation, one for streamed speech, and
//! the request and event types every provider client translates from and to.
//!
//! A call is two-phase on purpose. `stream_chat` / `stream_speech` return once the provider has
//! *accepted* the request (its response status and headers are in), so a refusal is still an
//! HTTP error for the browser; the returned stream then yields events as the provider emits
//! them, and dropping it cancels the upstream request (the connection is closed).

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::ProviderError;

/// Who wrote a message of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of the conversation, reduced to its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

/// A generation request, already validated and with the server-side task prompt applied.
/// Its canonical JSON (field order fixed by this struct) is part of the cache key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatRequest {
    /// The provider's model id, one the configuration allows.
    pub model: String,
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature, when the caller set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Upper bound on generated tokens (always set: it bounds the cost of one call).
    pub max_output_tokens: u32,
}

/// Why the provider stopped generating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FinishReason {
    Stop,
    Length,
    ContentFilter,
    ToolCalls,
    Other,
}

/// Token counts as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// One thing a streaming generation yields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub enum ChatEvent {
    /// Generated text, in order; never empty.
    Delta { text: String },
    /// Token usage (providers send it once, near the end; a later one replaces an earlier one).
    Usage { usage: Usage },
    /// The provider finished normally. Nothing follows.
    Finish { reason: FinishReason },
}

/// A stream of generation events. It ends after `Finish`, or with an error; if it ends with
/// neither, the provider hung up early (the caller treats that as an error).
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, ProviderError>> + Send>>;

/// Streamed text generation (OpenAI-compatible Chat Completions, Gemini).
#[async_trait::async_trait]
pub trait ChatProvider: Send + Sync + 'static {
    /// The provider's name in configuration, logs, metrics and the cache key (`openai`, `gemini`).
    fn name(&self) -> &str;
    /// Sends the request; returns once the provider accepted it (see the module docs).
    async fn stream_chat(&self, request: &ChatRequest) -> Result<ChatStream, ProviderError>;
}

/// A speech request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpeechRequest {
    pub voice_id: String,
    pub model: String,
    pub text: String,
}

/// Audio as it arrives, with its media type.
pub struct SpeechStream {
    /// The upstream `Content-Type` (`audio/mpeg` for ElevenLabs' default format).
    pub content_type: String,
    /// Characters the provider billed, when it says (`character-cost` header); otherwise the
    /// caller counts the request's characters.
    pub billed_characters: Option<u64>,
    pub audio: Pin<Box<dyn Stream<Item = Result<Bytes, ProviderError>> + Send>>,
}

/// Streamed text-to-speech (ElevenLabs).
#[async_trait::async_trait]
pub trait SpeechProvider: Send + Sync + 'static {
    fn name(&self) -> &str;
    /// Sends the request; returns once the provider accepted it.
    async fn stream_speech(&self, request: &SpeechRequest) -> Result<SpeechStream, ProviderError>;
}

/// How outbound calls are bounded. `connect` bounds opening the connection; `read` bounds the
/// wait for the response headers and for every next chunk of the body (a stalled stream fails
/// with [`ProviderError::Timeout`]).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
}
