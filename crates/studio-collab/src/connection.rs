//! One client connection, transport-free: frames in from a `Stream`, frames out to a `Sink`
//! (the HTTP layer adapts axum's WebSocket; tests can use anything).
//!
//! Two halves: this task reads and handles the client's messages; a writer task drains the
//! connection's bounded queue into the socket and pings. A frame that breaks a rule closes this
//! connection only, with the code of [`CloseCode`]; the document and the other clients carry on.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{Sink, SinkExt, Stream, StreamExt};
use studio_core::{ProjectId, ProjectRole, UserId};
use tokio::sync::mpsc;

use crate::CloseCode;
use crate::connection_control::ConnControl;
use crate::hub::{CollabError, CollabHub};
use crate::protocol::{self, ClientMessage};
use crate::room::{ApplyError, ConnId, Origin, Room};

/// How long a closing connection waits for its writer to send the close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A frame from the client.
#[derive(Debug)]
pub enum InFrame {
    Binary(Bytes),
    Text,
    /// A ping or a pong: the client is alive (the transport answers pings itself).
    Heartbeat,
    Close,
}

/// A frame to the client.
#[derive(Debug)]
pub enum OutFrame {
    Binary(Bytes),
    Ping,
    Close { code: u16, reason: String },
}

/// Who is connecting, as checked before the upgrade.
#[derive(Debug, Clone)]
pub struct Session {
    pub project: ProjectId,
    pub user: UserId,
    pub role: ProjectRole,
}

impl CollabHub {
    /// Serves one connection until it closes. Opens (loads) the project's document first; the
    /// client's first frames are the server's sync step 1 and the awareness states.
    pub async fn serve<I, O, E>(&self, session: Session, mut incoming: I, outgoing: O)
    where
        I: Stream<Item = Result<InFrame, E>> + Unpin + Send,
        O: Sink<OutFrame> + Unpin + Send + 'static,
    {
        let config = self.inner.config.clone();
        let metrics = self.inner.metrics.clone();
        let control = Arc::new(ConnControl::default());
        let (tx, rx) = mpsc::channel::<Bytes>(config.send_queue);
        let writer = tokio::spawn(write_loop(
            rx,
            outgoing,
            control.clone(),
            config.ping_interval,
            metrics.clone(),
        ));

        let loaded = match self.open(&session.project).await {
            Ok(loaded) => loaded,
            Err(err) => {
                let code = match err {
                    CollabError::ProjectNotFound => CloseCode::ProjectGone,
                    CollabError::ShuttingDown => CloseCode::GoingAway,
                    _ => {
                        tracing::error!(project.id = %session.project, error = %err, "cannot open a collaborative document");
                        CloseCode::InternalError
                    }
                };
                control.close(code, "cannot open the document");
                let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
                return;
            }
        };
        let room = loaded.room;
        let writable = Arc::new(AtomicBool::new(session.role.can_write()));
        let Some(conn) = room.join(
            session.user.clone(),
            writable.clone(),
            tx.clone(),
            control.clone(),
        ) else {
            control.close(CloseCode::GoingAway, "document unloading; reconnect");
            let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
            return;
        };
        tracing::debug!(project.id = %session.project, user.id = %session.user, conn, "collaboration connection opened");
        // Leaves the room however this task ends, a panic included: a connection never stays
        // registered (and fed frames) after its task is gone. (Leaving twice is harmless.)
        let _leave = LeaveOnDrop { room: &room, conn };

        let mut reader = Reader {
            room: &room,
            conn,
            tx: &tx,
            control: &control,
            writable: &writable,
            max_frame: config.max_frame_bytes,
            bucket: TokenBucket::new(config.messages_per_second, config.message_burst),
            metrics: &metrics,
        };
        let mut last_heard = Instant::now();
        let mut liveness = tokio::time::interval(config.ping_interval);
        loop {
            tokio::select! {
                () = control.closed() => break,
                _ = liveness.tick() => {
                    if last_heard.elapsed() > config.ping_interval * 2 {
                        control.close(CloseCode::GoingAway, "no pong received");
                    }
                }
                frame = incoming.next() => {
                    let Some(Ok(frame)) = frame else { break };
                    last_heard = Instant::now();
                    match frame {
                        InFrame::Close => break,
                        InFrame::Heartbeat => {}
                        InFrame::Text => reader.close(CloseCode::UnsupportedData, "text frames are not part of the protocol"),
                        InFrame::Binary(bytes) => reader.handle(&bytes),
                    }
                }
            }
        }
        if let Some((code, _)) = control.reason() {
            metrics.closed_by_server(*code);
        } else {
            control.close(CloseCode::Other(1000), "");
        }
        room.leave(conn);
        drop(tx);
        let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
        tracing::debug!(project.id = %session.project, conn, "collaboration connection closed");
    }
}

struct LeaveOnDrop<'a> {
    room: &'a Arc<Room>,
    conn: ConnId,
}

impl Drop for LeaveOnDrop<'_> {
    fn drop(&mut self) {
        self.room.leave(self.conn);
    }
}

struct Reader<'a> {
    room: &'a Arc<Room>,
    conn: ConnId,
    tx: &'a mpsc::Sender<Bytes>,
    control: &'a ConnControl,
    writable: &'a AtomicBool,
    max_frame: usize,
    bucket: TokenBucket,
    metrics: &'a crate::CollabMetrics,
}

impl Reader<'_> {
    fn close(&self, code: CloseCode, reason: &str) {
        self.control.close(code, reason);
    }

    fn send(&self, frame: Bytes) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(frame) {
            self.metrics.slow_client_dropped();
            self.close(CloseCode::SlowClient, "send queue full: too slow");
        }
    }

    fn handle(&mut self, bytes: &[u8]) {
        self.metrics.bytes_in(bytes.len());
        if bytes.len() > self.max_frame {
            return self.close(CloseCode::FrameTooLarge, "frame too large");
        }
        if !self.bucket.take(Instant::now()) {
            return self.close(CloseCode::RateLimited, "too many messages");
        }
        let message = match protocol::read_client_message(bytes) {
            Ok(message) => message,
            Err(err) => {
                tracing::debug!(conn = self.conn, error = %err, "malformed collaboration frame");
                return self.close(CloseCode::ProtocolError, "malformed message");
            }
        };
        match message {
            ClientMessage::SyncStep1(sv) => match self.room.step2_for(&sv) {
                Some(frame) => self.send(frame),
                None => self.close(CloseCode::InternalError, "cannot encode the document"),
            },
            ClientMessage::Update { update, .. } => {
                if !self.writable.load(std::sync::atomic::Ordering::Relaxed) {
                    // Viewers' edits reach nobody and are not stored.
                    return;
                }
                match self.room.apply(&update, Origin::Client(self.conn)) {
                    Ok(_) => {}
                    Err(ApplyError::Malformed(err)) => {
                        tracing::debug!(conn = self.conn, error = %err, "invalid Yjs update");
                        self.close(CloseCode::ProtocolError, "invalid update");
                    }
                    Err(ApplyError::TooLarge { .. }) => {
                        self.close(CloseCode::DocumentTooLarge, "document too large")
                    }
                    Err(ApplyError::Unloaded) => {
                        self.close(CloseCode::GoingAway, "document unloading; reconnect")
                    }
                }
            }
            ClientMessage::Awareness(update) => self.room.apply_awareness(update, Some(self.conn)),
            ClientMessage::QueryAwareness => {
                if let Some(frame) = self.room.all_awareness() {
                    self.send(frame);
                }
            }
            ClientMessage::Auth => {}
        }
    }
}

/// Drains the connection's queue into the socket, pings, and sends the close frame.
async fn write_loop<O>(
    mut rx: mpsc::Receiver<Bytes>,
    mut outgoing: O,
    control: Arc<ConnControl>,
    ping_interval: Duration,
    metrics: crate::CollabMetrics,
) where
    O: Sink<OutFrame> + Unpin + Send + 'static,
{
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
    loop {
        let frame = tokio::select! {
            biased;
            () = control.closed() => break,
            frame = rx.recv() => match frame {
                Some(bytes) => {
                    metrics.bytes_out(bytes.len());
                    OutFrame::Binary(bytes)
                }
                None => break,
            },
            _ = ping.tick() => OutFrame::Ping,
        };
        // A client that stops reading blocks this send; closing must not wait for it.
        tokio::select! {
            sent = outgoing.send(frame) => if sent.is_err() {
                control.close(CloseCode::Other(1006), "");
                return;
            },
            () = control.closed() => break,
        }
    }
    if let Some((code, reason)) = control.reason() {
        let close = OutFrame::Close {
            code: code.as_u16(),
            reason: reason.clone(),
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), outgoing.send(close)).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), outgoing.close()).await;
}

/// Messages per second with bursts: a connection may send `burst` at once, then `rate` a second.
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 5);
        bucket.at = start;
        assert!((0..5).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        assert!(bucket.take(start + Duration::from_millis(100)));
        assert!(!bucket.take(start + Duration::from_millis(100)));
    }
}
