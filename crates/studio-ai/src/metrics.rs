//! What the AI layer counts, through the `metrics` facade, per provider:
//!
//! - `studio_ai_requests_total{provider,kind,cache}`: requests answered (`kind` = `chat` or
//!   `speech`; `cache` = `hit`, `miss` (this request called the provider), `coalesced` (it
//!   followed another request's call) or `bypass` (`Cache-Control` asked for a fresh answer)).
//! - `studio_ai_upstream_calls_total{provider,kind}`: calls made to the provider.
//! - `studio_ai_tokens_total{provider,direction}`: tokens the provider reported (`input`,
//!   `output`).
//! - `studio_ai_speech_characters_total{provider}`: text-to-speech characters billed.
//! - `studio_ai_errors_total{provider,code}`: failed calls, by the code the browser sees.
//! - `studio_ai_cancelled_total{provider}`: upstream calls cancelled because every listener
//!   left.
//! - `studio_ai_first_byte_seconds{provider}` (histogram): from a request to its first generated
//!   byte, for requests that called the provider.

use std::sync::Arc;
use std::time::Duration;

use metrics::Recorder;

type SharedRecorder = Arc<dyn Recorder + Send + Sync>;

/// Where the AI layer records: the application's recorder (nothing global; several apps share a
/// test process), or nowhere.
#[derive(Clone, Default)]
pub struct AiMetrics {
    recorder: Option<SharedRecorder>,
}

impl std::fmt::Debug for AiMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiMetrics")
            .field("recording", &self.recorder.is_some())
            .finish()
    }
}

impl AiMetrics {
    pub fn new(recorder: SharedRecorder) -> Self {
        Self {
            recorder: Some(recorder),
        }
    }

    /// Records nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    fn with(&self, record: impl FnOnce()) {
        if let Some(recorder) = &self.recorder {
            metrics::with_local_recorder(&**recorder, record);
        }
    }

    pub fn request(&self, provider: &str, kind: &'static str, cache: &'static str) {
        let provider = provider.to_owned();
        self.with(|| {
            metrics::counter!("studio_ai_requests_total", "provider" => provider, "kind" => kind, "cache" => cache)
                .increment(1);
        });
    }

    pub fn upstream_call(&self, provider: &str, kind: &'static str) {
        let provider = provider.to_owned();
        self.with(|| {
            metrics::counter!("studio_ai_upstream_calls_total", "provider" => provider, "kind" => kind)
                .increment(1);
        });
    }

    pub fn tokens(&self, provider: &str, input: u64, output: u64) {
        let provider = provider.to_owned();
        self.with(|| {
            metrics::counter!("studio_ai_tokens_total", "provider" => provider.clone(), "direction" => "input")
                .increment(input);
            metrics::counter!("studio_ai_tokens_total", "provider" => provider, "direction" => "output")
                .increment(output);
        });
    }

    pub fn speech_characters(&self, provider: &str, characters: u64) {
        let provider = provider.to_owned();
        self.with(|| {
            metrics::counter!("studio_ai_speech_characters_total", "provider" => provider)
                .increment(characters);
        });
    }

    pub fn error(&self, provider: &str, code: &'static str) {
        let provider = provider.to_owned();
        self.with(|| {
            metrics::counter!("studio_ai_errors_total", "provider" => provider, "code" => code)
                .increment(1);
        });
    }

    pub fn cancelled(&self, provider: &str) {
        let provider = provider.to_owned();
        self.with(|| {
            metrics::counter!("studio_ai_cancelled_total", "provider" => provider).increment(1);
        });
    }

    pub fn first_byte(&self, provider: &str, after: Duration) {
        let provider = provider.to_owned();
        self.with(|| {
            metrics::histogram!("studio_ai_first_byte_seconds", "provider" => provider)
                .record(after.as_secs_f64());
        });
    }
}
