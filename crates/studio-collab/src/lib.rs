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

mod close;
mod config;
mod connection;
mod connection_control;
pub mod fanout;
mod hub;
mod metrics;
mod persist;
pub mod protocol;
mod room;
pub mod timeline;

pub use close::CloseCode;
pub use config::CollabConfig;
pub use connection::{InFrame, OutFrame, Session};
pub use fanout::RedisFanout;
pub use hub::{CollabError, CollabHub};
pub use metrics::CollabMetrics;
pub use room::PROJECT_ROOT;
pub use timeline::{TimelineSink, TimelineVerdict};
