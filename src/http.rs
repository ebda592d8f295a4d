//! HTTP: GraphQL over POST, GraphiQL, subscriptions over WebSocket, health, readiness,
//! metrics and the test clock. Every request runs in a log span with its request id (also the
//! `x-request-id` response header), its account and its operation's name, and ends with one
//! line that gives its status and duration.
pub mod graphiql;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use async_graphql::{Data, Executor as _, Response as GqlResponse, http::ALL_WEBSOCKET_PROTOCOLS};
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::{
    Json, Router,
    body::Body,
    extract::{
        Query, Request, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    http::{
        HeaderMap, HeaderName, HeaderValue, StatusCode,
        header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE},
    },
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
    auth::Viewer,
    db,
    error::AppError,
    graphql::{loaders::Loader, service::GraphqlService},
    jobs, reports,
    state::AppState,
};

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

#[derive(Clone)]
struct Server {
    state: AppState,
    graphql: GraphqlService,
    metrics: PrometheusHandle,
    demo_tokens: Option<graphiql::DemoTokens>,
}

/// The request id's header, on requests (a client's own id is kept when it is a short token)
/// and on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The router. `demo_tokens` (development only) puts the demo accounts' tokens in GraphiQL.
pub fn router(state: AppState, service: GraphqlService, demo_tokens: Option<graphiql::DemoTokens>) -> Router {
    let mut router = Router::new()
        .route(
            "/graphql",
            get(graphiql).post(graphql).layer(tower_http::timeout::TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                state.config.request_timeout,
            )),
        )
        .route("/graphql/ws", get(subscriptions))
        .route("/exports/payouts.csv", get(export_payouts))
        .route("/graphiql/assets/{version}/{name}", get(graphiql_asset))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics));
    if state.clock.is_test() && !state.config.is_production() {
        router = router.route("/_test/clock/advance", post(advance_clock));
    }
    router.layer(middleware::from_fn(record_metrics)).layer(middleware::from_fn(request_span)).with_state(Server {
        state,
        graphql: service,
        metrics: prometheus(),
        demo_tokens,
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
/// `debug` for the probes `/healthz`, `/readyz` and `/metrics`, `info` otherwise).
async fn request_span(mut request: Request, next: Next) -> Response {
    let id = request_id(request.headers());
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or("-"),
        method = %request.method(),
        path = %path,
        account = Empty,
        operation = Empty,
    );
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

/// Verifies the bearer token, if any. A present but invalid token refuses the request.
fn authenticate(state: &AppState, header: Option<&str>) -> Result<Option<Viewer>, AppError> {
    let Some(value) = header else {
        return Ok(None);
    };
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| AppError::Unauthenticated("the Authorization header must be `Bearer <jwt>`".into()))?;
    state.keys.verify(token.trim()).map(Some)
}

fn refusal(error: &AppError) -> GqlResponse {
    GqlResponse::from_errors(vec![error.to_graphql().into_server_error(Default::default())])
}

/// A client error answered before GraphQL starts: an HTTP status and a GraphQL-shaped body.
fn refused_http(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, Json(body)).into_response()
}

/// Reads one GraphQL request from a JSON body of at most `limit` bytes: 413 beyond it (before
/// anything is parsed), 415 for multipart (the API takes no uploads), 400 for a batch or a
/// body that is not a GraphQL request.
async fn read_request(headers: &HeaderMap, body: Body, limit: usize) -> Result<async_graphql::Request, Response> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("multipart/") {
        return Err(refused_http(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_USER_INPUT",
            "uploads are not accepted: send application/json",
        ));
    }
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        refused_http(StatusCode::PAYLOAD_TOO_LARGE, "BAD_USER_INPUT", &format!("the body is larger than {limit} bytes"))
    };
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(refused_http(
            StatusCode::BAD_REQUEST,
            "GRAPHQL_VALIDATION_FAILED",
            "batched requests are not accepted: send one request",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|_| {
        refused_http(
            StatusCode::BAD_REQUEST,
            "GRAPHQL_VALIDATION_FAILED",
            "the body is not a GraphQL request (JSON with `query`)",
        )
    })
}

async fn graphql(State(server): State<Server>, headers: HeaderMap, body: Body) -> Response {
    let mut request = match read_request(&headers, body, server.state.config.max_body_bytes).await {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    let header = headers.get(AUTHORIZATION).and_then(|h| h.to_str().ok());
    match authenticate(&server.state, header) {
        Ok(Some(viewer)) => {
            tracing::Span::current().record("account", viewer.account_key().as_str());
            if let Err(e) = accounts::service::provision(server.state.ctx(), &server.state.provisioned, &viewer).await {
                return GraphQLResponse::from(refusal(&e)).into_response();
            }
            request = request.data(viewer);
        }
        Ok(None) => {}
        Err(e) => {
            metrics::counter!("auth_refused_total").increment(1);
            return GraphQLResponse::from(refusal(&e)).into_response();
        }
    }
    request = request.data(Loader::for_request(server.state.db.clone()));
    GraphQLResponse::from(server.graphql.execute(request).await).into_response()
}

/// `GET /exports/payouts.csv`: the history as a file (`reports::export`).
async fn export_payouts(State(server): State<Server>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let header = headers.get(AUTHORIZATION).and_then(|h| h.to_str().ok());
    let params = Query::<reports::export::ExportParams>::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|e| AppError::bad_input("query", format!("the query parameters are not the history's filters: {e}")));
    reports::export::payouts_csv(&server.state, authenticate(&server.state, header), params).await
}

async fn graphiql(State(server): State<Server>, headers: HeaderMap) -> Response {
    if !server.state.config.graphiql_enabled() {
        return StatusCode::NOT_FOUND.into_response();
    }
    // Never a token in production, whoever asked for the page.
    let accounts = match &server.demo_tokens {
        Some(mint) if !server.state.config.is_production() => mint(),
        _ => Vec::new(),
    };
    graphiql::page(&headers, accounts)
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
        return Some(bearer.strip_prefix("Bearer ").unwrap_or(bearer).trim().to_owned());
    }
    field("token").map(|t| t.trim().to_owned())
}

async fn subscriptions(State(server): State<Server>, protocol: GraphQLProtocol, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(WS_MAX_MESSAGE)
        .max_frame_size(WS_MAX_MESSAGE)
        // tungstenite's defaults reserve 128 KiB to read into per socket: most of an idle
        // subscriber's memory. Subscription messages are small; a larger one grows the buffer.
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        // The socket lives on after this request: it keeps the request's log span.
        .on_upgrade(move |socket| serve_socket(server, protocol, socket).instrument(tracing::Span::current()))
}

/// What a client says on a socket, as far as the limits care.
enum Said {
    Subscribe(String),
    Complete(String),
    Other,
}

fn said(message: &Message) -> Said {
    let Message::Text(text) = message else { return Said::Other };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else { return Said::Other };
    let id = value["id"].as_str().unwrap_or_default().to_owned();
    match value["type"].as_str() {
        Some("subscribe" | "start") => Said::Subscribe(id),
        Some("complete" | "stop") => Said::Complete(id),
        _ => Said::Other,
    }
}

/// One subscription socket: the GraphQL protocol over a writer that also sends WebSocket
/// pings every [`WS_PING`], closes the socket (code 4401) when the token expires, and closes a
/// refused `connection_init` with 4403 (graphql-transport-ws; the legacy protocol answers
/// `connection_error`).
async fn serve_socket(server: Server, protocol: GraphQLProtocol, socket: WebSocket) {
    use futures_util::{SinkExt, StreamExt};
    let (mut sink, stream) = socket.split();
    // The incoming side, watched for the limits: pongs, subscription ids.
    let started = Instant::now();
    let last_pong = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (limit_tx, mut limit_rx) = tokio::sync::mpsc::channel::<CloseFrame>(1);
    // Set when reading the socket failed (e.g. a message over the size limit).
    let read_failed = Arc::new(AtomicBool::new(false));
    let stream = {
        let last_pong = last_pong.clone();
        let read_failed = read_failed.clone();
        let mut open: std::collections::HashSet<String> = std::collections::HashSet::new();
        stream.take_while(move |message| {
            let mut refuse = None;
            match message {
                Ok(Message::Pong(_)) => last_pong.store(elapsed_ms(started), Ordering::Relaxed),
                Ok(message) => match said(message) {
                    Said::Subscribe(id) if open.contains(&id) => {
                        refuse = Some(CloseFrame {
                            code: 4409,
                            reason: format!("Subscriber for {id} already exists").into(),
                        });
                    }
                    Said::Subscribe(_) if open.len() >= WS_MAX_SUBSCRIPTIONS => {
                        refuse = Some(CloseFrame { code: 4429, reason: "too many subscriptions on one socket".into() });
                    }
                    Said::Subscribe(id) => {
                        open.insert(id);
                    }
                    Said::Complete(id) => {
                        open.remove(&id);
                    }
                    Said::Other => {}
                },
                Err(_) => read_failed.store(true, Ordering::SeqCst),
            }
            let keep = refuse.is_none();
            if let Some(frame) = refuse {
                let _ = limit_tx.try_send(frame);
            }
            std::future::ready(keep)
        })
    };
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
    let connection = GraphQLWebSocket::new_with_pair(outgoing, stream, server.graphql.clone(), protocol)
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
    loop {
        tokio::select! {
            biased;
            () = &mut init_deadline, if !initialised.load(Ordering::SeqCst) => {
                let frame = CloseFrame { code: 4408, reason: "Connection initialisation timeout".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
            Some(frame) = limit_rx.recv() => {
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
            message = out_rx.recv() => match message {
                Some(message) => {
                    let close = matches!(message, Message::Close(_));
                    let message = if close && too_many.load(Ordering::SeqCst) {
                        Message::Close(Some(CloseFrame { code: 4429, reason: "too many sockets for this account".into() }))
                    } else if close && refused.load(Ordering::SeqCst) {
                        Message::Close(Some(CloseFrame { code: 4403, reason: "Forbidden".into() }))
                    } else {
                        message
                    };
                    if sink.send(message).await.is_err() || close {
                        break;
                    }
                }
                None => {
                    // The protocol ended the connection (the legacy `connection_terminate`, or the
                    // client's own close): close the socket properly, not by dropping it. After
                    // a failed read the socket is broken already.
                    if !read_failed.load(Ordering::SeqCst) {
                        let _ = sink.send(Message::Close(Some(CloseFrame { code: 1000, reason: "".into() }))).await;
                        let _ = sink.close().await;
                    }
                    break;
                }
            },
            _ = ping.tick() => {
                // Two pings unanswered: the peer is gone (or not reading).
                let silent = elapsed_ms(started).saturating_sub(last_pong.load(Ordering::Relaxed));
                if silent > 2 * u64::try_from(WS_PING.as_millis()).unwrap_or(u64::MAX) + 1000 {
                    let frame = CloseFrame { code: 1011, reason: "no pong".into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
                if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
            () = &mut expires => {
                let frame = CloseFrame { code: 4401, reason: "token expired".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                tracing::debug!("subscription socket closed: token expired");
                break;
            }
        }
    }
    connection.abort();
    let key = counted.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(key) = key {
        server.state.sockets.close(&key);
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn readyz(State(server): State<Server>) -> Response {
    if db::is_ready(&server.state.db).await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable or migrations pending").into_response()
    }
}

/// Prometheus metrics; behind `Authorization: Bearer <SMALLPAY_METRICS_TOKEN>` when one is set.
async fn render_metrics(State(server): State<Server>, headers: HeaderMap) -> Response {
    if let Some(expected) = &server.state.config.metrics_token {
        let given = headers.get(AUTHORIZATION).and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "));
        let matches = given.is_some_and(|g| {
            use sha2::{Digest, Sha256};
            // Compared as digests: no early exit that leaks how much of the token matched.
            Sha256::digest(g.as_bytes()) == Sha256::digest(expected.as_bytes())
        });
        if !matches {
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], server.metrics.render()).into_response()
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
