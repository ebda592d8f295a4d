//! The HTTP surface beyond GraphQL: health, readiness, metrics, the test clock, and the
//! subscription socket's handshake on both protocols.
use serde_json::json;
use smallpay::auth::Role;

use crate::{
    helpers::{Backend, TestApp},
    on_both_databases,
};

async fn health_readiness_and_metrics(app: TestApp) {
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    app.gql(None, "{ __typename }", json!({})).await;
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_requests_total{path=\"/graphql\",method=\"POST\",status=\"200\"}"), "{metrics}");
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.state.db.clone().close().await.unwrap();
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    // A request that needs the database is UNAVAILABLE, not an internal leak.
    let response = app.gql(Some(&app.admin("s1")), "{ orders { totalCount } }", json!({})).await;
    assert_eq!(crate::helpers::first_code(&response), "UNAVAILABLE", "{response}");
}

async fn the_test_clock_moves_only_when_told(app: TestApp) {
    let start = app.state.clock.now();
    assert_eq!(app.state.clock.now(), start);
    let answer = app.advance(3600).await;
    let now = chrono::DateTime::parse_from_rfc3339(answer["now"].as_str().unwrap()).unwrap();
    assert_eq!(now, start + chrono::TimeDelta::hours(1));
    assert_eq!(app.state.clock.now(), start + chrono::TimeDelta::hours(1));
    assert_eq!(answer["jobsRun"], 0);
    // The shop's "today" follows the service clock: orders synced now carry its time.
    app.sync_shop("s1", "0", json!({})).await;
    let order = app.sync_order("O-1", "s1", json!({ "groupedAt": null })).await;
    assert_eq!(order["groupedAt"], json!(null));
}

#[tokio::test]
async fn the_subscription_socket_needs_a_token_on_both_protocols() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.token(Role::Admin, Some("s1"), "admin");
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        for payload in [json!({ "Authorization": format!("Bearer {token}") }), json!({ "token": token })] {
            let (_socket, first, _) = app.ws_init(protocol, payload).await;
            assert_eq!(first.expect("an answer")["type"], "connection_ack", "{protocol}");
        }
        for payload in [json!({}), json!({ "token": "forged.token.value" })] {
            let (_socket, first, close) = app.ws_init(protocol, payload.clone()).await;
            // graphql-transport-ws closes the socket with 4403; the legacy graphql-ws answers
            // connection_error. Either way no connection_ack.
            let refused = match &first {
                None => close == Some(4403),
                Some(frame) => frame["type"] == "connection_error",
            };
            assert!(refused, "{protocol} with {payload}: {first:?} / {close:?}");
        }
    }
}

on_both_databases!(health_readiness_and_metrics, the_test_clock_moves_only_when_told);
