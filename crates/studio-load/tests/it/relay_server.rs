//! A minimal y-websocket relay for the tests: the room is the URL path; on connect it pings
//! and sends an empty step 1; it answers step 1 with an empty step 2 and relays step 2 and
//! update frames to the room's other connections (no echo, no document). Room `reject` is
//! closed at once with 4403, as a server refusing access would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures::{SinkExt as _, StreamExt as _};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Bytes;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Message};

type Rooms = Arc<Mutex<HashMap<String, Vec<(u64, mpsc::UnboundedSender<Bytes>)>>>>;

/// A running relay.
pub struct RelayServer {
    /// `ws://127.0.0.1:<port>`.
    pub url: String,
    rooms: Rooms,
}

impl RelayServer {
    /// Starts the relay on an ephemeral port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("address");
        let rooms = Rooms::default();
        let accepting = Arc::clone(&rooms);
        tokio::spawn(async move {
            let mut next_id = 0;
            while let Ok((stream, _)) = listener.accept().await {
                next_id += 1;
                tokio::spawn(serve(stream, next_id, Arc::clone(&accepting)));
            }
        });
        Self {
            url: format!("ws://{addr}"),
            rooms,
        }
    }

    /// Room names the relay has seen.
    pub fn rooms(&self) -> Vec<String> {
        let mut names: Vec<_> = self.rooms.lock().expect("rooms").keys().cloned().collect();
        names.sort();
        names
    }
}

async fn serve(stream: tokio::net::TcpStream, id: u64, rooms: Rooms) {
    let mut path = String::new();
    #[expect(
        clippy::result_large_err,
        reason = "tungstenite's accept callback returns the error response by value"
    )]
    let callback = |request: &Request, response: Response| {
        path = request.uri().path().trim_start_matches('/').to_owned();
        Ok(response)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    if path == "reject" {
        let frame = CloseFrame {
            code: CloseCode::from(4403),
            reason: "forbidden".into(),
        };
        let _ = ws.close(Some(frame)).await;
        while ws.next().await.is_some() {}
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    rooms
        .lock()
        .expect("rooms")
        .entry(path.clone())
        .or_default()
        .push((id, tx));
    let _ = ws.send(Message::Ping(Bytes::from_static(b"hi"))).await;
    let _ = ws
        .send(Message::Binary(Bytes::from_static(&[0, 0, 1, 0])))
        .await;
    loop {
        tokio::select! {
            next = ws.next() => match next {
                Some(Ok(Message::Binary(frame))) => match frame.get(..2) {
                    Some([0, 0]) => {
                        let _ = ws.send(Message::Binary(Bytes::from_static(&[0, 1, 2, 0, 0]))).await;
                    }
                    Some([0, 1] | [0, 2]) => {
                        let room = rooms.lock().expect("rooms");
                        for (other, sender) in &room[&path] {
                            if *other != id {
                                let _ = sender.send(frame.clone());
                            }
                        }
                    }
                    _ => {}
                },
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            Some(frame) = rx.recv() => {
                if ws.send(Message::Binary(frame)).await.is_err() {
                    break;
                }
            }
        }
    }
    rooms
        .lock()
        .expect("rooms")
        .get_mut(&path)
        .expect("room")
        .retain(|(other, _)| *other != id);
}
