//! The HTTP side of the AI backend-for-frontend: how `studio_ai`'s answers and errors become
//! responses. Handlers are in `routes::ai`.
//!
//! Before the first byte, every failure is problem+json with its real status (429 with
//! `Retry-After` for limits, 502/503/504 for the provider). After it, a chat answer ends with an
//! in-stream `error` part and `[DONE]`, and an audio stream is cut short (a binary body has no
//! way to say more; the client sees an incomplete response).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use futures::StreamExt;
use serde_json::json;
use studio_ai::uistream::{KEEP_ALIVE, UiMessageStream};
use studio_ai::{AiError, ChatAnswer, ChatEvent, ProviderError, Usage};

use crate::{ApiError, ErrorCode};

impl From<AiError> for ApiError {
    fn from(err: AiError) -> Self {
        match err {
            AiError::NotConfigured(what) => Self::new(
                ErrorCode::AiUnavailable,
                format!("This server has no AI provider configured for {what}."),
            ),
            AiError::UnknownModel { model, allowed } => Self::new(
                ErrorCode::UnknownModel,
                format!("Model {model:?} is not available here."),
            )
            .with_extension("allowedModels", allowed),
            AiError::Limited { limit, retry_after } => with_retry_after(
                Self::new(
                    ErrorCode::AiLimitExceeded,
                    format!("Your plan's AI limit `{limit}` is reached."),
                )
                .with_extension("limit", limit),
                retry_after,
            ),
            AiError::Provider(err) => from_provider(&err),
            AiError::Accounting(err) => Self::internal(&err),
        }
    }
}

fn from_provider(err: &ProviderError) -> ApiError {
    // The provider's own words stay in our log: they may quote our request or account.
    tracing::warn!(error = %err, "AI provider call failed before the first byte");
    let code = match err {
        ProviderError::Rejected(_) => ErrorCode::AiProviderRejected,
        ProviderError::RateLimited { .. } => ErrorCode::AiProviderRateLimited,
        ProviderError::Unavailable(_) => ErrorCode::AiProviderUnavailable,
        ProviderError::Timeout => ErrorCode::AiProviderTimeout,
        ProviderError::BadGateway(_) => ErrorCode::AiProviderError,
    };
    let problem = ApiError::new(code, err.public_message());
    match err {
        ProviderError::RateLimited { retry_after } => {
            with_retry_after(problem, retry_after.unwrap_or(Duration::from_secs(1)))
        }
        _ => problem,
    }
}

fn with_retry_after(err: ApiError, after: Duration) -> ApiError {
    let seconds = after.as_secs().max(1);
    err.with_extension("retryAfterSeconds", seconds)
        .with_header(header::RETRY_AFTER, HeaderValue::from(seconds))
}

/// A chat answer as a UI message stream body: `start`, the text as it comes, then `finish`
/// (with the model, the cache status and the usage as message metadata) or `error`; an SSE
/// comment every `keep_alive` while nothing else is sent.
pub fn ui_message_stream(answer: ChatAnswer, message_id: String, keep_alive: Duration) -> Body {
    struct State {
        events: Option<studio_ai::ChatStream>,
        ui: UiMessageStream,
        tick: tokio::time::Interval,
        usage: Option<Usage>,
        metadata: serde_json::Value,
    }
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ui = UiMessageStream::new(message_id);
    let start = ui.start();
    let state = State {
        events: Some(answer.events),
        ui,
        tick,
        usage: None,
        metadata: json!({
            "provider": answer.provider,
            "model": answer.model,
            "cache": answer.cache.header_value(),
        }),
    };
    let body = futures::stream::unfold(state, |mut state| async move {
        let events = state.events.as_mut()?;
        loop {
            let event = tokio::select! {
                event = events.next() => event,
                _ = state.tick.tick() => return Some((Bytes::from_static(KEEP_ALIVE), state)),
            };
            let bytes = match event {
                Some(Ok(ChatEvent::Delta { text })) => state.ui.delta(&text),
                Some(Ok(ChatEvent::Usage { usage })) => {
                    state.usage = Some(usage);
                    continue;
                }
                Some(Ok(ChatEvent::Finish { reason })) => {
                    state.events = None;
                    let mut metadata = state.metadata.take();
                    if let Some(usage) = state.usage {
                        metadata["usage"] = json!({
                            "inputTokens": usage.input_tokens,
                            "outputTokens": usage.output_tokens,
                        });
                    }
                    state.ui.finish(reason, metadata)
                }
                Some(Err(err)) => {
                    state.events = None;
                    tracing::warn!(error = %err, "AI answer failed after the first byte");
                    state.ui.error(err.public_message())
                }
                None => {
                    state.events = None;
                    state.ui.error("The answer ended early.")
                }
            };
            // Forward each event as it comes: the point is the first token's latency.
            return Some((bytes, state));
        }
    });
    Body::from_stream(
        futures::stream::once(async move { start })
            .chain(body)
            .map(Ok::<_, Infallible>),
    )
}

/// An audio answer as a body: chunks as they arrive; an upstream failure aborts the body.
pub fn audio_stream(
    audio: futures::stream::BoxStream<'static, Result<Bytes, ProviderError>>,
) -> Body {
    Body::from_stream(audio.map(|chunk| {
        chunk.map_err(|err| {
            tracing::warn!(error = %err, "AI audio failed after the first byte");
            std::io::Error::other(err.public_message())
        })
    }))
}
