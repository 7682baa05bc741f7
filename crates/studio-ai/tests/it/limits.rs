//! Per-user limits, in process and shared through Redis.

use std::time::Duration;

use redis::AsyncCommands;
use studio_ai::limits::{
    CONCURRENT_STREAMS, LimitExceeded, Limiter, REQUESTS_PER_MINUTE, RateLimits, StreamPermit,
};

use crate::support::{cleanup, prefix, redis, server_time_ms};

const STREAMS_2: RateLimits = RateLimits {
    concurrent_streams: 2,
    requests_per_minute: 1000,
};
const RPM_3: RateLimits = RateLimits {
    concurrent_streams: 100,
    requests_per_minute: 3,
};

fn refused(result: Result<StreamPermit, LimitExceeded>) -> LimitExceeded {
    match result {
        Ok(_) => panic!("expected a refusal"),
        Err(refusal) => refusal,
    }
}

/// Waits until `user` holds `n` streams (a Redis release is spawned by the permit's drop).
async fn until_active(limiter: &Limiter, user: &str, n: u32) {
    for _ in 0..100 {
        if limiter.active_streams(user).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{user} never had {n} streams");
}

async fn concurrency(one: &Limiter, two: &Limiter) {
    let first = one.admit("u", &STREAMS_2).await.expect("first");
    let _second = two.admit("u", &STREAMS_2).await.expect("second");
    assert_eq!(one.active_streams("u").await, 2);
    let refusal = refused(one.admit("u", &STREAMS_2).await);
    assert_eq!(refusal.limit, CONCURRENT_STREAMS);
    assert!(refusal.retry_after >= Duration::from_secs(1));
    // Another user has their own budget.
    let _other = two.admit("v", &STREAMS_2).await.expect("another user");

    drop(first);
    until_active(two, "u", 1).await;
    let _third = two.admit("u", &STREAMS_2).await.expect("a freed slot");
}

async fn rate(one: &Limiter, two: &Limiter) {
    for limiter in [one, two, one] {
        drop(limiter.admit("u", &RPM_3).await.expect("within the burst"));
    }
    let refusal = refused(two.admit("u", &RPM_3).await);
    assert_eq!(refusal.limit, REQUESTS_PER_MINUTE);
    // The burst spent, the next request conforms one interval (60 s / 3) later.
    assert!(
        (Duration::from_secs(19)..=Duration::from_secs(20)).contains(&refusal.retry_after),
        "{:?}",
        refusal.retry_after
    );
    // A refused request holds no slot.
    until_active(one, "u", 0).await;
}

/// A request refused for concurrency does not spend the rate budget.
async fn refusals_spend_nothing(limiter: &Limiter) {
    let limits = RateLimits {
        concurrent_streams: 1,
        requests_per_minute: 2,
    };
    let held = limiter.admit("w", &limits).await.expect("first");
    for _ in 0..5 {
        assert_eq!(
            refused(limiter.admit("w", &limits).await).limit,
            CONCURRENT_STREAMS
        );
    }
    drop(held);
    until_active(limiter, "w", 0).await;
    let held = limiter
        .admit("w", &limits)
        .await
        .expect("the second of the burst");
    drop(held);
    until_active(limiter, "w", 0).await;
    assert_eq!(
        refused(limiter.admit("w", &limits).await).limit,
        REQUESTS_PER_MINUTE
    );
}

#[tokio::test]
async fn in_process_concurrency() {
    let limiter = Limiter::in_process();
    concurrency(&limiter, &limiter.clone()).await;
}

#[tokio::test]
async fn in_process_rate() {
    let limiter = Limiter::in_process();
    rate(&limiter, &limiter.clone()).await;
}

#[tokio::test]
async fn in_process_refusals_spend_nothing() {
    refusals_spend_nothing(&Limiter::in_process()).await;
}

#[tokio::test]
async fn zero_limits_refuse() {
    let limiter = Limiter::in_process();
    let none = RateLimits {
        concurrent_streams: 0,
        requests_per_minute: 10,
    };
    assert_eq!(
        refused(limiter.admit("u", &none).await).limit,
        CONCURRENT_STREAMS
    );
}

#[tokio::test]
async fn redis_concurrency_is_shared_by_nodes() {
    let prefix = prefix();
    let one = Limiter::with_redis(redis().await, prefix.clone());
    let two = Limiter::with_redis(redis().await, prefix.clone());
    concurrency(&one, &two).await;
    cleanup(&mut redis().await, &prefix).await;
}

#[tokio::test]
async fn redis_rate_is_shared_by_nodes() {
    let prefix = prefix();
    let one = Limiter::with_redis(redis().await, prefix.clone());
    let two = Limiter::with_redis(redis().await, prefix.clone());
    rate(&one, &two).await;
    cleanup(&mut redis().await, &prefix).await;
}

#[tokio::test]
async fn redis_refusals_spend_nothing() {
    let prefix = prefix();
    refusals_spend_nothing(&Limiter::with_redis(redis().await, prefix.clone())).await;
    cleanup(&mut redis().await, &prefix).await;
}

#[tokio::test]
async fn a_held_permit_keeps_its_lease() {
    let prefix = prefix();
    let limiter =
        Limiter::with_redis(redis().await, prefix.clone()).with_lease(Duration::from_millis(600));
    let one = RateLimits {
        concurrent_streams: 1,
        requests_per_minute: 100,
    };
    let _held = limiter.admit("u", &one).await.expect("first");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(limiter.active_streams("u").await, 1);
    assert_eq!(
        refused(limiter.admit("u", &one).await).limit,
        CONCURRENT_STREAMS
    );
    cleanup(&mut redis().await, &prefix).await;
}

#[tokio::test]
async fn a_crashed_nodes_permit_expires() {
    let prefix = prefix();
    let mut conn = redis().await;
    let limiter = Limiter::with_redis(conn.clone(), prefix.clone());
    let one = RateLimits {
        concurrent_streams: 1,
        requests_per_minute: 100,
    };
    // A slot whose node died: nobody refreshes it.
    let expires = server_time_ms(&mut conn).await + 500;
    let _: i64 = conn
        .zadd(format!("{prefix}:ai:streams:u"), "crashed", expires)
        .await
        .expect("ZADD");
    assert_eq!(limiter.active_streams("u").await, 1);
    assert_eq!(
        refused(limiter.admit("u", &one).await).limit,
        CONCURRENT_STREAMS
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(limiter.active_streams("u").await, 0);
    let _held = limiter.admit("u", &one).await.expect("the lease expired");
    cleanup(&mut conn, &prefix).await;
}
