//! The janitor: deletes finished jobs once they are older than the retention, so the `jobs`
//! table (and every scan of it: claims, stats) stays the size of the recent past.
//!
//! Finished means completed, failed or cancelled; queued, retrying and running jobs are never
//! touched, and neither is the job an asset points at (the store keeps it: it is that asset's
//! processing record). Each pass is one `DELETE`, idempotent, so several processes running the
//! janitor against one database (API nodes, workers) only repeat each other's work.

use std::sync::Arc;
use std::time::Duration;

use studio_db::{DbError, Store};
use time::OffsetDateTime;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Deletes the jobs that finished more than `retention` ago; returns how many.
pub async fn purge_once(store: &dyn Store, retention: Duration) -> Result<u64, DbError> {
    let cutoff = time::Duration::try_from(retention)
        .ok()
        .and_then(|retention| OffsetDateTime::now_utc().checked_sub(retention));
    match cutoff {
        Some(cutoff) => store.purge_finished(cutoff).await,
        // A retention reaching before the calendar's start: nothing is that old.
        None => Ok(0),
    }
}

/// Purges every `interval`, the first pass at once, until `shutdown` fires. A failed pass is
/// logged and the next one tries again: a database blip must not end the janitor for the life
/// of the process.
pub async fn run(
    store: Arc<dyn Store>,
    retention: Duration,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    // After a slow pass, wait a whole interval again rather than catching up with a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let pass = tokio::select! {
            // A pass cut short is rolled back by the database and done by the next process.
            () = shutdown.cancelled() => return,
            pass = purge_once(&*store, retention) => pass,
        };
        match pass {
            Ok(0) => tracing::debug!("no finished jobs past retention"),
            Ok(purged) => tracing::info!(
                jobs.purged = purged,
                retention_secs = retention.as_secs(),
                "purged finished jobs past retention"
            ),
            Err(err) => tracing::warn!(error = %err, "cannot purge finished jobs"),
        }
    }
}
