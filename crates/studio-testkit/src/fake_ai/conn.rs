//! One connection: read the request, record it, write the scripted answer, and tell a finished
//! answer from a client that hung up first.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;

use super::wire::{self, Plan};
use super::{RecordedRequest, Shared};

/// Bounds on what a request may be; a test client never comes near them.
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Between the pieces of a split event: long enough that each piece is its own TCP segment
/// and its own read on the client side.
const SPLIT_PAUSE: Duration = Duration::from_millis(1);

/// Accepts connections until the listener fails or the server is dropped (which aborts this).
pub(super) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            // Out of descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = socket.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let shutdown = shared.shutdown.clone();
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = handle(socket, &shared) => {}
            }
        });
    }
}

/// Why writing the answer stopped.
#[derive(Debug)]
enum Stop {
    /// The client closed the connection (or it broke) first.
    ClientGone,
}

async fn handle(socket: tokio::net::TcpStream, shared: &Shared) {
    let (mut reader, mut writer) = socket.into_split();
    let Some(request) = read_request(&mut reader).await else {
        return;
    };
    let script = shared
        .script
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let plan = wire::plan(shared.flavor, &script, &request);
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request);
    shared.bump();

    // The client sends nothing after its request: a read that returns means it closed.
    let gone = CancellationToken::new();
    let monitor = tokio::spawn(watch_close(reader, gone.clone()));
    let mut writer = Writer {
        inner: &mut writer,
        gone: &gone,
    };
    let outcome = if script.never_answer {
        gone.cancelled().await;
        Err(Stop::ClientGone)
    } else if let Some(location) = &script.redirect_to {
        let head = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\n\
             connection: close\r\n\r\n"
        );
        writer.write(head.as_bytes()).await
    } else if let Some(failure) = &script.failure {
        let body = wire::failure_body(shared.flavor, failure);
        let mut head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n",
            failure.status,
            reason_phrase(failure.status),
            body.len()
        );
        if let Some(retry_after) = &failure.retry_after {
            head.push_str(&format!("retry-after: {retry_after}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(&body);
        writer.write(head.as_bytes()).await
    } else {
        write_stream(&mut writer, &plan, &script, shared).await
    };
    let streamed = !script.never_answer && script.redirect_to.is_none() && script.failure.is_none();
    match outcome {
        Ok(()) => {
            shared.completed.fetch_add(1, Ordering::SeqCst);
            shared.bump();
            // The end of the chunked body comes after the count: a client that stops reading at
            // the last event and hangs up is not a cancellation. An abrupt end skips it, so the
            // client sees the body cut.
            if streamed && !plan.abrupt_end {
                let _ = writer.write(b"0\r\n\r\n").await;
            }
            let _ = writer.inner.shutdown().await;
        }
        Err(Stop::ClientGone) => {
            shared.cancelled.fetch_add(1, Ordering::SeqCst);
            shared.bump();
        }
    }
    monitor.abort();
}

async fn write_stream(
    writer: &mut Writer<'_>,
    plan: &Plan,
    script: &super::Script,
    shared: &Shared,
) -> Result<(), Stop> {
    let mut head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {}\r\ntransfer-encoding: chunked\r\n\
         connection: close\r\n",
        plan.content_type
    );
    for (name, value) in &plan.extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    writer.write(head.as_bytes()).await?;
    for (i, event) in plan.events.iter().enumerate() {
        if plan.pause_before == Some(i) {
            let mut released = shared.released.subscribe();
            tokio::select! {
                () = writer.gone.cancelled() => return Err(Stop::ClientGone),
                _ = released.wait_for(|released| *released) => {}
            }
        }
        if i > 0 && !script.event_delay.is_zero() {
            writer.sleep(script.event_delay).await?;
        }
        let piece_len = script.split_every.unwrap_or(usize::MAX).max(1);
        for (j, piece) in event.chunks(piece_len).enumerate() {
            if j > 0 {
                writer.sleep(SPLIT_PAUSE).await?;
            }
            let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
            frame.extend_from_slice(piece);
            frame.extend_from_slice(b"\r\n");
            writer.write(&frame).await?;
        }
    }
    Ok(())
}

/// The write half, giving up as soon as the client is gone.
struct Writer<'a> {
    inner: &'a mut OwnedWriteHalf,
    gone: &'a CancellationToken,
}

impl Writer<'_> {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        let write = async {
            self.inner.write_all(bytes).await?;
            self.inner.flush().await
        };
        tokio::select! {
            () = self.gone.cancelled() => Err(Stop::ClientGone),
            result = write => result.map_err(|_| Stop::ClientGone),
        }
    }

    async fn sleep(&self, duration: Duration) -> Result<(), Stop> {
        tokio::select! {
            () = self.gone.cancelled() => Err(Stop::ClientGone),
            () = tokio::time::sleep(duration) => Ok(()),
        }
    }
}

async fn watch_close(mut reader: OwnedReadHalf, gone: CancellationToken) {
    let mut buf = [0u8; 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            // Bytes after the request (a pipelined request): not ours to answer.
            Ok(_) => {}
        }
    }
    gone.cancel();
}

/// Reads one request: head up to the blank line, then `content-length` bytes of body.
async fn read_request(reader: &mut OwnedReadHalf) -> Option<RecordedRequest> {
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return None;
        }
        let mut chunk = [0u8; 4096];
        let n = reader.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        })
        .collect();
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    if length > MAX_BODY_BYTES {
        return None;
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; (length - body.len()).min(64 * 1024)];
        let n = reader.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some(RecordedRequest {
        method,
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        raw_body: body,
    })
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
