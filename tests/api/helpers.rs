//! The test harness: a real smallpay server on 127.0.0.1 (port 0) over a fresh SQLite file or
//! a fresh PostgreSQL database (created for the test, dropped after), with token minting and
//! GraphQL over HTTP and WebSocket.
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use smallpay::{
    app::{App, AppState},
    auth::{JwtKeys, Role},
    config::{Config, Gateway},
};
use tokio::{sync::oneshot, task::JoinHandle};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(TestApp)` once on SQLite and once on PostgreSQL (the latter
/// skipped, with a notice, when `TEST_POSTGRES_URL` is unset). A test that uses PostgreSQL
/// must have `postgres` in its name: `.ci/run` selects the PostgreSQL pass by it.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await;
                    super::$name(app).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::helpers::TestApp::try_spawn($crate::helpers::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
    (manual_channel: $($name:ident),* $(,)?) => {
        $(
            mod $name {
                fn manual(c: &mut smallpay::config::Config) {
                    c.gateway = smallpay::config::Gateway::Manual;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::helpers::TestApp::try_spawn_with($crate::helpers::Backend::Sqlite, manual).await;
                    super::$name(app.expect("SQLite is always available")).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::helpers::TestApp::try_spawn_with($crate::helpers::Backend::Postgres, manual).await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

/// Where a test's database lives; removed or dropped when the test ends.
pub enum TestDb {
    Sqlite(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A fresh database and its URL (`None`: PostgreSQL not configured).
    pub async fn create(backend: Backend) -> Option<(TestDb, String)> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("smallpay-test-{id}"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.join("test.db").display());
                Some((TestDb::Sqlite(dir), url))
            }
            Backend::Postgres => {
                let Some(admin_url) = std::env::var("TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) else {
                    eprintln!("notice: TEST_POSTGRES_URL is not set; skipping the PostgreSQL run of this test");
                    return None;
                };
                let name = format!("smallpay_test_{id}");
                let admin = sea_orm::Database::connect(admin_url.as_str())
                    .await
                    .unwrap_or_else(|e| panic!("TEST_POSTGRES_URL is set but PostgreSQL cannot be reached: {e}"));
                use sea_orm::ConnectionTrait;
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
                admin.close().await.ok();
                let url = replace_db_name(&admin_url, &name);
                Some((TestDb::Postgres { admin_url, name }, url))
            }
        }
    }
}

/// `postgres://u@h:p/db?x` with the database name replaced.
fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            TestDb::Postgres { admin_url, name } => {
                let (url, sql) = (admin_url.clone(), format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                // Drop runs inside the test's runtime: use a thread with its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                    rt.block_on(async move {
                        use sea_orm::ConnectionTrait;
                        if let Ok(admin) = sea_orm::Database::connect(url.as_str()).await {
                            let _ = admin.execute_unprepared(&sql).await;
                            let _ = admin.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub keys: JwtKeys,
    pub state: AppState,
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    // Last: dropped after the server has stopped. `None` for a second instance.
    _db: Option<TestDb>,
}

/// Where every test clock starts: Tuesday 2026-11-24 10:00:00 +08:00.
pub const TEST_CLOCK_START: &str = "2026-11-24T02:00:00Z";

/// The configuration every test server starts from: test clock on, simulated gateway.
pub fn test_config() -> Config {
    let mut config = Config::defaults();
    config.bind = "127.0.0.1:0".parse().expect("addr");
    config.test_clock = true;
    config.gateway = Gateway::Simulated;
    config.jwt_secret = Some("a-test-secret-that-is-long-enough-to-use".into());
    config.seal_key = Some("a-test-seal-key-that-is-long-enough-to-use".into());
    // Every run starts at the same instant, a Tuesday 10:00 in Asia/Shanghai (the default
    // zone), far from midnight and from a weekend: no test's day depends on when it runs.
    config.test_clock_start = Some(TEST_CLOCK_START.parse().expect("an RFC 3339 instant"));
    // Tests that fire many mutations from one account are not about the rate limit.
    config.mutation_rate = 1_000_000.0;
    config.mutation_burst = 1_000_000;
    config
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::try_spawn(backend).await.expect("this backend is always available")
    }

    pub async fn try_spawn(backend: Backend) -> Option<TestApp> {
        TestApp::try_spawn_with(backend, |_| {}).await
    }

    /// Starts a server whose configuration `adjust` may change first.
    pub async fn try_spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let (db, url) = TestDb::create(backend).await?;
        let mut config = test_config();
        config.database_url = url.into();
        adjust(&mut config);
        let mut app = TestApp::start(config).await;
        app._db = Some(db);
        Some(app)
    }

    /// Starts a server with `config` on an existing database (one the test manages itself,
    /// e.g. on a private PostgreSQL server: nothing is dropped after).
    pub async fn start(config: Config) -> TestApp {
        let app = App::build(config.clone()).await.expect("app builds");
        let listener = tokio::net::TcpListener::bind(config.bind).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = app.state.clone();
        let keys = state.keys.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.serve(listener, async move {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        TestApp {
            addr,
            // Idle connections are dropped before the server's keep-alive limit (its header
            // timeout, 10 s) closes them: a request never races the server's close.
            http: reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(5)).build().expect("an HTTP client"),
            keys,
            state,
            config,
            shutdown: Some(tx),
            server: Some(server),
            _db: None,
        }
    }

    /// Stops the server gracefully and starts a new process-equivalent on the same database:
    /// a restart. (The new test clock starts where the old one stood.)
    pub async fn restart(&mut self) {
        self.config.test_clock_start = Some(self.state.clock.now());
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server stopped cleanly");
        }
        let mut fresh = TestApp::start(self.config.clone()).await;
        fresh._db = self._db.take();
        *self = fresh;
    }

    /// Another server on the same database, as a second instance would be.
    pub async fn second_instance(&self) -> TestApp {
        let mut config = self.config.clone();
        config.test_clock_start = Some(self.state.clock.now());
        TestApp::start(config).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A valid token for `role` (merchant roles in `shop`).
    pub fn token(&self, role: Role, shop: Option<&str>, sub: &str) -> String {
        let claims = self.keys.claims(role, shop, sub, Some(&format!("{sub} name")), Duration::from_secs(3600));
        self.keys.sign(&claims).expect("sign")
    }

    pub fn platform(&self) -> String {
        self.token(Role::Platform, None, "marketplace")
    }

    pub fn admin(&self, shop: &str) -> String {
        self.token(Role::Admin, Some(shop), "admin")
    }

    /// Sends a GraphQL request; returns the whole JSON response.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self.http.post(self.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        assert!(response.status().is_success(), "GraphQL answers 200, got {}", response.status());
        response.json().await.expect("JSON response")
    }

    /// Sends a GraphQL request that must succeed; returns `data`.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let response = self.gql(Some(token), query, variables).await;
        assert!(response.get("errors").is_none(), "unexpected errors: {response:#}");
        response["data"].clone()
    }

    /// Sends a GraphQL request that must fail; returns the first error's code.
    pub async fn code(&self, token: Option<&str>, query: &str, variables: Value) -> String {
        let response = self.gql(token, query, variables).await;
        first_code(&response)
    }

    /// Moves the test clock; returns the server's answer.
    pub async fn advance(&self, seconds: i64) -> Value {
        let response =
            self.http.post(self.url(&format!("/_test/clock/advance?seconds={seconds}"))).send().await.expect("advance");
        assert!(response.status().is_success(), "advance: {}", response.status());
        response.json().await.expect("JSON")
    }

    /// Creates or updates a shop through `syncShop`; `extra` overrides ShopInput fields.
    pub async fn sync_shop(&self, id: &str, opening: &str, extra: Value) -> Value {
        let mut input = json!({
            "id": id, "name": format!("Shop {id}"), "openingBalance": opening,
            "zeroEntry": false, "depositPaid": true, "hasUnpaidBills": false,
        });
        merge(&mut input, extra);
        self.ok(
            &self.platform(),
            "mutation($i: ShopInput!) { syncShop(input: $i) { id name balance timeZone dailyCap } }",
            json!({ "i": input }),
        )
        .await["syncShop"]
            .clone()
    }

    /// Creates or updates an order through `syncOrder` (grouped a day ago unless `extra` says
    /// otherwise).
    pub async fn sync_order(&self, sn: &str, shop: &str, extra: Value) -> Value {
        self.ok(
            &self.platform(),
            "mutation($i: OrderInput!) { syncOrder(input: $i) { orderSn goodsId groupedAt refunded } }",
            json!({ "i": self.order_input(sn, shop, extra) }),
        )
        .await["syncOrder"]
            .clone()
    }

    /// The `OrderInput` [`TestApp::sync_order`] sends: grouped a day ago, `extra` overriding.
    pub fn order_input(&self, sn: &str, shop: &str, extra: Value) -> Value {
        let now = self.state.clock.now();
        let mut input = json!({
            "orderSn": sn, "shopId": shop, "buyerId": "buyer-1", "goodsId": "G-1",
            "goodsName": "Goods", "activityGoods": false, "paidAmount": "99.00",
            "groupedAt": (now - chrono::TimeDelta::days(1)).to_rfc3339(),
        });
        merge(&mut input, extra);
        input
    }

    /// Sends `createPayout`; returns the whole response. `extra` overrides input fields.
    pub async fn create_payout(&self, token: &str, order: &str, amount: &str, funding: &str, extra: Value) -> Value {
        let mut input = json!({
            "orderSn": order, "type": "SHIPPING_FEE", "amount": amount,
            "reason": "运费补偿", "message": "运费已退，请查收", "funding": funding,
        });
        merge(&mut input, extra);
        self.gql(Some(token), CREATE_PAYOUT, json!({ "i": input })).await
    }

    /// `createPayout` that must succeed; returns the payout.
    pub async fn pay(&self, token: &str, order: &str, amount: &str, funding: &str) -> Value {
        let response = self.create_payout(token, order, amount, funding, json!({})).await;
        assert!(response.get("errors").is_none(), "createPayout failed: {response:#}");
        response["data"]["createPayout"].clone()
    }

    /// The shop's balance and the sum of its ledger entries, in fen.
    pub async fn balance_and_ledger(&self, shop: &str) -> (i64, i64) {
        let scope = smallpay::auth::ShopScope::platform(shop);
        let shop = smallpay::shops::repo::find(&self.state.db, &scope).await.unwrap().expect("shop exists");
        (shop.balance_fen.0, smallpay::ledger::repo::sum(&self.state.db, shop.id.as_str()).await.unwrap())
    }

    /// How many payouts the shop has, whatever their status.
    pub async fn payout_count(&self, shop: &str) -> u64 {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        entity::payout::Entity::find()
            .filter(entity::payout::Column::ShopId.eq(shop))
            .count(&self.state.db)
            .await
            .unwrap()
    }

    /// Opens a subscription socket with `protocol`, sends `connection_init` with `payload`,
    /// and returns the socket and the server's first answer.
    pub async fn ws_init(&self, protocol: &str, payload: Value) -> (WsStream, Option<Value>, Option<u16>) {
        let mut request = format!("ws://{}/graphql/ws", self.addr).into_client_request().expect("ws request");
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(protocol).expect("header"));
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("ws connect");
        socket
            .send(Message::Text(json!({ "type": "connection_init", "payload": payload }).to_string().into()))
            .await
            .expect("send init");
        loop {
            match tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("an answer in time") {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON frame");
                    if value["type"] == "ka" {
                        continue;
                    }
                    return (socket, Some(value), None);
                }
                Some(Ok(Message::Close(frame))) => return (socket, None, frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return (socket, None, None),
            }
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Every field of a payout, for tests that compare whole answers.
pub const CREATE_PAYOUT: &str = "mutation($i: CreatePayoutInput!) { createPayout(input: $i) {
  id orderSn goodsId type amount reason message approvalNote status funding createdAt deductedAt
  applicant { id role } recharge { method qrPayload deadline } refundStatus
  history { from to actor note }
} }";

/// A subscription over a real socket, speaking either protocol.
pub struct Subscription {
    pub socket: WsStream,
    /// Whether the server registered it (a refused one is not).
    pub registered: bool,
    /// Frames read while waiting for the server to register the subscription.
    pending: std::collections::VecDeque<Message>,
}

impl TestApp {
    /// Opens a socket with `protocol`, authenticates with `token`, and subscribes; returns
    /// once the server has registered the subscription (so that nothing the test does next
    /// can be missed) or has answered it (a refusal registers nothing).
    pub async fn subscribe(&self, protocol: &str, token: &str, query: &str, variables: Value) -> Subscription {
        let (mut socket, first, close) =
            self.ws_init(protocol, json!({ "Authorization": format!("Bearer {token}") })).await;
        assert_eq!(first.as_ref().map(|f| f["type"].clone()), Some(json!("connection_ack")), "{first:?} {close:?}");
        let start = if protocol == "graphql-ws" { "start" } else { "subscribe" };
        let message = json!({ "id": "1", "type": start, "payload": { "query": query, "variables": variables } });
        let registered = self.state.bus.subscribed();
        socket.send(Message::Text(message.to_string().into())).await.expect("subscribe");
        let mut pending = std::collections::VecDeque::new();
        let waited = std::time::Instant::now();
        while self.state.bus.subscribed() == registered {
            match tokio::time::timeout(Duration::from_millis(5), socket.next()).await {
                Err(_) => {}
                Ok(Some(Ok(frame))) => {
                    let answered = match &frame {
                        Message::Text(text) => {
                            let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                            !matches!(value["type"].as_str(), Some("ka" | "ping" | "pong"))
                        }
                        Message::Close(_) => true,
                        _ => false,
                    };
                    pending.push_back(frame);
                    if answered {
                        break;
                    }
                }
                Ok(_) => break,
            }
            assert!(waited.elapsed() < Duration::from_secs(10), "the server registers the subscription within 10 s");
        }
        Subscription { socket, registered: self.state.bus.subscribed() != registered, pending }
    }
}

impl Subscription {
    /// The next message for the subscription: `Ok(data)` or `Err(errors)`; panics on a
    /// closed socket or after 10 s of silence.
    pub async fn next(&mut self) -> Result<Value, Value> {
        loop {
            let frame = match self.pending.pop_front() {
                Some(frame) => frame,
                None => tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                    .await
                    .expect("an event within 10 s")
                    .expect("the socket is open")
                    .expect("a frame"),
            };
            let Message::Text(text) = frame else { continue };
            let value: Value = serde_json::from_str(&text).expect("JSON");
            match value["type"].as_str() {
                Some("next" | "data") => {
                    let payload = &value["payload"];
                    if let Some(errors) = payload.get("errors") {
                        return Err(errors.clone());
                    }
                    return Ok(payload["data"].clone());
                }
                Some("error") => return Err(value["payload"].clone()),
                Some("ping") => {
                    let pong = json!({ "type": "pong" }).to_string();
                    self.socket.send(Message::Text(pong.into())).await.expect("pong");
                }
                _ => {}
            }
        }
    }

    /// The subscription's messages that have already arrived, without waiting for more: the
    /// `data` of each `next`, or its errors. For "nothing was sent": ask after a marker that
    /// was sent later than the frame that must not come.
    pub fn arrived(&mut self) -> Vec<Value> {
        use futures_util::FutureExt as _;
        let mut frames: Vec<Message> = self.pending.drain(..).collect();
        while let Some(Some(Ok(frame))) = self.socket.next().now_or_never() {
            frames.push(frame);
        }
        frames
            .into_iter()
            .filter_map(|frame| {
                let Message::Text(text) = frame else { return None };
                let value: Value = serde_json::from_str(&text).ok()?;
                matches!(value["type"].as_str(), Some("next" | "data" | "error")).then(|| value["payload"].clone())
            })
            .collect()
    }

    /// Waits for the socket to close (or the subscription to complete); returns the close code.
    pub async fn closed(&mut self) -> Option<u16> {
        while let Some(frame) = self.pending.pop_front() {
            if let Message::Close(frame) = frame {
                return frame.map(|f| u16::from(f.code));
            }
        }
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.socket.next()).await.expect("closes within 10 s") {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
            }
        }
    }
}

pub type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An instant the server answered (RFC 3339), in UTC; panics on anything else.
pub fn instant(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not an instant: {v}"))).unwrap().to_utc()
}

/// `errors[0].extensions.code` of a response (panics when there is no error).
pub fn first_code(response: &Value) -> String {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with extensions.code, got {response:#}"))
        .to_owned()
}

/// Shallow merge of `extra`'s keys into `base`.
pub fn merge(base: &mut Value, extra: Value) {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        for (k, v) in extra {
            base.insert(k, v);
        }
    }
}

/// The real binary as a child process on a fresh database (SQLite, or PostgreSQL with
/// `TEST_POSTGRES_URL`), for what only a process of its own shows: the server's own CPU and
/// memory, read from /proc. `SMALLPAY_BIN` picks the binary (a release build, to measure one:
/// docs/operations.md, "Limits"); this build's otherwise. Tokens from `token` (the test
/// configuration's secret).
pub struct ServerProcess {
    pub base: String,
    pub bin: String,
    /// The database's URL, for a test that loads data directly.
    pub database_url: String,
    keys: JwtKeys,
    child: tokio::process::Child,
    /// Where its stderr (the log) goes.
    log: std::path::PathBuf,
    _db: TestDb,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

impl ServerProcess {
    /// On a fresh SQLite file.
    pub async fn start(env: &[(&str, &str)]) -> ServerProcess {
        ServerProcess::try_start(Backend::Sqlite, env).await.expect("SQLite is always available")
    }

    /// On a fresh database of `backend` (`None`: PostgreSQL not configured).
    pub async fn try_start(backend: Backend, env: &[(&str, &str)]) -> Option<ServerProcess> {
        use tokio::io::AsyncBufReadExt;
        let (db, url) = TestDb::create(backend).await?;
        let config = test_config();
        let keys = JwtKeys::from_config(&config).expect("the test keys");
        let bin = std::env::var("SMALLPAY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_smallpay").to_owned());
        static LOGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = LOGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!("smallpay-server-{}-{n}.log", std::process::id()));
        let log_file = std::fs::File::create(&log).expect("a log file");
        let mut child = tokio::process::Command::new(&bin)
            .args(["serve", "--no-demo"])
            .env("DATABASE_URL", &url)
            .env("SMALLPAY_BIND", "127.0.0.1:0")
            .env("SMALLPAY_TEST_CLOCK", "1")
            .env("SMALLPAY_GATEWAY", "simulated")
            .env("SMALLPAY_JWT_SECRET", config.jwt_secret_or_dev())
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} starts: {e}"));
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                .await
                .expect("listening in time")
                .unwrap()
                .expect("prints where it listens");
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.to_owned();
            }
        };
        // Keep reading stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Some(ServerProcess { base, bin, database_url: url, keys, child, log, _db: db })
    }

    /// What it has logged so far (its stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A valid token for `role` (merchant roles in `shop`).
    pub fn token(&self, role: Role, shop: Option<&str>, sub: &str) -> String {
        let claims = self.keys.claims(role, shop, sub, Some(&format!("{sub} name")), Duration::from_secs(3600));
        self.keys.sign(&claims).expect("sign")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn proc_file(&self, name: &str) -> String {
        let pid = self.child.id().expect("still running");
        std::fs::read_to_string(format!("/proc/{pid}/{name}")).expect("/proc readable")
    }

    /// The server's CPU time so far, user + system (clock ticks of 10 ms: USER_HZ = 100).
    pub fn cpu(&self) -> Duration {
        let stat = self.proc_file("stat");
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10)
    }

    /// The server's resident memory in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = self.proc_file("status");
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}
