//! ElevenLabs text-to-speech, streamed: `POST {base_url}/v1/text-to-speech/{voice_id}/stream
//! ?output_format=...` with the key in `xi-api-key` and `{text, model_id}` as body. The answer
//! is audio (`audio/mpeg` for MP3 formats), chunked, passed on chunk by chunk as it arrives and
//! never buffered whole. ElevenLabs reports the characters it billed in `character-cost`.
//!
//! An audio stream has no in-band end marker: a cut connection shows as a body error (the
//! chunked encoding never completed), which the stream yields as an error.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;

use crate::http::{self, ConfigError};
use crate::{ProviderError, SpeechProvider, SpeechRequest, SpeechStream, Timeouts};

/// ElevenLabs' endpoint, for configurations that do not point elsewhere.
pub const DEFAULT_BASE_URL: &str = "https://api.elevenlabs.io";

/// MP3 at 44.1 kHz, 128 kbit/s: plays everywhere, available on every plan.
pub const DEFAULT_OUTPUT_FORMAT: &str = "mp3_44100_128";

/// Longest voice id accepted; ElevenLabs' are 20 characters.
const MAX_VOICE_ID_CHARS: usize = 64;

/// The ElevenLabs endpoint.
#[derive(Debug, Clone)]
pub struct ElevenLabsConfig {
    /// The provider's name in configuration, logs and metrics (`elevenlabs`).
    pub name: String,
    /// Without the version: `https://api.elevenlabs.io`.
    pub base_url: String,
    pub api_key: SecretString,
    pub timeouts: Timeouts,
    /// The `output_format` query parameter (codec_samplerate_bitrate).
    pub output_format: String,
}

impl ElevenLabsConfig {
    /// A configuration with the default output format.
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
            output_format: DEFAULT_OUTPUT_FORMAT.to_owned(),
        }
    }
}

/// The ElevenLabs client.
#[derive(Debug, Clone)]
pub struct ElevenLabsProvider {
    config: ElevenLabsConfig,
    base: reqwest::Url,
    client: reqwest::Client,
}

impl ElevenLabsProvider {
    /// Fails on a base URL that is not `http(s)://host[/path]` or an output format that is not
    /// a plain token.
    pub fn new(config: ElevenLabsConfig) -> Result<Self, ConfigError> {
        let base = http::parse_base_url(&config.base_url)?;
        if !is_token(&config.output_format, MAX_VOICE_ID_CHARS) {
            return Err(ConfigError::Setting(
                "the output format must be letters, digits and _".to_owned(),
            ));
        }
        let client = http::build_client(&config.timeouts)?;
        Ok(Self {
            config,
            base,
            client,
        })
    }

    fn endpoint(&self, voice_id: &str) -> Result<reqwest::Url, ProviderError> {
        // The voice id is a path segment: restricting it to ElevenLabs' alphabet keeps it one.
        if !is_token(voice_id, MAX_VOICE_ID_CHARS) {
            return Err(ProviderError::Rejected("invalid voice id".to_owned()));
        }
        http::endpoint(
            &self.base,
            &format!(
                "v1/text-to-speech/{voice_id}/stream?output_format={}",
                self.config.output_format
            ),
        )
    }
}

/// `[A-Za-z0-9_-]{1,max}`.
fn is_token(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Serialize)]
struct RequestBody<'a> {
    text: &'a str,
    model_id: &'a str,
}

#[async_trait::async_trait]
impl SpeechProvider for ElevenLabsProvider {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn stream_speech(&self, request: &SpeechRequest) -> Result<SpeechStream, ProviderError> {
        let url = self.endpoint(&request.voice_id)?;
        let mut key = reqwest::header::HeaderValue::from_str(self.config.api_key.expose_secret())
            .map_err(|_| {
            ProviderError::Rejected("the ElevenLabs key is not a valid header".to_owned())
        })?;
        key.set_sensitive(true);
        let builder = self
            .client
            .post(url)
            .header("xi-api-key", key)
            .header(reqwest::header::ACCEPT, "audio/*")
            .json(&RequestBody {
                text: &request.text,
                model_id: &request.model,
            });
        let response =
            http::send(builder, &self.config.timeouts, Some(&self.config.api_key)).await?;
        let headers = response.headers();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("audio/mpeg")
            .to_owned();
        if content_type.starts_with("application/json") || content_type.starts_with("text/") {
            return Err(ProviderError::BadGateway(format!(
                "expected audio, got {content_type}"
            )));
        }
        let billed_characters = headers
            .get("character-cost")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        Ok(SpeechStream {
            content_type,
            billed_characters,
            audio: http::body_chunks(response, self.config.timeouts.read),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn provider() -> ElevenLabsProvider {
        let timeouts = Timeouts {
            connect: Duration::from_secs(1),
            read: Duration::from_secs(1),
        };
        let config = ElevenLabsConfig::new(
            "elevenlabs",
            DEFAULT_BASE_URL,
            SecretString::from("k"),
            timeouts,
        );
        ElevenLabsProvider::new(config).expect("provider")
    }

    #[test]
    fn the_endpoint_has_the_voice_and_format() {
        assert_eq!(
            provider()
                .endpoint("21m00Tcm4TlvDq8ikWAM")
                .unwrap()
                .as_str(),
            "https://api.elevenlabs.io/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream?output_format=mp3_44100_128"
        );
    }

    #[test]
    fn voice_ids_are_validated() {
        let long = "a".repeat(65);
        for bad in ["", "../x", "a/b", "a?b", "a b", "é", long.as_str()] {
            assert!(
                matches!(provider().endpoint(bad), Err(ProviderError::Rejected(_))),
                "{bad:?}"
            );
        }
    }
}
