//! `GET /api/collab/{projectId}`: the y-websocket endpoint (a WebSocket upgrade).
//!
//! The stock client connects with `new WebsocketProvider('wss://host/api/collab', projectId, doc,
//! {params: {token}})`, so the token comes as `?token=<jwt>`; it may instead come as a
//! `yauth-<jwt>` WebSocket subprotocol (kept out of URLs and access logs), which is echoed back,
//! or as an `Authorization` header (non-browser clients). Everything is checked **before** the
//! upgrade, as plain HTTP answers: no or bad token 401, a project the user cannot see 404, not a
//! WebSocket request 426. Viewers connect too; their document updates are dropped.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use studio_collab::{InFrame, OutFrame, Session};
use studio_core::UserId;

use crate::extract::auth::AuthUser;
use crate::extract::project::{ProjectAccess, Read};
use crate::{ApiError, AppState, ErrorCode};
use tracing::Instrument;

/// How much larger than the configured frame limit a message the socket reads may be.
const SOCKET_LIMIT_SLACK: usize = 1024 * 1024;

/// The socket's initial read buffer.
const SOCKET_READ_BUFFER: usize = 4 * 1024;

/// The subprotocol prefix that carries a token.
const TOKEN_PROTOCOL_PREFIX: &str = "yauth-";

pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route(
        "/api/collab/{projectId}",
        axum::routing::get(connect_collab),
    )
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The subprotocol carrying the token, if the client offered one.
fn token_protocol(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| p.starts_with(TOKEN_PROTOCOL_PREFIX) && p.len() > TOKEN_PROTOCOL_PREFIX.len())
        .map(str::to_owned)
}

/// Authenticates the collaboration request from its query, subprotocol or header, and leaves
/// the user where [`ProjectAccess`] finds it.
struct CollabAuth {
    protocol: Option<String>,
}

impl FromRequestParts<AppState> for CollabAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let protocol = token_protocol(&parts.headers);
        let query_token = Query::<TokenQuery>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|q| q.0.token)
            .filter(|t| !t.is_empty());
        let token = query_token.or_else(|| {
            protocol
                .as_deref()
                .map(|p| p[TOKEN_PROTOCOL_PREFIX.len()..].to_owned())
        });
        if let Some(token) = token {
            let user = crate::extract::auth::verify_token(&state.auth, &token).await?;
            parts.extensions.insert(AuthUser { user_id: user });
        }
        // Without a token here, `ProjectAccess` still accepts an Authorization header, and
        // answers 401 when there is none.
        Ok(Self { protocol })
    }
}

async fn connect_collab(
    State(state): State<AppState>,
    auth: CollabAuth,
    access: ProjectAccess<Read>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|_| {
        ApiError::new(
            ErrorCode::UpgradeRequired,
            "This endpoint speaks the y-websocket protocol: open it as a WebSocket.",
        )
    })?;
    let session = Session {
        project: access.project.id.clone(),
        user: access.user.user_id.clone(),
        role: access.role,
    };
    let hub = state.collab.clone();
    let config = hub.config();
    // The socket takes somewhat more than the limit, so a frame just over it reaches the hub,
    // which closes with 1009 and says why; a far larger one is cut off by the socket itself.
    let socket_limit = config.max_frame_bytes.saturating_add(SOCKET_LIMIT_SLACK);
    // A small read buffer: tungstenite's default (128 KiB, allocated up front) was most of what
    // an idle connection cost (~140 KB against ~13 KB, BENCHMARKS.md); it grows for larger
    // messages as needed.
    let mut upgrade = upgrade
        .max_message_size(socket_limit)
        .max_frame_size(socket_limit)
        .read_buffer_size(SOCKET_READ_BUFFER);
    if let Some(protocol) = auth.protocol {
        upgrade = upgrade.protocols([protocol]);
    }
    Ok(upgrade
        .on_failed_upgrade(|err| tracing::debug!(error = %err, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| serve_socket(hub, session, socket)))
}

async fn serve_socket(hub: studio_collab::CollabHub, session: Session, socket: WebSocket) {
    let user: UserId = session.user.clone();
    let span = tracing::info_span!("collab", project.id = %session.project, user.id = %user);
    let (sink, stream) = socket.split();
    let incoming = stream.map(|message| {
        message.map(|message| match message {
            Message::Binary(bytes) => InFrame::Binary(bytes),
            Message::Text(_) => InFrame::Text,
            Message::Ping(_) | Message::Pong(_) => InFrame::Heartbeat,
            Message::Close(_) => InFrame::Close,
        })
    });
    let outgoing = sink.with(|frame: OutFrame| async move {
        Ok::<_, axum::Error>(match frame {
            OutFrame::Binary(bytes) => Message::Binary(bytes),
            OutFrame::Ping => Message::Ping(Default::default()),
            OutFrame::Close { code, reason } => Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })),
        })
    });
    hub.serve(session, incoming, Box::pin(outgoing))
        .instrument(span)
        .await;
}
