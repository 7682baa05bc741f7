//! Per-user limits on AI calls: concurrent streams and requests per minute.
//!
//! [`Limiter::admit`] checks concurrency first, then the request rate, and commits both only
//! when both pass: a request refused for one limit consumes nothing of the other. Admission
//! returns a [`StreamPermit`] holding one concurrent-stream slot until it is dropped.
//!
//! The rate is a GCRA (generic cell rate algorithm): each request moves the user's theoretical
//! arrival time (TAT) forward by the emission interval `T = 60 s / rpm`; a request conforms
//! when `TAT + T - 60 s <= now`. A quiet user thus has a burst of `rpm` requests, then one per
//! `T`; `retry_after` is when the next request would conform.
//!
//! A limit of `0` refuses every request of that kind.
//!
//! With Redis ([`Limiter::with_redis`]) all nodes share each user's budget, through one Lua
//! script per admission using Redis server time (nodes with skewed clocks agree). A stream slot
//! is a member of `{prefix}:ai:streams:{user}` scored by its lease expiry ([`DEFAULT_LEASE`],
//! refreshed every third of it while held), so the slots of a crashed node free themselves. The
//! TAT is `{prefix}:ai:rpm:{user}` (microseconds, expiring when it no longer matters). Redis
//! errors are logged and *fail open* (the request is admitted): an outage of Redis should not
//! stop AI features, and the daily token limit, kept in the database, still bounds the cost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

/// A user's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub concurrent_streams: u32,
    pub requests_per_minute: u32,
}

/// `LimitExceeded::limit` when the user already has all the streams allowed.
pub const CONCURRENT_STREAMS: &str = "concurrent_streams";
/// `LimitExceeded::limit` when the user sent too many requests in the last minute.
pub const REQUESTS_PER_MINUTE: &str = "requests_per_minute";

/// A refused admission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {limit} limit is exceeded; retry after {retry_after:?}")]
pub struct LimitExceeded {
    /// [`CONCURRENT_STREAMS`] or [`REQUESTS_PER_MINUTE`].
    pub limit: &'static str,
    /// When to retry, in whole seconds (at least 1), ready for a `Retry-After` header. For
    /// concurrency it is a hint ([`CONCURRENCY_RETRY`]): nobody knows when a stream ends.
    pub retry_after: Duration,
}

/// `retry_after` of a concurrency refusal.
pub const CONCURRENCY_RETRY: Duration = Duration::from_secs(5);
/// How long a Redis stream slot lives without a refresh.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// The GCRA window: `rpm` requests per this.
const WINDOW: Duration = Duration::from_secs(60);
/// The in-process map is pruned of idle users every this many admissions.
const PRUNE_EVERY: u64 = 1024;

/// Both checks, atomically, in server time. KEYS: streams set, TAT. ARGV: permit id, concurrent
/// streams, lease ms, emission interval µs, window µs. Returns `{0}` admitted, `{1}` too many
/// streams, `{2, µs until conforming}` too many requests.
const ADMIT_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return {1, 0} end
local tat = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if tat < now then tat = now end
local new_tat = tat + tonumber(ARGV[4])
local allow_at = new_tat - tonumber(ARGV[5])
if allow_at > now then return {2, allow_at - now} end
redis.call('SET', KEYS[2], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
local lease = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now_ms + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
return {0, 0}
";

/// Extends a held slot's lease (re-adding it if Redis lost it). KEYS: streams set. ARGV: id,
/// lease ms.
const REFRESH_SCRIPT: &str = r"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// Live slots. KEYS: streams set.
const ACTIVE_SCRIPT: &str = r"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now_ms, '+inf')
";

/// Enforces [`RateLimits`]. Cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Memory(Arc<Memory>),
    Redis(Arc<Shared>),
}

impl Limiter {
    /// Limits within this process only.
    pub fn in_process() -> Self {
        Self {
            backend: Backend::Memory(Arc::new(Memory {
                users: Mutex::default(),
                admissions: AtomicU64::new(0),
            })),
        }
    }

    /// Limits shared by every node using the same Redis and `key_prefix`.
    pub fn with_redis(conn: ConnectionManager, key_prefix: String) -> Self {
        Self {
            backend: Backend::Redis(Arc::new(Shared {
                conn,
                prefix: key_prefix,
                lease: DEFAULT_LEASE,
                admit: redis::Script::new(ADMIT_SCRIPT),
                refresh: redis::Script::new(REFRESH_SCRIPT),
                active: redis::Script::new(ACTIVE_SCRIPT),
            })),
        }
    }

    /// Sets the lease of Redis stream slots (refreshed every third of it); no effect in-process.
    #[must_use]
    pub fn with_lease(self, lease: Duration) -> Self {
        match self.backend {
            Backend::Redis(shared) => Self {
                backend: Backend::Redis(Arc::new(Shared {
                    conn: shared.conn.clone(),
                    prefix: shared.prefix.clone(),
                    lease: lease.max(Duration::from_millis(3)),
                    admit: redis::Script::new(ADMIT_SCRIPT),
                    refresh: redis::Script::new(REFRESH_SCRIPT),
                    active: redis::Script::new(ACTIVE_SCRIPT),
                })),
            },
            memory => Self { backend: memory },
        }
    }

    /// Admits one request of `user`, taking one stream slot, or says which limit refused it.
    pub async fn admit(
        &self,
        user: &str,
        limits: &RateLimits,
    ) -> Result<StreamPermit, LimitExceeded> {
        if limits.concurrent_streams == 0 {
            return Err(LimitExceeded {
                limit: CONCURRENT_STREAMS,
                retry_after: CONCURRENCY_RETRY,
            });
        }
        if limits.requests_per_minute == 0 {
            return Err(LimitExceeded {
                limit: REQUESTS_PER_MINUTE,
                retry_after: WINDOW,
            });
        }
        match &self.backend {
            Backend::Memory(memory) => memory.admit(user, limits),
            Backend::Redis(shared) => shared.clone().admit(user, limits).await,
        }
    }

    /// Streams `user` holds now.
    pub async fn active_streams(&self, user: &str) -> u32 {
        match &self.backend {
            Backend::Memory(memory) => lock(&memory.users).get(user).map_or(0, |u| u.active),
            Backend::Redis(shared) => shared.active_streams(user).await,
        }
    }
}

/// One concurrent-stream slot, held until dropped (keep it for the whole answer).
pub struct StreamPermit {
    release: Release,
}

enum Release {
    Memory {
        memory: Arc<Memory>,
        user: String,
    },
    Redis {
        shared: Arc<Shared>,
        key: String,
        id: String,
        refresher: tokio::task::JoinHandle<()>,
    },
    /// Admitted without Redis (fail open): nothing to release.
    Nothing,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.release, Release::Nothing) {
            Release::Memory { memory, user } => {
                let mut users = lock(&memory.users);
                if let Some(state) = users.get_mut(&user) {
                    state.active = state.active.saturating_sub(1);
                }
            }
            Release::Redis {
                shared,
                key,
                id,
                refresher,
            } => {
                refresher.abort();
                // Without a runtime (shutdown) the lease expires on its own.
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move {
                        let mut conn = shared.conn.clone();
                        let done: redis::RedisResult<i64> = conn.zrem(&key, &id).await;
                        if let Err(err) = done {
                            tracing::warn!(error = %err, "cannot release a stream slot (its lease expires)");
                        }
                    });
                }
            }
            Release::Nothing => {}
        }
    }
}

struct Memory {
    users: Mutex<HashMap<String, UserState>>,
    admissions: AtomicU64,
}

struct UserState {
    active: u32,
    /// GCRA theoretical arrival time.
    tat: Instant,
}

impl Memory {
    fn admit(
        self: &Arc<Self>,
        user: &str,
        limits: &RateLimits,
    ) -> Result<StreamPermit, LimitExceeded> {
        let now = Instant::now();
        let mut users = lock(&self.users);
        if self.admissions.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            // An idle user (no stream, TAT passed) is the same as an absent one.
            users.retain(|_, state| state.active > 0 || state.tat > now);
        }
        let state = users.entry(user.to_owned()).or_insert(UserState {
            active: 0,
            tat: now,
        });
        if state.active >= limits.concurrent_streams {
            return Err(LimitExceeded {
                limit: CONCURRENT_STREAMS,
                retry_after: CONCURRENCY_RETRY,
            });
        }
        let interval = WINDOW / limits.requests_per_minute;
        let new_tat = state.tat.max(now) + interval;
        if let Some(allow_at) = new_tat.checked_sub(WINDOW)
            && allow_at > now
        {
            return Err(LimitExceeded {
                limit: REQUESTS_PER_MINUTE,
                retry_after: whole_seconds(allow_at - now),
            });
        }
        state.tat = new_tat;
        state.active += 1;
        Ok(StreamPermit {
            release: Release::Memory {
                memory: self.clone(),
                user: user.to_owned(),
            },
        })
    }
}

struct Shared {
    conn: ConnectionManager,
    prefix: String,
    lease: Duration,
    admit: redis::Script,
    refresh: redis::Script,
    active: redis::Script,
}

impl Shared {
    fn streams_key(&self, user: &str) -> String {
        format!("{}:ai:streams:{user}", self.prefix)
    }

    async fn admit(
        self: Arc<Self>,
        user: &str,
        limits: &RateLimits,
    ) -> Result<StreamPermit, LimitExceeded> {
        let key = self.streams_key(user);
        let id = format!("{:032x}", rand::random::<u128>());
        let interval_us = WINDOW.as_micros() / u128::from(limits.requests_per_minute);
        let mut conn = self.conn.clone();
        let verdict: redis::RedisResult<(i64, i64)> = self
            .admit
            .key(&key)
            .key(format!("{}:ai:rpm:{user}", self.prefix))
            .arg(&id)
            .arg(limits.concurrent_streams)
            .arg(millis(self.lease))
            .arg(interval_us.to_string())
            .arg(WINDOW.as_micros().to_string())
            .invoke_async(&mut conn)
            .await;
        match verdict {
            Ok((0, _)) => {
                let refresher = tokio::spawn(refresh(self.clone(), key.clone(), id.clone()));
                Ok(StreamPermit {
                    release: Release::Redis {
                        shared: self,
                        key,
                        id,
                        refresher,
                    },
                })
            }
            Ok((1, _)) => Err(LimitExceeded {
                limit: CONCURRENT_STREAMS,
                retry_after: CONCURRENCY_RETRY,
            }),
            Ok((_, wait_us)) => Err(LimitExceeded {
                limit: REQUESTS_PER_MINUTE,
                retry_after: whole_seconds(Duration::from_micros(wait_us.max(0).unsigned_abs())),
            }),
            Err(err) => {
                tracing::warn!(error = %err, "cannot check AI limits in Redis; admitting");
                Ok(StreamPermit {
                    release: Release::Nothing,
                })
            }
        }
    }

    async fn active_streams(&self, user: &str) -> u32 {
        let mut conn = self.conn.clone();
        let count: redis::RedisResult<u32> = self
            .active
            .key(self.streams_key(user))
            .invoke_async(&mut conn)
            .await;
        count.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "cannot count a user's AI streams");
            0
        })
    }
}

/// Keeps a held slot's lease alive until aborted by the permit's drop.
async fn refresh(shared: Arc<Shared>, key: String, id: String) {
    let every = shared.lease / 3;
    let mut conn = shared.conn.clone();
    loop {
        tokio::time::sleep(every).await;
        let done: redis::RedisResult<i64> = shared
            .refresh
            .key(&key)
            .arg(&id)
            .arg(millis(shared.lease))
            .invoke_async(&mut conn)
            .await;
        if let Err(err) = done {
            tracing::warn!(error = %err, "cannot refresh a stream slot's lease");
        }
    }
}

/// Rounds up to whole seconds, at least one (what a `Retry-After` header can say).
fn whole_seconds(wait: Duration) -> Duration {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
