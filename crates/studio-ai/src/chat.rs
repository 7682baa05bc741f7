//! Streamed text generation through the service: cache, coalescing, and the upstream task.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use studio_core::UserId;
use studio_db::AiUsage;

use crate::calllog::{CallKind, CallLog, tracked};
use crate::flight::{FlightEvent, FlightReader, FlightWriter};
use crate::service::{
    AiError, AiService, AnswerRecorder, CachePolicy, CacheStatus, Caller, DailyCheck, started,
};
use crate::{ChatEvent, ChatProvider, ChatRequest, ChatStream, ProviderError, Usage};

/// A generation on its way to the browser.
pub struct ChatAnswer {
    pub cache: CacheStatus,
    pub provider: String,
    pub model: String,
    /// Events as generated: deltas, usage, then `Finish`; or an error, after which nothing
    /// follows. Dropping it lets go of the call (cancelled if nobody else listens).
    pub events: ChatStream,
}

impl AiService {
    /// Answers `request` for `caller` with `provider` (from [`AiService::route_chat`]).
    /// Returns once the answer has started: from the cache, from an identical call in flight,
    /// or from the provider having accepted a new call. Limits and provider refusals before
    /// that are errors.
    pub async fn chat(
        &self,
        caller: &Caller,
        provider: Arc<dyn ChatProvider>,
        mut request: ChatRequest,
        policy: CachePolicy,
    ) -> Result<ChatAnswer, AiError> {
        let began = Instant::now();
        let permit = self.admit(caller, DailyCheck::Tokens).await?;
        let ceiling = self.inner.settings.max_output_tokens;
        request.max_output_tokens = request.max_output_tokens.clamp(1, ceiling.max(1));
        let key = self.key("chat", provider.name(), caller, &request);
        let mut log = CallLog::new(
            CallKind::Chat,
            provider.name(),
            &request.model,
            CacheStatus::Hit,
            began,
        );
        let answer = |log: CallLog, events| ChatAnswer {
            cache: log.cache(),
            provider: provider.name().to_owned(),
            model: request.model.clone(),
            events: tracked(events, log, permit, self.metrics(), observe),
        };

        if policy.read
            && let Some(hit) = self.inner.cache.get(&key).await
            && let Some(events) = decode_all(&hit.frames)
        {
            return Ok(answer(
                log,
                futures::stream::iter(events.into_iter().map(Ok)).boxed(),
            ));
        }

        let service = self.clone();
        let upstream = provider.clone();
        let call = request.clone();
        let user = caller.user.clone();
        let cache_key = key.clone();
        let (mut reader, status) = self
            .join_flight(&key, policy, move |writer| {
                run_upstream(
                    service,
                    upstream,
                    call,
                    cache_key,
                    policy.write,
                    user,
                    writer,
                )
            })
            .await;
        log.set_cache(status);
        if let Err(err) = started(&mut reader).await {
            log.failed(&err);
            return Err(err.into());
        }
        Ok(answer(log, events(reader)))
    }
}

fn observe(log: &mut CallLog, event: &ChatEvent) {
    match event {
        ChatEvent::Delta { text } => log.bytes(text.len()),
        ChatEvent::Usage { usage } => log.usage(*usage),
        ChatEvent::Finish { .. } => log.finished(),
    }
}

fn encode(event: &ChatEvent) -> Bytes {
    // Our own enum of strings and integers always serializes.
    serde_json::to_vec(event).unwrap_or_default().into()
}

/// A cached answer's events; `None` if any frame does not read back (an entry written by an
/// incompatible version), which is then treated as a miss.
fn decode_all(frames: &[Bytes]) -> Option<Vec<ChatEvent>> {
    let events: Vec<ChatEvent> = frames
        .iter()
        .map(|frame| serde_json::from_slice(frame).ok())
        .collect::<Option<_>>()?;
    matches!(events.last(), Some(ChatEvent::Finish { .. })).then_some(events)
}

/// A flight's frames as events, after `Started`: ends after `Finish`, or with an error when
/// the flight failed or ended without finishing.
fn events(reader: FlightReader) -> ChatStream {
    futures::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        loop {
            let item = match reader.next().await {
                Some(FlightEvent::Started) => continue,
                Some(FlightEvent::Frame(frame)) => match serde_json::from_slice(&frame) {
                    Ok(event) => Ok(event),
                    Err(_) => Err(ProviderError::BadGateway("unreadable frame".to_owned())),
                },
                Some(FlightEvent::Failed(err)) => Err(err),
                Some(FlightEvent::Done) => return None,
                None => Err(ProviderError::BadGateway(
                    "the answer ended before it finished".to_owned(),
                )),
            };
            let next = match &item {
                Ok(ChatEvent::Finish { .. }) | Err(_) => None,
                Ok(_) => Some(reader),
            };
            return Some((item, next));
        }
    })
    .boxed()
}

/// The upstream call of a flight, detached from any one request: streams the provider's
/// events into the flight, charges the leader's user for what the provider reports (or, when
/// it reports nothing, an estimate), and caches the answer if it finished normally.
async fn run_upstream(
    service: AiService,
    provider: Arc<dyn ChatProvider>,
    request: ChatRequest,
    key: String,
    store: bool,
    user: UserId,
    mut writer: FlightWriter,
) {
    let name = provider.name().to_owned();
    let metrics = service.metrics().clone();
    metrics.upstream_call(&name, "chat");
    let began = Instant::now();
    let mut spend = Spend::new(&request);

    let opened = tokio::select! {
        opened = provider.stream_chat(&request) => opened,
        () = writer.abandoned() => {
            metrics.cancelled(&name);
            return;
        }
    };
    let mut stream = match opened {
        Ok(stream) => stream,
        Err(err) => {
            metrics.error(&name, err.code());
            writer.fail(err).await;
            return;
        }
    };
    writer.started().await;

    let mut recorder = AnswerRecorder::new(&service, store);
    let mut first = true;
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            () = writer.abandoned() => {
                // Dropping the stream closes the upstream connection: the provider stops
                // generating (and billing).
                drop(stream);
                metrics.cancelled(&name);
                service.charge(&user, spend.finish(&metrics, &name)).await;
                return;
            }
        };
        let event = match next {
            Some(Ok(event)) => event,
            Some(Err(err)) => {
                metrics.error(&name, err.code());
                service.charge(&user, spend.finish(&metrics, &name)).await;
                writer.fail(err).await;
                return;
            }
            None => {
                let err = ProviderError::BadGateway("the provider ended the stream early".into());
                metrics.error(&name, err.code());
                service.charge(&user, spend.finish(&metrics, &name)).await;
                writer.fail(err).await;
                return;
            }
        };
        match &event {
            ChatEvent::Delta { text } => {
                if std::mem::take(&mut first) {
                    metrics.first_byte(&name, began.elapsed());
                }
                spend.output_chars += text.chars().count() as u64;
            }
            ChatEvent::Usage { usage } => spend.reported = Some(*usage),
            ChatEvent::Finish { .. } => {}
        }
        let frame = encode(&event);
        recorder.push(&frame);
        if matches!(event, ChatEvent::Finish { .. }) {
            // Charged and cached before the browser sees the end: once an answer has ended,
            // the next identical request is a hit and `GET /api/me` counts it.
            service.charge(&user, spend.finish(&metrics, &name)).await;
            recorder.store(&service, &key).await;
            writer.frame(frame).await;
            writer.done().await;
            return;
        }
        writer.frame(frame).await;
    }
}

/// What a call costs: the provider's reported usage, or (for providers that report none, or a
/// call cut short before the report) an estimate of four characters per token, so that no
/// call is free against the daily allowance.
struct Spend {
    input_chars: u64,
    output_chars: u64,
    reported: Option<Usage>,
}

impl Spend {
    fn new(request: &ChatRequest) -> Self {
        Self {
            input_chars: request
                .messages
                .iter()
                .map(|m| m.content.chars().count() as u64)
                .sum(),
            output_chars: 0,
            reported: None,
        }
    }

    fn finish(&self, metrics: &crate::metrics::AiMetrics, provider: &str) -> AiUsage {
        let usage = self.reported.unwrap_or(Usage {
            input_tokens: self.input_chars.div_ceil(4),
            output_tokens: self.output_chars.div_ceil(4),
        });
        metrics.tokens(provider, usage.input_tokens, usage.output_tokens);
        AiUsage {
            requests: 1,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            speech_characters: 0,
        }
    }
}
