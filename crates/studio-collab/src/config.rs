//! The knobs of the collaboration server, with the defaults `studio serve` uses.

use std::time::Duration;

/// Limits and intervals of the collaboration server.
#[derive(Debug, Clone)]
pub struct CollabConfig {
    /// The largest WebSocket message accepted; a bigger one closes the connection with 1009.
    pub max_frame_bytes: usize,
    /// The largest document (its encoded state): an update that would grow it beyond closes its
    /// sender with [`crate::CloseCode::DocumentTooLarge`] and is not applied.
    pub max_document_bytes: usize,
    /// Messages waiting to be written to one connection. A client that lets this many pile up is
    /// too slow to follow the document and is disconnected with 1013 (try again later), rather
    /// than starved of updates or allowed to grow the server's memory.
    pub send_queue: usize,
    /// Messages a connection may send per second (sustained); bursts up to `message_burst`.
    pub messages_per_second: u32,
    pub message_burst: u32,
    /// The update log is written at least this often while updates arrive (group commit: one
    /// transaction per interval, not one per keystroke).
    pub flush_interval: Duration,
    /// A changed document is snapshotted at most this often (and always when its last client
    /// leaves, and on shutdown).
    pub snapshot_interval: Duration,
    /// Awareness states not renewed for this long are removed (clients renew every 15 s).
    pub awareness_timeout: Duration,
    /// How often the server pings each connection; one that has sent nothing (not even a pong)
    /// for two intervals is closed.
    pub ping_interval: Duration,
}

impl Default for CollabConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: 8 * 1024 * 1024,
            max_document_bytes: 64 * 1024 * 1024,
            send_queue: 1024,
            messages_per_second: 200,
            message_burst: 1000,
            flush_interval: Duration::from_millis(100),
            snapshot_interval: Duration::from_secs(10),
            awareness_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(30),
        }
    }
}
