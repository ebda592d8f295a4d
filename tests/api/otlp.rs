//! Traces over OTLP: the real binary, with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a small
//! OTLP/HTTP receiver this test runs (JSON encoding, `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`),
//! sends the spans of a `createPayout`: the request's span, continued from the client's W3C
//! `traceparent`, named for its operation, with the account, the shop and the result code; the
//! database statements and the payment channel's call under it; and the trace id is in the
//! request's JSON log lines.
use std::time::Duration;

use axum::{Router, body::Bytes, extract::State, routing::post};
use serde_json::{Value, json};
use smallpay::auth::Role;
use tokio::sync::mpsc;

use crate::helpers::{Backend, ServerProcess};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// A collector that keeps every span it is sent: (trace id, span id, parent id, name, attributes).
async fn receiver() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(|State(tx): State<mpsc::UnboundedSender<Value>>, body: Bytes| async move {
                let export: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                    for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                        for span in scope["spans"].as_array().into_iter().flatten() {
                            let _ = tx.send(span.clone());
                        }
                    }
                }
                ([("content-type", "application/json")], "{}")
            }),
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), rx)
}

fn attribute(span: &Value, key: &str) -> Option<String> {
    span["attributes"].as_array()?.iter().find(|a| a["key"] == key).map(|a| {
        let v = &a["value"];
        v["stringValue"].as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
    })
}

/// The request's span: `POST /graphql`, its operation an attribute.
fn is_request(span: &Value) -> bool {
    span["name"] == "POST /graphql" && attribute(span, "operation").as_deref() == Some("CompensateShipping")
}

fn id(span: &Value, field: &str) -> String {
    span[field].as_str().unwrap_or_default().to_ascii_lowercase()
}

async fn a_payout_creation_is_traced_from_the_clients_traceparent_to_the_statements_and_the_channel(backend: Backend) {
    let (collector, mut spans) = receiver().await;
    let Some(server) = ServerProcess::try_start(
        backend,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
            ("OTEL_SERVICE_NAME", "smallpay-under-test"),
            ("SMALLPAY_LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
        ],
    )
    .await
    else {
        return;
    };
    let token = |role, shop: Option<&str>, sub: &str| server.token(role, shop, sub);
    let http = reqwest::Client::new();
    let gql = |token: String, query: &'static str, traceparent: Option<String>| {
        let mut request = http.post(server.url("/graphql")).bearer_auth(token).json(&json!({ "query": query }));
        if let Some(tp) = traceparent {
            request = request.header("traceparent", tp);
        }
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let platform = token(Role::Platform, None, "p");
    gql(platform.clone(), "mutation { syncShop(input: {id: \"s1\", name: \"S\", openingBalance: \"50\", zeroEntry: false, depositPaid: true, hasUnpaidBills: false}) { id } }", None).await;
    let grouped = (chrono::Utc::now() - chrono::TimeDelta::days(1)).to_rfc3339();
    let order = "mutation($g: DateTime) { syncOrder(input: {orderSn: \"O-1\", shopId: \"s1\", buyerId: \"b1\", goodsId: \"g\", goodsName: \"n\", activityGoods: false, paidAmount: \"9\", groupedAt: $g}) { orderSn } }";
    let synced = http
        .post(server.url("/graphql"))
        .bearer_auth(&platform)
        .json(&json!({ "query": order, "variables": { "g": grouped } }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(synced["data"]["syncOrder"]["orderSn"], "O-1", "{synced}");
    let create = "mutation CompensateShipping { createPayout(input: {orderSn: \"O-1\", type: OTHER, amount: \"5\", reason: \"r\", message: \"m\", funding: BALANCE}) { id status } }";
    let created = gql(token(Role::Admin, Some("s1"), "admin"), create, Some(format!("00-{TRACE}-{PARENT}-01"))).await;
    assert!(created["errors"].is_null(), "{created}");

    // The spans of the trace, until the request's, a statement's and the channel's have come.
    let mut seen: Vec<Value> = Vec::new();
    let complete = |seen: &[Value]| {
        let of_trace: Vec<&Value> = seen.iter().filter(|s| id(s, "traceId") == TRACE).collect();
        of_trace.iter().any(|s| is_request(s))
            && of_trace.iter().any(|s| s["name"].as_str().is_some_and(|n| n.starts_with("sea_orm.")))
            && of_trace.iter().any(|s| s["name"] == "payment_channel.transfer")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !complete(&seen) {
        match tokio::time::timeout_at(deadline, spans.recv()).await {
            Ok(Some(span)) => seen.push(span),
            _ => {
                let names: Vec<String> = seen
                    .iter()
                    .map(|s| {
                        format!("{} {} {}", id(s, "traceId"), s["name"], attribute(s, "operation").unwrap_or_default())
                    })
                    .collect();
                panic!("the trace's spans did not all come: {names:#?}")
            }
        }
    }
    let of_trace: Vec<&Value> = seen.iter().filter(|s| id(s, "traceId") == TRACE).collect();
    let request = of_trace.iter().find(|s| is_request(s)).unwrap();
    assert_eq!(id(request, "parentSpanId"), PARENT, "continued from the client's traceparent");
    assert_eq!(attribute(request, "account").as_deref(), Some("s1/admin"), "{request}");
    assert_eq!(attribute(request, "shop").as_deref(), Some("s1"));
    assert_eq!(attribute(request, "operation").as_deref(), Some("CompensateShipping"));
    assert_eq!(attribute(request, "code").as_deref(), Some("OK"));
    let request_id = id(request, "spanId");
    // Every other span of the trace descends from the request's.
    let parent_of = |span: &Value| id(span, "parentSpanId");
    for span in of_trace.iter().filter(|s| !is_request(s)) {
        let mut up = parent_of(span);
        let mut hops = 0;
        while up != request_id && hops < 10 {
            up = of_trace.iter().find(|s| id(s, "spanId") == up).map(|s| parent_of(s)).unwrap_or_default();
            hops += 1;
        }
        assert_eq!(up, request_id, "{} hangs under the request: {span}", span["name"]);
    }
    let statement = of_trace.iter().find(|s| s["name"].as_str().is_some_and(|n| n.starts_with("sea_orm."))).unwrap();
    let system = if backend == Backend::Sqlite { "sqlite" } else { "postgresql" };
    assert_eq!(attribute(statement, "db.system").as_deref(), Some(system), "{statement}");
    let channel = of_trace.iter().find(|s| s["name"] == "payment_channel.transfer").unwrap();
    assert_eq!(attribute(channel, "channel").as_deref(), Some("simulated"), "{channel}");
    let statements = of_trace.iter().filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with("sea_orm."))).count();
    assert!(statements >= 3, "the creation's statements: {statements}");
    // No value of a statement in a span: only the parameterised text.
    for span in &of_trace {
        assert!(!span.to_string().contains("\"r\""), "a bound value in {span}");
    }

    // The request's log lines carry the trace id.
    let log = server.log();
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["span"]["operation"] == "CompensateShipping")
        .unwrap_or_else(|| panic!("no log line of the request: {log}"));
    assert_eq!(line["span"]["trace_id"], TRACE, "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_creation_is_traced_sqlite() {
    a_payout_creation_is_traced_from_the_clients_traceparent_to_the_statements_and_the_channel(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_creation_is_traced_postgres() {
    a_payout_creation_is_traced_from_the_clients_traceparent_to_the_statements_and_the_channel(Backend::Postgres).await;
}
