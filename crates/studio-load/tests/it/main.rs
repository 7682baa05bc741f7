//! End-to-end runs of the collaboration scenarios against a minimal in-process relay.

mod relay_server;

use std::time::Duration;

use studio_load::collab::idle::{self, IdleRun};
use studio_load::collab::room::{self, Pace, RoomRun};

use relay_server::RelayServer;

fn room_run(url: &str, clients: usize, pace: Pace) -> RoomRun {
    RoomRun {
        url: url.to_owned(),
        more_urls: Vec::new(),
        room: "it-room".to_owned(),
        token: Some("not.a.jwt".to_owned()),
        clients,
        pace,
        duration: Duration::from_millis(1000),
        warmup: Duration::from_millis(200),
        drain: Duration::from_secs(2),
        connect_rate: 1000.0,
        connect_timeout: Duration::from_secs(5),
        server_pid: Some(std::process::id()),
    }
}

#[tokio::test]
async fn relay_run_sees_every_update_once() {
    let server = RelayServer::start().await;
    let report = room::run(room_run(&server.url, 4, Pace::Rate(50.0)))
        .await
        .expect("runs");
    assert_eq!(report.connected, 4);
    assert!(report.updates_sent >= 4 * 45, "{report:#?}");
    assert_eq!(report.expected_deliveries, report.updates_sent * 3);
    assert_eq!(report.deliveries, report.expected_deliveries, "{report:#?}");
    assert_eq!(report.missing_deliveries, 0);
    assert_eq!(report.duplicate_deliveries, 0);
    assert_eq!(report.echoes, 0);
    assert_eq!(report.latency_ms.count, report.deliveries);
    assert!(report.latency_ms.max < 500.0, "{report:#?}");
    assert_eq!(report.connections.errors, 0, "{report:#?}");
    assert_eq!(report.connections.disconnects, 0);
    assert_eq!(report.connections.pings, 4);
    assert_eq!(report.connections.clean_closes, 4);
    assert!(report.server_cpu_percent.is_some());
    assert_eq!(server.rooms(), ["it-room"]);
}

#[tokio::test]
async fn throughput_run_keeps_senders_within_the_window() {
    let server = RelayServer::start().await;
    let report = room::run(room_run(&server.url, 3, Pace::Window(8)))
        .await
        .expect("runs");
    assert_eq!(report.connected, 3);
    assert!(report.updates_sent > 100, "{report:#?}");
    assert!(report.received_per_s > 100.0, "{report:#?}");
    assert_eq!(report.missing_deliveries, 0, "{report:#?}");
    assert_eq!(report.connections.errors, 0, "{report:#?}");
}

fn idle_run(url: &str, room: &str, connections: usize) -> IdleRun {
    IdleRun {
        url: url.to_owned(),
        room: room.to_owned(),
        token: None,
        rooms: 3,
        connections,
        ramp: 2000.0,
        hold: Duration::from_millis(200),
        connect_timeout: Duration::from_secs(5),
        server_pid: Some(std::process::id()),
    }
}

#[tokio::test]
async fn idle_run_syncs_every_connection_and_reads_rss() {
    let server = RelayServer::start().await;
    let report = idle::run(idle_run(&server.url, "idle", 30))
        .await
        .expect("runs");
    assert_eq!(report.connected, 30, "{report:#?}");
    assert_eq!(report.failed, 0);
    assert_eq!(report.open_after_hold, 30);
    assert!(report.rss_before_bytes.is_some_and(|rss| rss > 0));
    assert!(report.bytes_per_connection.is_some());
    assert_eq!(report.counters.pings, 30);
    assert_eq!(server.rooms(), ["idle-0", "idle-1", "idle-2"]);
}

#[tokio::test]
async fn refused_connections_count_their_close_code() {
    let server = RelayServer::start().await;
    let mut run = idle_run(&server.url, "reject", 5);
    run.rooms = 1;
    let report = idle::run(run).await.expect("runs");
    assert_eq!(report.connected, 0);
    assert_eq!(report.failed, 5);
    assert_eq!(
        report.counters.close_codes.get(&4403),
        Some(&5),
        "{report:#?}"
    );
    assert_eq!(report.counters.disconnects, 5);
}

#[tokio::test]
async fn unreachable_server_is_an_error_not_a_hang() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("ws://{}", listener.local_addr().expect("address"));
    drop(listener);
    let err = room::run(room_run(&url, 2, Pace::Rate(10.0)))
        .await
        .expect_err("nobody there");
    assert!(err.to_string().contains("0 of 2 clients"), "{err:#}");
}
