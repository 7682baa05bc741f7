//! Prometheus metrics, exposed at `GET /metrics`.
//!
//! Each application owns its own recorder instead of installing the process-wide one that the
//! `metrics` macros default to: several apps run in one test process, and state travels in
//! [`crate::AppState`], never in globals. Code that records uses [`Metrics::record`], which makes
//! this recorder current for the duration of a closure, so the usual `metrics::counter!` macros
//! work inside it; long-running code that records from many places (the job worker) takes the
//! recorder itself with [`Metrics::recorder`].
//!
//! The queue gauges (`studio_jobs`, `studio_queue_depth`, `studio_queue_running`) are not
//! updated as jobs move: they are read from the `jobs` table at scrape time
//! ([`render_with_queue_gauges`]), so they are right whichever process (API, in-process worker,
//! `studio worker`) moved the jobs, and cost nothing between scrapes.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use studio_db::{JobCount, JobState, Store};

use crate::AppState;

/// Name of the request counter.
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
/// Name of the request latency histogram.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
/// Jobs per kind and state (labels `kind`, `state`), read from the `jobs` table at scrape time.
pub const STUDIO_JOBS: &str = "studio_jobs";
/// Jobs of a kind waiting to run (`queued` + `retrying`), label `kind`.
pub const STUDIO_QUEUE_DEPTH: &str = "studio_queue_depth";
/// Jobs of a kind running now (`active`), label `kind`.
pub const STUDIO_QUEUE_RUNNING: &str = "studio_queue_running";
/// Scrapes whose job counts could not be read; the queue gauges kept their previous values.
pub const STUDIO_QUEUE_STATS_ERRORS_TOTAL: &str = "studio_queue_stats_errors_total";

/// The `Content-Type` of the Prometheus text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets in seconds: fine-grained below 100 ms where API calls live, then coarse up to
/// the request timeout.
const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// One application's metrics registry. Clones share it.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    /// Every job kind any scrape has seen. A kind whose jobs are all purged still gets its
    /// gauges set (to 0), so they drop instead of repeating their last value forever.
    seen_job_kinds: Arc<Mutex<BTreeSet<String>>>,
}

impl Metrics {
    /// A fresh, empty registry.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".to_owned()),
                LATENCY_BUCKETS_SECONDS,
            )
            .expect("the bucket list is a non-empty constant")
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Self {
            recorder: Arc::new(recorder),
            handle,
            seen_job_kinds: Arc::default(),
        };
        metrics.record(describe);
        metrics
    }

    /// Runs `f` with this registry as the current `metrics` recorder.
    pub fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&*self.recorder, f)
    }

    /// This registry as a `metrics` recorder, for code that records from many places over a
    /// long time (the job worker) rather than inside one [`Metrics::record`] closure.
    pub fn recorder(&self) -> Arc<dyn metrics::Recorder + Send + Sync> {
        self.recorder.clone()
    }

    /// The registry in Prometheus text exposition format, as it stands (no queue gauges
    /// refresh; see [`render_with_queue_gauges`]).
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Sets the queue gauges from `counts` (the result of `QueueStore::stats`): every state of
    /// every kind ever seen, 0 where `counts` has no row.
    pub fn set_queue_gauges(&self, counts: &[JobCount]) {
        let mut seen = self
            .seen_job_kinds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for count in counts {
            if !seen.contains(&count.kind) {
                seen.insert(count.kind.clone());
            }
        }
        let count_of = |kind: &str, state: JobState| -> u64 {
            counts
                .iter()
                .filter(|c| c.kind == kind && c.state == state)
                .map(|c| c.count)
                .sum()
        };
        self.record(|| {
            for kind in seen.iter() {
                for state in JobState::ALL {
                    metrics::gauge!(STUDIO_JOBS, "kind" => kind.clone(), "state" => state.as_str())
                        .set(count_of(kind, state) as f64);
                }
                let waiting = count_of(kind, JobState::Queued) + count_of(kind, JobState::Retrying);
                metrics::gauge!(STUDIO_QUEUE_DEPTH, "kind" => kind.clone()).set(waiting as f64);
                metrics::gauge!(STUDIO_QUEUE_RUNNING, "kind" => kind.clone()).set(count_of(
                    kind,
                    JobState::Active,
                )
                    as f64);
            }
        });
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Help texts, shown as `# HELP` lines.
fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS_TOTAL, "HTTP requests answered.");
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request."
    );
    metrics::describe_gauge!(STUDIO_JOBS, "Jobs in the jobs table, by kind and state.");
    metrics::describe_gauge!(
        STUDIO_QUEUE_DEPTH,
        "Jobs waiting to run (queued or retrying), by kind."
    );
    metrics::describe_gauge!(STUDIO_QUEUE_RUNNING, "Jobs running now, by kind.");
    metrics::describe_counter!(
        STUDIO_QUEUE_STATS_ERRORS_TOTAL,
        "Scrapes that could not read the job counts (the queue gauges kept their last values)."
    );
}

/// Refreshes the queue gauges from `store`, then renders `metrics`. A database that does not
/// answer does not fail the scrape: the HTTP and worker metrics are still worth having then
/// (more than ever), so the error is logged and counted and the rest is rendered.
pub async fn render_with_queue_gauges(metrics: &Metrics, store: &dyn Store) -> String {
    match store.stats().await {
        Ok(counts) => metrics.set_queue_gauges(&counts),
        Err(err) => {
            tracing::warn!(error = %err, "cannot read job counts for the queue gauges");
            metrics.record(|| metrics::counter!(STUDIO_QUEUE_STATS_ERRORS_TOTAL).increment(1));
        }
    }
    metrics.render()
}

/// `GET /metrics`.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(get_metrics))
}

async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
        render_with_queue_gauges(&state.metrics, &*state.store).await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(kind: &str, state: JobState, count: u64) -> JobCount {
        JobCount {
            kind: kind.to_owned(),
            state,
            count,
        }
    }

    #[test]
    fn queue_gauges_cover_every_state_and_drop_to_zero_when_a_kind_empties() {
        let metrics = Metrics::new();
        metrics.set_queue_gauges(&[
            count("transcode", JobState::Queued, 3),
            count("transcode", JobState::Retrying, 2),
            count("transcode", JobState::Active, 1),
        ]);
        let text = metrics.render();
        for line in [
            "studio_jobs{kind=\"transcode\",state=\"queued\"} 3",
            "studio_jobs{kind=\"transcode\",state=\"completed\"} 0",
            "studio_queue_depth{kind=\"transcode\"} 5",
            "studio_queue_running{kind=\"transcode\"} 1",
            "# HELP studio_queue_depth",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }

        // Everything finished and was purged: the kind is gone from the table, not from the
        // gauges.
        metrics.set_queue_gauges(&[]);
        let text = metrics.render();
        for line in [
            "studio_jobs{kind=\"transcode\",state=\"queued\"} 0",
            "studio_queue_depth{kind=\"transcode\"} 0",
            "studio_queue_running{kind=\"transcode\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn the_recorder_records_into_this_registry() {
        let metrics = Metrics::new();
        let recorder = metrics.recorder();
        metrics::with_local_recorder(&*recorder, || {
            metrics::counter!("studio_test_total").increment(2);
        });
        assert!(metrics.render().contains("studio_test_total 2"));
        assert!(!Metrics::new().render().contains("studio_test_total"));
    }
}
