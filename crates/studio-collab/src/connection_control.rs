//! How the rest of the server closes one connection: a close code and reason set once, and a
//! token the connection's tasks watch.

use std::sync::OnceLock;

use tokio_util::sync::CancellationToken;

use crate::CloseCode;

/// Shared between a connection's tasks and its room: whoever closes first decides the code.
#[derive(Debug, Default)]
pub struct ConnControl {
    token: CancellationToken,
    reason: OnceLock<(CloseCode, String)>,
}

impl ConnControl {
    /// Asks the connection to close with `code`; later calls do not change the code.
    pub fn close(&self, code: CloseCode, reason: impl Into<String>) {
        let _ = self.reason.set((code, reason.into()));
        self.token.cancel();
    }

    pub fn is_closed(&self) -> bool {
        self.token.is_cancelled()
    }

    pub async fn closed(&self) {
        self.token.cancelled().await;
    }

    /// The code and reason it was closed with (`None` while open).
    pub fn reason(&self) -> Option<&(CloseCode, String)> {
        self.reason.get()
    }
}
