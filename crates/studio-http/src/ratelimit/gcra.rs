//! The GCRA (generic cell rate algorithm) behind the API rate limits, in process or in Redis.
//!
//! Each key has a theoretical arrival time (TAT). A request moves it forward by the emission
//! interval `T = 60 s / per_minute`, and conforms when the TAT would then be at most
//! `burst × T` ahead of now. A quiet client thus has `burst` requests at once, then one every
//! `T`. What a verdict reports follows from "how far ahead the TAT is": the requests still
//! available now, when the full burst is back, and (refused) when the next request conforms.
//!
//! The same algorithm as the AI per-user limits (`studio_ai::limits`), copied rather than shared:
//! those are one concern of the AI service, and this one runs before every API request.
//!
//! With Redis, all nodes share each key's TAT through one Lua script per check, in Redis server
//! time (nodes with skewed clocks agree). When Redis fails, the check falls back to this node's
//! in-process state for [`REDIS_BREAK`] (so an outage costs one slow request, not every request
//! its timeout) with one `warn!` per outage: the limits then hold per node instead of per
//! cluster, and the API stays up. That is the documented trade-off: never take the API down
//! because the rate limiter's store is down.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

/// Budgets are expressed per this.
const MINUTE: Duration = Duration::from_secs(60);
/// The in-process map is pruned of keys whose TAT has passed (they are the same as absent
/// ones) every this many checks, so memory stays bounded by the recently active clients.
const PRUNE_EVERY: u64 = 4096;
/// How long checks stay in process after a Redis error before Redis is tried again.
pub const REDIS_BREAK: Duration = Duration::from_secs(5);

/// One class's budget: `burst` requests at once, refilled at `per_minute`. Both are at least 1
/// (the configuration refuses 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub per_minute: u32,
    pub burst: u32,
}

impl Budget {
    /// The emission interval `T`.
    fn interval(self) -> Duration {
        MINUTE / self.per_minute.max(1)
    }

    /// How far ahead the TAT may be: the time a full burst takes to refill.
    fn capacity(self) -> Duration {
        self.interval() * self.burst.max(1)
    }

    /// The window a full burst refills in, in whole seconds (at least 1): the `w` of the
    /// advertised policy, which says "`burst` requests per `w` seconds".
    pub fn window_secs(self) -> u64 {
        whole_seconds(self.capacity())
    }
}

/// The answer to one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// Requests still available right now (after this one, when admitted).
    pub remaining: u32,
    /// Until the whole burst is available again.
    pub reset: Duration,
    /// Refused: until the next request conforms. Zero when admitted.
    pub retry_after: Duration,
}

impl Verdict {
    /// Admitted, the TAT now `ahead` of now.
    fn admitted(ahead: Duration, budget: Budget) -> Self {
        let spare = budget.capacity().saturating_sub(ahead);
        let remaining = spare.as_nanos() / budget.interval().as_nanos().max(1);
        Self {
            allowed: true,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset: ahead,
            retry_after: Duration::ZERO,
        }
    }

    /// Refused, the TAT (unchanged) `ahead` of now.
    fn refused(ahead: Duration, budget: Budget) -> Self {
        Self {
            allowed: false,
            remaining: 0,
            reset: ahead,
            retry_after: (ahead + budget.interval()).saturating_sub(budget.capacity()),
        }
    }
}

/// Decides one request whose key's TAT is `ahead` of now.
fn decide(ahead: Duration, budget: Budget) -> Verdict {
    let new_ahead = ahead + budget.interval();
    if new_ahead > budget.capacity() {
        Verdict::refused(ahead, budget)
    } else {
        Verdict::admitted(new_ahead, budget)
    }
}

/// TATs of this process.
#[derive(Default)]
pub struct Memory {
    tats: Mutex<HashMap<String, Instant>>,
    checks: AtomicU64,
}

impl Memory {
    /// Checks and (when admitted) counts one request of `key`. The lock is held for a map
    /// lookup and insert only: nothing awaits inside it.
    pub fn check(&self, key: &str, budget: Budget) -> Verdict {
        let now = Instant::now();
        let mut tats = lock(&self.tats);
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            tats.retain(|_, tat| *tat > now);
        }
        let ahead = tats
            .get(key)
            .map_or(Duration::ZERO, |tat| tat.saturating_duration_since(now));
        let verdict = decide(ahead, budget);
        if verdict.allowed {
            tats.insert(key.to_owned(), now + verdict.reset);
        }
        verdict
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a TAT map inconsistent: keep going.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One check, atomically, in Redis server time. KEYS: the TAT (µs since the epoch). ARGV:
/// emission interval µs, capacity µs. Returns `{1, µs the new TAT is ahead}` when admitted,
/// `{0, µs the TAT is ahead}` when refused. Microseconds since the epoch (~2^51) are exact in
/// Lua's doubles.
const CHECK_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
local new_tat = tat + tonumber(ARGV[1])
if new_tat - now > tonumber(ARGV[2]) then return {0, tat - now} end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, new_tat - now}
";

/// TATs in Redis, shared by every node with the same prefix, with this process's as the
/// fallback while Redis fails.
pub struct Shared {
    conn: ConnectionManager,
    prefix: String,
    script: redis::Script,
    fallback: Memory,
    /// When the current break ends, in ms since `started`; 0 when Redis is healthy.
    broken_until_ms: AtomicU64,
    started: Instant,
}

impl Shared {
    /// Keys are `{prefix}:rl:{class}:{subject}`.
    pub fn new(conn: ConnectionManager, prefix: String) -> Self {
        Self {
            conn,
            prefix,
            script: redis::Script::new(CHECK_SCRIPT),
            fallback: Memory::default(),
            broken_until_ms: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Checks one request of `key` (`{class}:{subject}`).
    pub async fn check(&self, key: &str, budget: Budget) -> Verdict {
        let broken_until = self.broken_until_ms.load(Ordering::Relaxed);
        if broken_until != 0 && self.elapsed_ms() < broken_until {
            return self.fallback.check(key, budget);
        }
        let mut conn = self.conn.clone();
        let answer: redis::RedisResult<(i64, i64)> = self
            .script
            .key(format!("{}:rl:{key}", self.prefix))
            .arg(micros(budget.interval()))
            .arg(micros(budget.capacity()))
            .invoke_async(&mut conn)
            .await;
        match answer {
            Ok((allowed, ahead_us)) => {
                if broken_until != 0 {
                    self.broken_until_ms.store(0, Ordering::Relaxed);
                    tracing::info!("rate limits are shared through Redis again");
                }
                let ahead = Duration::from_micros(ahead_us.max(0).unsigned_abs());
                if allowed == 1 {
                    Verdict::admitted(ahead, budget)
                } else {
                    Verdict::refused(ahead, budget)
                }
            }
            Err(err) => {
                let until = self.elapsed_ms() + millis(REDIS_BREAK);
                // One line per outage, not one per request.
                if self.broken_until_ms.swap(until, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        error = %err,
                        ratelimit.retry_secs = REDIS_BREAK.as_secs(),
                        "cannot check rate limits in Redis; limiting per node meanwhile"
                    );
                }
                self.fallback.check(key, budget)
            }
        }
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Rounds up to whole seconds, at least one: what `Retry-After` and the RateLimit fields can
/// say, and never "0, try now" for a request that would be refused.
pub fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Budget = Budget {
        per_minute: 60,
        burst: 3,
    };

    #[test]
    fn a_quiet_key_has_its_burst_then_one_per_interval() {
        let memory = Memory::default();
        let remaining: Vec<u32> = (0..3)
            .map(|_| memory.check("k", BUDGET))
            .inspect(|v| assert!(v.allowed))
            .map(|v| v.remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = memory.check("k", BUDGET);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        // One interval (1 s) until the next request conforms; the full burst in 3 s.
        assert!(refused.retry_after <= Duration::from_secs(1));
        assert!(refused.retry_after > Duration::from_millis(900));
        assert_eq!(whole_seconds(refused.retry_after), 1);
        assert_eq!(whole_seconds(refused.reset), 3);
        // Other keys are untouched.
        assert!(memory.check("other", BUDGET).allowed);
    }

    #[test]
    fn decisions_follow_the_tat() {
        // Nothing ahead: admitted, burst - 1 left, one interval until full.
        let v = decide(Duration::ZERO, BUDGET);
        assert!(v.allowed);
        assert_eq!(v.remaining, 2);
        assert_eq!(v.reset, Duration::from_secs(1));
        // 2.5 s ahead: one more would put it 3.5 s ahead, past 3 s: refused, conforming in 0.5 s.
        let v = decide(Duration::from_millis(2500), BUDGET);
        assert!(!v.allowed);
        assert_eq!(v.retry_after, Duration::from_millis(500));
        let v = decide(Duration::from_secs(2), BUDGET);
        assert!(v.allowed);
        assert_eq!(v.remaining, 0);
        assert_eq!(BUDGET.window_secs(), 3);
        let fast = Budget {
            per_minute: 600,
            burst: 300,
        };
        assert_eq!(fast.window_secs(), 30);
    }
}
