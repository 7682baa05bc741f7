//! The WebSocket close codes the server uses, in one table.
//!
//! y-websocket clients reconnect (with backoff) after any close except 4400–4499, on which they
//! stop for good. So 44xx is for "this will not get better by retrying": access gone, project
//! gone, the document full. Everything transient uses the standard codes.

/// Why the server closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// 1001: the server is shutting down (clients reconnect, to this node or another).
    GoingAway,
    /// 1002: a frame that is not a y-websocket message (garbage, truncated, unknown type).
    ProtocolError,
    /// 1003: a text frame (the protocol is binary).
    UnsupportedData,
    /// 1008: more messages per second than allowed.
    RateLimited,
    /// 1009: a frame larger than the configured maximum.
    FrameTooLarge,
    /// 1011: the server failed to load or keep the document.
    InternalError,
    /// 1013: the client did not read fast enough and its send queue filled up.
    SlowClient,
    /// 4401: the user lost access to the project (removed as a member).
    AccessRevoked,
    /// 4404: the project was deleted.
    ProjectGone,
    /// 4413: the document would grow beyond the configured maximum size.
    DocumentTooLarge,
    /// The peer's code, when the client closed.
    Other(u16),
}

impl CloseCode {
    pub fn as_u16(self) -> u16 {
        match self {
            CloseCode::GoingAway => 1001,
            CloseCode::ProtocolError => 1002,
            CloseCode::UnsupportedData => 1003,
            CloseCode::RateLimited => 1008,
            CloseCode::FrameTooLarge => 1009,
            CloseCode::InternalError => 1011,
            CloseCode::SlowClient => 1013,
            CloseCode::AccessRevoked => 4401,
            CloseCode::ProjectGone => 4404,
            CloseCode::DocumentTooLarge => 4413,
            CloseCode::Other(code) => code,
        }
    }

    /// A label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            CloseCode::GoingAway => "going_away",
            CloseCode::ProtocolError => "protocol_error",
            CloseCode::UnsupportedData => "unsupported_data",
            CloseCode::RateLimited => "rate_limited",
            CloseCode::FrameTooLarge => "frame_too_large",
            CloseCode::InternalError => "internal_error",
            CloseCode::SlowClient => "slow_client",
            CloseCode::AccessRevoked => "access_revoked",
            CloseCode::ProjectGone => "project_gone",
            CloseCode::DocumentTooLarge => "document_too_large",
            CloseCode::Other(_) => "client",
        }
    }
}
