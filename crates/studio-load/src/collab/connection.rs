//! One WebSocket connection to the collaboration endpoint: the room URL, opening it with a
//! timeout, and the connection-level part of reading (pings, close frames, errors) that every
//! scenario shares. What a binary frame means is the caller's business.

use std::time::Duration;

use futures::SinkExt as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Message};
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::counters::Counters;

/// An open connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Read buffer per connection. tungstenite's default (128 KiB, allocated up front) would make
/// the load tool's own memory grow by half a gigabyte per 4,000 idle connections; y-websocket
/// frames are small and larger ones still arrive, in several reads.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// `<base>/<room>` plus `?token=<token>` when there is one, as the y-websocket client builds it
/// (`serverUrl + '/' + room + '?' + params`). Room and token are percent-encoded.
pub fn room_url(base: &str, room: &str, token: Option<&str>) -> String {
    let base = base.trim_end_matches('/');
    let room = percent_encode(room);
    match token {
        Some(token) => format!("{base}/{room}?token={}", percent_encode(token)),
        None => format!("{base}/{room}"),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (a JWT needs no escaping).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Opens `url` (TCP, then the WebSocket upgrade) within `timeout`, with Nagle off as browsers
/// and the `ws` package have it. The error is a short kind, for counting.
pub async fn open(url: &str, timeout: Duration) -> Result<Ws, String> {
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    let connect = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok((ws, _response))) => Ok(ws),
        Ok(Err(err)) => Err(describe(&err)),
        Err(_) => Err("connect timeout".to_owned()),
    }
}

/// A short, countable description of a WebSocket error (no ports or tokens in it).
pub fn describe(err: &WsError) -> String {
    match err {
        WsError::Http(response) => format!("http {}", response.status()),
        WsError::Io(io) => format!("io: {}", io.kind()),
        other => other.to_string(),
    }
}

/// What became of one read.
#[derive(Debug)]
pub enum Read {
    /// A binary frame, for the caller to interpret.
    Frame(Bytes),
    /// Nothing for the caller (a ping answered, a pong, a text frame).
    Continue,
    /// The connection is over.
    Ended,
}

/// Handles the connection-level part of one read. `closing`: the load tool already sent its
/// close, so the end is expected rather than a disconnect.
pub async fn read(
    next: Option<Result<Message, WsError>>,
    ws: &mut Ws,
    closing: bool,
    counters: &Counters,
) -> Read {
    match next {
        Some(Ok(Message::Binary(bytes))) => Read::Frame(bytes),
        Some(Ok(Message::Ping(_))) => {
            counters.ping();
            // tungstenite queued the pong; push it out now rather than on the next read.
            if let Err(err) = ws.flush().await {
                return ended_by_error(&err, closing, counters);
            }
            Read::Continue
        }
        Some(Ok(Message::Close(frame))) => {
            if closing {
                counters.clean_close();
            } else {
                // 1005: "no status received", what a close frame without a code means.
                counters.close_code(frame.map_or(1005, |frame| u16::from(frame.code)));
                counters.disconnect();
            }
            Read::Ended
        }
        Some(Ok(_)) => Read::Continue,
        Some(Err(err)) => ended_by_error(&err, closing, counters),
        None => {
            if !closing {
                counters.error("connection ended without a close frame");
                counters.disconnect();
            }
            Read::Ended
        }
    }
}

fn ended_by_error(err: &WsError, closing: bool, counters: &Counters) -> Read {
    // After our close, a reset or "already closed" is the end we asked for.
    if !closing {
        counters.error(describe(err));
        counters.disconnect();
    }
    Read::Ended
}

/// A connection's one report to the coordinator ("synced, in so many µs" or "failed"): sent
/// once, and sent as `T::default()` (failure) if the connection's task ends without a word,
/// so the coordinator can count to N.
#[derive(Debug)]
pub struct ReadySignal<T: Default>(Option<tokio::sync::mpsc::UnboundedSender<T>>);

impl<T: Default> ReadySignal<T> {
    /// A signal reporting to `sender`.
    pub fn new(sender: tokio::sync::mpsc::UnboundedSender<T>) -> Self {
        Self(Some(sender))
    }

    /// Reports `value`, unless a report went already.
    pub fn send(&mut self, value: T) {
        if let Some(sender) = self.0.take() {
            // The coordinator listens until every connection has reported.
            let _ = sender.send(value);
        }
    }
}

impl<T: Default> Drop for ReadySignal<T> {
    fn drop(&mut self) {
        self.send(T::default());
    }
}

/// Sends the load tool's close (1000, normal); the caller keeps reading for the server's reply.
pub async fn start_close(ws: &mut Ws) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    // Failing to send a close means the connection is already gone: nothing to count.
    let _ = ws.close(Some(frame)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_urls_follow_the_js_client() {
        assert_eq!(
            room_url("ws://127.0.0.1:1234/api/collab/", "prj_1", Some("a.b-c_d")),
            "ws://127.0.0.1:1234/api/collab/prj_1?token=a.b-c_d"
        );
        assert_eq!(
            room_url("ws://127.0.0.1:1234", "my room", None),
            "ws://127.0.0.1:1234/my%20room"
        );
    }
}
