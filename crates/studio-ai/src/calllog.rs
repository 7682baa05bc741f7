//! The one log line (and the request metric) of every AI call, written when the answer stream
//! ends or is dropped, so a browser that leaves mid-answer is logged too. It carries the span
//! of the request that asked (its `request_id`), even though the body is streamed later.

use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};

use crate::limits::StreamPermit;
use crate::metrics::AiMetrics;
use crate::service::CacheStatus;
use crate::{ProviderError, Usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    Chat,
    Speech,
}

impl CallKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Speech => "speech",
        }
    }
}

/// How an answer ended, as far as this request saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The browser left (or the response was dropped) before the end.
    Disconnected,
    Finished,
    Failed(&'static str),
}

/// One request's view of a call.
pub(crate) struct CallLog {
    span: tracing::Span,
    kind: CallKind,
    provider: String,
    model: String,
    cache: CacheStatus,
    started: Instant,
    first_byte: Option<Duration>,
    usage: Option<Usage>,
    bytes: u64,
    outcome: Outcome,
}

impl CallLog {
    pub(crate) fn new(
        kind: CallKind,
        provider: &str,
        model: &str,
        cache: CacheStatus,
        started: Instant,
    ) -> Self {
        Self {
            span: tracing::Span::current(),
            kind,
            provider: provider.to_owned(),
            model: model.to_owned(),
            cache,
            started,
            first_byte: None,
            usage: None,
            bytes: 0,
            outcome: Outcome::Disconnected,
        }
    }

    pub(crate) fn set_cache(&mut self, cache: CacheStatus) {
        self.cache = cache;
    }

    /// Answer bytes went out (generated text or audio).
    pub(crate) fn bytes(&mut self, n: usize) {
        if self.first_byte.is_none() {
            self.first_byte = Some(self.started.elapsed());
        }
        self.bytes += n as u64;
    }

    pub(crate) fn usage(&mut self, usage: Usage) {
        self.usage = Some(usage);
    }

    pub(crate) fn finished(&mut self) {
        self.outcome = Outcome::Finished;
    }

    pub(crate) fn failed(&mut self, err: &ProviderError) {
        self.outcome = Outcome::Failed(err.code());
    }

    pub(crate) fn cache(&self) -> CacheStatus {
        self.cache
    }
}

impl Drop for CallLog {
    fn drop(&mut self) {
        let usage = self.usage.unwrap_or_default();
        let outcome = match self.outcome {
            Outcome::Disconnected => "disconnected",
            Outcome::Finished => "finished",
            Outcome::Failed(code) => code,
        };
        let first_byte_ms = self.first_byte.map(|d| d.as_secs_f64() * 1000.0);
        tracing::info!(
            parent: &self.span,
            ai_kind = self.kind.as_str(),
            provider = %self.provider,
            model = %self.model,
            cache = self.cache.label(),
            input_tokens = usage.input_tokens,
            output_tokens = usage.output_tokens,
            bytes = self.bytes,
            first_byte_ms,
            latency_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            outcome,
            "ai call"
        );
    }
}

/// `stream` with its log line and its concurrent-stream slot: both end with the stream (or
/// when the response holding it is dropped). `observe` feeds each item to the log; a stream
/// that ends without an error finished normally.
pub(crate) fn tracked<T: Send + 'static>(
    stream: impl Stream<Item = Result<T, ProviderError>> + Send + 'static,
    log: CallLog,
    permit: StreamPermit,
    metrics: &AiMetrics,
    observe: fn(&mut CallLog, &T),
) -> futures::stream::BoxStream<'static, Result<T, ProviderError>> {
    metrics.request(&log.provider, log.kind.as_str(), log.cache.label());
    let stream = stream.boxed();
    futures::stream::unfold(
        (stream, log, permit),
        move |(mut stream, mut log, permit)| async move {
            match stream.next().await {
                Some(item) => {
                    match &item {
                        Ok(value) => observe(&mut log, value),
                        Err(err) => log.failed(err),
                    }
                    Some((item, (stream, log, permit)))
                }
                None => {
                    if log.outcome == Outcome::Disconnected {
                        log.finished();
                    }
                    None
                }
            }
        },
    )
    .boxed()
}
