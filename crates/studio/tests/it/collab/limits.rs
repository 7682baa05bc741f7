//! Bad input and bad clients: each closes its own connection with a clear code; the document
//! and the other clients carry on.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use studio_testkit::TestApp;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{collab_url, config_for, scenario, shared_project, with};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, room: &str, user: &str) -> Socket {
    let url = format!(
        "{}/{room}?token={}",
        collab_url(&app.base_url),
        app.token(user)
    );
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    socket
}

/// Reads until the server closes; the close code (`None`: closed without a close frame).
async fn close_code(socket: &mut Socket) -> Option<u16> {
    let read = async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the server closes the connection")
}

/// Sends sync step 1 (an empty state vector) and reads until the server's step 2: the
/// connection has joined its room.
async fn synced(socket: &mut Socket) {
    socket
        .send(Message::binary(vec![0u8, 0, 1, 0]))
        .await
        .unwrap();
    let read = async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Binary(bytes) = message
                && bytes.starts_with(&[0, 1])
            {
                return;
            }
        }
        panic!("closed before sync step 2");
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("sync step 2 arrives");
}

/// A Yjs update (v1) setting `kv[key] = value`, made by a document of its own.
fn kv_update(key: &str, value: &str) -> Vec<u8> {
    use yrs::{Map, Transact};
    let doc = yrs::Doc::new();
    let map = doc.get_or_insert_map("kv");
    let mut txn = doc.transact_mut();
    map.insert(&mut txn, key, value);
    txn.encode_update_v1()
}

/// The y-websocket frame of a sync update.
fn update_frame(update: &[u8]) -> Vec<u8> {
    let mut frame = vec![0, 2];
    let mut len = update.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            frame.push(byte);
            break;
        }
        frame.push(byte | 0x80);
    }
    frame.extend_from_slice(update);
    frame
}

#[tokio::test]
async fn malformed_frames_close_only_their_connection() {
    let app = TestApp::spawn().await;
    let room = shared_project(&app).await;
    scenario(
        "write",
        with(
            config_for(&app, &room),
            json!({"key": "before", "value": "kept"}),
        ),
    )
    .await;
    let frames: Vec<Vec<u8>> = vec![
        b"garbage that is not lib0".to_vec(),
        vec![
            0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ],
        vec![0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x0f],
        vec![0, 2, 3, 1, 2],
        vec![0, 9, 0],
        vec![42, 0],
        vec![],
        update_frame(&[200, 1, 2, 3, 4, 5, 6, 7]),
    ];
    for frame in frames {
        let mut socket = connect(&app, &room, "alice").await;
        socket.send(Message::binary(frame.clone())).await.unwrap();
        assert_eq!(close_code(&mut socket).await, Some(1002), "frame {frame:?}");
    }
    let mut socket = connect(&app, &room, "alice").await;
    socket.send(Message::text("hello")).await.unwrap();
    assert_eq!(close_code(&mut socket).await, Some(1003));

    // The document and everyone else are unaffected.
    scenario(
        "expect",
        with(
            config_for(&app, &room),
            json!({"key": "before", "value": "kept"}),
        ),
    )
    .await;
    scenario(
        "converge",
        with(config_for(&app, &room), json!({"clients": 2, "rounds": 2})),
    )
    .await;
}

#[tokio::test]
async fn frames_over_the_limit_and_floods_are_closed_with_their_codes() {
    let app = TestApp::spawn_with(|raw| {
        raw.collab_max_frame_bytes = 4096;
        raw.collab_messages_per_second = 5;
        raw.collab_message_burst = 10;
    })
    .await;
    let room = shared_project(&app).await;

    let mut socket = connect(&app, &room, "alice").await;
    let big = update_frame(&kv_update("big", &"x".repeat(8000)));
    socket.send(Message::binary(big)).await.unwrap();
    assert_eq!(close_code(&mut socket).await, Some(1009));

    let mut socket = connect(&app, &room, "alice").await;
    for _ in 0..50 {
        if socket.send(Message::binary(vec![3u8])).await.is_err() {
            break;
        }
    }
    assert_eq!(close_code(&mut socket).await, Some(1008));
}

#[tokio::test]
async fn an_update_growing_the_document_past_its_limit_closes_4413_and_is_not_applied() {
    let app = TestApp::spawn_with(|raw| raw.collab_max_document_bytes = 64 * 1024).await;
    let room = shared_project(&app).await;
    let mut socket = connect(&app, &room, "alice").await;
    let big = update_frame(&kv_update("big", &"x".repeat(100 * 1024)));
    socket.send(Message::binary(big)).await.unwrap();
    assert_eq!(close_code(&mut socket).await, Some(4413));
    let out = scenario("dump", config_for(&app, &room)).await;
    assert!(out["kv"].get("big").is_none(), "{out}");
}

#[tokio::test]
async fn a_client_that_does_not_read_is_disconnected_with_1013() {
    let app = TestApp::spawn_with(|raw| {
        raw.collab_send_queue = 8;
        raw.collab_messages_per_second = 10_000;
        raw.collab_message_burst = 10_000;
    })
    .await;
    let room = shared_project(&app).await;
    // Synced (so surely in the room), then never reads again: the kernel's buffers fill, then
    // its queue of 8 frames.
    let mut slow = connect(&app, &room, "bob").await;
    synced(&mut slow).await;
    let mut writer = connect(&app, &room, "alice").await;
    // One writer document: each of its edits replaces its previous value, so every relayed
    // update carries the full 60 KiB (edits by fresh documents mostly lose Yjs's conflict
    // resolution and relay as a few bytes, which a slow socket absorbs without ever blocking).
    let chunk = "y".repeat(60 * 1024);
    let doc = yrs::Doc::new();
    let kv = doc.get_or_insert_map("kv");
    for i in 0..400 {
        let update = {
            use yrs::{Map, Transact};
            let mut txn = doc.transact_mut();
            kv.insert(&mut txn, "big", format!("{i}{chunk}"));
            txn.encode_update_v1()
        };
        let frame = update_frame(&update);
        if writer.send(Message::binary(frame)).await.is_err() {
            break;
        }
        if i % 20 == 0 {
            let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
            let text = metrics.text().await.unwrap();
            if text.contains("studio_collab_slow_clients_dropped_total 1") {
                break;
            }
        }
    }
    // The server may still be working through what was sent: give it time (not a timing
    // assertion: a bound on waiting for something that must happen).
    let mut metrics = String::new();
    for _ in 0..300 {
        metrics = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("studio_collab_slow_clients_dropped_total 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        metrics.contains("studio_collab_slow_clients_dropped_total 1"),
        "{metrics}"
    );
    // What the slow client finally reads ends with the server closing it (1013 when the close
    // frame got through its full buffers; otherwise the connection is simply cut).
    let code = close_code(&mut slow).await;
    assert!(matches!(code, Some(1013) | None), "{code:?}");
    // The writer is still connected and its edits still reach others.
    scenario(
        "converge",
        with(config_for(&app, &room), json!({"clients": 2, "rounds": 1})),
    )
    .await;
}
