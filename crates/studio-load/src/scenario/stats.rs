//! Per-step statistics of an HTTP scenario: latency of the successful calls (a histogram, so
//! memory does not grow with the run), a count of failures by kind, and the report rows.
//!
//! Only successful calls enter the latency histogram: a refused request (a 429, say) returns
//! fast and would make the percentiles look better than the service is.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::report::{Percentiles, micros_histogram, round3};

/// One step of an iteration (`intent`, `put`, …).
#[derive(Debug)]
pub struct Step {
    name: &'static str,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    latency: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
}

impl Step {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            inner: Mutex::new(Inner {
                latency: micros_histogram(),
                ok: 0,
                errors: BTreeMap::new(),
            }),
        }
    }

    /// A success that took `elapsed`.
    pub fn ok(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let mut inner = self.inner.lock().expect("step lock");
        inner.ok += 1;
        inner.latency.saturating_record(micros.max(1));
    }

    /// A failure of kind `kind` (`429 rate_limited`, `timeout`, …).
    pub fn error(&self, kind: impl Into<String>) {
        let mut inner = self.inner.lock().expect("step lock");
        *inner.errors.entry(kind.into()).or_default() += 1;
    }

    /// The report row, rates over `elapsed`.
    pub fn report(&self, elapsed: Duration) -> StepReport {
        let inner = self.inner.lock().expect("step lock");
        let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        StepReport {
            name: self.name,
            ok: inner.ok,
            errors: inner.errors.values().sum(),
            ok_per_s: round3(inner.ok as f64 / seconds),
            latency_ms: Percentiles::from_micros(&inner.latency),
            error_kinds: inner.errors.clone(),
        }
    }
}

/// One step's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub name: &'static str,
    /// Successful calls.
    pub ok: u64,
    /// Failed calls.
    pub errors: u64,
    /// Successful calls per second of the run.
    pub ok_per_s: f64,
    /// Latency of the successful calls.
    pub latency_ms: Percentiles,
    /// Failures by kind.
    pub error_kinds: BTreeMap<String, u64>,
}

/// The table of step rows and then one line per kind of error.
pub fn table(steps: &[StepReport]) -> String {
    let mut out = format!(
        "  {:<10} {:>8} {:>7} {:>9} {:>10} {:>10} {:>10} {:>10}\n",
        "step", "ok", "errors", "ok/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for s in steps {
        let l = &s.latency_ms;
        out.push_str(&format!(
            "  {:<10} {:>8} {:>7} {:>9.2} {:>10.1} {:>10.1} {:>10.1} {:>10.1}\n",
            s.name, s.ok, s.errors, s.ok_per_s, l.p50, l.p90, l.p99, l.max
        ));
    }
    for s in steps {
        for (kind, count) in &s.error_kinds {
            out.push_str(&format!("  error: {} {kind} × {count}\n", s.name));
        }
    }
    out
}

/// What a failed call is counted as: the status and, for problem+json, its `code`.
pub async fn failure(response: reqwest::Response) -> String {
    let status = response.status().as_u16();
    let code = response
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|body| body["code"].as_str().map(str::to_owned));
    match code {
        Some(code) => format!("{status} {code}"),
        None => status.to_string(),
    }
}

/// What a transport error is counted as.
pub fn transport(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timeout".to_owned()
    } else if err.is_connect() {
        "connect error".to_owned()
    } else if err.is_decode() {
        "bad body".to_owned()
    } else {
        "transport error".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_count_successes_and_failures_apart() {
        let step = Step::new("intent");
        step.ok(Duration::from_millis(2));
        step.ok(Duration::from_millis(4));
        step.error("429 rate_limited");
        step.error("429 rate_limited");
        step.error("timeout");
        let report = step.report(Duration::from_secs(2));
        assert_eq!(report.ok, 2);
        assert_eq!(report.errors, 3);
        assert_eq!(report.ok_per_s, 1.0);
        assert_eq!(report.latency_ms.count, 2);
        assert_eq!(report.error_kinds["429 rate_limited"], 2);
        let text = table(&[report]);
        assert!(
            text.contains("error: intent 429 rate_limited × 2"),
            "{text}"
        );
    }
}

/// Whole iterations of a scenario (an upload, a page): latency of the successful ones and a
/// count of the failed ones.
#[derive(Debug)]
pub struct Iterations {
    latency: Mutex<Histogram<u64>>,
    failed: std::sync::atomic::AtomicU64,
}

impl Default for Iterations {
    fn default() -> Self {
        Self {
            latency: Mutex::new(micros_histogram()),
            failed: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Iterations {
    /// One iteration begun at `started`; `ok` when every step of it succeeded.
    pub fn record(&self, started: tokio::time::Instant, ok: bool) {
        if ok {
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.latency
                .lock()
                .expect("histogram lock")
                .saturating_record(micros);
        } else {
            self.failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Fills `report` with the iterations and the `steps`' rows, over `elapsed`.
    pub fn fill(&self, report: &mut super::ScenarioReport, steps: &[&Step], elapsed: Duration) {
        let rows: Vec<StepReport> = steps.iter().map(|step| step.report(elapsed)).collect();
        let done = Percentiles::from_micros(&self.latency.lock().expect("histogram lock"));
        report.elapsed_s = round3(elapsed.as_secs_f64());
        report.iterations = done.count;
        report.iterations_per_s = round3(done.count as f64 / elapsed.as_secs_f64());
        report.failed_iterations = self.failed.load(std::sync::atomic::Ordering::Relaxed);
        report.iteration_ms = done;
        report.errors = rows.iter().map(|row| row.errors).sum();
        report.steps = rows;
    }
}
