//! The OpenAI-compatible client: the request it sends, the response it streams through
//! [`super::chat_stream`].

use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;

use super::chat_stream;
use crate::http::{self, ConfigError};
use crate::sse;
use crate::{ChatMessage, ChatProvider, ChatRequest, ChatStream, ProviderError, Timeouts};

/// Which request field carries the output token bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_tokens`: understood by every compatible server, and still accepted by OpenAI for
    /// its chat models.
    #[default]
    MaxTokens,
    /// `max_completion_tokens`: required by OpenAI's reasoning models, unknown to older
    /// compatibles.
    MaxCompletionTokens,
}

/// One OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// The provider's name in configuration, logs and the cache key (`openai`, `ollama`, ...).
    pub name: String,
    /// Up to and including the version, without `/chat/completions`:
    /// `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer`; local servers need none.
    pub api_key: Option<SecretString>,
    pub timeouts: Timeouts,
    pub max_tokens_field: MaxTokensField,
    /// Sends `stream_options: {include_usage: true}` (some old compatibles reject it).
    pub include_usage: bool,
    /// Bound on one event of the stream.
    pub max_event_bytes: usize,
}

impl OpenAiConfig {
    /// A configuration with the defaults: `max_tokens`, usage asked for, 1 MiB events.
    pub fn new(
        name: impl Into<String>,
        base_url: impl Into<String>,
        api_key: Option<SecretString>,
        timeouts: Timeouts,
    ) -> Self {
        Self {
            name: name.into(),
            base_url: base_url.into(),
            api_key,
            timeouts,
            max_tokens_field: MaxTokensField::default(),
            include_usage: true,
            max_event_bytes: sse::DEFAULT_MAX_EVENT_BYTES,
        }
    }
}

/// The client of one OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    config: OpenAiConfig,
    endpoint: reqwest::Url,
    client: reqwest::Client,
}

impl OpenAiProvider {
    /// Fails on a base URL that is not `http(s)://host[/path]`.
    pub fn new(config: OpenAiConfig) -> Result<Self, ConfigError> {
        let base = http::parse_base_url(&config.base_url)?;
        let endpoint = http::endpoint(&base, "chat/completions")
            .map_err(|_| ConfigError::BaseUrl("cannot append chat/completions".to_owned()))?;
        let client = http::build_client(&config.timeouts)?;
        Ok(Self {
            config,
            endpoint,
            client,
        })
    }

    fn body<'a>(&self, request: &'a ChatRequest) -> RequestBody<'a> {
        let (max_tokens, max_completion_tokens) = match self.config.max_tokens_field {
            MaxTokensField::MaxTokens => (Some(request.max_output_tokens), None),
            MaxTokensField::MaxCompletionTokens => (None, Some(request.max_output_tokens)),
        };
        RequestBody {
            model: &request.model,
            messages: &request.messages,
            stream: true,
            stream_options: self.config.include_usage.then_some(StreamOptions {
                include_usage: true,
            }),
            max_tokens,
            max_completion_tokens,
            temperature: request.temperature,
        }
    }
}

#[async_trait::async_trait]
impl ChatProvider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn stream_chat(&self, request: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let mut builder = self
            .client
            .post(self.endpoint.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&self.body(request));
        if let Some(key) = &self.config.api_key {
            // `bearer_auth` marks the header sensitive, so it is never printed by reqwest.
            builder = builder.bearer_auth(key.expose_secret());
        }
        let key = self.config.api_key.as_ref();
        let response = http::send(builder, &self.config.timeouts, key).await?;
        http::expect_event_stream(&response)?;
        let events = sse::response_events(
            response,
            self.config.timeouts.read,
            self.config.max_event_bytes,
        );
        Ok(chat_stream(events, key.cloned()))
    }
}

#[derive(Serialize)]
struct RequestBody<'a> {
    model: &'a str,
    /// `ChatMessage` serializes as `{role: "system"|"user"|"assistant", content}`, OpenAI's shape.
    messages: &'a [ChatMessage],
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_body_has_the_openai_shape() {
        let timeouts = Timeouts {
            connect: Duration::from_secs(1),
            read: Duration::from_secs(1),
        };
        let mut config = OpenAiConfig::new("openai", "https://api.openai.com/v1", None, timeouts);
        let request = ChatRequest {
            model: "gpt-4o-mini".to_owned(),
            messages: vec![ChatMessage {
                role: crate::Role::System,
                content: "be brief".to_owned(),
            }],
            temperature: Some(0.5),
            max_output_tokens: 64,
        };
        let provider = OpenAiProvider::new(config.clone()).expect("provider");
        let body = serde_json::to_value(provider.body(&request)).expect("json");
        assert_eq!(
            body,
            serde_json::json!({
                "model": "gpt-4o-mini",
                "messages": [{"role": "system", "content": "be brief"}],
                "stream": true,
                "stream_options": {"include_usage": true},
                "max_tokens": 64,
                "temperature": 0.5,
            })
        );
        config.max_tokens_field = MaxTokensField::MaxCompletionTokens;
        config.include_usage = false;
        let provider = OpenAiProvider::new(config).expect("provider");
        let body = serde_json::to_value(provider.body(&request)).expect("json");
        assert_eq!(body["max_completion_tokens"], 64);
        assert!(body.get("max_tokens").is_none() && body.get("stream_options").is_none());
    }
}
