//! Coalescing across two nodes (two coalescers with their own Redis connections).

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use redis::AsyncCommands;
use studio_ai::ProviderError;
use studio_ai::flight::{Coalescer, FlightEvent, FlightReader, FlightWriter, Joined};

use crate::support::{cleanup, collect, frame, prefix, redis};

fn leader(joined: Joined) -> (FlightWriter, FlightReader) {
    match joined {
        Joined::Leader { writer, reader } => (writer, reader),
        Joined::Follower { .. } => panic!("expected a leader"),
    }
}

fn follower(joined: Joined) -> FlightReader {
    match joined {
        Joined::Follower { reader } => reader,
        Joined::Leader { .. } => panic!("expected a follower"),
    }
}

async fn two_nodes(prefix: &str) -> (Coalescer, Coalescer) {
    (
        Coalescer::with_redis(redis().await, prefix.to_owned()),
        Coalescer::with_redis(redis().await, prefix.to_owned()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_node_follows_from_the_start() {
    let prefix = prefix();
    let (a, b) = two_nodes(&prefix).await;
    let (mut writer, reader) = leader(a.join("k").await);
    writer.started().await;
    writer.frame(Bytes::from_static(b"one")).await;
    writer.frame(Bytes::from_static(b"two")).await;

    let remote = follower(b.join("k").await);
    // The same node shares the local follow of the remote flight.
    let remote_too = follower(b.join("k").await);
    let remote = tokio::spawn(collect(remote));
    let remote_too = tokio::spawn(collect(remote_too));
    tokio::time::sleep(Duration::from_millis(100)).await;
    writer.frame(Bytes::from_static(b"three")).await;
    writer.done().await;

    let want = vec![
        FlightEvent::Started,
        frame("one"),
        frame("two"),
        frame("three"),
        FlightEvent::Done,
    ];
    assert_eq!(collect(reader).await, want);
    assert_eq!(remote.await.expect("remote reader"), want);
    assert_eq!(remote_too.await.expect("remote reader"), want);

    // The lock is released at the end: the next request leads, on either node.
    let (_writer, _reader) = leader(b.join("k").await);
    cleanup(&mut redis().await, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn abandoned_waits_for_the_remote_listener() {
    let prefix = prefix();
    let (a, b) = two_nodes(&prefix).await;
    let (mut writer, local) = leader(a.join("k").await);
    writer.started().await;
    let mut remote = follower(b.join("k").await);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), remote.next()).await,
        Ok(Some(FlightEvent::Started))
    );

    drop(local);
    let early = tokio::time::timeout(Duration::from_millis(1500), writer.abandoned()).await;
    assert!(early.is_err(), "abandoned while another node listens");

    drop(remote);
    tokio::time::timeout(Duration::from_secs(5), writer.abandoned())
        .await
        .expect("abandoned once the remote listener left");
    drop(writer);
    cleanup(&mut redis().await, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dropped_writer_fails_remote_followers() {
    let prefix = prefix();
    let (a, b) = two_nodes(&prefix).await;
    let (mut writer, _local) = leader(a.join("k").await);
    writer.started().await;
    let remote = follower(b.join("k").await);
    drop(writer);
    assert_eq!(
        collect(remote).await,
        [
            FlightEvent::Started,
            FlightEvent::Failed(ProviderError::BadGateway("cancelled".into()))
        ]
    );
    cleanup(&mut redis().await, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_cross_nodes_intact() {
    let prefix = prefix();
    let (a, b) = two_nodes(&prefix).await;
    let (writer, _local) = leader(a.join("k").await);
    let remote = follower(b.join("k").await);
    let error = ProviderError::RateLimited {
        retry_after: Some(Duration::from_secs(7)),
    };
    writer.fail(error.clone()).await;
    assert_eq!(collect(remote).await, [FlightEvent::Failed(error)]);
    cleanup(&mut redis().await, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_fails_cleanly_when_the_leading_node_dies() {
    let prefix = prefix();
    let mut conn = redis().await;
    // A node that took the lock, started, and died: its lock expires, nothing ends the stream.
    let id = "deadbeef";
    let () = redis::cmd("SET")
        .arg(format!("{prefix}:ai:flight:k:lock"))
        .arg(id)
        .arg("PX")
        .arg(500)
        .query_async(&mut conn)
        .await
        .expect("SET");
    let _: String = conn
        .xadd(
            format!("{prefix}:ai:flight:k:{id}"),
            "*",
            &[("k", "s"), ("v", "")],
        )
        .await
        .expect("XADD");

    let node = Coalescer::with_redis(redis().await, prefix.clone());
    let reader = follower(node.join("k").await);
    assert_eq!(
        collect(reader).await,
        [
            FlightEvent::Started,
            FlightEvent::Failed(ProviderError::BadGateway(
                "the answering node went away".into()
            ))
        ]
    );
    // The dead flight is gone: the next request leads.
    let (_writer, _reader) = leader(node.join("k").await);
    cleanup(&mut conn, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_remote_flight_is_not_followed() {
    let prefix = prefix();
    let a = Coalescer::with_redis(redis().await, prefix.clone()).with_max_replay_bytes(4);
    let b = Coalescer::with_redis(redis().await, prefix.clone());
    let (mut writer, _reader) = leader(a.join("k").await);
    writer.started().await;
    writer.frame(Bytes::from_static(b"too large")).await;
    // The leader marks its lock shortly after overflowing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_other, _) = leader(b.join("k").await);
    cleanup(&mut redis().await, &prefix).await;
}
