//! The answer cache: complete answers (their frames, in order) by cache key, for a TTL.
//!
//! Two backends behind [`AnswerCache`]: [`MemoryCache`] (one node, size-bounded, LRU) and
//! [`RedisCache`] (shared by all nodes). A cache never fails a request: a Redis error is logged
//! and behaves as a miss (on `get`) or a no-op (on `put`); a malformed stored value is a miss.
//! What is worth storing (complete, successful answers only) is the caller's decision.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

/// A complete answer, as the frames a flight produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CachedAnswer {
    pub frames: Vec<Bytes>,
}

impl CachedAnswer {
    /// Bytes of all frames.
    pub fn len_bytes(&self) -> u64 {
        self.frames.iter().map(|f| f.len() as u64).sum()
    }
}

/// Where answers are kept.
#[async_trait::async_trait]
pub trait AnswerCache: Send + Sync {
    /// The answer stored under `key`, unless absent, expired or unreadable.
    async fn get(&self, key: &str) -> Option<CachedAnswer>;
    /// Stores `answer` under `key` for `ttl` (best effort: it may be evicted or not stored).
    async fn put(&self, key: &str, answer: &CachedAnswer, ttl: Duration);
}

/// Bookkeeping counted per entry on top of its frame bytes (map slots, the entry itself).
const ENTRY_OVERHEAD: u64 = 128;
/// Counted per frame (the `Bytes` handle and its allocation header).
const FRAME_OVERHEAD: u64 = 48;

/// An in-process cache bounded by `max_bytes` (frame bytes, keys and `ENTRY_OVERHEAD` /
/// `FRAME_OVERHEAD` per entry / frame). When full, the least recently used entries go first;
/// an answer larger than the whole bound is not stored. Expired entries are dropped when read
/// and otherwise age out through LRU order, so they never hold more than the bound. The lock is
/// a std mutex held only for map operations (never across an await).
pub struct MemoryCache {
    max_bytes: u64,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<String, Entry>,
    /// Use tick → key, oldest first.
    order: BTreeMap<u64, String>,
    tick: u64,
    bytes: u64,
}

struct Entry {
    frames: Vec<Bytes>,
    weight: u64,
    expires: Instant,
    tick: u64,
}

impl MemoryCache {
    pub fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            inner: Mutex::default(),
        }
    }

    /// The bytes currently accounted (for tests and metrics).
    pub fn weighted_size(&self) -> u64 {
        self.lock().bytes
    }

    fn lock(&self) -> MutexGuard<'_, Lru> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Lru {
    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            self.order.remove(&entry.tick);
            self.bytes -= entry.weight;
        }
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }
}

#[async_trait::async_trait]
impl AnswerCache for MemoryCache {
    async fn get(&self, key: &str) -> Option<CachedAnswer> {
        let mut lru = self.lock();
        let now = Instant::now();
        let tick = lru.next_tick();
        let entry = lru.entries.get_mut(key)?;
        if entry.expires <= now {
            lru.remove(key);
            return None;
        }
        let old = std::mem::replace(&mut entry.tick, tick);
        let frames = entry.frames.clone();
        lru.order.remove(&old);
        lru.order.insert(tick, key.to_owned());
        Some(CachedAnswer { frames })
    }

    async fn put(&self, key: &str, answer: &CachedAnswer, ttl: Duration) {
        let weight = ENTRY_OVERHEAD
            + 2 * key.len() as u64
            + answer.len_bytes()
            + FRAME_OVERHEAD * answer.frames.len() as u64;
        let mut lru = self.lock();
        lru.remove(key);
        if weight > self.max_bytes || ttl.is_zero() {
            return;
        }
        let Some(expires) = Instant::now().checked_add(ttl) else {
            return;
        };
        while lru.bytes + weight > self.max_bytes {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            if let Some(entry) = lru.entries.remove(&oldest) {
                lru.bytes -= entry.weight;
            }
        }
        let tick = lru.next_tick();
        lru.order.insert(tick, key.to_owned());
        lru.bytes += weight;
        lru.entries.insert(
            key.to_owned(),
            Entry {
                frames: answer.frames.clone(),
                weight,
                expires,
                tick,
            },
        );
    }
}

/// A cache in Redis, shared by all nodes: key `{prefix}:ai:cache:{key}`, value the frames in
/// [`encode`]'s format, `SET … PX ttl`.
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisCache {
    pub fn new(conn: ConnectionManager, key_prefix: String) -> Self {
        Self {
            conn,
            prefix: key_prefix,
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}:ai:cache:{key}", self.prefix)
    }
}

#[async_trait::async_trait]
impl AnswerCache for RedisCache {
    async fn get(&self, key: &str) -> Option<CachedAnswer> {
        let mut conn = self.conn.clone();
        let value: redis::RedisResult<Option<Vec<u8>>> = conn.get(self.key(key)).await;
        match value {
            Ok(value) => {
                let answer = decode(Bytes::from(value?));
                if answer.is_none() {
                    tracing::warn!("ignoring a malformed cached answer");
                }
                answer
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the answer cache");
                None
            }
        }
    }

    async fn put(&self, key: &str, answer: &CachedAnswer, ttl: Duration) {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let Some(value) = encode(answer) else {
            return;
        };
        if ttl_ms == 0 {
            return;
        }
        let mut conn = self.conn.clone();
        let done: redis::RedisResult<()> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut conn)
            .await;
        if let Err(err) = done {
            tracing::warn!(error = %err, "cannot write the answer cache");
        }
    }
}

/// `u32` frame count, then per frame a `u32` length and the bytes (big-endian). `None` when a
/// count or length does not fit a `u32`.
pub fn encode(answer: &CachedAnswer) -> Option<Vec<u8>> {
    let size = 4 + answer.frames.len() * 4 + answer.len_bytes() as usize;
    let mut out = Vec::with_capacity(size);
    out.put_u32(u32::try_from(answer.frames.len()).ok()?);
    for frame in &answer.frames {
        out.put_u32(u32::try_from(frame.len()).ok()?);
        out.put_slice(frame);
    }
    Some(out)
}

/// The inverse of [`encode`]; `None` for anything malformed (truncated, trailing bytes, a count
/// larger than the value could hold). Frames share `value`'s allocation.
pub fn decode(mut value: Bytes) -> Option<CachedAnswer> {
    if value.remaining() < 4 {
        return None;
    }
    let count = value.get_u32() as usize;
    // Each frame needs at least its length prefix: bounds the allocation below.
    if count > value.remaining() / 4 {
        return None;
    }
    let mut frames = Vec::with_capacity(count);
    for _ in 0..count {
        if value.remaining() < 4 {
            return None;
        }
        let len = value.get_u32() as usize;
        if value.remaining() < len {
            return None;
        }
        frames.push(value.split_to(len));
    }
    value.is_empty().then_some(CachedAnswer { frames })
}
