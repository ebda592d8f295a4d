//! Subscriptions over WebSocket (`/graphql/ws`, graphql-transport-ws and the legacy
//! graphql-ws): the token in `connection_init`, the socket's own rules (message size, how many
//! subscriptions, reused ids, binary frames), pings, the token's expiry, and a clean close.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use async_graphql::{
    Data,
    http::{ALL_WEBSOCKET_PROTOCOLS, ClientMessage},
};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::{
    Extension,
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    http::StatusCode,
    response::Response,
};
use tracing::Instrument;

use super::graphql::refused_http;
use super::{observe::ClientAddr, server::Server};
use crate::{accounts, error::AppError, graphql::loaders::Loader};

/// The server pings every subscription socket this often (WebSocket ping frames); a socket
/// that answered none of the last two pings is closed.
const WS_PING: Duration = Duration::from_secs(15);
/// The read buffer a socket starts with (it grows for a larger message, up to the cap).
const WS_READ_BUFFER: usize = 4 * 1024;
/// The largest message a client may send on a socket.
const WS_MAX_MESSAGE: usize = 64 * 1024;
/// Subscriptions open at once on one socket (the next one closes it with 4429); a reused id
/// closes it with 4409, as graphql-transport-ws says.
const WS_MAX_SUBSCRIPTIONS: usize = 20;
/// After its close frame the server waits this long for the client's, reading and discarding
/// meanwhile, before it drops the connection anyway.
const WS_CLOSE_WAIT: Duration = Duration::from_secs(5);
/// Client messages read ahead of the GraphQL protocol's task.
const WS_QUEUE: usize = 16;

/// The token from a `connection_init` payload: `{"Authorization": "Bearer …"}` or
/// `{"token": "…"}`.
fn token_from_init(payload: &serde_json::Value) -> Option<String> {
    let field = |name: &str| payload.get(name).and_then(|v| v.as_str());
    if let Some(bearer) = field("Authorization").or_else(|| field("authorization")) {
        return Some(crate::auth::bearer_token(bearer).unwrap_or(bearer).trim().to_owned());
    }
    field("token").map(|t| t.trim().to_owned())
}

/// The subscription socket. Each counts against its client's address (behind a trusted proxy,
/// the forwarded one): beyond `connections_per_client` the upgrade is refused with 429.
pub(super) async fn subscriptions(
    State(server): State<Server>,
    client: Option<Extension<ClientAddr>>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let hold = match client {
        Some(Extension(ClientAddr(ip))) => {
            match server.socket_clients.hold(ip, server.state.config.connections_per_client()) {
                Some(hold) => Some(hold),
                None => {
                    metrics::counter!("connections_refused_total").increment(1);
                    return refused_http(
                        StatusCode::TOO_MANY_REQUESTS,
                        "RATE_LIMITED",
                        "too many connections from this address",
                    );
                }
            }
        }
        None => None,
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(WS_MAX_MESSAGE)
        .max_frame_size(WS_MAX_MESSAGE)
        // tungstenite's defaults reserve 128 KiB to read into per socket: most of an idle
        // subscriber's memory. Subscription messages are small; a larger one grows the buffer.
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        // The socket lives on after this request: it keeps the request's log span.
        .on_upgrade(move |socket| {
            async move {
                serve_socket(server, protocol, socket).await;
                drop(hold);
            }
            .instrument(tracing::Span::current())
        })
}

/// The socket's own rules on what a client says, checked on every data frame before the
/// GraphQL protocol sees it — text and binary alike, since async-graphql reads both as JSON
/// (a rule checked on text frames only would be skipped by sending binary ones). Each message
/// is read with async-graphql's own [`ClientMessage`], so the rules see what the protocol will.
#[derive(Default)]
struct SocketRules {
    init_sent: bool,
    open: std::collections::HashSet<String>,
}

impl SocketRules {
    /// Checks one message from the client: the close it calls for, if any.
    fn heard(&mut self, data: &[u8]) -> Result<(), CloseFrame> {
        // What does not parse is refused by the protocol itself.
        let Ok(message) = ClientMessage::from_bytes(data) else { return Ok(()) };
        match message {
            ClientMessage::ConnectionInit { .. } => self.init_sent = true,
            // graphql-transport-ws: a subscribe before the connection is initialised is 4401.
            ClientMessage::Start { .. } if !self.init_sent => {
                return Err(CloseFrame { code: 4401, reason: "Unauthorized".into() });
            }
            ClientMessage::Start { id, .. } if self.open.contains(&id) => {
                return Err(CloseFrame { code: 4409, reason: format!("Subscriber for {id} already exists").into() });
            }
            ClientMessage::Start { .. } if self.open.len() >= WS_MAX_SUBSCRIPTIONS => {
                return Err(CloseFrame { code: 4429, reason: "too many subscriptions on one socket".into() });
            }
            ClientMessage::Start { id, .. } => {
                self.open.insert(id);
            }
            ClientMessage::Stop { id } => {
                self.open.remove(&id);
            }
            // The legacy protocol's goodbye: closed normally at once, before the client's own
            // close frame (sent right behind it) is read — echoed, that one carries no code.
            ClientMessage::ConnectionTerminate => return Err(CloseFrame { code: 1000, reason: "".into() }),
            ClientMessage::Ping { .. } | ClientMessage::Pong { .. } => {}
        }
        Ok(())
    }

    /// The server sent `text`: a `complete` ends its subscription, whose id may then be reused.
    fn said(&mut self, text: &str) {
        if text.starts_with(r#"{"type":"complete""#)
            && let Ok(value) = serde_json::from_str::<serde_json::Value>(text)
            && let Some(id) = value["id"].as_str()
        {
            self.open.remove(id);
        }
    }
}

/// The bytes of a data frame.
fn data_of(message: &Message) -> Option<&[u8]> {
    match message {
        Message::Text(text) => Some(text.as_bytes()),
        Message::Binary(bytes) => Some(bytes),
        _ => None,
    }
}

/// A read that failed because the client's message was over [`WS_MAX_MESSAGE`].
fn too_big(error: &axum::Error) -> bool {
    use std::error::Error as _;
    error
        .source()
        .and_then(|e| e.downcast_ref::<tungstenite::Error>())
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

/// How a socket ends.
enum End {
    /// The server closes it with this frame, then waits for the client's close.
    Close(CloseFrame),
    /// The server closes it with this frame and reads no more: the incoming stream is unusable
    /// (a message over the limit, whose rest would be read next).
    CloseUnread(CloseFrame),
    /// The client sent its close frame: the reply tungstenite queued is flushed.
    ClosedByClient,
    /// The connection is gone.
    Gone,
}

/// One subscription socket: the GraphQL protocol (async-graphql, in a task of its own) behind
/// a loop that reads the client's frames and checks them against [`SocketRules`] before
/// passing them on, pings every [`WS_PING`], closes the socket (code 4401) when the token
/// expires, closes a refused `connection_init` with 4403 (graphql-transport-ws; the legacy
/// protocol answers `connection_error`), and ends every close with the closing handshake.
async fn serve_socket(server: Server, protocol: GraphQLProtocol, socket: WebSocket) {
    use futures_util::{SinkExt, StreamExt};
    let (mut sink, mut stream) = socket.split();
    let (in_tx, mut in_rx) = tokio::sync::mpsc::channel::<Message>(WS_QUEUE);
    let incoming = futures_util::stream::poll_fn(move |deps| in_rx.poll_recv(deps)).map(Ok::<_, axum::Error>);
    let initialised = Arc::new(AtomicBool::new(false));
    let initialised_by_init = initialised.clone();
    // The account this socket counts against, once connection_init is accepted.
    let counted: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let counted_by_init = counted.clone();
    let too_many = Arc::new(AtomicBool::new(false));
    let too_many_by_init = too_many.clone();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<Message>(64);
    let outgoing = Box::pin(futures_util::sink::unfold(out_tx, |tx, message: Message| async move {
        tx.send(message).await.map(|()| tx).map_err(|_| axum::Error::new("socket writer stopped"))
    }));
    let state = server.state.clone();
    // The token's expiry, once connection_init has been accepted.
    let (expiry_tx, expiry_rx) = tokio::sync::oneshot::channel::<i64>();
    // Set when connection_init is refused: the close that follows gets code 4403.
    let refused = Arc::new(AtomicBool::new(false));
    let refused_init = refused.clone();
    let connection = GraphQLWebSocket::new_with_pair(outgoing, incoming, server.graphql.clone(), protocol)
        .on_connection_init(move |payload| async move {
            let accepted = async {
                let token = token_from_init(&payload)
                    .ok_or_else(|| AppError::Unauthenticated("connection_init must carry the token".into()))?;
                let (viewer, exp) = state.keys.verify_with_expiry(&token)?;
                let key = viewer.account_key();
                tracing::Span::current().record("account", key.as_str());
                if !state.sockets.open(&key, state.config.max_sockets_per_account) {
                    too_many_by_init.store(true, Ordering::SeqCst);
                    return Err(AppError::RateLimited("too many subscription sockets for this account".into()));
                }
                *counted_by_init.lock().unwrap_or_else(|p| p.into_inner()) = Some(key);
                accounts::service::provision(state.deps(), &state.provisioned, &viewer).await?;
                Ok::<_, AppError>((viewer, exp))
            }
            .await;
            let (viewer, exp) = accepted.map_err(|e| {
                refused_init.store(true, Ordering::SeqCst);
                e.to_graphql()
            })?;
            let _ = expiry_tx.send(exp);
            initialised_by_init.store(true, Ordering::SeqCst);
            let mut data = Data::default();
            data.insert(viewer);
            data.insert(Loader::for_connection(state.db.clone()));
            Ok(data)
        })
        .serve();
    let connection = tokio::spawn(connection.instrument(tracing::Span::current()));
    let expires = async move {
        match expiry_rx.await {
            Ok(exp) => {
                let left = u64::try_from(exp - chrono::Utc::now().timestamp()).unwrap_or(0);
                tokio::time::sleep(Duration::from_secs(left)).await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::pin!(expires);
    let mut ping = tokio::time::interval(WS_PING);
    ping.tick().await;
    let init_deadline = tokio::time::sleep(server.state.config.ws_init_timeout);
    tokio::pin!(init_deadline);
    let mut rules = SocketRules::default();
    let mut last_pong = Instant::now();
    let end = loop {
        tokio::select! {
            biased;
            () = &mut init_deadline, if !initialised.load(Ordering::SeqCst) => {
                break End::Close(CloseFrame { code: 4408, reason: "Connection initialisation timeout".into() });
            }
            message = out_rx.recv() => match message {
                Some(Message::Close(frame)) => {
                    let frame = if too_many.load(Ordering::SeqCst) {
                        CloseFrame { code: 4429, reason: "too many sockets for this account".into() }
                    } else if refused.load(Ordering::SeqCst) {
                        CloseFrame { code: 4403, reason: "Forbidden".into() }
                    } else {
                        frame.unwrap_or(CloseFrame { code: 1000, reason: "".into() })
                    };
                    break End::Close(frame);
                }
                Some(message) => {
                    if let Message::Text(text) = &message {
                        rules.said(text);
                    }
                    if sink.send(message).await.is_err() {
                        break End::Gone;
                    }
                }
                // The protocol's task ended.
                None => break End::Close(CloseFrame { code: 1000, reason: "".into() }),
            },
            // Read only as fast as the protocol takes the messages: a place in its queue first.
            (room, read) = async { (in_tx.reserve().await, stream.next().await) } => match read {
                Some(Ok(Message::Pong(_))) => last_pong = Instant::now(),
                Some(Ok(Message::Close(_))) => break End::ClosedByClient,
                Some(Ok(message)) => {
                    let Some(data) = data_of(&message) else { continue };
                    if let Err(frame) = rules.heard(data) {
                        break End::Close(frame);
                    }
                    match room {
                        Ok(room) => room.send(message),
                        Err(_) => break End::Gone,
                    }
                }
                Some(Err(e)) if too_big(&e) => {
                    break End::CloseUnread(CloseFrame { code: 1009, reason: "message too big".into() });
                }
                Some(Err(_)) | None => break End::Gone,
            },
            _ = ping.tick() => {
                // Two pings unanswered: the peer is gone (or not reading).
                if last_pong.elapsed() > 2 * WS_PING + Duration::from_secs(1) {
                    break End::Close(CloseFrame { code: 1011, reason: "no pong".into() });
                }
                if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break End::Gone;
                }
            }
            () = &mut expires => {
                tracing::debug!("subscription socket closed: token expired");
                break End::Close(CloseFrame { code: 4401, reason: "token expired".into() });
            }
        }
    };
    connection.abort();
    match end {
        End::Close(frame) => {
            if sink.send(Message::Close(Some(frame))).await.is_ok() {
                let _ = tokio::time::timeout(WS_CLOSE_WAIT, closing_handshake(&mut stream)).await;
            }
        }
        End::CloseUnread(frame) => {
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        End::ClosedByClient => {
            let _ = sink.flush().await;
            let _ = tokio::time::timeout(WS_CLOSE_WAIT, closing_handshake(&mut stream)).await;
        }
        End::Gone => {}
    }
    let key = counted.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(key) = key {
        server.state.sockets.close(&key);
    }
}

/// Reads (and drops) what the client still sends until its close frame has been read and the
/// stream ends: only then is the connection closed, with nothing left unread. Closed with
/// unread data, the TCP stack resets the connection, and a client that has not read the close
/// frame yet loses it (and reports 1006 instead of the code sent) — a race a busy machine loses.
async fn closing_handshake(stream: &mut futures_util::stream::SplitStream<WebSocket>) {
    use futures_util::StreamExt;
    while let Some(Ok(_)) = stream.next().await {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Vec<u8> {
        text.as_bytes().to_vec()
    }

    #[test]
    fn socket_rules_see_every_subscribe() {
        let subscribe =
            |id: &str| frame(&format!(r#"{{"type":"subscribe","id":"{id}","payload":{{"query":"{{x}}"}}}}"#));
        let code = |r: Result<(), CloseFrame>| r.err().map(|f| f.code);
        let mut rules = SocketRules::default();
        assert_eq!(code(rules.heard(&subscribe("1"))), Some(4401), "before connection_init");
        assert_eq!(code(rules.heard(&frame(r#"{"type":"connection_init","payload":{}}"#))), None);
        assert_eq!(code(rules.heard(&subscribe("1"))), None);
        assert_eq!(code(rules.heard(&subscribe("1"))), Some(4409), "a reused id");
        assert_eq!(code(rules.heard(&frame(r#"{"type":"complete","id":"1"}"#))), None);
        assert_eq!(code(rules.heard(&subscribe("1"))), None, "completed by the client: free again");
        rules.said(r#"{"type":"complete","id":"1"}"#);
        assert_eq!(code(rules.heard(&subscribe("1"))), None, "completed by the server: free again");
        for i in 2..=WS_MAX_SUBSCRIPTIONS {
            assert_eq!(code(rules.heard(&subscribe(&i.to_string()))), None);
        }
        assert_eq!(code(rules.heard(&subscribe("x"))), Some(4429));
        // The legacy protocol's words; what does not parse is the protocol's to refuse.
        let mut legacy = SocketRules::default();
        assert_eq!(code(legacy.heard(&frame(r#"{"type":"start","id":"1","payload":{"query":"{x}"}}"#))), Some(4401));
        assert_eq!(code(legacy.heard(b"\xff not json")), None);
        assert_eq!(code(legacy.heard(&frame(r#"{"type":"connection_terminate"}"#))), Some(1000));
    }
}
