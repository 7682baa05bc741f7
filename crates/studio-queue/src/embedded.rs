//! The embedded engine: jobs live in the database the API already uses (SQLite by default,
//! PostgreSQL when configured), in the `jobs` table, run by [`crate::Worker`]s.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use studio_core::JobId;
use studio_db::{EnqueueOptions, NewJob, QueueJob, Store};
use time::OffsetDateTime;

use crate::{JobEvent, JobOptions, JobQueue, QueueError};

/// How often `subscribe` looks at the job: the same cadence workers poll at, so an event reaches
/// a subscriber at most this long after it was written, whichever process wrote it.
pub const DEFAULT_SUBSCRIBE_INTERVAL: Duration = Duration::from_millis(200);

/// The embedded [`JobQueue`].
#[derive(Clone)]
pub struct EmbeddedQueue {
    store: Arc<dyn Store>,
    subscribe_interval: Duration,
}

impl EmbeddedQueue {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            subscribe_interval: DEFAULT_SUBSCRIBE_INTERVAL,
        }
    }

    /// Polls for `subscribe` every `interval` instead.
    pub fn with_subscribe_interval(mut self, interval: Duration) -> Self {
        self.subscribe_interval = interval;
        self
    }
}

#[async_trait]
impl JobQueue for EmbeddedQueue {
    fn engine(&self) -> &'static str {
        "embedded"
    }

    async fn enqueue(
        &self,
        kind: &str,
        payload: serde_json::Value,
        options: JobOptions,
    ) -> Result<JobId, QueueError> {
        Ok(enqueue_in_table(&*self.store, kind, payload, options)
            .await?
            .id)
    }

    async fn status(&self, id: &JobId) -> Result<Option<QueueJob>, QueueError> {
        Ok(self.store.queue_job(id).await?)
    }

    async fn cancel(&self, id: &JobId) -> Result<bool, QueueError> {
        Ok(self.store.cancel(id).await?)
    }

    fn subscribe(&self, id: JobId) -> BoxStream<'static, Result<JobEvent, QueueError>> {
        poll_events(self.store.clone(), id, self.subscribe_interval).boxed()
    }
}

/// Records a job in the `jobs` table (idempotent on its key); returns it as recorded (the
/// existing one when the key was used before). Both engines enqueue through here.
pub(crate) async fn enqueue_in_table(
    store: &dyn Store,
    kind: &str,
    payload: serde_json::Value,
    options: JobOptions,
) -> Result<QueueJob, QueueError> {
    let id = options.id.unwrap_or_else(JobId::generate);
    let run_at = options.delay.map(|delay| {
        OffsetDateTime::now_utc() + time::Duration::try_from(delay).unwrap_or(time::Duration::MAX)
    });
    let new = NewJob {
        idempotency_key: options
            .idempotency_key
            .unwrap_or_else(|| id.as_str().to_owned()),
        id,
        kind: kind.to_owned(),
        payload: serde_json::to_string(&payload)?,
        request_id: options.request_id,
    };
    let job = store
        .enqueue(
            new,
            EnqueueOptions {
                priority: options.priority,
                run_at,
                max_attempts: options
                    .max_attempts
                    .unwrap_or(studio_db::DEFAULT_MAX_ATTEMPTS),
            },
        )
        .await?;
    Ok(job)
}

/// Where a polling subscription stands.
struct Polling {
    store: Arc<dyn Store>,
    id: JobId,
    interval: Duration,
    last: Option<JobEvent>,
    done: bool,
}

/// Reads the job every `interval` and yields each change, ending after a finished state (or
/// when the job is gone, or after an error). The table is the record on both engines, so both
/// subscribe through here.
pub(crate) fn poll_events(
    store: Arc<dyn Store>,
    id: JobId,
    interval: Duration,
) -> impl futures::Stream<Item = Result<JobEvent, QueueError>> + Send + 'static {
    let start = Polling {
        store,
        id,
        interval,
        last: None,
        done: false,
    };
    futures::stream::unfold(start, |mut polling| async move {
        if polling.done {
            return None;
        }
        loop {
            if polling.last.is_some() {
                tokio::time::sleep(polling.interval).await;
            }
            let job = match polling.store.queue_job(&polling.id).await {
                Ok(Some(job)) => job,
                Ok(None) => return None,
                Err(err) => {
                    polling.done = true;
                    return Some((Err(err.into()), polling));
                }
            };
            let event = JobEvent::of(&job);
            let changed = polling
                .last
                .as_ref()
                .is_none_or(|last| event.differs_from(last));
            if changed {
                polling.done = job.state.is_finished();
                polling.last = Some(event.clone());
                return Some((Ok(event), polling));
            }
        }
    })
}
