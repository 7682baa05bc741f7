//! Builds the AI service from configuration: the providers that are on, and the cache,
//! coalescing and limits, shared through Redis when it is configured (keys
//! `<queue_prefix>:ai:…`) and in process otherwise.

use std::sync::Arc;

use anyhow::Context;
use studio_ai::cache::{AnswerCache, MemoryCache, RedisCache};
use studio_ai::elevenlabs::ElevenLabsProvider;
use studio_ai::flight::Coalescer;
use studio_ai::gemini::GeminiProvider;
use studio_ai::limits::Limiter;
use studio_ai::metrics::AiMetrics;
use studio_ai::openai::OpenAiProvider;
use studio_ai::{AiParts, AiService, ChatProvider, Routed};
use studio_db::Store;
use studio_http::metrics::Metrics;

use crate::config::Config;

pub fn service(
    config: &Config,
    store: Arc<dyn Store>,
    metrics: &Metrics,
) -> anyhow::Result<AiService> {
    let ai = &config.ai;
    let mut chat: Vec<Routed<dyn ChatProvider>> = Vec::new();
    if let Some(openai) = &ai.openai {
        let provider = OpenAiProvider::new(openai.config.clone())
            .context("cannot set up the OpenAI-compatible provider")?;
        chat.push(Routed {
            provider: Arc::new(provider),
            models: openai.models.clone(),
        });
    }
    if let Some(gemini) = &ai.gemini {
        let provider = GeminiProvider::new(gemini.config.clone())
            .context("cannot set up the Gemini provider")?;
        chat.push(Routed {
            provider: Arc::new(provider),
            models: gemini.models.clone(),
        });
    }
    let speech = match &ai.elevenlabs {
        Some(elevenlabs) => Some(Routed {
            provider: Arc::new(
                ElevenLabsProvider::new(elevenlabs.config.clone())
                    .context("cannot set up the ElevenLabs provider")?,
            ) as Arc<dyn studio_ai::SpeechProvider>,
            models: elevenlabs.models.clone(),
        }),
        None => None,
    };
    let (cache, flights, limiter): (Arc<dyn AnswerCache>, _, _) = match &config.redis_url {
        Some(url) => {
            let client = redis::Client::open(url.as_str()).context("invalid Redis URL")?;
            // Lazy: studio starts (and `/ready` says why it is not ready) while Redis is down;
            // the AI layer degrades to answering without cache or coalescing meanwhile.
            let conn = redis::aio::ConnectionManager::new_lazy_with_config(
                client,
                redis::aio::ConnectionManagerConfig::new(),
            )
            .context("cannot set up the Redis connection for the AI layer")?;
            let prefix = config.worker.queue_prefix.clone();
            (
                Arc::new(RedisCache::new(conn.clone(), prefix.clone())),
                Coalescer::with_redis(conn.clone(), prefix.clone()),
                Limiter::with_redis(conn, prefix),
            )
        }
        None => (
            Arc::new(MemoryCache::new(ai.cache_max_bytes)),
            Coalescer::in_process(),
            Limiter::in_process(),
        ),
    };
    Ok(AiService::new(AiParts {
        chat,
        default_chat_model: ai.default_model.clone(),
        speech,
        cache,
        flights,
        limiter,
        usage: store,
        settings: ai.settings.clone(),
        metrics: AiMetrics::new(metrics.recorder()),
    }))
}
