//! The ElevenLabs client against [`FakeElevenLabs`].

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use secrecy::SecretString;
use studio_ai::elevenlabs::{ElevenLabsConfig, ElevenLabsProvider};
use studio_ai::{ProviderError, SpeechProvider as _, SpeechRequest, SpeechStream, Timeouts};
use studio_testkit::fake_ai::{Ending, FakeElevenLabs, Script};

use super::*;

const VOICE: &str = "21m00Tcm4TlvDq8ikWAM";

fn provider_at(base_url: &str, timeouts: Timeouts) -> ElevenLabsProvider {
    let config = ElevenLabsConfig::new("elevenlabs", base_url, SecretString::from(KEY), timeouts);
    ElevenLabsProvider::new(config).expect("provider")
}

fn provider(fake: &FakeElevenLabs) -> ElevenLabsProvider {
    provider_at(&fake.base_url(), timeouts())
}

fn speech(voice_id: &str) -> SpeechRequest {
    SpeechRequest {
        voice_id: voice_id.to_owned(),
        model: "eleven_flash_v2_5".to_owned(),
        text: "Scene one.".to_owned(),
    }
}

/// Fake MP3 chunks: distinct bytes, so order and loss show.
fn chunks(n: u8) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![i; 1000 + usize::from(i)]).collect()
}

/// All the audio bytes, then the error the stream ended with (if any).
async fn drain(speech: SpeechStream) -> (Vec<u8>, Option<ProviderError>) {
    let mut audio = speech.audio;
    let mut bytes = Vec::new();
    while let Some(item) = tokio::time::timeout(Duration::from_secs(20), audio.next())
        .await
        .expect("the audio yields in time")
    {
        match item {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(err) => {
                assert_key_hidden(&err);
                return (bytes, Some(err));
            }
        }
    }
    (bytes, None)
}

#[tokio::test]
async fn streams_audio_as_it_is_generated() {
    let fake = FakeElevenLabs::start(
        Script::audio(chunks(3))
            .with_character_cost(10)
            .pause_after(1),
    )
    .await;
    let mut speech_stream = provider(&fake)
        .stream_speech(&speech(VOICE))
        .await
        .expect("accepted");
    assert_eq!(speech_stream.content_type, "audio/mpeg");
    assert_eq!(speech_stream.billed_characters, Some(10));
    // The first chunk arrives while the fake still holds the rest.
    let first: Bytes = next(&mut speech_stream.audio).await.expect("audio");
    assert_eq!(&first[..], &chunks(1)[0][..]);
    assert_eq!(fake.completed(), 0);
    fake.release();
    let (rest, err) = drain(speech_stream).await;
    assert_eq!(err, None);
    assert_eq!(rest, chunks(3)[1..].concat());

    let request = fake.last_request().expect("recorded");
    assert_eq!(
        request.path,
        format!("/v1/text-to-speech/{VOICE}/stream?output_format=mp3_44100_128")
    );
    assert_eq!(request.header("xi-api-key"), Some(KEY));
    assert_eq!(
        request.body,
        serde_json::json!({"text": "Scene one.", "model_id": "eleven_flash_v2_5"})
    );
}

#[tokio::test]
async fn audio_cut_anywhere_arrives_whole_and_in_order() {
    let fake = FakeElevenLabs::start(Script::audio(chunks(4)).split_every(333)).await;
    let speech_stream = provider(&fake)
        .stream_speech(&speech(VOICE))
        .await
        .expect("accepted");
    assert_eq!(speech_stream.billed_characters, None);
    assert_eq!(drain(speech_stream).await, (chunks(4).concat(), None));
}

#[tokio::test]
async fn a_dropped_connection_is_an_error_in_the_stream() {
    let fake = FakeElevenLabs::start(Script::audio(chunks(2)).ending(Ending::DropConnection)).await;
    let speech_stream = provider(&fake)
        .stream_speech(&speech(VOICE))
        .await
        .expect("accepted");
    let (bytes, err) = drain(speech_stream).await;
    assert_eq!(bytes, chunks(2).concat());
    assert!(matches!(err, Some(ProviderError::BadGateway(_))), "{err:?}");
}

#[tokio::test]
async fn error_statuses_map_to_their_kind() {
    let fake = FakeElevenLabs::start(Script::failure(401)).await;
    let provider = provider(&fake);
    let err = expect_err(provider.stream_speech(&speech(VOICE)).await);
    assert!(matches!(err, ProviderError::Rejected(_)), "{err:?}");
    fake.set_script(Script::failure(429).with_retry_after("12"));
    assert_eq!(
        expect_err(provider.stream_speech(&speech(VOICE)).await),
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(12))
        }
    );
    fake.set_script(Script::failure(500));
    assert!(matches!(
        expect_err(provider.stream_speech(&speech(VOICE)).await),
        ProviderError::BadGateway(_)
    ));
}

#[tokio::test]
async fn timeouts_before_and_during_the_stream() {
    let fake = FakeElevenLabs::start(Script::never_answer()).await;
    let provider = provider_at(&fake.base_url(), short_timeouts());
    let err = expect_err(provider.stream_speech(&speech(VOICE)).await);
    assert_eq!(err, ProviderError::Timeout);
    fake.wait_cancelled(1).await;

    fake.set_script(Script::audio(chunks(2)).pause_after(1));
    let speech_stream = provider
        .stream_speech(&speech(VOICE))
        .await
        .expect("accepted");
    let (bytes, err) = drain(speech_stream).await;
    assert_eq!(bytes, chunks(1).concat());
    assert_eq!(err, Some(ProviderError::Timeout));
    fake.wait_cancelled(2).await;
}

#[tokio::test]
async fn dropping_the_stream_closes_the_upstream_connection() {
    let fake = FakeElevenLabs::start(Script::audio(chunks(2)).pause_after(1)).await;
    let mut speech_stream = provider(&fake)
        .stream_speech(&speech(VOICE))
        .await
        .expect("accepted");
    next(&mut speech_stream.audio).await.expect("audio");
    drop(speech_stream);
    fake.wait_cancelled(1).await;
}

#[tokio::test]
async fn an_unsafe_voice_id_is_rejected_before_any_request() {
    let fake = FakeElevenLabs::start(Script::audio(chunks(1))).await;
    for bad in ["../../v1/user", "a/b", "voice?x=1", ""] {
        let err = expect_err(provider(&fake).stream_speech(&speech(bad)).await);
        assert!(
            matches!(err, ProviderError::Rejected(_)),
            "{bad:?}: {err:?}"
        );
    }
    assert_eq!(fake.requests(), 0);
}
