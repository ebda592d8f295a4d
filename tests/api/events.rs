//! Subscriptions over real WebSockets, both protocols: each receives exactly the events it
//! should, none of another shop's or another applicant's; `afterEventId` resumes without loss
//! or duplicates; refused and expired tokens; a subscriber that falls behind; and (PostgreSQL)
//! an event caused through another server process.
use smallpay::config::ExposeSecret as _;
use std::{process::Stdio, time::Duration};

use futures_util::StreamExt;
use serde_json::{Value, json};
use smallpay::auth::{Role, ShopScope};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{
    helpers::{Backend, TestApp},
    on_both_databases,
    payouts::shop,
};

const STATUS: &str =
    "subscription($o: String, $p: ID, $a: ID) { payoutStatusChanged(orderSn: $o, payoutId: $p, afterEventId: $a) {
  id payoutId from to actor payout { id status orderSn } } }";
const REQUESTED: &str =
    "subscription($a: ID) { approvalRequested(afterEventId: $a) { id payoutId to payout { amount } } }";
const RESOLVED: &str = "subscription($a: ID) { approvalResolved(afterEventId: $a) { id payoutId from to actor } }";

fn event(data: Result<Value, Value>, field: &str) -> Value {
    data.unwrap_or_else(|e| panic!("an event, got errors {e}"))[field].clone()
}

async fn status_changes_reach_their_shop_only(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    app.sync_shop("s2", "100", json!({})).await;
    for sn in ["O-1", "O-2"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    app.sync_order("X-1", "s2", json!({})).await;
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mut all = app.subscribe(protocol, &cs, STATUS, json!({})).await;
        let mut one_order = app.subscribe(protocol, &admin, STATUS, json!({ "o": "O-2" })).await;
        // Another shop's payout first: no subscriber of s1 sees it.
        app.pay(&app.admin("s2"), "X-1", "1.00", "BALANCE").await;
        let p1 = app.pay(&admin, "O-1", "2.00", "BALANCE").await;
        let p2 = app.pay(&admin, "O-2", "3.00", "WECHAT_SCAN").await;
        let e = event(all.next().await, "payoutStatusChanged");
        assert_eq!(
            (e["payoutId"].clone(), e["from"].clone(), e["to"].clone()),
            (p1["id"].clone(), json!(null), json!("PAYING")),
            "{protocol}"
        );
        assert_eq!(e["actor"], "admin");
        let e = event(all.next().await, "payoutStatusChanged");
        assert_eq!((e["payoutId"].clone(), e["to"].clone()), (p1["id"].clone(), json!("SUCCEEDED")));
        assert_eq!(e["payout"]["status"], "SUCCEEDED", "the payout as it is now");
        let e = event(all.next().await, "payoutStatusChanged");
        assert_eq!((e["payoutId"].clone(), e["to"].clone()), (p2["id"].clone(), json!("PENDING_RECHARGE")));
        let e = event(one_order.next().await, "payoutStatusChanged");
        assert_eq!(e["payoutId"], p2["id"], "only O-2's events");
        app.advance(61).await;
    }
    // The other shop's admin sees its own event only.
    let mut other = app.subscribe("graphql-transport-ws", &app.admin("s2"), STATUS, json!({ "a": "0" })).await;
    let e = event(other.next().await, "payoutStatusChanged");
    assert_eq!(e["payout"]["orderSn"], "X-1");
    // Buyers and the platform have no merchant subscriptions.
    let mut buyer = app.subscribe("graphql-transport-ws", &app.token(Role::Buyer, None, "b"), STATUS, json!({})).await;
    let errors = buyer.next().await.expect_err("refused");
    assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN", "{errors}");
}

async fn approval_events_reach_the_admin_and_the_applicant(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    let cs2 = app.token(Role::Staff, Some("s1"), "staff-2");
    app.ok(&cs2, "{ me { id } }", json!({})).await;
    for sn in ["O-1", "O-2", "O-3", "O-4", "O-5"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    let mut requested = app.subscribe("graphql-ws", &admin, REQUESTED, json!({})).await;
    let mut mine = app.subscribe("graphql-transport-ws", &cs, RESOLVED, json!({})).await;
    let mut theirs = app.subscribe("graphql-transport-ws", &cs2, RESOLVED, json!({})).await;
    let mut not_admin = app.subscribe("graphql-transport-ws", &cs, REQUESTED, json!({})).await;
    assert_eq!(not_admin.next().await.expect_err("refused")[0]["extensions"]["code"], "FORBIDDEN");

    let ask = |token: String, order: &'static str| {
        let app = &app;
        async move {
            app.create_payout(&token, order, "5.00", "REQUEST_APPROVAL", json!({})).await["data"]["createPayout"]["id"]
                .clone()
        }
    };
    let a = ask(cs.clone(), "O-1").await;
    let b = ask(cs2.clone(), "O-2").await;
    app.pay(&admin, "O-3", "1.00", "BALANCE").await; // no approval event
    let e = event(requested.next().await, "approvalRequested");
    assert_eq!(
        (e["payoutId"].clone(), e["to"].clone(), e["payout"]["amount"].clone()),
        (a.clone(), json!("PENDING_APPROVAL"), json!("5.00"))
    );
    let e = event(requested.next().await, "approvalRequested");
    assert_eq!(e["payoutId"], b);

    let reject = "mutation($id: ID!) { rejectPayout(payoutId: $id, reason: \"no\") { id } }";
    let approve = "mutation($id: ID!) { approvePayout(payoutId: $id) { id } }";
    app.ok(&admin, reject, json!({ "id": b })).await;
    app.ok(&admin, approve, json!({ "id": a })).await;
    let e = event(mine.next().await, "approvalResolved");
    assert_eq!(
        (e["payoutId"].clone(), e["from"].clone(), e["to"].clone(), e["actor"].clone()),
        (a.clone(), json!("PENDING_APPROVAL"), json!("PAYING"), json!("admin"))
    );
    let e = event(theirs.next().await, "approvalResolved");
    assert_eq!((e["payoutId"].clone(), e["to"].clone()), (b.clone(), json!("REJECTED")));

    // Neither applicant hears of the other's request: after one more decision each, the next
    // event on each socket is its own (another applicant's, resolved in between, would come
    // first: events arrive in order).
    let c = ask(cs.clone(), "O-4").await;
    let d = ask(cs2.clone(), "O-5").await;
    app.ok(&admin, reject, json!({ "id": d })).await;
    app.ok(&admin, reject, json!({ "id": c })).await;
    let e = event(mine.next().await, "approvalResolved");
    assert_eq!((e["payoutId"].clone(), e["to"].clone()), (c, json!("REJECTED")), "not {b} nor {d}");
    let e = event(theirs.next().await, "approvalResolved");
    assert_eq!((e["payoutId"].clone(), e["to"].clone()), (d, json!("REJECTED")), "not {a}");
}

async fn resuming_after_a_disconnect_gets_every_missed_event_once(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    for sn in ["O-1", "O-2", "O-3", "O-4"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    let mut sub = app.subscribe("graphql-transport-ws", &admin, STATUS, json!({})).await;
    app.pay(&admin, "O-1", "1.00", "WECHAT_SCAN").await;
    let first = event(sub.next().await, "payoutStatusChanged");
    drop(sub);
    // Missed while away: O-2 (PAYING, SUCCEEDED), O-3 (PENDING_RECHARGE).
    let p2 = app.pay(&admin, "O-2", "1.00", "BALANCE").await;
    let p3 = app.pay(&admin, "O-3", "1.00", "ALIPAY_SCAN").await;
    let mut resumed = app.subscribe("graphql-ws", &admin, STATUS, json!({ "a": first["id"] })).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let e = event(resumed.next().await, "payoutStatusChanged");
        got.push((e["payoutId"].clone(), e["to"].clone()));
    }
    assert_eq!(
        got,
        [
            (p2["id"].clone(), json!("PAYING")),
            (p2["id"].clone(), json!("SUCCEEDED")),
            (p3["id"].clone(), json!("PENDING_RECHARGE"))
        ]
    );
    // Then live, with nothing repeated.
    let p4 = app.pay(&admin, "O-4", "1.00", "WECHAT_SCAN").await;
    let e = event(resumed.next().await, "payoutStatusChanged");
    assert_eq!(e["payoutId"], p4["id"]);
    // A bad afterEventId.
    let mut bad = app.subscribe("graphql-transport-ws", &admin, STATUS, json!({ "a": "yesterday" })).await;
    assert_eq!(bad.next().await.expect_err("refused")[0]["extensions"]["code"], "BAD_USER_INPUT");
}

async fn the_socket_closes_when_the_token_expires(app: TestApp) {
    shop(&app, "1", json!({})).await;
    // Expired a second ago: inside the 60 s leeway, so accepted, then closed at once. (Tokens
    // are judged by the wall clock: each is minted right before its use, and a stall of up to
    // 59 s still finds it inside the leeway.)
    let expired_now = || {
        let mut claims = app.keys.claims(Role::Admin, Some("s1"), "admin", None, Duration::from_secs(1));
        claims.exp = chrono::Utc::now().timestamp() - 1;
        claims
    };
    let claims = expired_now();
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let token = app.keys.sign(&expired_now()).unwrap();
        let mut sub = app.subscribe(protocol, &token, STATUS, json!({})).await;
        assert_eq!(sub.closed().await, Some(4401), "{protocol}: closed for the expired token");
    }
    let (_, first, close) = app
        .ws_init(
            "graphql-transport-ws",
            json!({ "token": app.keys.sign(&{ let mut c = claims.clone(); c.exp -= 120; c }).unwrap() }),
        )
        .await;
    assert!(first.is_none() && close.is_some(), "a token past the leeway is refused: {first:?}");
}

async fn replay_reaches_back_as_far_as_the_retention(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    app.sync_order("O-2", "s1", json!({})).await;
    app.pay(&admin, "O-1", "1.00", "WECHAT_SCAN").await;
    // 7 days later (the default retention) the first event is still replayed…
    app.advance(3600).await; // its recharge window ends: a second event
    app.advance(7 * 86400 - 3600).await;
    let mut sub = app.subscribe("graphql-transport-ws", &admin, STATUS, json!({ "a": "0" })).await;
    assert_eq!(event(sub.next().await, "payoutStatusChanged")["to"], "PENDING_RECHARGE");
    drop(sub);
    // …one second later it is not: asking from before it is an error naming where to resume
    // from (never a silent gap), and from there the second one is replayed.
    app.advance(1).await;
    let mut sub = app.subscribe("graphql-transport-ws", &admin, STATUS, json!({ "a": "0" })).await;
    let refused = sub.next().await.expect_err("beyond the window");
    assert_eq!(refused[0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    let resume = refused[0]["extensions"]["resumeFrom"].as_str().unwrap().to_owned();
    let mut sub = app.subscribe("graphql-transport-ws", &admin, STATUS, json!({ "a": resume })).await;
    assert_eq!(event(sub.next().await, "payoutStatusChanged")["to"], "RECHARGE_FAILED");
    // And the payout's history keeps both: only the replay is bounded.
    let history = app.ok(&admin, "{ order(orderSn: \"O-1\") { payouts { history { to } } } }", json!({})).await;
    assert_eq!(history["order"]["payouts"][0]["history"].as_array().unwrap().len(), 2);
}

on_both_databases!(
    replay_reaches_back_as_far_as_the_retention,
    status_changes_reach_their_shop_only,
    approval_events_reach_the_admin_and_the_applicant,
    resuming_after_a_disconnect_gets_every_missed_event_once,
    the_socket_closes_when_the_token_expires,
);

/// A subscriber that falls behind its buffer gets an error naming the last event it got, and
/// resumes from there without loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_ends_with_an_error_it_can_resume_from() {
    let app = TestApp::try_spawn_with(Backend::Sqlite, |c| c.subscriber_buffer = 2).await.unwrap();
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    for i in 0..5 {
        app.sync_order(&format!("O-{i}"), "s1", json!({})).await;
    }
    let slow = smallpay::events::graphql::status_changes(app.state.clone(), ShopScope::platform("s1"), None);
    let mut watcher = app.state.bus.subscribe();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.pay(&admin, &format!("O-{i}"), "1.00", "WECHAT_SCAN").await["id"].clone());
    }
    // Wait until the publisher has broadcast all five (the watcher reads as they come).
    let mut seen = 0;
    while seen < 5 {
        match tokio::time::timeout(Duration::from_secs(10), watcher.recv()).await.expect("events are published") {
            Ok(_) => seen += 1,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => seen += usize::try_from(n).unwrap(),
            Err(e) => panic!("{e}"),
        }
    }
    futures_util::pin_mut!(slow);
    let first = slow.next().await.expect("an item");
    let error = first.err().expect("the subscriber fell behind");
    let ext = error.extensions.expect("extensions");
    assert_eq!(ext.get("code").map(|v| v.to_string()), Some("\"UNAVAILABLE\"".to_owned()));
    assert_eq!(ext.get("lastEventId").map(|v| v.to_string()), Some("\"0\"".to_owned()));
    assert!(slow.next().await.is_none(), "the subscription ended");
    // Resuming from the last event it got replays all five.
    let mut resumed = app.subscribe("graphql-transport-ws", &admin, STATUS, json!({ "a": "0" })).await;
    for id in &ids {
        assert_eq!(event(resumed.next().await, "payoutStatusChanged")["payoutId"], *id);
    }
}

/// Two server processes on one PostgreSQL database: a subscriber on one, the mutation through
/// the other, and the event arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_crosses_server_processes_postgres() {
    let Some(app) = TestApp::try_spawn(Backend::Postgres).await else {
        return;
    };
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    let mut sub = app.subscribe("graphql-transport-ws", &admin, STATUS, json!({})).await;

    let mut other = tokio::process::Command::new(env!("CARGO_BIN_EXE_smallpay"))
        .args(["serve", "--no-demo"])
        .env("DATABASE_URL", app.config.database_url.expose_secret())
        .env("SMALLPAY_BIND", "127.0.0.1:0")
        .env("SMALLPAY_JWT_SECRET", app.config.jwt_secret_or_dev())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("a second process starts");
    let mut lines = BufReader::new(other.stdout.take().unwrap()).lines();
    let base = loop {
        let line =
            tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().expect("output");
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.to_owned();
        }
    };
    let pay = "mutation { createPayout(input: {orderSn: \"O-1\", type: OTHER, amount: \"2\", reason: \"r\", message: \"m\", funding: WECHAT_SCAN}) { id } }";
    let answer: Value = app
        .http
        .post(format!("{base}/graphql"))
        .bearer_auth(&admin)
        .json(&json!({ "query": pay }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = answer["data"]["createPayout"]["id"].clone();
    assert!(id.is_string(), "{answer}");
    let e = event(sub.next().await, "payoutStatusChanged");
    assert_eq!((e["payoutId"].clone(), e["to"].clone()), (id, json!("PENDING_RECHARGE")));
    other.kill().await.ok();
}

/// At `RUST_LOG=trace` a socket's frames never reach a log line: not the token of
/// `connection_init`, not an account number sent in a message (the WebSocket library logs
/// every frame at trace level; that level of it is off whatever `RUST_LOG` says).
async fn socket_frames_never_reach_a_trace_log(backend: Backend) {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};
    let Some((_db, url)) = crate::helpers::TestDb::create(backend).await else {
        return;
    };
    const SECRET: &str = "a-test-secret-that-is-long-enough-to-use";
    let server = crate::http::Binary::start(
        &url,
        &[("SMALLPAY_JWT_SECRET", SECRET), ("SMALLPAY_TEST_CLOCK", "1"), ("RUST_LOG", "trace")],
    )
    .await;
    let mut config = crate::helpers::test_config();
    config.jwt_secret = Some(SECRET.into());
    let keys = smallpay::auth::JwtKeys::from_config(&config).unwrap();
    let token = keys.sign(&keys.claims(Role::Buyer, None, "buyer-1", None, Duration::from_secs(600))).unwrap();
    let account_number = "6222020200112233445";

    let mut request = format!("{}/graphql/ws", server.base.replace("http", "ws")).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    let submit = format!(
        "mutation {{ submitReceivingAccount(cardId: \"1\", account: {{kind: BANK_CARD, accountNo: \"{account_number}\", holderName: \"H\"}}) {{ status }} }}"
    );
    let mut subscribed = false;
    let mut answered = false;
    while !answered {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("an answer").unwrap();
        let Message::Text(text) = frame.unwrap() else { continue };
        let value: Value = serde_json::from_str(&text).unwrap();
        match value["type"].as_str() {
            Some("connection_ack") if !subscribed => {
                let message = json!({ "id": "1", "type": "subscribe", "payload": { "query": submit } });
                socket.send(Message::Text(message.to_string().into())).await.unwrap();
                subscribed = true;
            }
            Some("next" | "error" | "complete") => answered = true,
            _ => {}
        }
    }
    socket.close(None).await.unwrap();
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(10), socket.next()).await {}
    let logs = server.stop().await;
    assert!(
        logs.lines().any(|l| l.contains("DEBUG") && l.contains("tungstenite")),
        "the WebSocket library's log lines reach the log (its debug ones): {logs}"
    );
    assert!(!logs.contains(&token), "the token reached a log line");
    assert!(!logs.contains(account_number), "the account number reached a log line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_frames_never_reach_a_trace_log_sqlite() {
    socket_frames_never_reach_a_trace_log(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_frames_never_reach_a_trace_log_postgres() {
    socket_frames_never_reach_a_trace_log(Backend::Postgres).await;
}
