//! The answer cache, in memory and in Redis.

use std::time::Duration;

use bytes::Bytes;
use studio_ai::cache::{AnswerCache, CachedAnswer, MemoryCache, RedisCache, decode, encode};

use crate::support::{cleanup, prefix, redis};

fn answer(frames: &[&str]) -> CachedAnswer {
    CachedAnswer {
        frames: frames
            .iter()
            .map(|f| Bytes::copy_from_slice(f.as_bytes()))
            .collect(),
    }
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn memory_round_trip() {
    let cache = MemoryCache::new(1 << 20);
    assert_eq!(cache.get("k").await, None);
    let stored = answer(&["{\"t\":\"delta\"}", "", "end"]);
    cache.put("k", &stored, HOUR).await;
    assert_eq!(cache.get("k").await, Some(stored));
    assert_eq!(cache.get("other").await, None);
}

#[tokio::test]
async fn memory_evicts_the_least_recently_used_when_full() {
    let big = "x".repeat(1000);
    let one = answer(&[&big]);
    // Room for two such answers, not three.
    let cache = MemoryCache::new(2 * 1000 + 2 * 400);
    cache.put("a", &one, HOUR).await;
    cache.put("b", &one, HOUR).await;
    assert!(cache.get("a").await.is_some()); // `b` is now the least recently used
    cache.put("c", &one, HOUR).await;
    assert!(cache.get("a").await.is_some());
    assert_eq!(cache.get("b").await, None);
    assert!(cache.get("c").await.is_some());
    assert!(cache.weighted_size() <= 2 * 1000 + 2 * 400);
}

#[tokio::test]
async fn memory_does_not_store_an_answer_larger_than_the_bound() {
    let cache = MemoryCache::new(500);
    cache.put("small", &answer(&["ok"]), HOUR).await;
    cache.put("huge", &answer(&[&"x".repeat(1000)]), HOUR).await;
    assert_eq!(cache.get("huge").await, None);
    // Refusing it evicted nothing.
    assert!(cache.get("small").await.is_some());
}

#[tokio::test]
async fn memory_replacing_a_key_keeps_the_size_right() {
    let cache = MemoryCache::new(10_000);
    cache.put("k", &answer(&[&"x".repeat(1000)]), HOUR).await;
    let before = cache.weighted_size();
    cache.put("k", &answer(&[&"y".repeat(1000)]), HOUR).await;
    assert_eq!(cache.weighted_size(), before);
    assert_eq!(cache.get("k").await, Some(answer(&[&"y".repeat(1000)])));
}

#[tokio::test]
async fn memory_entries_expire() {
    let cache = MemoryCache::new(1 << 20);
    cache
        .put("short", &answer(&["a"]), Duration::from_millis(200))
        .await;
    cache.put("long", &answer(&["b"]), HOUR).await;
    assert!(cache.get("short").await.is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cache.get("short").await, None);
    assert!(cache.get("long").await.is_some());
}

#[tokio::test]
async fn redis_round_trip_and_expiry() {
    let prefix = prefix();
    let cache = RedisCache::new(redis().await, prefix.clone());
    assert_eq!(cache.get("k").await, None);
    let stored = answer(&["{\"t\":\"delta\",\"text\":\"hé\"}", "", "end"]);
    cache.put("k", &stored, HOUR).await;
    assert_eq!(cache.get("k").await, Some(stored));
    cache.put("empty", &answer(&[]), HOUR).await;
    assert_eq!(cache.get("empty").await, Some(answer(&[])));

    cache
        .put("short", &answer(&["a"]), Duration::from_millis(200))
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cache.get("short").await, None);
    cleanup(&mut redis().await, &prefix).await;
}

#[tokio::test]
async fn a_malformed_redis_value_is_a_miss() {
    let prefix = prefix();
    let mut conn = redis().await;
    let cache = RedisCache::new(conn.clone(), prefix.clone());
    let mut truncated = encode(&answer(&["hello", "world"])).expect("encodes");
    truncated.pop();
    for (key, value) in [
        ("garbage", b"not an answer".to_vec()),
        ("short", vec![0, 0]),
        ("truncated", truncated),
        ("huge-count", vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
    ] {
        let () = redis::cmd("SET")
            .arg(format!("{prefix}:ai:cache:{key}"))
            .arg(value)
            .query_async(&mut conn)
            .await
            .expect("SET");
        assert_eq!(cache.get(key).await, None, "{key}");
    }
    cleanup(&mut conn, &prefix).await;
}

#[test]
fn the_encoding_rejects_trailing_bytes_and_round_trips() {
    let stored = answer(&["a", "", "bcd"]);
    let mut value = encode(&stored).expect("encodes");
    assert_eq!(decode(Bytes::from(value.clone())), Some(stored));
    value.push(0);
    assert_eq!(decode(Bytes::from(value)), None);
    assert_eq!(decode(Bytes::new()), None);
}
