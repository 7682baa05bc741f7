//! `studio-load`: a load generator for Studio Engine. The first scenarios speak the
//! y-websocket protocol to the collaboration endpoint (`collab relay | throughput | idle`);
//! `ai` measures the latency `/api/ai/chat` adds over a fake provider; `scenario` runs many
//! users against the HTTP API (mass uploads, browsing) or one project (collaboration).
//!
//! Everything is in this library, so tests drive the same code as the binary; `main.rs` only
//! parses the command line and calls [`cli::Cli::run`].

pub mod ai;
pub mod cli;
pub mod collab;
pub mod report;
pub mod scenario;
pub mod sys;
pub mod units;
