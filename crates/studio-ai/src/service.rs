//! One AI call from request to answer: model routing, per-user limits, the cache, coalescing
//! and the detached upstream call, accounting and logging. The HTTP layer turns what
//! [`AiService::chat`] and [`AiService::speech`] return into responses.
//!
//! The upstream call runs in a task of its own, not in the request that started it, so that
//! when that browser leaves while others still listen (coalesced followers), the call goes on
//! for them; it is cancelled when its flight is abandoned (no listener anywhere). Only a
//! complete, normally finished answer is cached, and it is put in the cache before the flight
//! ends, so a request arriving just after finds it there.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use studio_core::UserId;
use studio_db::{AiUsage, AiUsageStore, DbError};
use time::OffsetDateTime;

use crate::cache::AnswerCache;
use crate::flight::{Coalescer, FlightEvent, FlightReader, Joined};
use crate::key::{CacheScope, ScopeKey, cache_key};
use crate::limits::{LimitExceeded, Limiter, RateLimits, StreamPermit};
use crate::metrics::AiMetrics;
use crate::{ChatProvider, ProviderError, SpeechProvider};

/// A plan's AI allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiPlanLimits {
    /// Answers streaming at once.
    pub concurrent_streams: u32,
    pub requests_per_minute: u32,
    /// Input plus output tokens per UTC day, as the providers report them.
    pub tokens_per_day: u64,
    /// Text-to-speech characters per UTC day.
    pub speech_characters_per_day: u64,
}

/// How the AI layer behaves, from configuration.
#[derive(Debug, Clone)]
pub struct AiSettings {
    pub cache_scope: CacheScope,
    pub cache_ttl: Duration,
    /// Answers larger than this are streamed but not cached.
    pub max_cached_answer_bytes: u64,
    /// The ceiling of every generation's `max_output_tokens` (and its default).
    pub max_output_tokens: u32,
    /// Most characters of conversation one chat request may bring.
    pub max_input_chars: usize,
    /// Most characters one speech request may bring.
    pub max_speech_chars: usize,
    /// How often an idle answer stream gets a keep-alive comment.
    pub keep_alive: Duration,
    /// Plan name → allowance; `free` is the fallback for unknown plans.
    pub plans: BTreeMap<String, AiPlanLimits>,
}

impl AiSettings {
    /// The allowance of `plan`, falling back to `free`, then to nothing at all.
    pub fn limits(&self, plan: &str) -> AiPlanLimits {
        self.plans
            .get(plan)
            .or_else(|| self.plans.get("free"))
            .copied()
            .unwrap_or(AiPlanLimits {
                concurrent_streams: 0,
                requests_per_minute: 0,
                tokens_per_day: 0,
                speech_characters_per_day: 0,
            })
    }
}

/// A provider and the models it may be asked for.
pub struct Routed<P: ?Sized> {
    pub provider: Arc<P>,
    /// Allowed model ids; the first is the provider's default.
    pub models: Vec<String>,
}

/// Everything the service is built from.
pub struct AiParts {
    /// Chat providers, in preference order (the first one's first model is the default unless
    /// `default_chat_model` names another).
    pub chat: Vec<Routed<dyn ChatProvider>>,
    pub default_chat_model: Option<String>,
    pub speech: Option<Routed<dyn SpeechProvider>>,
    pub cache: Arc<dyn AnswerCache>,
    pub flights: Coalescer,
    pub limiter: Limiter,
    pub usage: Arc<dyn AiUsageStore>,
    pub settings: AiSettings,
    pub metrics: AiMetrics,
}

/// Why a call was not answered.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    /// No provider of this kind is configured.
    #[error("no AI provider is configured for {0}")]
    NotConfigured(&'static str),
    /// The request names a model the configuration does not allow.
    #[error("model {model:?} is not available")]
    UnknownModel { model: String, allowed: Vec<String> },
    /// A per-user limit; `limit` names it (`concurrent_streams`, `requests_per_minute`,
    /// `tokens_per_day`, `speech_characters_per_day`).
    #[error("AI limit {limit} reached")]
    Limited {
        limit: &'static str,
        retry_after: Duration,
    },
    /// The provider failed before the first byte.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The usage accounting could not be read.
    #[error("AI usage accounting failed")]
    Accounting(#[source] DbError),
}

impl From<LimitExceeded> for AiError {
    fn from(err: LimitExceeded) -> Self {
        Self::Limited {
            limit: err.limit,
            retry_after: err.retry_after,
        }
    }
}

/// Who is asking, on which plan, about which project.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserId,
    pub plan: String,
    pub project: Option<String>,
}

/// What the request's `Cache-Control` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// Answer from the cache (or join an identical call in flight) when possible.
    pub read: bool,
    /// Store this answer for the next identical request.
    pub write: bool,
}

impl CachePolicy {
    /// `no-cache` skips the read (and coalescing: the caller asked for a fresh answer);
    /// `no-store` skips the read and the write.
    pub fn from_cache_control(header: Option<&str>) -> Self {
        let mut policy = Self {
            read: true,
            write: true,
        };
        for directive in header.unwrap_or("").split(',') {
            match directive.trim().to_ascii_lowercase().as_str() {
                "no-cache" => policy.read = false,
                "no-store" => {
                    policy.read = false;
                    policy.write = false;
                }
                _ => {}
            }
        }
        policy
    }
}

/// Where an answer came from (the `x-cache` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Replayed from the cache; no provider call.
    Hit,
    /// This request called the provider.
    Miss,
    /// Followed an identical call already in flight; no provider call of its own.
    Coalesced,
    /// `Cache-Control` asked for a fresh answer.
    Bypass,
}

impl CacheStatus {
    pub fn header_value(self) -> &'static str {
        match self {
            Self::Hit => "HIT",
            Self::Miss => "MISS",
            Self::Coalesced => "COALESCED",
            Self::Bypass => "BYPASS",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Coalesced => "coalesced",
            Self::Bypass => "bypass",
        }
    }
}

/// Today's spending and allowance of a user (`GET /api/me`).
#[derive(Debug, Clone, Copy)]
pub struct UsageReport {
    pub today: AiUsage,
    pub limits: AiPlanLimits,
    pub active_streams: u32,
}

/// The AI backend-for-frontend. Cheap to clone.
#[derive(Clone)]
pub struct AiService {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) chat: Vec<Routed<dyn ChatProvider>>,
    pub(crate) default_chat_model: Option<String>,
    pub(crate) speech: Option<Routed<dyn SpeechProvider>>,
    pub(crate) cache: Arc<dyn AnswerCache>,
    pub(crate) flights: Coalescer,
    pub(crate) limiter: Limiter,
    pub(crate) usage: Arc<dyn AiUsageStore>,
    pub(crate) settings: AiSettings,
    pub(crate) metrics: AiMetrics,
}

impl AiService {
    pub fn new(parts: AiParts) -> Self {
        Self {
            inner: Arc::new(Inner {
                chat: parts.chat,
                default_chat_model: parts.default_chat_model,
                speech: parts.speech,
                cache: parts.cache,
                flights: parts.flights,
                limiter: parts.limiter,
                usage: parts.usage,
                settings: parts.settings,
                metrics: parts.metrics,
            }),
        }
    }

    pub fn settings(&self) -> &AiSettings {
        &self.inner.settings
    }

    /// The chat provider for `model` (the default model when `None`), and the model id.
    pub fn route_chat(
        &self,
        model: Option<&str>,
    ) -> Result<(Arc<dyn ChatProvider>, String), AiError> {
        let inner = &self.inner;
        let first = inner
            .chat
            .first()
            .ok_or(AiError::NotConfigured("text generation"))?;
        let model = match model {
            Some(model) => model.to_owned(),
            None => inner
                .default_chat_model
                .clone()
                .or_else(|| first.models.first().cloned())
                .ok_or(AiError::NotConfigured("text generation"))?,
        };
        inner
            .chat
            .iter()
            .find(|route| route.models.contains(&model))
            .map(|route| (route.provider.clone(), model.clone()))
            .ok_or_else(|| AiError::UnknownModel {
                allowed: inner.chat.iter().flat_map(|r| r.models.clone()).collect(),
                model,
            })
    }

    /// The speech provider for `model` (its default when `None`), and the model id.
    pub fn route_speech(
        &self,
        model: Option<&str>,
    ) -> Result<(Arc<dyn SpeechProvider>, String), AiError> {
        let route = self
            .inner
            .speech
            .as_ref()
            .ok_or(AiError::NotConfigured("text-to-speech"))?;
        let model = match model {
            Some(model) => model.to_owned(),
            None => route
                .models
                .first()
                .cloned()
                .ok_or(AiError::NotConfigured("text-to-speech"))?,
        };
        if route.models.contains(&model) {
            Ok((route.provider.clone(), model))
        } else {
            Err(AiError::UnknownModel {
                model,
                allowed: route.models.clone(),
            })
        }
    }

    /// What `caller` spent today, against the plan's allowance.
    pub async fn usage(&self, user: &UserId, plan: &str) -> Result<UsageReport, AiError> {
        let today = self
            .inner
            .usage
            .ai_usage_day(user, utc_today())
            .await
            .map_err(AiError::Accounting)?;
        Ok(UsageReport {
            today,
            limits: self.inner.settings.limits(plan),
            active_streams: self.inner.limiter.active_streams(user.as_str()).await,
        })
    }

    /// Admits one call of `caller`: a concurrent-stream slot and a request of the minute, then
    /// the daily allowance (`spend_today` says which part of today's usage to compare with
    /// which limit, and what this call will add when that is known in advance).
    pub(crate) async fn admit(
        &self,
        caller: &Caller,
        daily: DailyCheck,
    ) -> Result<StreamPermit, AiError> {
        let limits = self.inner.settings.limits(&caller.plan);
        let permit = self
            .inner
            .limiter
            .admit(
                caller.user.as_str(),
                &RateLimits {
                    concurrent_streams: limits.concurrent_streams,
                    requests_per_minute: limits.requests_per_minute,
                },
            )
            .await?;
        let today = self
            .inner
            .usage
            .ai_usage_day(&caller.user, utc_today())
            .await
            .map_err(AiError::Accounting)?;
        let (limit, spent, allowance) = match daily {
            DailyCheck::Tokens => ("tokens_per_day", today.tokens(), limits.tokens_per_day),
            DailyCheck::SpeechCharacters(this_call) => (
                "speech_characters_per_day",
                today.speech_characters.saturating_add(this_call),
                limits.speech_characters_per_day,
            ),
        };
        // Tokens are only known afterwards, so a call is admitted while any are left; the
        // per-call `max_output_tokens` and the concurrency limit bound the overshoot.
        let over = match daily {
            DailyCheck::Tokens => spent >= allowance,
            DailyCheck::SpeechCharacters(_) => spent > allowance,
        };
        if over {
            return Err(AiError::Limited {
                limit,
                retry_after: until_next_utc_day(),
            });
        }
        Ok(permit)
    }

    /// The scope and key of a call.
    pub(crate) fn key(
        &self,
        kind: &str,
        provider: &str,
        caller: &Caller,
        request: &impl serde::Serialize,
    ) -> String {
        let scope = ScopeKey::of(
            self.inner.settings.cache_scope,
            caller.user.as_str(),
            caller.project.as_deref(),
        );
        cache_key(kind, provider, &scope, request)
    }

    /// Joins the flight for `key` (a private one when the policy bypasses the cache); the
    /// leader's `run` is spawned with the writer, in the current span (so its log lines carry
    /// this request's id).
    pub(crate) async fn join_flight<F, Fut>(
        &self,
        key: &str,
        policy: CachePolicy,
        run: F,
    ) -> (FlightReader, CacheStatus)
    where
        F: FnOnce(crate::flight::FlightWriter) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        use tracing::Instrument;
        let flight_key = if policy.read {
            key.to_owned()
        } else {
            // A fresh answer was asked for: a flight nobody else can join.
            format!("{key}:{}", uuid_like())
        };
        match self.inner.flights.join(&flight_key).await {
            Joined::Leader { writer, reader } => {
                tokio::spawn(run(writer).instrument(tracing::Span::current()));
                let status = if policy.read {
                    CacheStatus::Miss
                } else {
                    CacheStatus::Bypass
                };
                (reader, status)
            }
            Joined::Follower { reader } => (reader, CacheStatus::Coalesced),
        }
    }

    /// Adds a finished (or cancelled) call's cost to the caller's day. Accounting must not be
    /// lost silently, but a failure here cannot reach the browser any more: it is logged.
    pub(crate) async fn charge(&self, user: &UserId, usage: AiUsage) {
        if let Err(err) = self
            .inner
            .usage
            .ai_usage_add(user, utc_today(), usage)
            .await
        {
            tracing::error!(error = %err, user = %user.as_str(), "could not record AI usage");
        }
    }

    pub(crate) fn metrics(&self) -> &AiMetrics {
        &self.inner.metrics
    }
}

/// Which daily allowance a call is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DailyCheck {
    Tokens,
    /// Speech: the characters this call will bill are known in advance.
    SpeechCharacters(u64),
}

/// Waits for a flight to start: `Ok` once the provider accepted, the provider's error if it
/// refused (so the browser gets a real status).
pub(crate) async fn started(reader: &mut FlightReader) -> Result<(), ProviderError> {
    match reader.next().await {
        Some(FlightEvent::Started) => Ok(()),
        Some(FlightEvent::Failed(err)) => Err(err),
        _ => Err(ProviderError::BadGateway(
            "the call ended before it started".to_owned(),
        )),
    }
}

pub(crate) fn utc_today() -> time::Date {
    OffsetDateTime::now_utc().date()
}

/// From now to the next 00:00 UTC, when daily allowances start over.
pub(crate) fn until_next_utc_day() -> Duration {
    let now = OffsetDateTime::now_utc();
    let midnight = now
        .date()
        .next_day()
        .map(|day| day.midnight().assume_utc())
        .unwrap_or(now);
    Duration::from_secs(((midnight - now).whole_seconds().max(1)) as u64)
}

/// A random suffix for private flights.
fn uuid_like() -> String {
    format!("private-{:032x}", rand::random::<u128>())
}

/// The frames of an answer kept for the cache as they stream, while they fit the configured
/// bound: an answer that outgrows it is streamed but not cached.
pub(crate) struct AnswerRecorder {
    frames: Vec<bytes::Bytes>,
    bytes: u64,
    max: u64,
    keeping: bool,
}

impl AnswerRecorder {
    /// Keeps frames when `store` (the request's cache policy allows it).
    pub(crate) fn new(service: &AiService, store: bool) -> Self {
        Self {
            frames: Vec::new(),
            bytes: 0,
            max: service.settings().max_cached_answer_bytes,
            keeping: store,
        }
    }

    pub(crate) fn push(&mut self, frame: &bytes::Bytes) {
        if !self.keeping {
            return;
        }
        self.bytes += frame.len() as u64;
        if self.bytes > self.max {
            self.keeping = false;
            self.frames = Vec::new();
        } else {
            self.frames.push(frame.clone());
        }
    }

    /// Caches the answer under `key` if it was kept whole. Call it only for an answer that
    /// finished normally, before the flight ends (see the module docs).
    pub(crate) async fn store(self, service: &AiService, key: &str) {
        if self.keeping {
            let answer = crate::cache::CachedAnswer {
                frames: self.frames,
            };
            let ttl = service.settings().cache_ttl;
            service.inner.cache.put(key, &answer, ttl).await;
        }
    }
}
