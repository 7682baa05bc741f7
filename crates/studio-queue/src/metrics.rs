//! What workers measure about the jobs they run, for Prometheus: attempts started, how long each
//! took and how it ended, failures by code, retries.
//!
//! Queue depth and running jobs are not here: they are counted from the `jobs` table when
//! `/metrics` is scraped, so they are right whichever process or machine runs the jobs. These
//! are the numbers only the worker that ran a job knows.
//!
//! Like the API's metrics, they go to a recorder the application hands in (several apps share a
//! test process; nothing global), or nowhere when it hands in none.

use std::sync::Arc;
use std::time::Duration;

/// Attempts started, by `kind`.
pub const JOB_ATTEMPTS_TOTAL: &str = "studio_job_attempts_total";
/// Attempt wall time, by `kind` and `outcome` (see [`AttemptOutcome`]).
pub const JOB_DURATION_SECONDS: &str = "studio_job_duration_seconds";
/// Failed attempts (retried or final), by `kind` and error `code`.
pub const JOB_FAILURES_TOTAL: &str = "studio_job_failures_total";
/// Failed attempts that will run again, by `kind`.
pub const JOB_RETRIES_TOTAL: &str = "studio_job_retries_total";

/// How an attempt ended, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Completed,
    /// Failed, and will run again.
    Retried,
    /// Failed for good (permanent error, panic or transient error on the last attempt).
    Failed,
    Cancelled,
    /// Interrupted by shutdown and handed back to the queue.
    HandedBack,
    /// Its lease was lost, or its outcome could not be recorded.
    Abandoned,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Completed => "completed",
            AttemptOutcome::Retried => "retried",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Cancelled => "cancelled",
            AttemptOutcome::HandedBack => "handed_back",
            AttemptOutcome::Abandoned => "abandoned",
        }
    }
}

/// Where a worker records its job metrics.
#[derive(Clone, Default)]
pub struct JobMetrics {
    recorder: Option<Arc<dyn metrics::Recorder + Send + Sync>>,
}

impl std::fmt::Debug for JobMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobMetrics")
            .field("recording", &self.recorder.is_some())
            .finish()
    }
}

impl JobMetrics {
    /// Records into `recorder` (e.g. the application's Prometheus recorder).
    pub fn new(recorder: Arc<dyn metrics::Recorder + Send + Sync>) -> Self {
        Self {
            recorder: Some(recorder),
        }
    }

    /// Records nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    fn record(&self, f: impl FnOnce()) {
        if let Some(recorder) = &self.recorder {
            metrics::with_local_recorder(&**recorder, f);
        }
    }

    pub(crate) fn attempt_started(&self, kind: &str) {
        self.record(|| {
            metrics::counter!(JOB_ATTEMPTS_TOTAL, "kind" => kind.to_owned()).increment(1);
        });
    }

    /// An attempt ended with `outcome` after `elapsed`; `failure` is the error code when it
    /// failed.
    pub(crate) fn attempt_ended(
        &self,
        kind: &str,
        outcome: AttemptOutcome,
        elapsed: Duration,
        failure: Option<&str>,
    ) {
        self.record(|| {
            metrics::histogram!(
                JOB_DURATION_SECONDS,
                "kind" => kind.to_owned(),
                "outcome" => outcome.as_str(),
            )
            .record(elapsed.as_secs_f64());
            if let Some(code) = failure {
                metrics::counter!(
                    JOB_FAILURES_TOTAL,
                    "kind" => kind.to_owned(),
                    "code" => code.to_owned(),
                )
                .increment(1);
            }
            if outcome == AttemptOutcome::Retried {
                metrics::counter!(JOB_RETRIES_TOTAL, "kind" => kind.to_owned()).increment(1);
            }
        });
    }
}
