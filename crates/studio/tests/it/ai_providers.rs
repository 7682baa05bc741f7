//! The provider clients of `studio-ai` against the fake providers of `studio-testkit`, over
//! real TCP: streaming as it is generated, events cut anywhere, usage and finish reasons,
//! errors before and during the stream, timeouts, cancellation, the key's header and its
//! absence from every error, redirects. No test sleeps: the fakes pause on a signal and the
//! tests wait on their counters.

mod elevenlabs;
mod gemini;
mod openai;

use std::time::Duration;

use futures::StreamExt as _;
use studio_ai::{ChatEvent, ChatMessage, ChatRequest, ChatStream, ProviderError, Role, Timeouts};

/// The key every provider is configured with; it must reach the fake and no error text.
pub const KEY: &str = "sk-fake-0123456789abcdef";

/// Bounds a test's wait for the next item: generous (a stuck test fails, it does not hang).
const NEXT_TIMEOUT: Duration = Duration::from_secs(20);

/// Timeouts that never fire in a healthy test.
pub fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        read: Duration::from_secs(20),
    }
}

/// A read timeout short enough for the timeout tests. The wait for headers is bounded by
/// connect + read, so connect is short too (a loopback connect takes microseconds).
pub fn short_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(1),
        read: Duration::from_millis(300),
    }
}

pub fn chat_request(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.to_owned(),
        messages: vec![
            ChatMessage {
                role: Role::System,
                content: "Answer briefly.".to_owned(),
            },
            ChatMessage {
                role: Role::User,
                content: "Name this clip.".to_owned(),
            },
        ],
        temperature: Some(0.5),
        max_output_tokens: 64,
    }
}

/// The next item of `stream`, failing the test if it ended or took too long.
pub async fn next<T, S: futures::Stream<Item = T> + Unpin>(stream: &mut S) -> T {
    tokio::time::timeout(NEXT_TIMEOUT, stream.next())
        .await
        .expect("the stream yields in time")
        .expect("the stream has another item")
}

/// Everything `stream` yields until it ends (bounded by [`NEXT_TIMEOUT`] per item).
pub async fn collect(mut stream: ChatStream) -> Vec<Result<ChatEvent, ProviderError>> {
    let mut all = Vec::new();
    while let Some(item) = tokio::time::timeout(NEXT_TIMEOUT, stream.next())
        .await
        .expect("the stream yields in time")
    {
        all.push(item);
    }
    all
}

/// The text of the deltas in `events`.
pub fn text_of(events: &[Result<ChatEvent, ProviderError>]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            Ok(ChatEvent::Delta { text }) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// The error `events` ended with; fails the test if they did not end with one.
pub fn final_error(events: &[Result<ChatEvent, ProviderError>]) -> ProviderError {
    match events.last() {
        Some(Err(err)) => {
            assert_key_hidden(err);
            err.clone()
        }
        other => panic!("expected the stream to end with an error, got {other:?} in {events:?}"),
    }
}

/// Neither the error's message nor its debug form carries the key.
pub fn assert_key_hidden(err: &ProviderError) {
    assert!(!err.to_string().contains(KEY), "key in Display: {err}");
    assert!(!format!("{err:?}").contains(KEY), "key in Debug: {err:?}");
}

/// `result`'s error (the key hidden), failing the test if it succeeded.
pub fn expect_err<T>(result: Result<T, ProviderError>) -> ProviderError {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(err) => {
            assert_key_hidden(&err);
            err
        }
    }
}

/// A local address nobody listens on (bound, then released).
pub async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}
