//! Fake AI providers for tests and benchmarks: raw TCP HTTP/1.1 servers on `127.0.0.1:0` that
//! write the exact bytes of each real wire format themselves, so a test controls where chunks
//! break, how fast events come, and how the stream ends.
//!
//! - [`FakeOpenAi`]: OpenAI-compatible Chat Completions (`data: {chunk}` events, a usage chunk,
//!   `data: [DONE]`), chunked transfer encoding like the real API. Its base URL ends in `/v1`.
//! - [`FakeGemini`]: Gemini `streamGenerateContent?alt=sse` (`\r\n\r\n`-terminated events, the
//!   last with `finishReason`, cumulative `usageMetadata`, no end marker).
//! - [`FakeElevenLabs`]: ElevenLabs streaming TTS (`audio/mpeg` chunks, `character-cost`).
//!
//! Each answers every request from its current [`Script`] (changeable between requests with
//! [`FakeServer::set_script`]), records the request (headers, JSON body), and counts requests,
//! completions and cancellations: connections the client closed before the fake finished
//! writing its script (seen as EOF or an error on the socket). Tests wait on those counts with
//! [`FakeServer::wait_requests`] and friends instead of sleeping. Every connection is served by
//! its own task and answered with `connection: close` (no keep-alive).
//!
//! ```ignore
//! let fake = FakeOpenAi::start(Script::chat(["Hel", "lo"]).with_usage(9, 2).pause_after(1)).await;
//! // ... start a request against fake.base_url(), read the first delta ...
//! fake.release(); // let the rest of the stream go
//! ```

mod conn;
mod wire;

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long the `wait_*` helpers wait before failing the test: generous, for loaded CI hosts.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(20);

/// How a stream ends (after all tokens or audio chunks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ending {
    /// The provider's normal end: OpenAI's finish chunk, usage chunk and `[DONE]`; Gemini's
    /// `finishReason` on the last event; the end of the audio.
    #[default]
    Complete,
    /// An in-band error, then a clean end of the body: OpenAI `data: {"error":{..}}`, Gemini
    /// `data: {"error":{..}}`. ElevenLabs has no in-band error: the connection is dropped.
    ErrorEvent,
    /// A clean end of the body without the normal end (no `[DONE]`, no finish reason). For
    /// ElevenLabs this is indistinguishable from `Complete`.
    EndEarly,
    /// The connection is closed mid-body (no end of the chunked encoding).
    DropConnection,
}

/// An HTTP error answered instead of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpFailure {
    pub status: u16,
    /// The `Retry-After` header's value, when set.
    pub retry_after: Option<String>,
    /// The JSON body; a provider-style error object when empty.
    pub body: String,
}

/// What the fake answers. Build one with [`Script::chat`], [`Script::audio`],
/// [`Script::failure`], [`Script::never_answer`] or [`Script::redirect`], then the `with_*`
/// and pacing methods.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Text tokens (chat fakes), one event each.
    pub tokens: Vec<String>,
    /// Audio chunks (ElevenLabs fake), one HTTP chunk each.
    pub audio: Vec<Vec<u8>>,
    /// The wire finish reason (`stop`, `length`, ...; `STOP`, `MAX_TOKENS`, ...); the
    /// provider's normal one when `None`.
    pub finish_reason: Option<String>,
    /// `(input, output)` tokens reported.
    pub usage: Option<(u64, u64)>,
    /// ElevenLabs' `character-cost` header.
    pub character_cost: Option<u64>,
    /// Waited before every event but the first.
    pub event_delay: Duration,
    /// Split every event into pieces of this many bytes, each its own HTTP chunk and TCP write
    /// (flushed, with a short sleep between), so the client sees events cut anywhere.
    pub split_every: Option<usize>,
    /// Stop after this many tokens (or audio chunks) until [`FakeServer::release`]; never
    /// released, it is a stalled stream.
    pub pause_after: Option<usize>,
    pub ending: Ending,
    /// Answer this error instead of a stream.
    pub failure: Option<HttpFailure>,
    /// Read the request and never answer (not even headers), until the client gives up.
    pub never_answer: bool,
    /// Answer `307 Temporary Redirect` to this location.
    pub redirect_to: Option<String>,
}

impl Script {
    /// A chat stream of `tokens`.
    pub fn chat<I: IntoIterator<Item = S>, S: Into<String>>(tokens: I) -> Self {
        Self {
            tokens: tokens.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// An audio stream of `chunks`.
    pub fn audio<I: IntoIterator<Item = Vec<u8>>>(chunks: I) -> Self {
        Self {
            audio: chunks.into_iter().collect(),
            ..Self::default()
        }
    }

    /// An HTTP error with a provider-style body.
    pub fn failure(status: u16) -> Self {
        Self {
            failure: Some(HttpFailure {
                status,
                retry_after: None,
                body: String::new(),
            }),
            ..Self::default()
        }
    }

    /// Never answers.
    pub fn never_answer() -> Self {
        Self {
            never_answer: true,
            ..Self::default()
        }
    }

    /// A `307` to `location`.
    pub fn redirect(location: impl Into<String>) -> Self {
        Self {
            redirect_to: Some(location.into()),
            ..Self::default()
        }
    }

    pub fn with_usage(mut self, input: u64, output: u64) -> Self {
        self.usage = Some((input, output));
        self
    }

    pub fn with_finish_reason(mut self, reason: impl Into<String>) -> Self {
        self.finish_reason = Some(reason.into());
        self
    }

    pub fn with_character_cost(mut self, cost: u64) -> Self {
        self.character_cost = Some(cost);
        self
    }

    /// Sets the failure's `Retry-After` (a failure script only).
    pub fn with_retry_after(mut self, value: impl Into<String>) -> Self {
        if let Some(failure) = &mut self.failure {
            failure.retry_after = Some(value.into());
        }
        self
    }

    /// Sets the failure's body (a failure script only).
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        if let Some(failure) = &mut self.failure {
            failure.body = body.into();
        }
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.event_delay = delay;
        self
    }

    pub fn split_every(mut self, bytes: usize) -> Self {
        self.split_every = Some(bytes.max(1));
        self
    }

    pub fn pause_after(mut self, events: usize) -> Self {
        self.pause_after = Some(events);
        self
    }

    pub fn ending(mut self, ending: Ending) -> Self {
        self.ending = ending;
        self
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Null` when it is not JSON).
    pub body: Value,
    pub raw_body: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Which wire format a fake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    OpenAi,
    Gemini,
    ElevenLabs,
}

/// State shared by the handle and the connection tasks.
struct Shared {
    flavor: Flavor,
    script: Mutex<Script>,
    requests: Mutex<Vec<RecordedRequest>>,
    cancelled: AtomicUsize,
    completed: AtomicUsize,
    /// Bumped on every count change; the `wait_*` helpers watch it.
    changes: watch::Sender<u64>,
    /// `true` once [`FakeServer::release`] let paused streams go on.
    released: watch::Sender<bool>,
    shutdown: CancellationToken,
}

impl Shared {
    fn bump(&self) {
        self.changes.send_modify(|generation| *generation += 1);
    }
}

/// A running fake of any flavor; use it through [`FakeOpenAi`], [`FakeGemini`] or
/// [`FakeElevenLabs`]. Dropping it stops the server and every connection it serves.
pub struct FakeServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl FakeServer {
    /// Binds `127.0.0.1:0` and serves `script` in `flavor`'s format.
    pub async fn start(flavor: Flavor, script: Script) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake provider");
        let addr = listener.local_addr().expect("fake provider address");
        let shared = Arc::new(Shared {
            flavor,
            script: Mutex::new(script),
            requests: Mutex::new(Vec::new()),
            cancelled: AtomicUsize::new(0),
            completed: AtomicUsize::new(0),
            changes: watch::channel(0).0,
            released: watch::channel(false).0,
            shutdown: CancellationToken::new(),
        });
        let accept = tokio::spawn(conn::serve(listener, shared.clone()));
        Self {
            shared,
            addr,
            accept,
        }
    }

    /// The base URL a provider client is configured with: `http://127.0.0.1:port/v1` for the
    /// OpenAI fake (the version is part of OpenAI base URLs), `http://127.0.0.1:port` otherwise.
    pub fn base_url(&self) -> String {
        match self.shared.flavor {
            Flavor::OpenAi => format!("http://{}/v1", self.addr),
            Flavor::Gemini | Flavor::ElevenLabs => format!("http://{}", self.addr),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the script for the requests that arrive from now on, and un-releases.
    pub fn set_script(&self, script: Script) {
        *self
            .shared
            .script
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = script;
        self.shared.released.send_replace(false);
    }

    /// Lets every paused stream (`pause_after`) go on, now and for later requests until the
    /// next `set_script`.
    pub fn release(&self) {
        self.shared.released.send_replace(true);
    }

    /// Requests received (request line, headers and body read).
    pub fn requests(&self) -> usize {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Connections the client closed before the fake finished writing its script.
    pub fn cancelled(&self) -> usize {
        self.shared.cancelled.load(Ordering::SeqCst)
    }

    /// Requests whose whole script was written.
    pub fn completed(&self) -> usize {
        self.shared.completed.load(Ordering::SeqCst)
    }

    /// Every request received, in arrival order.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.recorded().pop()
    }

    /// The JSON body of the last request.
    pub fn last_body(&self) -> Option<Value> {
        self.last_request().map(|request| request.body)
    }

    /// Waits until at least `n` requests arrived; panics after [`WAIT_TIMEOUT`].
    pub async fn wait_requests(&self, n: usize) {
        self.wait_until("requests", n, Self::requests).await;
    }

    /// Waits until at least `n` cancellations were seen; panics after [`WAIT_TIMEOUT`].
    pub async fn wait_cancelled(&self, n: usize) {
        self.wait_until("cancellations", n, Self::cancelled).await;
    }

    /// Waits until at least `n` scripts were written whole; panics after [`WAIT_TIMEOUT`].
    pub async fn wait_completed(&self, n: usize) {
        self.wait_until("completions", n, Self::completed).await;
    }

    async fn wait_until(&self, what: &str, n: usize, count: fn(&Self) -> usize) {
        let mut changes = self.shared.changes.subscribe();
        let reached = changes.wait_for(|_| count(self) >= n);
        if !matches!(tokio::time::timeout(WAIT_TIMEOUT, reached).await, Ok(Ok(_))) {
            panic!(
                "fake provider: waited {WAIT_TIMEOUT:?} for {n} {what}; requests={}, \
                 completed={}, cancelled={}",
                self.requests(),
                self.completed(),
                self.cancelled()
            );
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        self.accept.abort();
    }
}

macro_rules! flavored_fake {
    ($(#[$doc:meta])* $name:ident, $flavor:expr) => {
        $(#[$doc])*
        pub struct $name(FakeServer);

        impl $name {
            /// Starts the fake on `127.0.0.1:0`.
            pub async fn start(script: Script) -> Self {
                Self(FakeServer::start($flavor, script).await)
            }
        }

        impl Deref for $name {
            type Target = FakeServer;

            fn deref(&self) -> &FakeServer {
                &self.0
            }
        }
    };
}

flavored_fake!(
    /// A fake OpenAI-compatible `POST /v1/chat/completions`.
    FakeOpenAi,
    Flavor::OpenAi
);
flavored_fake!(
    /// A fake Gemini `POST /v1beta/models/{model}:streamGenerateContent?alt=sse`.
    FakeGemini,
    Flavor::Gemini
);
flavored_fake!(
    /// A fake ElevenLabs `POST /v1/text-to-speech/{voice}/stream`.
    FakeElevenLabs,
    Flavor::ElevenLabs
);
