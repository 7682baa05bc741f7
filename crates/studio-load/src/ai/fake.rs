//! A minimal fake OpenAI-compatible provider for the latency benchmark: `POST
//! /v1/chat/completions` answered with a streamed Chat Completion (`data: {chunk}` events in
//! chunked transfer encoding, a finish chunk, a usage chunk, `data: [DONE]`), the bytes the real
//! API sends. Every request gets the same answer, as fast as the socket takes it unless a
//! first-token or per-token delay is set; each event is its own write on a `TCP_NODELAY`
//! socket, so nothing waits for a coalesced segment. One connection per request
//! (`connection: close`).
//!
//! It is deliberately tiny (no pacing controls, no failures): studio's test suite has the full
//! fake (`studio_testkit::fake_ai`), which this tool does not depend on, since that crate links
//! the whole application.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Largest request head the fake reads.
const MAX_HEAD: usize = 64 * 1024;

/// What the fake answers.
#[derive(Debug, Clone)]
pub struct FakeAnswer {
    /// The text tokens, one event each.
    pub tokens: Vec<String>,
    /// Waited after the response headers, before the first token (the model "thinking").
    pub first_token_delay: Duration,
    /// Waited before every token after the first.
    pub token_delay: Duration,
}

impl FakeAnswer {
    /// `count` tokens: `tok0 tok1 …` (a space before every one but the first).
    pub fn numbered(count: usize) -> Self {
        Self {
            tokens: (0..count)
                .map(|i| {
                    if i == 0 {
                        format!("tok{i}")
                    } else {
                        format!(" tok{i}")
                    }
                })
                .collect(),
            first_token_delay: Duration::ZERO,
            token_delay: Duration::ZERO,
        }
    }

    /// The whole answer's text.
    pub fn text(&self) -> String {
        self.tokens.concat()
    }
}

/// A running fake; dropping it stops accepting (connections in progress finish).
pub struct FakeProvider {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl FakeProvider {
    /// Binds `addr` (port 0 for any) and serves `answer`.
    pub async fn start(addr: SocketAddr, answer: FakeAnswer) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot bind the fake provider on {addr}"))?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(AtomicU64::new(0));
        let answer = Arc::new(answer);
        let counter = requests.clone();
        let accept = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let answer = answer.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    // A client that goes away mid-answer is not the fake's problem.
                    let _ = serve(socket, &answer, &counter).await;
                });
            }
        });
        Ok(Self {
            addr,
            requests,
            accept,
        })
    }

    /// The OpenAI-style base URL: `http://<addr>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Reads one request (head and `content-length` body) and writes the streamed answer.
async fn serve(mut socket: TcpStream, answer: &FakeAnswer, counter: &AtomicU64) -> io::Result<()> {
    socket.set_nodelay(true)?;
    let mut buffer = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end + 4;
        }
        if buffer.len() > MAX_HEAD || read_more(&mut socket, &mut buffer).await? == 0 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        if read_more(&mut socket, &mut buffer).await? == 0 {
            return Ok(());
        }
    }
    counter.fetch_add(1, Ordering::SeqCst);
    let model = serde_json::from_slice::<serde_json::Value>(&buffer[head_end..head_end + length])
        .ok()
        .and_then(|body| body["model"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "fake-model".to_owned());

    socket
        .write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n\
              cache-control: no-cache\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        )
        .await?;
    let chunk = |choices: serde_json::Value, usage: serde_json::Value| {
        json!({
            "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": model, "system_fingerprint": "fp_bench", "choices": choices, "usage": usage,
        })
        .to_string()
    };
    write_event(
        &mut socket,
        &chunk(
            json!([{"index": 0, "delta": {"role": "assistant", "content": ""},
                    "logprobs": null, "finish_reason": null}]),
            serde_json::Value::Null,
        ),
    )
    .await?;
    for (i, token) in answer.tokens.iter().enumerate() {
        let delay = if i == 0 {
            answer.first_token_delay
        } else {
            answer.token_delay
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let event = chunk(
            json!([{"index": 0, "delta": {"content": token}, "logprobs": null,
                    "finish_reason": null}]),
            serde_json::Value::Null,
        );
        write_event(&mut socket, &event).await?;
    }
    let finish = chunk(
        json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "stop"}]),
        serde_json::Value::Null,
    );
    write_event(&mut socket, &finish).await?;
    let tokens = answer.tokens.len();
    let usage = chunk(
        json!([]),
        json!({"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}),
    );
    write_event(&mut socket, &usage).await?;
    write_event(&mut socket, "[DONE]").await?;
    socket.write_all(b"0\r\n\r\n").await?;
    socket.shutdown().await
}

/// One SSE event as one HTTP chunk, in one write.
async fn write_event(socket: &mut TcpStream, data: &str) -> io::Result<()> {
    let payload = format!("data: {data}\n\n");
    let framed = format!("{:x}\r\n{payload}\r\n", payload.len());
    socket.write_all(framed.as_bytes()).await
}

async fn read_more(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0u8; 4096];
    let n = socket.read(&mut chunk).await?;
    buffer.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
