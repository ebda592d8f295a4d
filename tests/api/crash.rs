//! The crash test: the real binary under a mixed load — balance payouts (some whose channel
//! answer is lost, some that fail for the buyer's account), scan payouts and their recharges,
//! approval requests and approvals, account submissions, clock advances — killed with SIGKILL
//! at random moments and restarted each time. Afterwards: every acknowledged mutation is in
//! the database, every `PAYING` payout got its outcome, the channel paid each payout at most
//! once (and exactly the `SUCCEEDED` ones), pending deadlines still fired, `smallpay audit` is
//! clean, and a subscriber that resumed with `afterEventId` after each restart saw every event
//! exactly once, in order. Bounded: `KILLS` kills, a few seconds of load between them.
use std::{
    collections::BTreeMap,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use smallpay::auth::{JwtKeys, Role};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::Mutex,
};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

use crate::helpers::{Backend, TestDb, test_config};

const SECRET: &str = "a-test-secret-that-is-long-enough-to-use";
const KILLS: usize = 22;
const SHOP: &str = "s1";

/// The binary, started on `port` (the same one every time) against `url`.
struct Server {
    child: Child,
}

impl Server {
    async fn start(url: &str, port: u16) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_smallpay"))
            .args(["serve", "--no-demo"])
            .env("DATABASE_URL", url)
            .env("SMALLPAY_BIND", format!("127.0.0.1:{port}"))
            .env("SMALLPAY_TEST_CLOCK", "1")
            .env("SMALLPAY_GATEWAY", "simulated")
            .env("SMALLPAY_JWT_SECRET", SECRET)
            .env("SMALLPAY_MUTATION_RATE", "100000")
            .env("SMALLPAY_MUTATION_BURST", "100000")
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("smallpay starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("listens within 30 s")
                .unwrap()
                .expect("prints where it listens");
            if line.starts_with("listening on ") {
                break;
            }
        }
        // Keep reading stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server { child }
    }

    async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        let _ = self.child.wait().await;
    }
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// One GraphQL request; `None` when the server did not answer (it was killed).
    async fn gql(&self, token: &str, query: &str, variables: Value) -> Option<Value> {
        let request = self
            .http
            .post(format!("{}/graphql", self.base))
            .bearer_auth(token)
            .timeout(Duration::from_secs(20))
            .json(&json!({ "query": query, "variables": variables }));
        request.send().await.ok()?.json().await.ok()
    }

    /// The request's data when it succeeded.
    async fn ok(&self, token: &str, query: &str, variables: Value) -> Option<Value> {
        let answer = self.gql(token, query, variables).await?;
        answer.get("errors").is_none().then(|| answer["data"].clone())
    }

    /// Retries until the server answers (it may be restarting).
    async fn must(&self, token: &str, query: &str, variables: Value) -> Value {
        for _ in 0..300 {
            if let Some(answer) = self.gql(token, query, variables.clone()).await {
                assert!(answer.get("errors").is_none(), "{query}: {answer:#}");
                return answer["data"].clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server never came back for {query}");
    }

    async fn advance(&self, seconds: i64) -> bool {
        let url = format!("{}/_test/clock/advance?seconds={seconds}", self.base);
        self.http.post(url).timeout(Duration::from_secs(60)).send().await.is_ok_and(|r| r.status().is_success())
    }
}

/// What the server acknowledged.
#[derive(Default)]
struct Acknowledged {
    created: BTreeMap<i64, &'static str>,
    confirmed: Vec<i64>,
    approved: Vec<i64>,
    submitted: Vec<(i64, String)>,
}

fn id_of(data: &Value, field: &str) -> i64 {
    data[field]["id"].as_str().and_then(|s| s.parse().ok()).expect("an id")
}

const CREATE: &str = "mutation($i: CreatePayoutInput!) { createPayout(input: $i) { id status } }";
const ORDER: &str = "mutation($i: OrderInput!) { syncOrder(input: $i) { orderSn } }";

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql.to_owned())).await.unwrap();
    row.and_then(|r| r.try_get_by_index::<i64>(0).ok()).unwrap_or(0)
}

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<Vec<String>> {
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql.to_owned())).await.unwrap();
    rows.iter()
        .map(|r| {
            (0..).map_while(|i| r.try_get_by_index::<Option<String>>(i).ok()).map(Option::unwrap_or_default).collect()
        })
        .collect()
}

/// A subscriber that resumes with `afterEventId` whenever its socket dies; collects event ids.
async fn subscriber(port: u16, token: String, seen: Arc<Mutex<Vec<i64>>>, stop: Arc<AtomicBool>) {
    let query = "subscription($a: ID) { payoutStatusChanged(afterEventId: $a) { id } }";
    while !stop.load(Ordering::Relaxed) {
        let after = seen.lock().await.last().map_or_else(|| "0".to_owned(), |id| id.to_string());
        let mut request = format!("ws://127.0.0.1:{port}/graphql/ws").into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
        let Ok(Ok((mut socket, _))) =
            tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(request)).await
        else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
        let subscribe = json!({ "id": "1", "type": "subscribe",
            "payload": { "query": query, "variables": { "a": after } } });
        if socket.send(Message::Text(init.to_string().into())).await.is_err()
            || socket.send(Message::Text(subscribe.to_string().into())).await.is_err()
        {
            continue;
        }
        loop {
            let frame = match tokio::time::timeout(Duration::from_millis(500), socket.next()).await {
                Err(_) if stop.load(Ordering::Relaxed) => return,
                Err(_) => continue,
                Ok(Some(Ok(frame))) => frame,
                Ok(_) => break,
            };
            let Message::Text(text) = frame else { continue };
            let value: Value = serde_json::from_str(&text).unwrap();
            match value["type"].as_str() {
                Some("next") => {
                    let data = &value["payload"]["data"]["payoutStatusChanged"];
                    if let Some(id) = data["id"].as_str().and_then(|s| s.parse::<i64>().ok()) {
                        seen.lock().await.push(id);
                    }
                }
                Some("ping") => {
                    let _ = socket.send(Message::Text(json!({ "type": "pong" }).to_string().into())).await;
                }
                Some("error" | "complete") => break,
                _ => {}
            }
        }
    }
}

async fn crash_and_restart(backend: Backend) {
    let Some((_db, url)) = TestDb::create(backend).await else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = test_config();
    config.jwt_secret = Some(SECRET.into());
    let keys = JwtKeys::from_config(&config).unwrap();
    let token = |role, shop: Option<&str>, sub: &str| {
        keys.sign(&keys.claims(role, shop, sub, None, Duration::from_secs(3600))).unwrap()
    };
    let (platform, admin, cs) = (
        token(Role::Platform, None, "p"),
        token(Role::Admin, Some(SHOP), "admin"),
        token(Role::Cs, Some(SHOP), "cs-1"),
    );
    let client = Client { http: reqwest::Client::new(), base: format!("http://127.0.0.1:{port}") };

    let mut server = Server::start(&url, port).await;
    let shop = "mutation { syncShop(input: {id: \"s1\", name: \"S\", openingBalance: \"5000\", zeroEntry: false,
      depositPaid: true, hasUnpaidBills: false}) { id } }";
    client.must(&platform, shop, json!({})).await;
    client.must(&admin, "{ me { id } }", json!({})).await;
    client.must(&cs, "{ me { id } }", json!({})).await;

    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let listener = tokio::spawn(subscriber(port, admin.clone(), seen.clone(), stop.clone()));
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let running = Arc::new(AtomicBool::new(true));

    // The load: a few clients, each in its own lane of orders.
    let mut lanes = Vec::new();
    for lane in 0..4u64 {
        let (client, acked, running) = (client.clone(), acked.clone(), running.clone());
        let (platform, admin, cs) = (platform.clone(), admin.clone(), cs.clone());
        let keys = keys.clone();
        lanes.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(lane);
            let mut n = 0u64;
            while running.load(Ordering::Relaxed) {
                n += 1;
                let sn = format!("O-{lane}-{n}");
                let buyer = match rng.random_range(0..10) {
                    0 | 1 => format!("b{lane}-{n}-invalid"),
                    2 => format!("b{lane}-{n}-timeout"),
                    _ => format!("b{lane}-{n}"),
                };
                let grouped = (chrono::Utc::now() - chrono::TimeDelta::days(2)).to_rfc3339();
                let order = json!({ "i": { "orderSn": sn, "shopId": SHOP, "buyerId": buyer, "goodsId": "g",
                    "goodsName": "n", "activityGoods": false, "paidAmount": "50", "groupedAt": grouped } });
                if client.ok(&platform, ORDER, order).await.is_none() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let amount = format!("{}.{:02}", rng.random_range(1..5), rng.random_range(0..100));
                let (kind, who, funding) = match lane {
                    0 | 1 => ("balance", &admin, "BALANCE"),
                    2 => ("scan", &admin, "WECHAT_SCAN"),
                    _ => ("approval", &cs, "REQUEST_APPROVAL"),
                };
                let input = json!({ "i": { "orderSn": sn, "type": "OTHER", "amount": amount, "reason": "r",
                    "message": "m", "funding": funding, "idempotencyKey": format!("k-{sn}") } });
                let Some(data) = client.ok(who, CREATE, input).await else { continue };
                let id = id_of(&data, "createPayout");
                acked.lock().await.created.insert(id, kind);
                match kind {
                    "scan" if rng.random_bool(0.7) => {
                        let confirm = "mutation($id: ID!, $t: String!) { confirmRecharge(payoutId: $id, channelTxnId: $t) { id } }";
                        let vars = json!({ "id": id.to_string(), "t": format!("txn-{sn}") });
                        if client.ok(&platform, confirm, vars).await.is_some() {
                            acked.lock().await.confirmed.push(id);
                        }
                    }
                    "approval" => {
                        let approve = "mutation($id: ID!) { approvePayout(payoutId: $id, funding: BALANCE) { id } }";
                        if client.ok(&admin, approve, json!({ "id": id.to_string() })).await.is_some() {
                            acked.lock().await.approved.push(id);
                        }
                    }
                    _ => {}
                }
                // A buyer whose transfer failed submits a new account on its open card.
                if buyer.ends_with("-invalid") && kind == "balance" {
                    let buyer_token =
                        keys.sign(&keys.claims(Role::Buyer, None, &buyer, None, Duration::from_secs(3600))).unwrap();
                    let cards = client.ok(&buyer_token, "{ myAccountCards { id status } }", json!({})).await;
                    let open = cards.as_ref().and_then(|c| {
                        c["myAccountCards"].as_array()?.iter().find(|c| c["status"] == "OPEN").map(|c| c["id"].clone())
                    });
                    if let Some(card) = open {
                        let submit = "mutation($c: ID!) { submitReceivingAccount(cardId: $c,
                          account: {kind: ALIPAY, accountNo: \"13800138000\", holderName: \"H\"}) { id status } }";
                        if client.ok(&buyer_token, submit, json!({ "c": card })).await.is_some() {
                            acked.lock().await.submitted.push((id, buyer.clone()));
                        }
                    }
                }
            }
        }));
    }
    // The clock moves on in small steps (recharge windows end, leases run out).
    let ticker = {
        let (client, running) = (client.clone(), running.clone());
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(99);
            while running.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(rng.random_range(100..400))).await;
                client.advance(rng.random_range(5..600)).await;
            }
        })
    };

    // SIGKILL at random moments, restart each time.
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.random_range(150..900))).await;
        server.kill().await;
        server = Server::start(&url, port).await;
    }
    running.store(false, Ordering::Relaxed);
    for lane in lanes {
        lane.await.unwrap();
    }
    ticker.await.unwrap();

    // Let everything settle: leases run out (deliveries asked again), recharge windows end,
    // payouts close 7 days after commit, refunds 3 business days later.
    for seconds in [60, 120, 2 * 3600, 8 * 24 * 3600, 60, 6 * 24 * 3600, 60] {
        assert!(client.advance(seconds).await, "advance {seconds}");
    }

    let db = Database::connect(url.as_str()).await.unwrap();
    let acked = acked.lock().await;
    eprintln!(
        "crash test: {KILLS} kills; acknowledged {} payouts, {} recharges, {} approvals, {} account submissions",
        acked.created.len(),
        acked.confirmed.len(),
        acked.approved.len(),
        acked.submitted.len()
    );
    assert!(acked.created.len() >= 20, "the load made too few payouts: {}", acked.created.len());
    // Every acknowledged mutation is in the database.
    let stored: BTreeMap<i64, String> = rows(&db, "SELECT CAST(id AS TEXT), status FROM payouts")
        .await
        .into_iter()
        .map(|r| (r[0].parse().unwrap(), r[1].clone()))
        .collect();
    for id in acked.created.keys() {
        assert!(stored.contains_key(id), "acknowledged payout {id} is missing");
    }
    for id in &acked.confirmed {
        assert!(
            !matches!(stored[id].as_str(), "PENDING_RECHARGE" | "RECHARGE_FAILED"),
            "confirmed {id}: {}",
            stored[id]
        );
    }
    for id in &acked.approved {
        assert!(!matches!(stored[id].as_str(), "PENDING_APPROVAL" | "REJECTED"), "approved {id}: {}", stored[id]);
    }
    for (id, _) in &acked.submitted {
        let submitted =
            scalar(&db, &format!("SELECT COUNT(*) FROM account_cards WHERE payout_id = {id} AND status = 'SUBMITTED'"))
                .await;
        assert!(submitted >= 1, "submitted account of payout {id} is missing");
    }
    // Every PAYING payout got its outcome; nothing is left to deliver.
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM payouts WHERE status IN ('PAYING', 'PENDING_RECHARGE')").await, 0);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM scheduled_jobs WHERE status = 'PENDING' AND kind = 'DELIVER'").await,
        0
    );
    // The channel paid each payout at most once, and exactly the SUCCEEDED ones.
    let delivered: BTreeMap<i64, i64> = rows(
        &db,
        "SELECT CAST(payout_id AS TEXT), CAST(COUNT(*) AS TEXT) FROM channel_transfers WHERE outcome = 'DELIVERED' GROUP BY payout_id",
    )
    .await
    .into_iter()
    .map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap()))
    .collect();
    for (id, status) in &stored {
        let paid = delivered.get(id).copied().unwrap_or(0);
        assert!(paid <= 1, "payout {id} paid {paid} times");
        assert_eq!(paid == 1, status == "SUCCEEDED", "payout {id} is {status} but the channel paid it {paid} times");
    }
    // Deadlines fired: closed payouts were refunded.
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM payouts WHERE status = 'CLOSED' AND refund_status <> 'REFUNDED'").await,
        0
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM scheduled_jobs WHERE status <> 'DONE'").await,
        0,
        "every deadline ran"
    );
    // The books: balance = ledger.
    let balance = scalar(&db, "SELECT balance_fen FROM shops WHERE id = 's1'").await;
    let ledger =
        scalar(&db, "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM ledger_entries WHERE shop_id = 's1'")
            .await;
    assert_eq!(balance, ledger);
    // `smallpay audit` finds nothing wrong.
    let audit =
        Command::new(env!("CARGO_BIN_EXE_smallpay")).arg("audit").env("DATABASE_URL", &url).output().await.unwrap();
    assert!(
        audit.status.success(),
        "audit: {}{}",
        String::from_utf8_lossy(&audit.stdout),
        String::from_utf8_lossy(&audit.stderr)
    );

    // The subscriber saw every event of the shop exactly once, in order.
    let mut all: Vec<i64> = rows(&db, "SELECT CAST(id AS TEXT) FROM payout_transitions WHERE shop_id = 's1'")
        .await
        .into_iter()
        .map(|r| r[0].parse().unwrap())
        .collect();
    all.sort_unstable();
    for _ in 0..100 {
        if seen.lock().await.len() >= all.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(5), listener).await;
    assert_eq!(*seen.lock().await, all, "the resumed subscriber saw every event once, in order");
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_survives_sigkill_under_load_sqlite() {
    crash_and_restart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_survives_sigkill_under_load_postgres() {
    crash_and_restart(Backend::Postgres).await;
}
