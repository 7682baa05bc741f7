//! HTTP scenarios against a running studio (`studio-load scenario uploads | browse | collab`),
//! in the shape of Locust/Goose runs: `--users` simulated users started at `--hatch-rate` per
//! second, spread over one or more `--host`s, each repeating one iteration until `--run-time`
//! is over (optionally no faster than `--rate` iterations per second overall). Every user has
//! its own id and a token minted from the deployment's HS256 secret.
//!
//! - [`users`]: the users, their tokens, the hatch and the pacing;
//! - [`stats`]: per-step latency percentiles and failures by kind;
//! - [`media`]: the file the uploads send (given, or made with ffmpeg);
//! - [`uploads`]: intent → PUT → complete → wait for `ready`;
//! - [`browse`]: list projects, list a project's assets, get its timeline;
//! - [`collab`]: many editors in one project over y-websocket (the `collab relay` clients).

pub mod browse;
pub mod collab;
pub mod media;
pub mod stats;
pub mod uploads;
pub mod users;

use serde::Serialize;

use self::stats::StepReport;
use self::users::{Load, ProcessPeak, peaks_summary};
use crate::report::{self, Percentiles, round3};

/// What an uploads or browse run measured.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// `uploads` or `browse`.
    pub scenario: &'static str,
    pub hosts: Vec<String>,
    pub users: usize,
    pub hatch_rate: f64,
    /// Overall iteration rate cap, if any.
    pub rate: Option<f64>,
    /// Time in which iterations could start, seconds.
    pub run_time_s: f64,
    /// From the first user's start to the last iteration's end (in-flight ones finish),
    /// seconds.
    pub elapsed_s: f64,
    /// What one iteration is (`upload`, `page`).
    pub unit: &'static str,
    /// Iterations that succeeded in full (uploads: reached `ready`).
    pub iterations: u64,
    /// The same per second of `elapsed_s`.
    pub iterations_per_s: f64,
    /// Iterations with a failed step.
    pub failed_iterations: u64,
    /// Successful iterations end to end.
    pub iteration_ms: Percentiles,
    /// Failed calls, all steps (setup included).
    pub errors: u64,
    /// Uploads: bytes per upload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_bytes: Option<u64>,
    pub steps: Vec<StepReport>,
    /// Peak memory of the watched processes at the end.
    pub processes: Vec<ProcessPeak>,
}

impl ScenarioReport {
    /// The common fields from the load shape.
    fn new(scenario: &'static str, unit: &'static str, load: &Load) -> Self {
        Self {
            scenario,
            hosts: load.hosts.clone(),
            users: load.users,
            hatch_rate: load.hatch_rate,
            rate: load.rate,
            run_time_s: round3(load.run_time.as_secs_f64()),
            elapsed_s: 0.0,
            unit,
            iterations: 0,
            iterations_per_s: 0.0,
            failed_iterations: 0,
            iteration_ms: Percentiles::default(),
            errors: 0,
            file_bytes: None,
            steps: Vec::new(),
            processes: Vec::new(),
        }
    }
}

impl report::Report for ScenarioReport {
    fn summary(&self) -> String {
        let rate = self
            .rate
            .map_or_else(|| "no rate cap".to_owned(), |r| format!("at most {r}/s"));
        let file = self
            .file_bytes
            .map(|b| format!(", {:.2} MiB file", b as f64 / 1024.0 / 1024.0))
            .unwrap_or_default();
        let mut out = format!(
            "{}: {} users (hatch {}/s, {rate}) for {} s on {}{file}\n",
            self.scenario,
            self.users,
            self.hatch_rate,
            self.run_time_s,
            self.hosts.join(", ")
        );
        out.push_str(&format!(
            "  {} {}s in {:.1} s: {:.2} {}s/s; {} failed; {} failed calls\n",
            self.iterations,
            self.unit,
            self.elapsed_s,
            self.iterations_per_s,
            self.unit,
            self.failed_iterations,
            self.errors
        ));
        out.push_str(&format!(
            "  {} end to end: {}\n",
            self.unit,
            self.iteration_ms.summary()
        ));
        out.push_str(&stats::table(&self.steps));
        if !self.processes.is_empty() {
            out.push_str(&format!("  peak RSS: {}\n", peaks_summary(&self.processes)));
        }
        out.trim_end().to_owned()
    }
}
