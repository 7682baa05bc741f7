//! The `studio` program as a library: configuration, logging, and [`startup::Application`], the
//! one place that wires concrete backends into the HTTP app. `main.rs` only parses the command
//! line and calls into here; integration tests build the same `Application`.

pub mod ai;
pub mod cli;
pub mod config;
pub mod janitor;
pub mod jobs;
pub mod logging;
pub mod secrets;
pub mod shutdown;
pub mod startup;
pub mod sweeper;
pub mod worker_metrics;

pub use config::{Config, RawConfig};
pub use startup::Application;
