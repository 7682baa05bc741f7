//! The Gemini client: the request it sends, the response it streams through
//! [`super::chat_stream`].

use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;

use super::chat_stream;
use crate::http::{self, ConfigError};
use crate::sse;
use crate::{ChatProvider, ChatRequest, ChatStream, ProviderError, Role, Timeouts};

/// Google's endpoint, for configurations that do not point elsewhere.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// Longest model id accepted; Gemini's are ~30 characters.
const MAX_MODEL_CHARS: usize = 128;

/// The Gemini endpoint.
#[derive(Debug, Clone)]
pub struct GeminiConfig {
    /// The provider's name in configuration, logs and the cache key (`gemini`).
    pub name: String,
    /// Without the version: `https://generativelanguage.googleapis.com`.
    pub base_url: String,
    pub api_key: SecretString,
    pub timeouts: Timeouts,
    /// Bound on one event of the stream.
    pub max_event_bytes: usize,
}

impl GeminiConfig {
    /// A configuration with the default event bound.
    pub fn new(
        name: impl Into<String>,
        base_url: impl Into<String>,
        api_key: SecretString,
        timeouts: Timeouts,
    ) -> Self {
        Self {
            name: name.into(),
            base_url: base_url.into(),
            api_key,
            timeouts,
            max_event_bytes: sse::DEFAULT_MAX_EVENT_BYTES,
        }
    }
}

/// The Gemini client.
#[derive(Debug, Clone)]
pub struct GeminiProvider {
    config: GeminiConfig,
    base: reqwest::Url,
    client: reqwest::Client,
}

impl GeminiProvider {
    /// Fails on a base URL that is not `http(s)://host[/path]`.
    pub fn new(config: GeminiConfig) -> Result<Self, ConfigError> {
        let base = http::parse_base_url(&config.base_url)?;
        let client = http::build_client(&config.timeouts)?;
        Ok(Self {
            config,
            base,
            client,
        })
    }

    fn endpoint(&self, model: &str) -> Result<reqwest::Url, ProviderError> {
        // The model id is a path segment: only the characters Google's ids use, so nothing
        // can escape the segment (`/`, `?`, `..` are impossible).
        let valid = !model.is_empty()
            && model.len() <= MAX_MODEL_CHARS
            && model
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !model.starts_with('.');
        if !valid {
            return Err(ProviderError::Rejected(
                "invalid Gemini model id".to_owned(),
            ));
        }
        http::endpoint(
            &self.base,
            &format!("v1beta/models/{model}:streamGenerateContent?alt=sse"),
        )
    }
}

#[async_trait::async_trait]
impl ChatProvider for GeminiProvider {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn stream_chat(&self, request: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let url = self.endpoint(&request.model)?;
        let mut key = reqwest::header::HeaderValue::from_str(self.config.api_key.expose_secret())
            .map_err(|_| {
            ProviderError::Rejected("the Gemini key is not a valid header".to_owned())
        })?;
        key.set_sensitive(true);
        let builder = self
            .client
            .post(url)
            .header("x-goog-api-key", key)
            .json(&request_body(request));
        let secret = Some(&self.config.api_key);
        let response = http::send(builder, &self.config.timeouts, secret).await?;
        http::expect_event_stream(&response)?;
        let events = sse::response_events(
            response,
            self.config.timeouts.read,
            self.config.max_event_bytes,
        );
        Ok(chat_stream(events, Some(self.config.api_key.clone())))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestBody<'a> {
    contents: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<SystemInstruction<'a>>,
    generation_config: GenerationConfig,
}

#[derive(Serialize)]
struct Content<'a> {
    role: &'static str,
    parts: Vec<Part<'a>>,
}

#[derive(Serialize)]
struct SystemInstruction<'a> {
    parts: Vec<Part<'a>>,
}

#[derive(Serialize)]
struct Part<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig {
    max_output_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
}

/// Gemini's request: system messages become `systemInstruction`; the others become `contents`
/// with roles `user` / `model`, consecutive messages of one role merged into one content (Gemini
/// expects turns to alternate).
fn request_body(request: &ChatRequest) -> RequestBody<'_> {
    let mut system = Vec::new();
    let mut contents: Vec<Content<'_>> = Vec::new();
    for message in &request.messages {
        let part = Part {
            text: &message.content,
        };
        let role = match message.role {
            Role::System => {
                system.push(part);
                continue;
            }
            Role::User => "user",
            Role::Assistant => "model",
        };
        match contents.last_mut() {
            Some(last) if last.role == role => last.parts.push(part),
            _ => contents.push(Content {
                role,
                parts: vec![part],
            }),
        }
    }
    RequestBody {
        contents,
        system_instruction: (!system.is_empty()).then_some(SystemInstruction { parts: system }),
        generation_config: GenerationConfig {
            max_output_tokens: request.max_output_tokens,
            temperature: request.temperature,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ChatMessage;

    #[test]
    fn the_body_has_the_gemini_shape() {
        let message = |role, content: &str| ChatMessage {
            role,
            content: content.to_owned(),
        };
        let request = ChatRequest {
            model: "gemini-2.5-flash".to_owned(),
            messages: vec![
                message(Role::System, "be brief"),
                message(Role::User, "a"),
                message(Role::User, "b"),
                message(Role::Assistant, "c"),
                message(Role::User, "d"),
            ],
            temperature: None,
            max_output_tokens: 100,
        };
        let body = serde_json::to_value(request_body(&request)).expect("json");
        assert_eq!(
            body,
            serde_json::json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                    {"role": "model", "parts": [{"text": "c"}]},
                    {"role": "user", "parts": [{"text": "d"}]},
                ],
                "systemInstruction": {"parts": [{"text": "be brief"}]},
                "generationConfig": {"maxOutputTokens": 100},
            })
        );
    }

    #[test]
    fn model_ids_are_validated() {
        let timeouts = Timeouts {
            connect: Duration::from_secs(1),
            read: Duration::from_secs(1),
        };
        let config = GeminiConfig::new(
            "gemini",
            DEFAULT_BASE_URL,
            SecretString::from("k"),
            timeouts,
        );
        let provider = GeminiProvider::new(config).expect("provider");
        assert_eq!(
            provider.endpoint("gemini-2.5-flash").unwrap().as_str(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        for bad in ["", "../x", "a/b", "a?b", "a b", ".."] {
            assert!(
                matches!(provider.endpoint(bad), Err(ProviderError::Rejected(_))),
                "{bad:?}"
            );
        }
    }
}
