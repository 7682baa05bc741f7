//! The AI settings (`ai_*`): which providers are on, with which keys and models, and the
//! cache, limits and timeouts of the AI backend-for-frontend.

use std::time::Duration;

use studio_ai::elevenlabs::ElevenLabsConfig;
use studio_ai::gemini::GeminiConfig;
use studio_ai::openai::{MaxTokensField, OpenAiConfig};
use studio_ai::{AiSettings, Timeouts};

use super::RawConfig;

/// A provider that is on, and the models it may be asked for (the first is its default).
#[derive(Debug, Clone)]
pub struct ProviderSettings<C> {
    pub config: C,
    pub models: Vec<String>,
}

/// Validated AI configuration.
#[derive(Debug, Clone)]
pub struct AiConfig {
    pub openai: Option<ProviderSettings<OpenAiConfig>>,
    pub gemini: Option<ProviderSettings<GeminiConfig>>,
    pub elevenlabs: Option<ProviderSettings<ElevenLabsConfig>>,
    pub default_model: Option<String>,
    /// Bound of the in-process answer cache (used without Redis).
    pub cache_max_bytes: u64,
    pub settings: AiSettings,
}

/// How `ai_openai_max_tokens_field` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensFieldName {
    MaxTokens,
    MaxCompletionTokens,
}

/// Checks the AI fields of `raw`, adding a line to `errors` for each bad one.
pub(super) fn validate(raw: &RawConfig, bad: &mut dyn FnMut(&str, String)) -> AiConfig {
    for (key, value) in [
        ("ai_connect_timeout_secs", raw.ai_connect_timeout_secs),
        ("ai_read_timeout_secs", raw.ai_read_timeout_secs),
        ("ai_cache_ttl_secs", raw.ai_cache_ttl_secs),
        ("ai_keep_alive_secs", raw.ai_keep_alive_secs),
        ("ai_max_output_tokens", u64::from(raw.ai_max_output_tokens)),
        ("ai_max_input_chars", raw.ai_max_input_chars as u64),
        ("ai_max_speech_chars", raw.ai_max_speech_chars as u64),
    ] {
        if value == 0 {
            bad(key, "must be greater than 0".to_owned());
        }
    }
    let timeouts = Timeouts {
        connect: Duration::from_secs(raw.ai_connect_timeout_secs),
        read: Duration::from_secs(raw.ai_read_timeout_secs),
    };
    let models = |list: &Option<Vec<String>>| list.clone().unwrap_or_default();

    let openai_models = models(&raw.ai_openai_models);
    let openai = (!openai_models.is_empty()).then(|| {
        let mut config = OpenAiConfig::new(
            "openai",
            raw.ai_openai_base_url.clone(),
            raw.ai_openai_api_key.clone(),
            timeouts,
        );
        config.max_tokens_field = match raw.ai_openai_max_tokens_field {
            MaxTokensFieldName::MaxTokens => MaxTokensField::MaxTokens,
            MaxTokensFieldName::MaxCompletionTokens => MaxTokensField::MaxCompletionTokens,
        };
        ProviderSettings {
            config,
            models: openai_models,
        }
    });
    let gemini_models = models(&raw.ai_gemini_models);
    let gemini = match (&raw.ai_gemini_api_key, gemini_models.is_empty()) {
        (_, true) => None,
        (None, false) => {
            bad(
                "ai_gemini_api_key",
                "is required when ai_gemini_models is set".to_owned(),
            );
            None
        }
        (Some(key), false) => Some(ProviderSettings {
            config: GeminiConfig::new(
                "gemini",
                raw.ai_gemini_base_url.clone(),
                key.clone(),
                timeouts,
            ),
            models: gemini_models,
        }),
    };
    let elevenlabs_models = models(&raw.ai_elevenlabs_models);
    let elevenlabs = match (&raw.ai_elevenlabs_api_key, elevenlabs_models.is_empty()) {
        (_, true) => None,
        (None, false) => {
            bad(
                "ai_elevenlabs_api_key",
                "is required when ai_elevenlabs_models is set".to_owned(),
            );
            None
        }
        (Some(key), false) => Some(ProviderSettings {
            config: ElevenLabsConfig::new(
                "elevenlabs",
                raw.ai_elevenlabs_base_url.clone(),
                key.clone(),
                timeouts,
            ),
            models: elevenlabs_models,
        }),
    };
    for (key, url, on) in [
        (
            "ai_openai_base_url",
            &raw.ai_openai_base_url,
            openai.is_some(),
        ),
        (
            "ai_gemini_base_url",
            &raw.ai_gemini_base_url,
            gemini.is_some(),
        ),
        (
            "ai_elevenlabs_base_url",
            &raw.ai_elevenlabs_base_url,
            elevenlabs.is_some(),
        ),
    ] {
        let valid = reqwest::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if on && !valid {
            bad(key, format!("`{url}` is not an http(s) URL"));
        }
    }
    let chat_models: Vec<&String> = openai
        .iter()
        .flat_map(|p| &p.models)
        .chain(gemini.iter().flat_map(|p| &p.models))
        .collect();
    let default_model = raw.ai_default_model.clone().filter(|m| !m.is_empty());
    if let Some(model) = &default_model
        && !chat_models.contains(&model)
    {
        bad(
            "ai_default_model",
            format!("`{model}` is not in ai_openai_models or ai_gemini_models"),
        );
    }
    if !raw.ai_plans.contains_key("free") {
        bad("ai_plans", "must define the `free` plan".to_owned());
    }
    AiConfig {
        openai,
        gemini,
        elevenlabs,
        default_model,
        cache_max_bytes: raw.ai_cache_max_bytes,
        settings: AiSettings {
            cache_scope: raw.ai_cache_scope,
            cache_ttl: Duration::from_secs(raw.ai_cache_ttl_secs),
            max_cached_answer_bytes: raw.ai_cache_max_answer_bytes,
            max_output_tokens: raw.ai_max_output_tokens,
            max_input_chars: raw.ai_max_input_chars,
            max_speech_chars: raw.ai_max_speech_chars,
            keep_alive: Duration::from_secs(raw.ai_keep_alive_secs),
            plans: raw.ai_plans.clone(),
        },
    }
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail's closures must return figment's own (large) error"
)]
mod tests {
    use secrecy::ExposeSecret;
    use studio_ai::key::CacheScope;

    use super::*;

    #[test]
    fn by_default_no_provider_is_on_and_the_plans_are_there() {
        let config = RawConfig::defaults().unwrap().validate().unwrap();
        let ai = &config.ai;
        assert!(ai.openai.is_none() && ai.gemini.is_none() && ai.elevenlabs.is_none());
        assert_eq!(ai.settings.cache_scope, CacheScope::User);
        assert_eq!(ai.settings.keep_alive, Duration::from_secs(15));
        let free = ai.settings.limits("free");
        assert_eq!(free.concurrent_streams, 2);
        assert_eq!(ai.settings.limits("unknown-plan"), free);
        assert!(ai.settings.limits("pro").tokens_per_day > free.tokens_per_day);
    }

    #[test]
    fn providers_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STUDIO_AI_OPENAI_MODELS", "llama3, qwen");
            jail.set_env("STUDIO_AI_OPENAI_BASE_URL", "http://127.0.0.1:11434/v1");
            jail.set_env("STUDIO_AI_GEMINI_MODELS", "gemini-2.5-flash");
            jail.set_env("STUDIO_AI_GEMINI_API_KEY", "g-key");
            jail.set_env("STUDIO_AI_DEFAULT_MODEL", "gemini-2.5-flash");
            jail.set_env("STUDIO_AI_CACHE_SCOPE", "project");
            let config = RawConfig::load(None).unwrap().validate().unwrap();
            let openai = config.ai.openai.unwrap();
            assert_eq!(openai.models, ["llama3", "qwen"]);
            assert!(
                openai.config.api_key.is_none(),
                "a local server needs no key"
            );
            let gemini = config.ai.gemini.unwrap();
            assert_eq!(gemini.config.api_key.expose_secret(), "g-key");
            assert_eq!(config.ai.default_model.as_deref(), Some("gemini-2.5-flash"));
            assert_eq!(config.ai.settings.cache_scope, CacheScope::Project);
            Ok(())
        });
    }

    #[test]
    fn a_provider_without_its_key_or_an_unknown_default_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STUDIO_AI_GEMINI_MODELS", "gemini-2.5-flash");
            jail.set_env("STUDIO_AI_ELEVENLABS_MODELS", "eleven_flash_v2_5");
            jail.set_env("STUDIO_AI_DEFAULT_MODEL", "gpt-5");
            jail.set_env("STUDIO_AI_OPENAI_MODELS", "gpt-4o");
            jail.set_env("STUDIO_AI_OPENAI_BASE_URL", "ftp://example.com");
            jail.set_env("STUDIO_AI_READ_TIMEOUT_SECS", "0");
            let err = RawConfig::load(None).unwrap().validate().unwrap_err();
            for key in [
                "ai_gemini_api_key",
                "ai_elevenlabs_api_key",
                "ai_default_model",
                "ai_openai_base_url",
                "ai_read_timeout_secs",
            ] {
                assert!(err.to_string().contains(key), "{key} missing from {err}");
            }
            Ok(())
        });
    }
}
