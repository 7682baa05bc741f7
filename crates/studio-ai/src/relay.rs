//! Coalescing across nodes: a flight led on one node is followed from the others through Redis.
//!
//! Keys (under `{prefix}:ai:flight:{key}`):
//! - `…:lock` = the leading flight's random id, `SET NX PX` [`LOCK_TTL`], refreshed every
//!   [`LOCK_REFRESH`] while the flight runs, deleted when it ends. The value gets a `:full`
//!   suffix once the leader's replay buffer overflowed: other nodes then run their own call.
//! - `…:{id}` = a stream mirroring the flight's events (`k` the kind: `s` started, `f` frame,
//!   `d` done, `e` failed; `v` the frame bytes or the JSON [`ProviderError`]). One stream per
//!   flight id, so a follower never mixes the end of one flight with the start of the next; it
//!   expires [`ENDED_TTL`] after the end (or [`LIVE_TTL`] after the last write if the leader died).
//! - `…:{id}:listeners` = a sorted set of other nodes' followers, scored by lease expiry in
//!   Redis server time (so skewed node clocks agree), refreshed every [`LISTENER_REFRESH`].
//!
//! Followers poll the stream with non-blocking `XREAD` (every [`POLL_MIN`], backing off to
//! [`POLL_MAX`] while nothing arrives) instead of `XREAD BLOCK`: the connection is a shared,
//! multiplexed `ConnectionManager`, where a blocking read would stall every other command queued
//! behind it (cache, limiter) and trip its response timeout. Tokens of a remote flight thus
//! arrive in batches at most [`POLL_MIN`] late.
//!
//! On another node a follow is a task writing into a local flight: requests of that node share
//! it, and the task stops (and unregisters its listener) when that local flight is abandoned.
//! A follower whose leader's lock vanishes without a terminal event for [`LEADER_GRACE`] fails
//! with `BadGateway("the answering node went away")`. Redis errors are logged and degrade to
//! in-process coalescing; a follow that cannot read Redis for [`LEADER_GRACE`] fails.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::ConnectionManager;
use redis::streams::{StreamId, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, RedisResult};
use tokio::time::Instant;

use crate::ProviderError;
use crate::flight::{Cursor, FlightEvent, FlightReader, FlightWriter, Joined};

/// A leader's lock lives this long without a refresh.
pub const LOCK_TTL: Duration = Duration::from_secs(10);
/// How often a leader refreshes its lock.
pub const LOCK_REFRESH: Duration = Duration::from_secs(3);
/// A flight's stream outlives its last write by this much (a dead leader's stream goes away).
pub const LIVE_TTL: Duration = Duration::from_secs(120);
/// A finished flight's stream stays this long, for followers still catching up.
pub const ENDED_TTL: Duration = Duration::from_secs(60);
/// A follower's listener registration lives this long without a refresh.
pub const LISTENER_TTL: Duration = Duration::from_secs(10);
/// How often a follower refreshes its registration.
pub const LISTENER_REFRESH: Duration = Duration::from_secs(3);
/// How often a leader without local readers checks for remote listeners.
pub const REMOTE_CHECK: Duration = Duration::from_millis(500);
/// How long a follower waits for a terminal event once its leader's lock is gone (or Redis is
/// unreachable) before failing.
pub const LEADER_GRACE: Duration = Duration::from_secs(2);
/// How often a follower checks its leader's lock.
const LOCK_CHECK: Duration = Duration::from_secs(1);
/// Follower poll interval right after data arrived, and its ceiling while idle.
pub const POLL_MIN: Duration = Duration::from_millis(20);
pub const POLL_MAX: Duration = Duration::from_millis(200);
/// Entries one poll reads at most.
const READ_COUNT: usize = 512;
/// Attempts at taking the lock when it vanishes between `SET NX` and `GET`.
const ACQUIRE_ATTEMPTS: usize = 3;
/// Consecutive failed writes after which a leader stops mirroring (its followers then fail).
const MIRROR_ATTEMPTS: u32 = 5;
const FULL_SUFFIX: &str = ":full";
const WENT_AWAY: &str = "the answering node went away";

/// Refreshes the lock if we still hold it (`ARGV[3] = 1` also marks the flight full).
const LEASE_SCRIPT: &str = r"
local v = redis.call('GET', KEYS[1])
if v ~= ARGV[1] and v ~= ARGV[1] .. ':full' then return 0 end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[1] .. ':full', 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
";

/// Deletes the lock if we still hold it.
const RELEASE_SCRIPT: &str = r"
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] or v == ARGV[1] .. ':full' then redis.call('DEL', KEYS[1]) end
return 1
";

/// Registers (or refreshes) a listener until server time + `ARGV[2]` ms.
const LISTEN_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// Listeners whose lease has not expired, in server time.
const LIVE_LISTENERS_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
";

/// The Redis side of a [`crate::flight::Coalescer`].
pub(crate) struct Relay {
    conn: ConnectionManager,
    prefix: String,
    lease: redis::Script,
    release: redis::Script,
    listen: redis::Script,
    live_listeners: redis::Script,
}

/// The keys of one flight.
#[derive(Clone)]
struct FlightKeys {
    lock: String,
    id: String,
    stream: String,
    listeners: String,
}

/// Other nodes' followers of a flight this node leads.
pub(crate) struct RemoteListeners {
    relay: Arc<Relay>,
    key: String,
    /// When Redis last said a listener was live. `abandoned()` is typically re-polled for every
    /// frame (in a `select!`), so a recent answer is reused instead of asking Redis each time.
    live_at: std::sync::Mutex<Option<Instant>>,
}

impl RemoteListeners {
    /// Whether a live remote listener remains (`false` when Redis cannot tell: the flight then
    /// behaves as an in-process one).
    pub(crate) async fn any_live(&self) -> bool {
        if self.live_at().is_some_and(|at| at.elapsed() < REMOTE_CHECK) {
            return true;
        }
        let mut conn = self.relay.conn.clone();
        let count: RedisResult<u64> = self
            .relay
            .live_listeners
            .key(&self.key)
            .invoke_async(&mut conn)
            .await;
        let live = count.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "cannot count a flight's remote listeners");
            0
        }) > 0;
        *self.lock() = live.then(Instant::now);
        live
    }

    /// When to ask again after [`Self::any_live`] said yes.
    pub(crate) fn next_check(&self) -> Instant {
        self.live_at()
            .map_or_else(Instant::now, |at| at + REMOTE_CHECK)
    }

    fn live_at(&self) -> Option<Instant> {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.live_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Relay {
    pub(crate) fn new(conn: ConnectionManager, prefix: String) -> Self {
        Self {
            conn,
            prefix,
            lease: redis::Script::new(LEASE_SCRIPT),
            release: redis::Script::new(RELEASE_SCRIPT),
            listen: redis::Script::new(LISTEN_SCRIPT),
            live_listeners: redis::Script::new(LIVE_LISTENERS_SCRIPT),
        }
    }

    fn keys(&self, key: &str, id: &str) -> FlightKeys {
        let base = format!("{}:ai:flight:{key}", self.prefix);
        FlightKeys {
            lock: format!("{base}:lock"),
            id: id.to_owned(),
            stream: format!("{base}:{id}"),
            listeners: format!("{base}:{id}:listeners"),
        }
    }

    /// Decides whether the new local flight of `writer` leads (mirroring itself to Redis) or
    /// follows another node's flight.
    pub(crate) async fn decide(
        self: Arc<Self>,
        key: &str,
        mut writer: FlightWriter,
        reader: FlightReader,
    ) -> Joined {
        let lock = self.keys(key, "").lock;
        let mut conn = self.conn.clone();
        for _ in 0..ACQUIRE_ATTEMPTS {
            let id = format!("{:032x}", rand::random::<u128>());
            let acquired: RedisResult<Option<String>> = redis::cmd("SET")
                .arg(&lock)
                .arg(&id)
                .arg("NX")
                .arg("PX")
                .arg(millis(LOCK_TTL))
                .query_async(&mut conn)
                .await;
            match acquired {
                Err(err) => {
                    tracing::warn!(error = %err, "cannot take a flight lock; coalescing on this node only");
                    break;
                }
                Ok(Some(_)) => {
                    let keys = self.keys(key, &id);
                    if let Some(tap) = writer.flight().tap() {
                        writer.remote = Some(RemoteListeners {
                            relay: self.clone(),
                            key: keys.listeners.clone(),
                            live_at: std::sync::Mutex::new(None),
                        });
                        tokio::spawn(mirror(self.clone(), keys, tap));
                    }
                    return Joined::Leader { writer, reader };
                }
                Ok(None) => {}
            }
            let holder: RedisResult<Option<String>> = conn.get(&lock).await;
            match holder {
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read a flight lock; coalescing on this node only");
                    break;
                }
                // Released in between: try again to lead.
                Ok(None) => continue,
                // The leader's buffer overflowed: answer on our own (see `crate::flight`).
                Ok(Some(holder)) if holder.ends_with(FULL_SUFFIX) => break,
                Ok(Some(holder)) => {
                    tokio::spawn(follow(self.clone(), self.keys(key, &holder), writer));
                    return Joined::Follower { reader };
                }
            }
        }
        Joined::Leader { writer, reader }
    }

    async fn lease(&self, keys: &FlightKeys, mark_full: bool) -> RedisResult<bool> {
        let mut conn = self.conn.clone();
        self.lease
            .key(&keys.lock)
            .arg(&keys.id)
            .arg(millis(LOCK_TTL))
            .arg(if mark_full { "1" } else { "0" })
            .invoke_async(&mut conn)
            .await
    }

    async fn listen(&self, keys: &FlightKeys, listener: &str) {
        let mut conn = self.conn.clone();
        let done: RedisResult<i64> = self
            .listen
            .key(&keys.listeners)
            .arg(listener)
            .arg(millis(LISTENER_TTL))
            .arg(millis(LIVE_TTL))
            .invoke_async(&mut conn)
            .await;
        if let Err(err) = done {
            tracing::warn!(error = %err, "cannot register as a remote flight listener");
        }
    }

    async fn unlisten(&self, keys: &FlightKeys, listener: &str) {
        let mut conn = self.conn.clone();
        let done: RedisResult<i64> = conn.zrem(&keys.listeners, listener).await;
        if let Err(err) = done {
            tracing::warn!(error = %err, "cannot unregister a remote flight listener");
        }
    }
}

/// The leader's side: copies the flight's events into its stream and keeps the lock alive.
async fn mirror(relay: Arc<Relay>, keys: FlightKeys, mut tap: Cursor) {
    let mut conn = relay.conn.clone();
    let mut pending: Vec<FlightEvent> = Vec::new();
    let mut refresh_at = Instant::now() + LOCK_REFRESH;
    let mut marked_full = false;
    let mut failures = 0;
    loop {
        if pending.is_empty() {
            tokio::select! {
                batch = tap.next_batch() => pending = batch,
                () = tokio::time::sleep_until(refresh_at) => {}
            }
        }
        let mark_full = !marked_full && tap.flight().is_full();
        if mark_full || Instant::now() >= refresh_at {
            refresh_at = Instant::now() + LOCK_REFRESH;
            match relay.lease(&keys, mark_full).await {
                Ok(true) => marked_full |= mark_full,
                Ok(false) => tracing::warn!("a flight lost its lock while streaming"),
                Err(err) => tracing::warn!(error = %err, "cannot refresh a flight lock"),
            }
        }
        if pending.is_empty() {
            continue;
        }
        let terminal = pending.last().is_some_and(FlightEvent::is_terminal);
        match write_events(&mut conn, &keys, &pending, terminal).await {
            Ok(()) => {
                failures = 0;
                pending.clear();
                if terminal {
                    release(&relay, &keys).await;
                    return;
                }
            }
            Err(err) => {
                failures += 1;
                tracing::warn!(error = %err, failures, "cannot mirror a flight to Redis");
                if failures >= MIRROR_ATTEMPTS {
                    // Followers see the lock go and fail after the grace period.
                    release(&relay, &keys).await;
                    return;
                }
                tokio::time::sleep(POLL_MAX * failures).await;
            }
        }
    }
}

async fn write_events(
    conn: &mut ConnectionManager,
    keys: &FlightKeys,
    events: &[FlightEvent],
    terminal: bool,
) -> RedisResult<()> {
    let mut pipe = redis::pipe();
    for event in events {
        let (kind, value): (&[u8], Bytes) = match event {
            FlightEvent::Started => (b"s", Bytes::new()),
            FlightEvent::Frame(frame) => (b"f", frame.clone()),
            FlightEvent::Done => (b"d", Bytes::new()),
            FlightEvent::Failed(error) => (
                b"e",
                serde_json::to_vec(error).map_or_else(|_| Bytes::new(), Bytes::from),
            ),
        };
        pipe.xadd(&keys.stream, "*", &[("k", kind), ("v", &value[..])])
            .ignore();
    }
    let ttl = if terminal { ENDED_TTL } else { LIVE_TTL };
    pipe.pexpire(&keys.stream, millis(ttl) as i64).ignore();
    if terminal {
        pipe.pexpire(&keys.listeners, millis(ENDED_TTL) as i64)
            .ignore();
    }
    pipe.query_async(conn).await
}

async fn release(relay: &Relay, keys: &FlightKeys) {
    let mut conn = relay.conn.clone();
    let done: RedisResult<i64> = relay
        .release
        .key(&keys.lock)
        .arg(&keys.id)
        .invoke_async(&mut conn)
        .await;
    if let Err(err) = done {
        tracing::warn!(error = %err, "cannot release a flight lock (it expires on its own)");
    }
}

/// A follower's side: copies another node's flight into `writer`'s local flight.
async fn follow(relay: Arc<Relay>, keys: FlightKeys, mut writer: FlightWriter) {
    let listener = format!("{:032x}", rand::random::<u128>());
    relay.listen(&keys, &listener).await;
    let outcome = follow_stream(&relay, &keys, &listener, &mut writer).await;
    relay.unlisten(&keys, &listener).await;
    match outcome {
        Some(event) => writer.push(event),
        // Abandoned: dropping the writer ends the (already closed) local flight.
        None => drop(writer),
    }
}

/// Pushes the remote events into `writer` until a terminal one (returned, not pushed) or until
/// nobody listens locally (`None`).
async fn follow_stream(
    relay: &Relay,
    keys: &FlightKeys,
    listener: &str,
    writer: &mut FlightWriter,
) -> Option<FlightEvent> {
    let mut conn = relay.conn.clone();
    let options = StreamReadOptions::default().count(READ_COUNT);
    let mut last_id = "0-0".to_owned();
    let mut poll = POLL_MIN;
    let mut refresh_at = Instant::now() + LISTENER_REFRESH;
    let mut lock_check_at = Instant::now() + LOCK_CHECK;
    let mut lock_gone_since: Option<Instant> = None;
    let mut failing_since: Option<Instant> = None;
    let went_away = || {
        Some(FlightEvent::Failed(ProviderError::BadGateway(
            WENT_AWAY.to_owned(),
        )))
    };
    loop {
        let abandoned = tokio::select! {
            () = writer.abandoned() => true,
            () = tokio::time::sleep(poll) => false,
        };
        if abandoned {
            return None;
        }
        let reply: RedisResult<Option<StreamReadReply>> = conn
            .xread_options(&[&keys.stream], &[&last_id], &options)
            .await;
        match reply {
            Ok(reply) => {
                failing_since = None;
                let entries: Vec<StreamId> = reply
                    .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
                    .unwrap_or_default();
                poll = if entries.is_empty() {
                    (poll * 2).min(POLL_MAX)
                } else {
                    POLL_MIN
                };
                for entry in entries {
                    last_id.clone_from(&entry.id);
                    match decode(&entry) {
                        Some(event) if event.is_terminal() => return Some(event),
                        Some(event) => writer.push(event),
                        None => {}
                    }
                }
            }
            Err(err) => {
                if failing_since.is_none() {
                    tracing::warn!(error = %err, "cannot read a remote flight");
                }
                if failing_since.get_or_insert_with(Instant::now).elapsed() >= LEADER_GRACE {
                    return went_away();
                }
            }
        }
        let now = Instant::now();
        if now >= refresh_at {
            refresh_at = now + LISTENER_REFRESH;
            relay.listen(keys, listener).await;
        }
        if now >= lock_check_at {
            lock_check_at = now + LOCK_CHECK;
            let holder: RedisResult<Option<String>> = conn.get(&keys.lock).await;
            match holder {
                Ok(Some(holder))
                    if holder.strip_suffix(FULL_SUFFIX).unwrap_or(&holder) == keys.id =>
                {
                    lock_gone_since = None;
                }
                Ok(_) => {
                    lock_gone_since.get_or_insert(now);
                }
                // Counted by the read errors above.
                Err(_) => {}
            }
        }
        if lock_gone_since.is_some_and(|since| since.elapsed() >= LEADER_GRACE) {
            return went_away();
        }
    }
}

/// One stream entry as an event; `None` for an entry this version does not know.
fn decode(entry: &StreamId) -> Option<FlightEvent> {
    let kind: Vec<u8> = entry.get("k")?;
    match kind.as_slice() {
        b"s" => Some(FlightEvent::Started),
        b"f" => Some(FlightEvent::Frame(Bytes::from(entry.get::<Vec<u8>>("v")?))),
        b"d" => Some(FlightEvent::Done),
        b"e" => Some(FlightEvent::Failed(
            entry
                .get::<Vec<u8>>("v")
                .and_then(|v| serde_json::from_slice(&v).ok())
                .unwrap_or_else(|| {
                    ProviderError::BadGateway("an unreadable error from the answering node".into())
                }),
        )),
        _ => None,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
