//! The outbox relay: hands jobs recorded in the `jobs` table but not yet given to BullMQ (by
//! `confirm_upload`, or an `enqueue` whose hand-over failed) to BullMQ, then marks them relayed.
//!
//! It runs in every process that opened a [`super::RedisQueue`]. Two relays may hand the same
//! job over at once: BullMQ keeps the first (same id), and if the job already finished and was
//! removed from Redis, the table refuses to start it again. So no lock is needed between them.

use std::sync::Arc;
use std::time::Duration;

use studio_db::Store;
use tokio_util::sync::CancellationToken;

use super::BullQueues;

/// Jobs handed over per pass; a longer backlog is drained by passes back to back.
const BATCH: u32 = 100;
/// The longest pause after failures (Redis or the database away): backoff doubles up to it.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Relays until `stop` fires.
pub(crate) async fn run(
    store: Arc<dyn Store>,
    queues: BullQueues,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut pause = interval;
    loop {
        let wait = match pass(&*store, &queues).await {
            // A full batch: more may be waiting, go again at once.
            Ok(handed) if handed == BATCH as usize => Duration::ZERO,
            Ok(_) => {
                pause = interval;
                interval
            }
            Err(err) => {
                tracing::warn!(error = %err, "job relay pass failed");
                pause = (pause * 2).min(MAX_BACKOFF);
                pause
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// One pass: hands over up to [`BATCH`] jobs; returns how many.
pub(crate) async fn pass(
    store: &dyn Store,
    queues: &BullQueues,
) -> Result<usize, crate::QueueError> {
    let pending = store.unrelayed_jobs(BATCH).await?;
    let mut handed = Vec::with_capacity(pending.len());
    let mut failure = None;
    for job in &pending {
        match queues.hand_over(job).await {
            Ok(()) => handed.push(job.id.clone()),
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    store.mark_relayed(&handed).await?;
    if !handed.is_empty() {
        tracing::debug!(jobs = handed.len(), "relayed jobs to BullMQ");
    }
    match failure {
        Some(err) => Err(err),
        None => Ok(handed.len()),
    }
}
