//! Several `studio serve` nodes serving one project: what one node's clients change reaches the
//! others through a Redis Stream per project.
//!
//! A stream, not Pub/Sub: Pub/Sub drops whatever is published while a subscriber is
//! reconnecting or slow, and nodes would silently diverge. A stream keeps entries, so a reader
//! continues from the last id it saw; a node that loads a project reads back the last
//! [`CATCH_UP`] of entries, which covers changes other nodes made but had not logged yet when
//! this node read the database (Yjs ignores what it already has). Should a node still miss
//! something (Redis down for a while), nothing is lost: every change is in the durable log, and
//! each node folds the log into its document whenever it snapshots.
//!
//! Entries: `n` the node that wrote it (readers skip their own), `t` the kind (`u` a Yjs update,
//! `a` awareness states, `k` close a user's connections, `w` change a user's write access), `d`
//! the bytes, `u` a user id, `c` a close code.

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::streams::{StreamMaxlen, StreamReadOptions, StreamReadReply};
use studio_core::{ProjectId, UserId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use yrs::sync::awareness::AwarenessUpdate;
use yrs::updates::decoder::Decode;

use crate::room::{Origin, Room};
use crate::{CloseCode, CollabMetrics};

/// How far back a node reads a project's stream when it loads the project.
pub const CATCH_UP: Duration = Duration::from_secs(60);
/// Entries kept per project stream (approximately).
const MAX_ENTRIES: usize = 10_000;
/// An idle project's stream disappears after this long.
const STREAM_TTL_SECS: i64 = 24 * 60 * 60;
/// How long one blocking read waits before checking whether the room is still loaded.
const READ_BLOCK: Duration = Duration::from_secs(2);
/// Messages waiting to be published per room; beyond, they are dropped (see the module docs).
pub(crate) const QUEUE: usize = 4096;

/// Something one node tells the others about a project.
#[derive(Debug, Clone)]
pub enum FanoutMessage {
    Update(Vec<u8>),
    Awareness(Vec<u8>),
    Close {
        user: Option<UserId>,
        code: CloseCode,
    },
    Writable {
        user: UserId,
        writable: bool,
    },
}

/// Where streams live.
#[derive(Debug, Clone)]
pub struct RedisFanout {
    pub client: redis::Client,
    /// Prefix of the stream keys (`<prefix>collab:<project id>`).
    pub prefix: String,
    /// This node's id (random per process).
    pub node: String,
}

impl RedisFanout {
    fn key(&self, project: &ProjectId) -> String {
        format!("{}collab:{}", self.prefix, project.as_str())
    }

    /// Starts the publisher and the reader of `room`'s stream; both stop with `stop`.
    pub(crate) fn attach(
        self: &Arc<Self>,
        room: &Arc<Room>,
        outgoing: mpsc::Receiver<FanoutMessage>,
        stop: CancellationToken,
        metrics: CollabMetrics,
    ) {
        let key = self.key(&room.project);
        tokio::spawn(publish(
            self.clone(),
            key.clone(),
            outgoing,
            stop.clone(),
            metrics,
        ));
        tokio::spawn(read(self.clone(), key, Arc::downgrade(room), stop));
    }

    /// Publishes one message for `project` (for control messages sent without a loaded room).
    pub async fn send(
        &self,
        project: &ProjectId,
        message: &FanoutMessage,
    ) -> redis::RedisResult<()> {
        let mut conn = self.client.get_multiplexed_async_connection().await?;
        xadd(&mut conn, &self.key(project), &self.node, message).await
    }
}

async fn xadd(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
    node: &str,
    message: &FanoutMessage,
) -> redis::RedisResult<()> {
    let mut fields: Vec<(&str, Vec<u8>)> = vec![("n", node.as_bytes().to_vec())];
    match message {
        FanoutMessage::Update(bytes) => {
            fields.push(("t", b"u".to_vec()));
            fields.push(("d", bytes.clone()));
        }
        FanoutMessage::Awareness(bytes) => {
            fields.push(("t", b"a".to_vec()));
            fields.push(("d", bytes.clone()));
        }
        FanoutMessage::Close { user, code } => {
            fields.push(("t", b"k".to_vec()));
            fields.push(("c", code.as_u16().to_string().into_bytes()));
            if let Some(user) = user {
                fields.push(("u", user.as_str().as_bytes().to_vec()));
            }
        }
        FanoutMessage::Writable { user, writable } => {
            fields.push(("t", b"w".to_vec()));
            fields.push(("u", user.as_str().as_bytes().to_vec()));
            fields.push((
                "c",
                if *writable {
                    b"1".to_vec()
                } else {
                    b"0".to_vec()
                },
            ));
        }
    }
    let mut pipe = redis::pipe();
    pipe.xadd_maxlen(key, StreamMaxlen::Approx(MAX_ENTRIES), "*", &fields)
        .ignore()
        .expire(key, STREAM_TTL_SECS)
        .ignore();
    pipe.query_async::<()>(conn).await
}

async fn publish(
    fanout: Arc<RedisFanout>,
    key: String,
    mut outgoing: mpsc::Receiver<FanoutMessage>,
    stop: CancellationToken,
    metrics: CollabMetrics,
) {
    let mut conn = None;
    loop {
        let message = tokio::select! {
            message = outgoing.recv() => match message { Some(m) => m, None => return },
            () = stop.cancelled() => return,
        };
        if conn.is_none() {
            match fanout.client.get_multiplexed_async_connection().await {
                Ok(c) => conn = Some(c),
                Err(err) => {
                    metrics.fanout_dropped();
                    tracing::warn!(error = %err, "cannot reach Redis to publish a collaboration change");
                    continue;
                }
            }
        }
        if let Some(c) = conn.as_mut()
            && let Err(err) = xadd(c, &key, &fanout.node, &message).await
        {
            metrics.fanout_dropped();
            tracing::warn!(error = %err, "cannot publish a collaboration change");
            conn = None;
        }
    }
}

async fn read(
    fanout: Arc<RedisFanout>,
    key: String,
    room: std::sync::Weak<Room>,
    stop: CancellationToken,
) {
    let since = time::OffsetDateTime::now_utc() - CATCH_UP;
    let mut last_id = format!("{}-0", (since.unix_timestamp_nanos() / 1_000_000).max(0));
    let options = StreamReadOptions::default()
        .block(READ_BLOCK.as_millis() as usize)
        .count(512);
    let mut conn = None;
    while !stop.is_cancelled() {
        if conn.is_none() {
            match fanout.client.get_multiplexed_async_connection().await {
                Ok(c) => conn = Some(c),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot reach Redis to follow a project");
                    tokio::select! {
                        () = tokio::time::sleep(READ_BLOCK) => continue,
                        () = stop.cancelled() => return,
                    }
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let keys = [key.as_str()];
        let ids = [last_id.as_str()];
        let reply: redis::RedisResult<Option<StreamReadReply>> = tokio::select! {
            reply = c.xread_options(&keys, &ids, &options) => reply,
            () = stop.cancelled() => return,
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read a project's stream");
                conn = None;
                continue;
            }
        };
        let Some(room) = room.upgrade() else { return };
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in stream.ids {
                last_id = entry.id.clone();
                let field = |name: &str| -> Option<Vec<u8>> {
                    entry
                        .map
                        .get(name)
                        .and_then(|v| redis::from_redis_value(v.clone()).ok())
                };
                if field("n").as_deref() == Some(fanout.node.as_bytes()) {
                    continue;
                }
                apply_entry(&room, field("t").as_deref(), &field);
            }
        }
    }
}

fn apply_entry(room: &Room, kind: Option<&[u8]>, field: &dyn Fn(&str) -> Option<Vec<u8>>) {
    let user = || {
        field("u")
            .and_then(|u| String::from_utf8(u).ok())
            .and_then(|u| UserId::parse(&u).ok())
    };
    match kind {
        Some(b"u") => {
            if let Some(update) = field("d")
                && let Err(err) = room.apply(&update, Origin::Remote)
            {
                tracing::warn!(error = %err, "an update from another node was not applied");
            }
        }
        Some(b"a") => {
            if let Some(bytes) = field("d")
                && let Ok(Ok(update)) =
                    crate::protocol::guarded(|| AwarenessUpdate::decode_v1(&bytes))
            {
                room.apply_awareness(update, None);
            }
        }
        Some(b"k") => {
            let code = field("c")
                .and_then(|c| String::from_utf8(c).ok())
                .and_then(|c| c.parse::<u16>().ok())
                .map_or(CloseCode::AccessRevoked, close_code);
            let target = user();
            if field("u").is_some() && target.is_none() {
                return;
            }
            room.close_connections(target.as_ref(), code, "closed by the server");
        }
        Some(b"w") => {
            if let Some(user) = user() {
                room.set_writable(&user, field("c").as_deref() == Some(b"1"));
            }
        }
        _ => {}
    }
}

fn close_code(code: u16) -> CloseCode {
    match code {
        4401 => CloseCode::AccessRevoked,
        4404 => CloseCode::ProjectGone,
        1001 => CloseCode::GoingAway,
        other => CloseCode::Other(other),
    }
}
