//! Shared helpers: Redis connections, unique key prefixes, collecting a flight.

use std::time::Duration;

use futures::StreamExt;
use redis::aio::ConnectionManager;
use studio_ai::flight::{FlightEvent, FlightReader};

/// A fresh connection, as one node would have.
pub async fn redis() -> ConnectionManager {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url).expect("valid Redis URL");
    ConnectionManager::new(client)
        .await
        .expect("Redis at 127.0.0.1:6379 (or REDIS_URL) for the tests")
}

/// A key prefix no other test uses.
pub fn prefix() -> String {
    format!("test-ai-{:016x}", rand::random::<u64>())
}

/// Deletes every key under `prefix`.
pub async fn cleanup(conn: &mut ConnectionManager, prefix: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(conn)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let () = redis::cmd("DEL")
            .arg(keys)
            .query_async(conn)
            .await
            .expect("DEL");
    }
}

/// Every event of `reader`, failing the test if it does not end within 10 s.
pub async fn collect(reader: FlightReader) -> Vec<FlightEvent> {
    tokio::time::timeout(Duration::from_secs(10), reader.collect::<Vec<_>>())
        .await
        .expect("the flight ended in time")
}

pub fn frame(text: &str) -> FlightEvent {
    FlightEvent::Frame(bytes::Bytes::copy_from_slice(text.as_bytes()))
}

/// Redis server time in milliseconds.
pub async fn server_time_ms(conn: &mut ConnectionManager) -> u64 {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(conn).await.expect("TIME");
    secs * 1000 + micros / 1000
}
