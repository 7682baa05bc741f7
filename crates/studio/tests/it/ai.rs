//! The AI backend-for-frontend over HTTP: `/api/ai/chat` and `/api/ai/tts` against local fake
//! providers that speak the real wire formats and count their calls (`studio_testkit::fake_ai`).
//! The stream is read here with a small SSE reader; `ai_sdk` reads it with the real `ai` npm
//! package.

mod chat;
mod coalescing;
mod limits;
mod observability;
mod speech;

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use studio::config::RawConfig;
use studio_ai::AiPlanLimits;
use studio_testkit::TestApp;
use studio_testkit::fake_ai::FakeServer;

/// The only model the test configuration allows.
pub const MODEL: &str = "gpt-test";
/// The provider key the fake must see, and nobody else.
pub const KEY: &str = "sk-test-secret-key";

/// An app whose OpenAI-compatible provider is `fake`, with `adjust` applied after.
pub async fn app_with(fake: &FakeServer, adjust: impl FnOnce(&mut RawConfig)) -> TestApp {
    let base = fake.base_url();
    TestApp::spawn_with(move |raw| {
        raw.ai_openai_base_url = base;
        raw.ai_openai_models = Some(vec![MODEL.to_owned()]);
        raw.ai_openai_api_key = Some(KEY.to_owned().into());
        raw.ai_read_timeout_secs = 5;
        adjust(raw);
    })
    .await
}

/// Sets the `free` plan's AI allowance.
pub fn free_plan(raw: &mut RawConfig, limits: AiPlanLimits) {
    raw.ai_plans.insert("free".to_owned(), limits);
}

/// An allowance no test reaches by accident (the default free plan streams two at a time).
pub const GENEROUS: AiPlanLimits = AiPlanLimits {
    concurrent_streams: 20,
    requests_per_minute: 1000,
    tokens_per_day: 1_000_000,
    speech_characters_per_day: 1_000_000,
};

/// `POST /api/ai/chat` as `user` with `body`.
pub async fn post_chat(app: &TestApp, user: &str, body: Value) -> reqwest::Response {
    app.request(reqwest::Method::POST, "/api/ai/chat", user)
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// A one-message conversation.
pub fn ask(text: &str) -> Value {
    json!({ "messages": [{ "role": "user", "content": text }] })
}

/// What a UI message stream said.
#[derive(Debug, Default)]
pub struct UiStream {
    /// The JSON chunks, in order.
    pub chunks: Vec<Value>,
    /// The text deltas joined.
    pub text: String,
    /// `data: [DONE]` arrived.
    pub done: bool,
    /// SSE comments (keep-alives).
    pub comments: usize,
}

impl UiStream {
    pub fn types(&self) -> Vec<String> {
        self.chunks
            .iter()
            .map(|c| c["type"].as_str().unwrap_or("?").to_owned())
            .collect()
    }

    pub fn finish(&self) -> Option<&Value> {
        self.chunks.iter().find(|c| c["type"] == "finish")
    }

    pub fn error(&self) -> Option<&str> {
        self.chunks
            .iter()
            .find(|c| c["type"] == "error")
            .and_then(|c| c["errorText"].as_str())
    }

    /// Feeds one complete SSE event (without its blank line).
    fn event(&mut self, event: &str) {
        let mut data = Vec::new();
        for line in event.split('\n') {
            if line.starts_with(':') {
                self.comments += 1;
            } else if let Some(value) = line.strip_prefix("data: ") {
                data.push(value);
            }
        }
        if data.is_empty() {
            return;
        }
        let data = data.join("\n");
        if data == "[DONE]" {
            self.done = true;
            return;
        }
        let chunk: Value = serde_json::from_str(&data).expect("chunk is JSON");
        if chunk["type"] == "text-delta" {
            self.text.push_str(chunk["delta"].as_str().unwrap());
        }
        self.chunks.push(chunk);
    }
}

/// Reads a UI message stream incrementally.
pub struct UiReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    pub stream: UiStream,
}

impl UiReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
            stream: UiStream::default(),
        }
    }

    /// Reads until `until` holds for what was read so far (or the body ends); false if it
    /// ended first.
    pub async fn read_until(&mut self, until: impl Fn(&UiStream) -> bool) -> bool {
        loop {
            if until(&self.stream) {
                return true;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.body.next())
                .await
                .expect("the stream stalled");
            match chunk {
                Some(Ok(bytes)) => {
                    self.buffer
                        .push_str(std::str::from_utf8(&bytes).expect("UTF-8"));
                    while let Some(end) = self.buffer.find("\n\n") {
                        let event: String = self.buffer.drain(..end + 2).collect();
                        self.stream.event(event.trim_end_matches('\n'));
                    }
                }
                Some(Err(err)) => panic!("body failed: {err}"),
                None => return until(&self.stream),
            }
        }
    }

    /// Reads to the end.
    pub async fn finish(mut self) -> UiStream {
        self.read_until(|_| false).await;
        assert!(self.buffer.is_empty(), "trailing bytes: {:?}", self.buffer);
        self.stream
    }
}

/// Posts and reads the whole answer, checking the response is a UI message stream.
pub async fn chat_to_end(app: &TestApp, user: &str, body: Value) -> (String, UiStream) {
    let response = post_chat(app, user, body).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let cache = header(&response, "x-cache");
    (cache, UiReader::new(response).finish().await)
}

pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// A problem+json answer: its status, code and body.
pub async fn problem(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    assert_eq!(
        header(&response, "content-type"),
        "application/problem+json"
    );
    let body: Value = response.json().await.expect("problem body");
    (status, body["code"].as_str().unwrap_or("").to_owned(), body)
}
