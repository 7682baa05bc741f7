//! Real-time collaboration: a y-websocket server for Yjs projects.
//!
//! Browsers edit a project as a Yjs document with the stock npm client (`yjs` + `y-websocket`'s
//! `WebsocketProvider`). This crate relays their updates and awareness between everyone in the
//! same project ([`room`]), keeps the document durable without a SQL write per keystroke
//! ([`persist`]: a group-committed update log plus snapshots), promotes the Project JSON the
//! document holds to the project's timeline ([`timeline`]), and lets several nodes serve one
//! project through Redis Streams ([`fanout`]). It knows no HTTP: [`CollabHub::serve`] takes a
//! stream and a sink of frames; the HTTP layer checks access before the upgrade and adapts the
//! WebSocket.
//!
//! The protocol as the real client behaves (one message per frame, awareness echoed to its
//! sender, 44xx close codes ending reconnection) is in `shared/notes/collab-protocol.md`.

#[cfg(feature = "server")]
mod close;
#[cfg(feature = "server")]
mod config;
#[cfg(feature = "server")]
mod connection;
#[cfg(feature = "server")]
mod connection_control;
#[cfg(feature = "server")]
pub mod fanout;
#[cfg(feature = "server")]
mod hub;
#[cfg(feature = "server")]
mod metrics;
#[cfg(feature = "server")]
mod persist;
pub mod protocol;
#[cfg(feature = "server")]
mod room;
#[cfg(feature = "server")]
pub mod timeline;

#[cfg(feature = "server")]
pub use close::CloseCode;
#[cfg(feature = "server")]
pub use config::CollabConfig;
#[cfg(feature = "server")]
pub use connection::{InFrame, OutFrame, Session};
#[cfg(feature = "server")]
pub use fanout::RedisFanout;
#[cfg(feature = "server")]
pub use hub::{CollabError, CollabHub};
#[cfg(feature = "server")]
pub use metrics::CollabMetrics;
#[cfg(feature = "server")]
pub use room::PROJECT_ROOT;
#[cfg(feature = "server")]
pub use timeline::{TimelineSink, TimelineVerdict};
