//! `/api/ai/tts`: audio streamed through as it arrives, cached, counted in characters.

use futures::StreamExt;
use serde_json::json;
use studio_ai::AiPlanLimits;
use studio_testkit::TestApp;
use studio_testkit::fake_ai::{FakeElevenLabs, Script};

use super::{header, problem};

async fn app_with_voice(fake: &FakeElevenLabs, daily_chars: u64) -> TestApp {
    let base = fake.base_url();
    TestApp::spawn_with(move |raw| {
        raw.ai_elevenlabs_base_url = base;
        raw.ai_elevenlabs_models = Some(vec!["eleven-test".to_owned()]);
        raw.ai_elevenlabs_api_key = Some("xi-secret".to_owned().into());
        raw.ai_plans.insert(
            "free".to_owned(),
            AiPlanLimits {
                concurrent_streams: 4,
                requests_per_minute: 100,
                tokens_per_day: 1000,
                speech_characters_per_day: daily_chars,
            },
        );
    })
    .await
}

fn speak(app: &TestApp, user: &str, text: &str) -> reqwest::RequestBuilder {
    app.request(reqwest::Method::POST, "/api/ai/tts", user)
        .json(&json!({"text": text, "voiceId": "voice_1"}))
}

fn audio() -> Vec<Vec<u8>> {
    (0..5u8).map(|i| vec![i; 4096]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audio_streams_through_as_it_arrives_and_is_cached() {
    let fake = FakeElevenLabs::start(Script::audio(audio()).pause_after(2)).await;
    let app = app_with_voice(&fake, 1000).await;
    let response = speak(&app, "alice", "Hello there").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "audio/mpeg");
    assert_eq!(header(&response, "x-cache"), "MISS");
    let mut body = response.bytes_stream();
    // The first chunks arrive while the provider is still holding the rest.
    let mut received = Vec::new();
    while received.len() < 2 * 4096 {
        received.extend_from_slice(&body.next().await.unwrap().unwrap());
    }
    assert_eq!(fake.completed(), 0);
    fake.release();
    while let Some(chunk) = body.next().await {
        received.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(received, audio().concat());
    let sent = fake.last_request().unwrap();
    assert!(
        sent.path.starts_with("/v1/text-to-speech/voice_1/stream"),
        "{}",
        sent.path
    );
    assert_eq!(sent.header("xi-api-key"), Some("xi-secret"));
    assert_eq!(
        sent.body,
        json!({"text": "Hello there", "model_id": "eleven-test"})
    );

    let again = speak(&app, "alice", "Hello there").send().await.unwrap();
    assert_eq!(header(&again, "x-cache"), "HIT");
    assert_eq!(header(&again, "content-type"), "audio/mpeg");
    assert_eq!(again.bytes().await.unwrap().to_vec(), audio().concat());
    assert_eq!(fake.requests(), 1);
    let me = app.get_json("/api/me", Some("alice")).await;
    assert_eq!(me["ai"]["speechCharacters"], 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_daily_character_allowance_is_checked_before_calling() {
    let fake = FakeElevenLabs::start(Script::audio(audio())).await;
    let app = app_with_voice(&fake, 20).await;
    assert_eq!(
        speak(&app, "alice", "0123456789")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let response = speak(&app, "alice", "abcdefghijk").send().await.unwrap();
    let (status, code, body) = problem(response).await;
    assert_eq!((status, code.as_str()), (429, "ai_limit_exceeded"));
    assert_eq!(body["limit"], "speech_characters_per_day");
    assert_eq!(fake.requests(), 1);
    // Bad input never reaches the provider.
    for body in [
        json!({"text": "", "voiceId": "v"}),
        json!({"text": "hi", "voiceId": "../admin"}),
        json!({"text": "hi", "voiceId": "v", "extra": 1}),
    ] {
        let response = app
            .request(reqwest::Method::POST, "/api/ai/tts", "alice")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{body}");
    }
    assert_eq!(fake.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_speech_in_flight_is_one_provider_call() {
    let fake = FakeElevenLabs::start(Script::audio(audio()).pause_after(1)).await;
    let app = app_with_voice(&fake, 1000).await;
    let first = speak(&app, "alice", "Once").send().await.unwrap();
    let second = speak(&app, "alice", "Once").send().await.unwrap();
    assert_eq!(header(&first, "x-cache"), "MISS");
    assert_eq!(header(&second, "x-cache"), "COALESCED");
    fake.release();
    let (first, second) = tokio::join!(first.bytes(), second.bytes());
    assert_eq!(first.unwrap().to_vec(), audio().concat());
    assert_eq!(second.unwrap().to_vec(), audio().concat());
    assert_eq!(fake.requests(), 1);
    // Characters are charged once, to the request that called the provider.
    assert_eq!(
        app.get_json("/api/me", Some("alice")).await["ai"]["speechCharacters"],
        4
    );
}
