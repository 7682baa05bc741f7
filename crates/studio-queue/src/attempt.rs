//! One attempt of one job, whichever engine delivered it: the embedded claim loop and the BullMQ
//! processor both hand a job they hold (`active`, leased to them in the `jobs` table) to
//! [`run`], which runs its handler and records the outcome in the table.
//!
//! Inside an attempt: a span carrying `job_id` and `request_id` (every log line of the job has
//! them), a heartbeat task that renews the lease in the table and turns "cancel requested" or
//! "lease lost" into the job's cancellation token, panics caught (a panicking job never stays
//! `active` with a lease kept alive — the classic bug the notes describe for both queue crates),
//! and the outcome: a result completes the job; [`JobError::Permanent`] fails it; a
//! [`JobError::Transient`] error or a panic retries with backoff while attempts remain; when the
//! worker's shutdown grace runs out the job is handed back. A worker that lost its lease records
//! nothing: the store would refuse it anyway, and another worker owns the job now.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use studio_db::{ClaimedJob, HeartbeatOutcome, Store};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::handler::CANCELLED;
use crate::metrics::AttemptOutcome;
use crate::{JobContext, JobError, JobHandler, JobMetrics, RetryPolicy};

/// The error code of an attempt that panicked.
const PANICKED: &str = "panicked";
/// The error code of a payload that is not JSON (it never will be: not retried).
const BAD_PAYLOAD: &str = "bad_payload";
/// How many times the outcome of a job is written before giving up (the lease then lapses and
/// the job runs again: at-least-once), and the pause between tries.
const SETTLE_TRIES: u32 = 3;
const SETTLE_PAUSE: Duration = Duration::from_millis(200);

/// What every attempt run by one worker shares.
pub(crate) struct AttemptEnv {
    pub store: Arc<dyn Store>,
    /// The worker's name; each claim leases its jobs to a name of its own derived from it
    /// ([`AttemptEnv::next_lease_owner`]).
    pub worker_id: String,
    /// Claims made so far, numbering the lease owners.
    pub claims: AtomicU64,
    pub lease: Duration,
    pub heartbeat_interval: Duration,
    pub retry: RetryPolicy,
    /// Fired when the worker's shutdown grace is over: running jobs stop and are handed back.
    pub hand_back: CancellationToken,
    pub metrics: JobMetrics,
}

impl AttemptEnv {
    /// A lease owner for the next claim: the worker's name and the claim's number. Why not the
    /// worker's name alone: a worker whose heartbeats stall past its lease (an overloaded
    /// process) can claim its own lapsed job again; with one name for both, the stale attempt
    /// would still pass every `lease_owner = …` check and both would record outcomes. With a name
    /// per claim, the stale one is refused like any other worker's.
    pub(crate) fn next_lease_owner(&self) -> String {
        let claim = self.claims.fetch_add(1, Ordering::Relaxed);
        format!("{}#{claim}", self.worker_id)
    }
}

/// How an attempt ended, as recorded in the `jobs` table.
#[derive(Debug)]
pub(crate) enum Settled {
    /// `completed`, with this result.
    Completed(serde_json::Value),
    /// `retrying`: runs again from `run_at` on.
    Retrying {
        run_at: OffsetDateTime,
        code: String,
        message: String,
    },
    /// `failed` (or `cancelled`, code `cancelled`): over.
    Failed { code: String, message: String },
    /// Back to `queued` (shutdown grace over), the attempt not counted.
    HandedBack,
    /// Nothing recorded: the lease was lost (another worker owns the job), or the table could
    /// not be written (the lease will lapse and the job runs again).
    Abandoned,
}

/// What the handler's run came to, before it is recorded.
enum Outcome {
    Done(serde_json::Value),
    Failed(JobError),
    Panicked(String),
    /// The grace period ran out: hand the job back.
    HandedBack,
}

/// Runs one attempt of `job` (which `env`'s worker holds) to an outcome and records it, inside
/// the job's span.
pub(crate) async fn run(
    env: Arc<AttemptEnv>,
    handler: Arc<dyn JobHandler>,
    job: ClaimedJob,
) -> Settled {
    let span = tracing::info_span!(
        "job",
        job_id = %job.id,
        request_id = tracing::field::Empty,
        job.kind = %job.kind,
        job.attempt = job.attempts,
    );
    if let Some(request_id) = &job.request_id {
        span.record("request_id", request_id.as_str());
    }
    run_in_span(env, handler, job).instrument(span).await
}

async fn run_in_span(
    env: Arc<AttemptEnv>,
    handler: Arc<dyn JobHandler>,
    job: ClaimedJob,
) -> Settled {
    // Every write of this attempt is as the owner its claim leased the job to.
    let owner = job
        .lease_owner
        .clone()
        .unwrap_or_else(|| env.worker_id.clone());
    let cancellation = env.hand_back.child_token();
    let lost = Arc::new(AtomicBool::new(false));
    let stop_heartbeat = CancellationToken::new();
    let heartbeat = tokio::spawn(
        heartbeat_loop(
            env.clone(),
            owner.clone(),
            job.id.clone(),
            cancellation.clone(),
            lost.clone(),
            stop_heartbeat.clone(),
        )
        .in_current_span(),
    );

    tracing::info!("job started");
    env.metrics.attempt_started(&job.kind);
    let started = Instant::now();
    let outcome = match serde_json::from_str::<serde_json::Value>(&job.payload) {
        Err(err) => Outcome::Failed(JobError::permanent(BAD_PAYLOAD, err.to_string())),
        Ok(payload) => {
            let ctx = JobContext::new(&job, owner.clone(), env.store.clone(), cancellation.clone());
            let attempt = AssertUnwindSafe(handler.run(ctx, payload)).catch_unwind();
            tokio::select! {
                biased;
                result = attempt => match result {
                    Ok(Ok(value)) => Outcome::Done(value),
                    Ok(Err(err)) => Outcome::Failed(err),
                    Err(panic) => Outcome::Panicked(panic_message(panic.as_ref())),
                },
                () = env.hand_back.cancelled() => Outcome::HandedBack,
            }
        }
    };
    // A job that stopped with an error because the grace ran out (its token fired) did not
    // fail: it was interrupted, and goes back to the queue like one that did not stop.
    let outcome = match outcome {
        Outcome::Failed(_) if env.hand_back.is_cancelled() => Outcome::HandedBack,
        other => other,
    };
    stop_heartbeat.cancel();
    heartbeat.await.ok();
    let elapsed = started.elapsed();
    let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);

    if lost.load(Ordering::SeqCst) {
        tracing::warn!(
            job.elapsed_ms = elapsed_ms,
            "job lease lost, outcome dropped"
        );
        env.metrics
            .attempt_ended(&job.kind, AttemptOutcome::Abandoned, elapsed, None);
        return Settled::Abandoned;
    }
    let settled = record(&env, &owner, &job, outcome).await;
    log_settled(&settled, elapsed_ms);
    let (label, failure) = match &settled {
        Settled::Completed(_) => (AttemptOutcome::Completed, None),
        Settled::Retrying { code, .. } => (AttemptOutcome::Retried, Some(code.as_str())),
        Settled::Failed { code, .. } if code == CANCELLED => (AttemptOutcome::Cancelled, None),
        Settled::Failed { code, .. } => (AttemptOutcome::Failed, Some(code.as_str())),
        Settled::HandedBack => (AttemptOutcome::HandedBack, None),
        Settled::Abandoned => (AttemptOutcome::Abandoned, None),
    };
    env.metrics
        .attempt_ended(&job.kind, label, elapsed, failure);
    settled
}

/// Writes the outcome of an attempt to the table.
async fn record(env: &AttemptEnv, owner: &str, job: &ClaimedJob, outcome: Outcome) -> Settled {
    let store = &env.store;
    let worker = owner;
    let (written, settled) = match outcome {
        Outcome::Done(value) => {
            let result = serde_json::to_string(&value).unwrap_or_else(|_| "null".to_owned());
            let written = settle(|| store.complete(&job.id, worker, &result)).await;
            (written, Settled::Completed(value))
        }
        Outcome::Failed(JobError::Permanent { code, message }) => {
            let written = settle(|| store.fail(&job.id, worker, &code, &message, None)).await;
            (written, Settled::Failed { code, message })
        }
        Outcome::Failed(JobError::Transient { code, message }) => {
            failed_attempt(env, owner, job, code, message).await
        }
        Outcome::Panicked(message) => {
            failed_attempt(env, owner, job, PANICKED.to_owned(), message).await
        }
        Outcome::HandedBack => {
            let written = settle(|| store.release(&job.id, worker)).await;
            (written, Settled::HandedBack)
        }
    };
    match written {
        Ok(true) => settled,
        Ok(false) => {
            tracing::warn!("job lease lost before its outcome was recorded");
            Settled::Abandoned
        }
        Err(err) => {
            tracing::error!(error = %err, "recording the job outcome failed; its lease will lapse");
            Settled::Abandoned
        }
    }
}

/// Records a failed attempt that may be retried: `retrying` while attempts remain, else
/// `failed`.
async fn failed_attempt(
    env: &AttemptEnv,
    owner: &str,
    job: &ClaimedJob,
    code: String,
    message: String,
) -> (Result<bool, studio_db::DbError>, Settled) {
    let run_at = retry_at(job, &env.retry);
    let written = settle(|| env.store.fail(&job.id, owner, &code, &message, run_at)).await;
    let settled = match run_at {
        Some(run_at) => Settled::Retrying {
            run_at,
            code,
            message,
        },
        None => Settled::Failed { code, message },
    };
    (written, settled)
}

fn log_settled(settled: &Settled, elapsed_ms: u64) {
    match settled {
        Settled::Completed(_) => tracing::info!(job.elapsed_ms = elapsed_ms, "job completed"),
        Settled::Failed { code, .. } if code == CANCELLED => {
            tracing::info!(job.elapsed_ms = elapsed_ms, "job cancelled");
        }
        Settled::Failed { code, message } if code == PANICKED => tracing::error!(
            job.elapsed_ms = elapsed_ms,
            error.code = %code,
            error.message = %message,
            "job panicked"
        ),
        Settled::Failed { code, message } => tracing::warn!(
            job.elapsed_ms = elapsed_ms,
            error.code = %code,
            error.message = %message,
            "job failed"
        ),
        Settled::Retrying { code, message, .. } => tracing::warn!(
            job.elapsed_ms = elapsed_ms,
            error.code = %code,
            error.message = %message,
            "job attempt failed"
        ),
        Settled::HandedBack => tracing::info!("job handed back"),
        Settled::Abandoned => {}
    }
}

/// When a failed attempt of `job` runs again, or `None` when it was the last.
fn retry_at(job: &ClaimedJob, policy: &RetryPolicy) -> Option<OffsetDateTime> {
    (job.attempts < job.max_attempts).then(|| {
        let delay = policy.delay(job.attempts);
        OffsetDateTime::now_utc() + time::Duration::try_from(delay).unwrap_or(time::Duration::MAX)
    })
}

/// Writes an outcome, trying again a few times if the database fails.
async fn settle<F, Fut>(mut write: F) -> Result<bool, studio_db::DbError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, studio_db::DbError>>,
{
    let mut tries = 1;
    loop {
        match write().await {
            Err(err) if tries < SETTLE_TRIES => {
                tracing::warn!(error = %err, "recording the job outcome failed, trying again");
                tries += 1;
                tokio::time::sleep(SETTLE_PAUSE).await;
            }
            other => return other,
        }
    }
}

/// Renews the lease every heartbeat interval until `stop`; fires `cancellation` when the job was
/// cancelled or its lease lost (and then marks `lost`).
async fn heartbeat_loop(
    env: Arc<AttemptEnv>,
    owner: String,
    job: studio_core::JobId,
    cancellation: CancellationToken,
    lost: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(env.heartbeat_interval) => {}
        }
        match env.store.heartbeat(&job, &owner, env.lease).await {
            Ok(HeartbeatOutcome::Continue) => {}
            Ok(HeartbeatOutcome::Cancelled) => {
                if !cancellation.is_cancelled() {
                    tracing::info!("job cancellation requested");
                    cancellation.cancel();
                }
            }
            Ok(HeartbeatOutcome::Lost) => {
                tracing::warn!("job lease lost");
                lost.store(true, Ordering::SeqCst);
                cancellation.cancel();
                return;
            }
            // One failed heartbeat is not a lost lease (it is renewed well before it lapses);
            // if the database stays away the lease lapses and another worker takes over.
            Err(err) => tracing::warn!(error = %err, "job heartbeat failed"),
        }
    }
}

/// The message of a caught panic (panics carry a `&str` or a `String`, almost always).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    format!("the job panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_read() {
        let caught = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(panic_message(caught.as_ref()), "the job panicked: boom 1");
        let caught = std::panic::catch_unwind(|| std::panic::panic_any(7)).unwrap_err();
        assert_eq!(
            panic_message(caught.as_ref()),
            "the job panicked: a panic without a message"
        );
    }
}
