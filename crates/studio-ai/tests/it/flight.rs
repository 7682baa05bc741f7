//! In-process coalescing.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use studio_ai::ProviderError;
use studio_ai::flight::{Coalescer, FlightEvent, FlightReader, FlightWriter, Joined};

use crate::support::{collect, frame};

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

fn expected(frames: &[&str]) -> Vec<FlightEvent> {
    let mut events = vec![FlightEvent::Started];
    events.extend(frames.iter().map(|f| frame(f)));
    events.push(FlightEvent::Done);
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_joins_share_one_upstream_call_and_replay_from_the_start() {
    let coalescer = Coalescer::in_process();
    let joins = (0..10).map(|_| {
        let coalescer = coalescer.clone();
        tokio::spawn(async move { coalescer.join("k").await })
    });
    let mut writer = None;
    let mut readers = Vec::new();
    for joined in futures::future::join_all(joins).await {
        match joined.expect("join task") {
            Joined::Leader { writer: w, reader } => {
                assert!(writer.replace(w).is_none(), "two leaders");
                readers.push(reader);
            }
            Joined::Follower { reader } => readers.push(reader),
        }
    }
    let mut writer = writer.expect("one leader");
    let collectors: Vec<_> = readers
        .into_iter()
        .map(|r| tokio::spawn(collect(r)))
        .collect();

    writer.started().await;
    writer.frame(Bytes::from_static(b"a")).await;
    writer.frame(Bytes::from_static(b"b")).await;
    // Joins mid-stream: replays Started, a, b, then follows live.
    let late = follower(coalescer.join("k").await);
    let late = tokio::spawn(collect(late));
    tokio::time::sleep(Duration::from_millis(20)).await;
    writer.frame(Bytes::from_static(b"c")).await;
    writer.done().await;

    for collector in collectors {
        assert_eq!(collector.await.expect("reader"), expected(&["a", "b", "c"]));
    }
    assert_eq!(late.await.expect("late reader"), expected(&["a", "b", "c"]));
    assert_eq!(coalescer.in_flight(), 0);
}

#[tokio::test]
async fn a_reader_sees_events_produced_before_it_polls() {
    let coalescer = Coalescer::in_process();
    let (mut writer, reader) = leader(coalescer.join("k").await);
    writer.started().await;
    writer.frame(Bytes::from_static(b"x")).await;
    writer.done().await;
    assert_eq!(collect(reader).await, expected(&["x"]));
}

#[tokio::test]
async fn abandoned_resolves_only_when_every_reader_is_gone() {
    let coalescer = Coalescer::in_process();
    let (mut writer, first) = leader(coalescer.join("k").await);
    let mut second = follower(coalescer.join("k").await);
    writer.started().await;

    drop(first);
    let early = tokio::time::timeout(Duration::from_millis(200), writer.abandoned()).await;
    assert!(early.is_err(), "abandoned while a reader remains");
    assert_eq!(second.next().await, Some(FlightEvent::Started));

    drop(second);
    tokio::time::timeout(Duration::from_secs(1), writer.abandoned())
        .await
        .expect("abandoned once nobody listens");
    // Closed in the same step: a new request starts a new flight.
    let (_writer, _reader) = leader(coalescer.join("k").await);
}

#[tokio::test]
async fn a_dropped_writer_fails_its_readers() {
    let coalescer = Coalescer::in_process();
    let (mut writer, reader) = leader(coalescer.join("k").await);
    let other = follower(coalescer.join("k").await);
    writer.started().await;
    writer.frame(Bytes::from_static(b"a")).await;
    drop(writer);
    let want = vec![
        FlightEvent::Started,
        frame("a"),
        FlightEvent::Failed(ProviderError::BadGateway("cancelled".into())),
    ];
    assert_eq!(collect(reader).await, want);
    assert_eq!(collect(other).await, want);
}

#[tokio::test]
async fn a_failure_before_started_reaches_every_reader() {
    let coalescer = Coalescer::in_process();
    let (writer, reader) = leader(coalescer.join("k").await);
    let other = follower(coalescer.join("k").await);
    writer.fail(ProviderError::Timeout).await;
    assert_eq!(
        collect(reader).await,
        [FlightEvent::Failed(ProviderError::Timeout)]
    );
    assert_eq!(
        collect(other).await,
        [FlightEvent::Failed(ProviderError::Timeout)]
    );
}

#[tokio::test]
async fn after_a_flight_ends_the_next_join_leads() {
    let coalescer = Coalescer::in_process();
    let (writer, reader) = leader(coalescer.join("k").await);
    writer.done().await;
    let (writer, _) = leader(coalescer.join("k").await);
    drop(writer);
    let (_writer, _) = leader(coalescer.join("k").await);
    assert_eq!(collect(reader).await, [FlightEvent::Done]);
}

#[tokio::test]
async fn keys_do_not_mix() {
    let coalescer = Coalescer::in_process();
    let (_a, _) = leader(coalescer.join("a").await);
    let (_b, _) = leader(coalescer.join("b").await);
    assert_eq!(coalescer.in_flight(), 2);
}

#[tokio::test]
async fn a_full_flight_keeps_its_readers_but_refuses_joiners() {
    let coalescer = Coalescer::in_process().with_max_replay_bytes(8);
    let (mut writer, reader) = leader(coalescer.join("k").await);
    let collector = tokio::spawn(collect(reader));
    writer.started().await;
    writer.frame(Bytes::from_static(b"0123456789")).await;
    // Over the bound: a newcomer runs its own call.
    let (other_writer, other_reader) = leader(coalescer.join("k").await);
    // ... and later requests coalesce with the newcomer's flight.
    let _joiner = follower(coalescer.join("k").await);
    writer.frame(Bytes::from_static(b"more")).await;
    writer.done().await;
    assert_eq!(
        collector.await.expect("reader"),
        expected(&["0123456789", "more"])
    );
    other_writer.done().await;
    assert_eq!(collect(other_reader).await, [FlightEvent::Done]);
}

#[tokio::test]
async fn a_slow_reader_of_a_full_flight_still_gets_everything() {
    let coalescer = Coalescer::in_process().with_max_replay_bytes(4);
    let (mut writer, reader) = leader(coalescer.join("k").await);
    writer.started().await;
    let mut want = vec![FlightEvent::Started];
    for i in 0..200 {
        let text = format!("frame {i}");
        writer.frame(Bytes::from(text.clone())).await;
        want.push(frame(&text));
    }
    writer.done().await;
    want.push(FlightEvent::Done);
    assert_eq!(collect(reader).await, want);
}
