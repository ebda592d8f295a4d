//! HTTP: GraphQL over POST and GET (`graphql`), GraphiQL, subscriptions over WebSocket, health, readiness,
//! metrics and the test clock. Every request runs in a log span with its request id (also the
//! `x-request-id` response header), its account and its operation's name, and ends with one
//! line that gives its status and duration.
pub mod graphiql;
pub mod graphql;

use std::{
    net::{IpAddr, SocketAddr},
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
    Extension, Json, Router,
    body::Body,
    extract::{
        ConnectInfo, Query, Request, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header::AUTHORIZATION},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::TimeDelta;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use tracing::{Instrument, field::Empty};

use crate::{
    accounts,
    config::{Config, ExposeSecret as _, ForwardedHeader},
    db,
    error::AppError,
    graphql::{loaders::Loader, service::GraphqlService},
    jobs,
    ratelimit::ClientCounts,
    reports,
    state::AppState,
};
use graphql::{authenticate, refused_http};

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

#[derive(Clone)]
struct Server {
    state: AppState,
    graphql: GraphqlService,
    demo_tokens: Option<graphiql::DemoTokens>,
    /// Subscription sockets open per client address (the forwarded one behind a trusted proxy).
    socket_clients: Arc<ClientCounts>,
}

/// What `/metrics` needs: the recorder's handle and the token it may sit behind.
#[derive(Clone)]
struct Metrics {
    handle: PrometheusHandle,
    token: Option<crate::config::SecretString>,
}

impl Metrics {
    fn new(state: &AppState) -> Self {
        Metrics { handle: prometheus(), token: state.config.metrics_token.clone() }
    }
}

/// The address a request comes from: the TCP peer's, or the one a trusted proxy forwards (see
/// [`client_address`]). Absent when the router is served without the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);

/// The request id's header, on requests (a client's own id is kept when it is a short token)
/// and on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The router. `demo_tokens` (development only) puts the demo accounts' tokens in GraphiQL.
pub fn router(state: AppState, service: GraphqlService, demo_tokens: Option<graphiql::DemoTokens>) -> Router {
    let mut router = Router::new()
        .route(
            "/graphql",
            get(graphql_get).post(graphql_post).layer(tower_http::timeout::TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                state.config.request_timeout,
            )),
        )
        .route("/graphql/ws", get(subscriptions))
        .route("/exports/payouts.csv", get(export_payouts))
        .route("/graphiql/assets/{version}/{name}", get(graphiql_asset))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    if state.config.metrics_on_public_port() {
        router = router.route("/metrics", get(render_metrics).with_state(Metrics::new(&state)));
    }
    if state.clock.is_test() && !state.config.is_production() {
        router = router.route("/_test/clock/advance", post(advance_clock));
    }
    let server = Server { state, graphql: service, demo_tokens, socket_clients: Arc::default() };
    router
        .layer(middleware::from_fn(record_metrics))
        .layer(middleware::from_fn_with_state(server.clone(), request_span))
        .with_state(server)
}

/// `/metrics` alone, for a listener of its own (`SMALLPAY_METRICS_BIND`); a token set is still
/// required there.
pub fn metrics_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(render_metrics)).with_state(Metrics::new(&state))
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy — then the address
/// the proxies forwarded, read from the right: each trusted hop names the one before it, and
/// the first address that is not a trusted proxy is the client. What lies further left was
/// written by the client itself and is not believed; an entry that is not an address
/// (`unknown`, an obfuscated name) stops the walk at the hop that wrote it.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, config: &Config) -> IpAddr {
    let trusted = |ip: IpAddr| config.trusted_proxies.iter().any(|net| net.contains(&ip.to_canonical()));
    if !trusted(peer) {
        return peer;
    }
    let (name, parse): (&str, fn(&str) -> Option<IpAddr>) = match config.forwarded_header {
        ForwardedHeader::XForwardedFor => ("x-forwarded-for", parse_forwarded_address),
        ForwardedHeader::Forwarded => ("forwarded", forwarded_for),
    };
    // Several header lines are one list, in order.
    let entries: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        if !trusted(client) {
            break;
        }
        match parse(entry) {
            Some(ip) => client = ip,
            None => break,
        }
    }
    client
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or
/// `[2001:db8::1]:4711`.
fn parse_forwarded_address(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| text.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// The `for=` of one RFC 7239 `Forwarded` element (`for=192.0.2.60;proto=http`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim().eq_ignore_ascii_case("for").then(|| parse_forwarded_address(value)).flatten()
    })
}

/// The request's id: the client's `x-request-id` when it is 1–64 characters of letters,
/// digits and `-_.:`, else a new UUID.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    let given = headers.get(&REQUEST_ID).filter(|v| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= 64 && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
    });
    given.cloned().unwrap_or_else(|| {
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).unwrap_or(HeaderValue::from_static("-"))
    })
}

/// Runs the request in its log span and logs its end: status and duration (`warn` for a 5xx,
/// `debug` for the probes `/healthz`, `/readyz` and `/metrics`, `info` otherwise). Resolves the
/// client's address ([`ClientAddr`], the span's `client`).
async fn request_span(State(server): State<Server>, mut request: Request, next: Next) -> Response {
    let id = request_id(request.headers());
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let path = request.uri().path().to_owned();
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    let client = peer.map(|peer| ClientAddr(client_address(peer, request.headers(), &server.state.config)));
    if let Some(client) = client {
        request.extensions_mut().insert(client);
    }
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or("-"),
        method = %request.method(),
        path = %path,
        client = client.map(|c| tracing::field::display(c.0)),
        account = Empty,
        shop = Empty,
        operation = Empty,
        code = Empty,
        trace_id = Empty,
        otel.name = format!("{} {path}", request.method()),
        otel.kind = "server",
    );
    if let Some(trace) = crate::telemetry::continue_trace(&span, request.headers()) {
        span.record("trace_id", trace.as_str());
    }
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    // Whole microseconds in milliseconds: printed as e.g. 2.634.
    let duration_ms = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX) as f64 / 1000.0;
    let status = response.status().as_u16();
    let _entered = span.enter();
    if status >= 500 {
        tracing::warn!(status, duration_ms, "request finished");
    } else if matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics") {
        tracing::debug!(status, duration_ms, "request finished");
    } else {
        tracing::info!(status, duration_ms, "request finished");
    }
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// The process-wide Prometheus recorder (installed once; every app in the process shares it).
fn prometheus() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by an embedding program).
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

async fn record_metrics(request: Request, next: Next) -> Response {
    let path = match request.uri().path() {
        p @ ("/graphql" | "/graphql/ws" | "/healthz" | "/readyz" | "/metrics") => p.to_owned(),
        _ => "other".to_owned(),
    };
    // A fixed set of labels: a client cannot add series by inventing methods or paths.
    let method = match *request.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "path" => path.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "path" => path).record(started.elapsed().as_secs_f64());
    response
}

/// `GET /exports/payouts.csv`: the history as a file (`reports::export`).
async fn export_payouts(State(server): State<Server>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let header = headers.get(AUTHORIZATION).and_then(|h| h.to_str().ok());
    let params = Query::<reports::export::ExportParams>::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|e| AppError::bad_input("query", format!("the query parameters are not the history's filters: {e}")));
    reports::export::payouts_csv(&server.state, authenticate(&server.state, header), params).await
}

impl Server {
    /// What `/graphql` needs; GraphiQL's page when it is on (never a token in production,
    /// whoever asked for the page).
    fn endpoint<'a>(&'a self, page: &'a (dyn Fn(&HeaderMap) -> Response + Sync)) -> graphql::Endpoint<'a> {
        graphql::Endpoint {
            state: &self.state,
            graphql: &self.graphql,
            graphiql: self.state.config.graphiql_enabled().then_some(page),
        }
    }

    fn graphiql_page(&self, headers: &HeaderMap) -> Response {
        let accounts = match &self.demo_tokens {
            Some(mint) if !self.state.config.is_production() => mint(),
            _ => Vec::new(),
        };
        graphiql::page(headers, accounts)
    }
}

async fn graphql_get(State(server): State<Server>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let page = |headers: &HeaderMap| server.graphiql_page(headers);
    graphql::get(server.endpoint(&page), headers, uri).await
}

async fn graphql_post(State(server): State<Server>, headers: HeaderMap, body: Body) -> Response {
    let page = |headers: &HeaderMap| server.graphiql_page(headers);
    graphql::post(server.endpoint(&page), headers, body).await
}

async fn graphiql_asset(State(server): State<Server>, path: axum::extract::Path<(String, String)>) -> Response {
    if !server.state.config.graphiql_enabled() {
        return StatusCode::NOT_FOUND.into_response();
    }
    graphiql::asset(path).await
}

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
async fn subscriptions(
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
    let incoming = futures_util::stream::poll_fn(move |cx| in_rx.poll_recv(cx)).map(Ok::<_, axum::Error>);
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
                accounts::service::provision(state.ctx(), &state.provisioned, &viewer).await?;
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

async fn readyz(State(server): State<Server>) -> Response {
    if db::is_ready(&server.state.db).await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable or migrations pending").into_response()
    }
}

/// Prometheus metrics; behind `Authorization: Bearer <SMALLPAY_METRICS_TOKEN>` when one is set.
async fn render_metrics(State(metrics): State<Metrics>, headers: HeaderMap) -> Response {
    if let Some(expected) = &metrics.token {
        let given = headers.get(AUTHORIZATION).and_then(|h| h.to_str().ok()).and_then(crate::auth::bearer_token);
        let matches = given.is_some_and(|g| {
            use sha2::{Digest, Sha256};
            // Compared as digests: no early exit that leaks how much of the token matched.
            Sha256::digest(g.as_bytes()) == Sha256::digest(expected.expose_secret().as_bytes())
        });
        if !matches {
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics.handle.render()).into_response()
}

#[derive(Deserialize)]
struct Advance {
    seconds: i64,
}

/// `POST /_test/clock/advance?seconds=N`: moves the test clock, runs every job now due, and
/// answers the new time.
async fn advance_clock(State(server): State<Server>, Query(advance): Query<Advance>) -> Response {
    // At most ten years at a time: beyond that the clock's arithmetic would overflow.
    let by = match TimeDelta::try_seconds(advance.seconds) {
        Some(by) if advance.seconds >= 0 && by <= TimeDelta::days(3660) => by,
        _ => return (StatusCode::BAD_REQUEST, "seconds must be between 0 and 316224000").into_response(),
    };
    let Some(now) = server.state.clock.advance(by) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match jobs::runner::run_due(&server.state).await {
        Ok(ran) => Json(serde_json::json!({ "now": now.to_rfc3339(), "jobsRun": ran })).into_response(),
        Err(e) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "error": e.message(), "code": e.code() })))
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(trusted: &[&str], header: ForwardedHeader) -> Config {
        let mut config = Config::defaults();
        config.trusted_proxies = trusted.iter().map(|t| crate::config::parse_net(t).unwrap()).collect();
        config.forwarded_header = header;
        config
    }

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_forwarded_address_is_believed_only_from_a_trusted_proxy() {
        let xff = ForwardedHeader::XForwardedFor;
        let none = config(&[], xff);
        let proxies = config(&["10.0.0.0/8"], xff);
        let spoofed = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(client_address(ip("198.51.100.1"), &spoofed, &none), ip("198.51.100.1"), "no proxy trusted");
        assert_eq!(client_address(ip("198.51.100.1"), &spoofed, &proxies), ip("198.51.100.1"), "not a proxy");
        assert_eq!(client_address(ip("10.0.0.5"), &spoofed, &proxies), ip("203.0.113.9"));
        // The client's own claims are further left: the right-most untrusted entry is the client.
        let chain = headers("x-forwarded-for", &["1.2.3.4, 203.0.113.9", "10.0.0.7"]);
        assert_eq!(client_address(ip("10.0.0.5"), &chain, &proxies), ip("203.0.113.9"));
        let ported = headers("x-forwarded-for", &["[2001:db8::1]:4711"]);
        assert_eq!(client_address(ip("10.0.0.5"), &ported, &proxies), ip("2001:db8::1"));
        let unknown = headers("x-forwarded-for", &["203.0.113.9, unknown"]);
        assert_eq!(client_address(ip("10.0.0.5"), &unknown, &proxies), ip("10.0.0.5"), "the walk stops at `unknown`");
        let all_trusted = headers("x-forwarded-for", &["10.1.1.1"]);
        assert_eq!(client_address(ip("10.0.0.5"), &all_trusted, &proxies), ip("10.1.1.1"));
        assert_eq!(client_address(ip("10.0.0.5"), &HeaderMap::new(), &proxies), ip("10.0.0.5"), "no header");
        assert_eq!(
            client_address(ip("::ffff:10.0.0.5"), &spoofed, &proxies),
            ip("203.0.113.9"),
            "a proxy's IPv4 address mapped into IPv6"
        );
    }

    #[test]
    fn the_configured_header_is_the_only_one_read() {
        let forwarded = config(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let mut both = headers("forwarded", &[r#"for=1.2.3.4, for="[2001:db8:cafe::17]:4711";proto=https"#]);
        both.append("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        assert_eq!(client_address(ip("10.0.0.5"), &both, &forwarded), ip("2001:db8:cafe::17"));
        let xff = config(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(client_address(ip("10.0.0.5"), &both, &xff), ip("203.0.113.9"));
        let obfuscated = headers("forwarded", &["for=_hidden;by=10.0.0.5"]);
        assert_eq!(client_address(ip("10.0.0.5"), &obfuscated, &forwarded), ip("10.0.0.5"));
    }

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
