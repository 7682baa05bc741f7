//! What the collaboration server counts, through the `metrics` facade (the binary installs the
//! Prometheus recorder; without one, these cost nothing).
//!
//! - `studio_collab_documents` (gauge): documents loaded on this node.
//! - `studio_collab_connections` (gauge): open WebSocket connections.
//! - `studio_collab_updates_total`: document changes applied (rate = updates/s).
//! - `studio_collab_bytes_in_total` / `studio_collab_bytes_out_total`: WebSocket payload bytes.
//! - `studio_collab_closed_total{reason}`: connections the server closed, by reason.
//! - `studio_collab_slow_clients_dropped_total`: connections closed because their send queue
//!   filled up.
//! - `studio_collab_snapshot_lag_seconds` (histogram): from a document's first unsaved change to
//!   the snapshot that covers it.
//! - `studio_collab_log_flush_seconds` (histogram): one group commit of the update log.
//! - `studio_collab_fanout_dropped_total`: changes not published to other nodes (they still
//!   converge through the log).

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Recorder};

use crate::CloseCode;

type SharedRecorder = Arc<dyn Recorder + Send + Sync>;

/// Where the collaboration server records, as handles registered once (the hot paths, a frame
/// in or out, are one atomic add). Like the API's metrics, they go to a recorder the application
/// hands in (several apps share a test process; nothing global), or nowhere.
#[derive(Clone)]
pub struct CollabMetrics {
    recorder: Option<SharedRecorder>,
    documents: Gauge,
    connections: Gauge,
    updates: Counter,
    bytes_in: Counter,
    bytes_out: Counter,
    slow_clients: Counter,
    snapshot_lag: Histogram,
    log_flush: Histogram,
    fanout_dropped: Counter,
}

impl std::fmt::Debug for CollabMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollabMetrics")
            .field("recording", &self.recorder.is_some())
            .finish()
    }
}

impl CollabMetrics {
    /// Records into `recorder` (the application's Prometheus recorder).
    pub fn new(recorder: SharedRecorder) -> Self {
        metrics::with_local_recorder(&*recorder, || Self {
            documents: metrics::gauge!("studio_collab_documents"),
            connections: metrics::gauge!("studio_collab_connections"),
            updates: metrics::counter!("studio_collab_updates_total"),
            bytes_in: metrics::counter!("studio_collab_bytes_in_total"),
            bytes_out: metrics::counter!("studio_collab_bytes_out_total"),
            slow_clients: metrics::counter!("studio_collab_slow_clients_dropped_total"),
            snapshot_lag: metrics::histogram!("studio_collab_snapshot_lag_seconds"),
            log_flush: metrics::histogram!("studio_collab_log_flush_seconds"),
            fanout_dropped: metrics::counter!("studio_collab_fanout_dropped_total"),
            recorder: Some(recorder.clone()),
        })
    }

    /// Records nothing.
    pub fn disabled() -> Self {
        Self {
            recorder: None,
            documents: Gauge::noop(),
            connections: Gauge::noop(),
            updates: Counter::noop(),
            bytes_in: Counter::noop(),
            bytes_out: Counter::noop(),
            slow_clients: Counter::noop(),
            snapshot_lag: Histogram::noop(),
            log_flush: Histogram::noop(),
            fanout_dropped: Counter::noop(),
        }
    }

    pub fn document_loaded(&self) {
        self.documents.increment(1.0);
    }
    pub fn document_unloaded(&self) {
        self.documents.decrement(1.0);
    }
    pub fn connection_opened(&self) {
        self.connections.increment(1.0);
    }
    pub fn connection_closed(&self) {
        self.connections.decrement(1.0);
    }
    pub fn update_applied(&self) {
        self.updates.increment(1);
    }
    pub fn bytes_in(&self, n: usize) {
        self.bytes_in.increment(n as u64);
    }
    pub fn bytes_out(&self, n: usize) {
        self.bytes_out.increment(n as u64);
    }
    pub fn closed_by_server(&self, code: CloseCode) {
        if let Some(recorder) = &self.recorder {
            metrics::with_local_recorder(&**recorder, || {
                metrics::counter!("studio_collab_closed_total", "reason" => code.label())
                    .increment(1);
            });
        }
    }
    pub fn slow_client_dropped(&self) {
        self.slow_clients.increment(1);
    }
    pub fn snapshot_written(&self, lag: Duration) {
        self.snapshot_lag.record(lag.as_secs_f64());
    }
    pub fn log_flushed(&self, took: Duration) {
        self.log_flush.record(took.as_secs_f64());
    }
    pub fn fanout_dropped(&self) {
        self.fanout_dropped.increment(1);
    }
}
