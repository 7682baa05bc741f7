//! Streamed text-to-speech through the service: the same cache, coalescing and detached
//! upstream task as chat, with audio chunks as frames.
//!
//! A speech flight's (and cached answer's) first frame is the audio's media type; every frame
//! after it is audio, passed through as the provider sent it.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use studio_core::UserId;
use studio_db::AiUsage;

use crate::calllog::{CallKind, CallLog, tracked};
use crate::flight::{FlightEvent, FlightReader, FlightWriter};
use crate::service::{
    AiError, AiService, AnswerRecorder, CachePolicy, CacheStatus, Caller, DailyCheck, started,
};
use crate::{ProviderError, SpeechProvider, SpeechRequest};

/// Audio on its way to the browser.
pub struct SpeechAnswer {
    pub cache: CacheStatus,
    pub provider: String,
    pub model: String,
    pub content_type: String,
    /// Audio chunks as they arrive; an error ends it. Dropping it lets go of the call.
    pub audio: BoxStream<'static, Result<Bytes, ProviderError>>,
}

impl AiService {
    /// Speaks `request` for `caller` with `provider` (from [`AiService::route_speech`]).
    /// Returns once audio can start flowing; limits and refusals before that are errors.
    pub async fn speech(
        &self,
        caller: &Caller,
        provider: Arc<dyn SpeechProvider>,
        request: SpeechRequest,
        policy: CachePolicy,
    ) -> Result<SpeechAnswer, AiError> {
        let began = Instant::now();
        let characters = request.text.chars().count() as u64;
        let permit = self
            .admit(caller, DailyCheck::SpeechCharacters(characters))
            .await?;
        let key = self.key("speech", provider.name(), caller, &request);
        let mut log = CallLog::new(
            CallKind::Speech,
            provider.name(),
            &request.model,
            CacheStatus::Hit,
            began,
        );
        let answer = |log: CallLog, content_type: String, audio| SpeechAnswer {
            cache: log.cache(),
            provider: provider.name().to_owned(),
            model: request.model.clone(),
            content_type,
            audio: tracked(audio, log, permit, self.metrics(), |log, chunk: &Bytes| {
                log.bytes(chunk.len())
            }),
        };

        if policy.read
            && let Some(hit) = self.inner.cache.get(&key).await
        {
            let mut frames = hit.frames.into_iter();
            if let Some(content_type) = frames.next()
                && let Ok(content_type) = String::from_utf8(content_type.to_vec())
            {
                let audio = futures::stream::iter(frames.map(Ok)).boxed();
                return Ok(answer(log, content_type, audio));
            }
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
        let content_type = match started(&mut reader).await {
            Ok(()) => match reader.next().await {
                Some(FlightEvent::Frame(frame)) => String::from_utf8_lossy(&frame).into_owned(),
                Some(FlightEvent::Failed(err)) => Err(err).map_err(|err| {
                    log.failed(&err);
                    AiError::Provider(err)
                })?,
                _ => {
                    let err = ProviderError::BadGateway("no audio".to_owned());
                    log.failed(&err);
                    return Err(err.into());
                }
            },
            Err(err) => {
                log.failed(&err);
                return Err(err.into());
            }
        };
        Ok(answer(log, content_type, audio(reader)))
    }
}

/// The audio frames of a flight, after its media type.
fn audio(reader: FlightReader) -> BoxStream<'static, Result<Bytes, ProviderError>> {
    futures::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        loop {
            return match reader.next().await {
                Some(FlightEvent::Started) => continue,
                Some(FlightEvent::Frame(chunk)) => Some((Ok(chunk), Some(reader))),
                Some(FlightEvent::Done) => None,
                Some(FlightEvent::Failed(err)) => Some((Err(err), None)),
                None => Some((
                    Err(ProviderError::BadGateway(
                        "the audio ended early".to_owned(),
                    )),
                    None,
                )),
            };
        }
    })
    .boxed()
}

/// The upstream call of a speech flight. The provider bills the text when it accepts the
/// request, so the caller's day is charged then, whatever happens to the stream.
async fn run_upstream(
    service: AiService,
    provider: Arc<dyn SpeechProvider>,
    request: SpeechRequest,
    key: String,
    store: bool,
    user: UserId,
    mut writer: FlightWriter,
) {
    let name = provider.name().to_owned();
    let metrics = service.metrics().clone();
    metrics.upstream_call(&name, "speech");
    let began = Instant::now();
    let opened = tokio::select! {
        opened = provider.stream_speech(&request) => opened,
        () = writer.abandoned() => {
            metrics.cancelled(&name);
            return;
        }
    };
    let speech = match opened {
        Ok(speech) => speech,
        Err(err) => {
            metrics.error(&name, err.code());
            writer.fail(err).await;
            return;
        }
    };
    let characters = speech
        .billed_characters
        .unwrap_or(request.text.chars().count() as u64);
    metrics.speech_characters(&name, characters);
    service
        .charge(
            &user,
            AiUsage {
                requests: 1,
                speech_characters: characters,
                ..AiUsage::default()
            },
        )
        .await;
    writer.started().await;
    let content_type = Bytes::from(speech.content_type.into_bytes());
    writer.frame(content_type.clone()).await;

    let mut recorder = AnswerRecorder::new(&service, store);
    recorder.push(&content_type);
    let mut first = true;
    let mut audio = speech.audio;
    loop {
        let next = tokio::select! {
            next = audio.next() => next,
            () = writer.abandoned() => {
                drop(audio);
                metrics.cancelled(&name);
                return;
            }
        };
        match next {
            Some(Ok(chunk)) => {
                if std::mem::take(&mut first) {
                    metrics.first_byte(&name, began.elapsed());
                }
                recorder.push(&chunk);
                writer.frame(chunk).await;
            }
            Some(Err(err)) => {
                metrics.error(&name, err.code());
                writer.fail(err).await;
                return;
            }
            None => break,
        }
    }
    recorder.store(&service, &key).await;
    writer.done().await;
}
