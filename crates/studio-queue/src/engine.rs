//! Which engine runs the jobs, chosen by configuration: the queue the API enqueues into and the
//! workers that run the jobs must agree on it.

use std::sync::Arc;
use std::time::Duration;

use studio_db::Store;

use crate::redis::RedisQueue;
use crate::{EmbeddedQueue, JobQueue, QueueError};

/// The engine running the jobs.
#[derive(Debug, Clone, Default)]
pub enum Engine {
    /// Jobs claimed straight from the `jobs` table of the database we already use: nothing else
    /// to run (the default).
    #[default]
    Embedded,
    /// Jobs handed to BullMQ queues in Redis, for many worker machines.
    Redis(RedisEngine),
}

impl Engine {
    /// The engine's name, for logs and `/ready`.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Embedded => "embedded",
            Engine::Redis(_) => "redis",
        }
    }
}

/// Settings of the Redis/BullMQ engine.
#[derive(Clone)]
pub struct RedisEngine {
    /// `redis://…` or `rediss://…`.
    pub url: String,
    /// BullMQ's key prefix (`bull` by default, so Bull Board and other BullMQ tools find the
    /// queues where they look first). One BullMQ queue per job kind: `{prefix}:{kind}:…`.
    pub prefix: String,
    /// How long BullMQ keeps finished jobs (the `jobs` table keeps its own retention).
    pub retention: Duration,
    /// How often the relay looks for jobs recorded in the table but not yet handed to BullMQ.
    pub relay_interval: Duration,
}

impl std::fmt::Debug for RedisEngine {
    /// The URL may carry a password: only its host part is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = self
            .url
            .rsplit_once('@')
            .map_or_else(|| self.url.as_str(), |(_, host)| host);
        f.debug_struct("RedisEngine")
            .field("url", &format_args!("…{host}"))
            .field("prefix", &self.prefix)
            .field("retention", &self.retention)
            .field("relay_interval", &self.relay_interval)
            .finish()
    }
}

impl RedisEngine {
    /// Defaults for `url`: prefix `bull`, 7 days of retention, a relay pass every 200 ms.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "bull".to_owned(),
            retention: Duration::from_secs(7 * 24 * 3600),
            relay_interval: Duration::from_millis(200),
        }
    }
}

/// The queue the API enqueues into, for `engine`. With Redis it also starts the outbox relay,
/// which runs until the queue is dropped.
pub async fn open_queue(
    store: Arc<dyn Store>,
    engine: &Engine,
) -> Result<Arc<dyn JobQueue>, QueueError> {
    Ok(match engine {
        Engine::Embedded => Arc::new(EmbeddedQueue::new(store)),
        Engine::Redis(settings) => Arc::new(RedisQueue::connect(store, settings.clone()).await?),
    })
}
