//! Connection-level counters every collaboration scenario reports: errors by kind, unexpected
//! disconnects, close codes the server sent, pings answered.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Shared by all connections of a run; cheap to update (atomics, or a short lock on rare events).
#[derive(Debug, Default)]
pub struct Counters {
    pings: AtomicU64,
    disconnects: AtomicU64,
    clean_closes: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    close_codes: Mutex<BTreeMap<u16, u64>>,
}

/// The counters at the end of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CountersReport {
    /// Errors of all kinds: failed connects and handshakes, I/O and protocol errors.
    pub errors: u64,
    /// Errors by message (connection refused, HTTP 401, handshake timeout, …).
    pub error_kinds: BTreeMap<String, u64>,
    /// Connections that ended before the load tool closed them (server close, reset, error).
    pub disconnects: u64,
    /// Close codes in close frames the *server* initiated, by code.
    pub close_codes: BTreeMap<u16, u64>,
    /// Connections closed by the load tool whose close the server acknowledged.
    pub clean_closes: u64,
    /// WebSocket pings received (each answered with a pong by tungstenite).
    pub pings: u64,
}

impl Counters {
    /// Counts one error of kind `kind`.
    pub fn error(&self, kind: impl Into<String>) {
        let mut errors = self
            .errors
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        *errors.entry(kind.into()).or_default() += 1;
    }

    /// Counts a connection that ended while it should have stayed open.
    pub fn disconnect(&self) {
        self.disconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a close frame the server initiated.
    pub fn close_code(&self, code: u16) {
        let mut codes = self
            .close_codes
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        *codes.entry(code).or_default() += 1;
    }

    /// Counts a close the load tool initiated and the server acknowledged.
    pub fn clean_close(&self) {
        self.clean_closes.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a ping received.
    pub fn ping(&self) {
        self.pings.fetch_add(1, Ordering::Relaxed);
    }

    /// Disconnects so far.
    pub fn disconnects(&self) -> u64 {
        self.disconnects.load(Ordering::Relaxed)
    }

    /// A copy of the counters now.
    pub fn report(&self) -> CountersReport {
        let error_kinds = self
            .errors
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone();
        CountersReport {
            errors: error_kinds.values().sum(),
            error_kinds,
            disconnects: self.disconnects(),
            close_codes: self
                .close_codes
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .clone(),
            clean_closes: self.clean_closes.load(Ordering::Relaxed),
            pings: self.pings.load(Ordering::Relaxed),
        }
    }
}

impl CountersReport {
    /// One human line: `errors 0, disconnects 0, server close codes {}, pings 0`.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "errors {}, disconnects {}, server close codes {:?}, pings answered {}",
            self.errors, self.disconnects, self.close_codes, self.pings
        );
        if !self.error_kinds.is_empty() {
            line.push_str(&format!("\n  error kinds: {:?}", self.error_kinds));
        }
        line
    }
}
