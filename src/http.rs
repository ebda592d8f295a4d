//! HTTP: GraphQL over POST and GET (`graphql`), GraphiQL, subscriptions over WebSocket, health, readiness,
//! metrics and the test clock. Every request runs in a log span with its request id (also the
//! `x-request-id` response header), its account and its operation's name, and ends with one
//! line that gives its status and duration.
pub mod graphiql;
pub mod graphql;
mod observe;
mod server;
mod socket;

pub use observe::{ClientAddr, REQUEST_ID, client_address};
use observe::{identify, prometheus, record_metrics, trace};
use server::Server;
use socket::subscriptions;

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Body,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header::AUTHORIZATION},
    middleware::{self},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::TimeDelta;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::{
    config::ExposeSecret as _, db, error::AppError, graphql::service::GraphqlService, jobs, reports, state::AppState,
};
use graphql::authenticate;

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

/// The router. `demo_tokens` (development only) puts the demo accounts' tokens in GraphiQL.
pub fn router(state: AppState, service: GraphqlService, demo_tokens: Option<graphiql::DemoTokens>) -> Router {
    let mut api = Router::new()
        .route(
            "/graphql",
            get(graphql_get).post(graphql_post).layer(tower_http::timeout::TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                state.config.request_timeout,
            )),
        )
        .route("/graphql/ws", get(subscriptions))
        .route("/exports/payouts.csv", get(export_payouts))
        .route("/graphiql/assets/{version}/{name}", get(graphiql_asset));
    if state.clock.is_test() && !state.config.is_production() {
        api = api.route("/_test/clock/advance", post(advance_clock));
    }
    let mut probes = Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(readyz));
    if state.config.metrics_on_public_port() {
        probes = probes.route("/metrics", get(render_metrics).with_state(Metrics::new(&state)));
    }
    let server = Server { state, graphql: service, demo_tokens, socket_clients: Arc::default() };
    // Layers run from the last added inwards: the client's address and a usable request id
    // first, the id on the response, the metrics, then each route's span (a probe's quietly).
    api.fallback(|| async { StatusCode::NOT_FOUND })
        .layer(trace(false))
        .merge(probes.layer(trace(true)))
        .layer(middleware::from_fn(record_metrics))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(middleware::from_fn_with_state(server.clone(), identify))
        .with_state(server)
}

/// `/metrics` alone, for a listener of its own (`SMALLPAY_METRICS_BIND`); a token set is still
/// required there.
pub fn metrics_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(render_metrics)).with_state(Metrics::new(&state))
}

/// `GET /exports/payouts.csv`: the history as a file (`reports::export`).
async fn export_payouts(State(server): State<Server>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let header = headers.get(AUTHORIZATION).and_then(|h| h.to_str().ok());
    let params = Query::<reports::export::ExportParams>::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|e| AppError::bad_input("query", format!("the query parameters are not the history's filters: {e}")));
    reports::export::payouts_csv(&server.state, authenticate(&server.state, header), params).await
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
