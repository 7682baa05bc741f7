//! A tiny JWKS endpoint on 127.0.0.1:0 that answers HTTP/1.1 by hand, can switch what it serves,
//! and counts requests. Hand-written rather than axum to keep the dev-dependencies to tokio.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Longest request head we read; our client sends a few hundred bytes.
const MAX_REQUEST_HEAD_BYTES: usize = 8 * 1024;

/// What the server answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this JSON body.
    Json(String),
    /// This status with an empty body.
    Status(u16),
}

struct Shared {
    reply: Mutex<Reply>,
    delay: Mutex<Duration>,
    hits: AtomicUsize,
}

/// Handle to a running server; it stops when the test's runtime does.
#[derive(Clone)]
pub struct JwksServer {
    url: String,
    shared: Arc<Shared>,
}

impl JwksServer {
    pub async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/auth/v1/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let shared = Arc::new(Shared {
            reply: Mutex::new(reply),
            delay: Mutex::new(Duration::ZERO),
            hits: AtomicUsize::new(0),
        });
        let serving = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, Arc::clone(&serving)));
            }
        });
        Self { url, shared }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    pub fn set_reply(&self, reply: Reply) {
        *self.shared.reply.lock().unwrap() = reply;
    }

    /// Wait this long before answering, so concurrent callers overlap.
    pub fn set_delay(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }
}

async fn answer(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut head = Vec::new();
    let mut buf = [0_u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > MAX_REQUEST_HEAD_BYTES {
            return;
        }
    }
    shared.hits.fetch_add(1, Ordering::SeqCst);
    let delay = *shared.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let reply = shared.reply.lock().unwrap().clone();
    let (status, body) = match reply {
        Reply::Json(body) => (200, body),
        Reply::Status(status) => (status, String::new()),
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
