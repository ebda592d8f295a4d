//! `cargo bench`: the API's speed, measured through GraphQL over HTTP against a real server on
//! 127.0.0.1, on SQLite (and PostgreSQL when `BENCH_POSTGRES_URL` is set). Prints a Markdown
//! table; BENCHMARKS.md records runs. Nothing here asserts a time.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark stops on any failure")]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smallpay::{
    app::App,
    auth::{JwtKeys, Role},
    config::Config,
};

struct Server {
    base: String,
    keys: JwtKeys,
    http: reqwest::Client,
}

impl Server {
    fn token(&self, role: Role, shop: Option<&str>, sub: &str) -> String {
        self.keys.sign(&self.keys.claims(role, shop, sub, None, Duration::from_secs(3600))).expect("sign")
    }

    async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/graphql", self.base))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }));
        let v: Value = r.send().await.expect("send").json().await.expect("json");
        assert!(v.get("errors").is_none(), "{v}");
        v
    }
}

async fn start(database_url: String) -> Server {
    let mut config = Config::defaults();
    config.database_url = database_url.into();
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.test_clock = true;
    config.jwt_secret = Some("a-benchmark-secret-that-is-long-enough".into());
    config.log = "error".into();
    let app = App::build(config).await.expect("app");
    let keys = app.state.keys.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { app.serve(listener, std::future::pending()).await });
    Server { base, keys, http: reqwest::Client::new() }
}

struct Row {
    name: String,
    n: usize,
    p50: Duration,
    p95: Duration,
    p99: Duration,
    per_second: f64,
}

fn row(name: &str, mut samples: Vec<Duration>, wall: Duration) -> Row {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Row {
        name: name.to_owned(),
        n: samples.len(),
        p50: at(0.5),
        p95: at(0.95),
        p99: at(0.99),
        per_second: samples.len() as f64 / wall.as_secs_f64(),
    }
}

const CREATE: &str = "mutation($o: String!, $f: FundingChoice!) { createPayout(input: {orderSn: $o, type: SHIPPING_FEE, amount: \"1.00\", reason: \"r\", message: \"m\", funding: $f}) { id status } }";
const PREVIEW: &str =
    "query($o: String!) { payoutPreview(orderSn: $o, amount: \"5\") { allowed balanceAllowed duplicates { amount } } }";
const PAGE: &str = "query($n: Int) { payouts(first: $n) { totalCount edges { node { id amount status applicant { name } order { goodsName } history { to at } } } } }";

async fn run(label: &str, url: String) -> Vec<Row> {
    let s = start(url).await;
    let platform = s.token(Role::Platform, None, "p");
    let admin = s.token(Role::Admin, Some("b"), "admin");
    s.gql(&platform, "mutation { syncShop(input: {id: \"b\", name: \"Bench\", openingBalance: \"1000000\", zeroEntry: false, depositPaid: true, hasUnpaidBills: false, dailyCap: \"100000000\", dailyBalanceCap: \"100000000\"}) { id } }", json!({})).await;
    let grouped = (chrono::Utc::now() - chrono::TimeDelta::days(1)).to_rfc3339();
    let orders = 1_600;
    for i in 0..orders {
        let q = "mutation($o: String!, $g: DateTime) { syncOrder(input: {orderSn: $o, shopId: \"b\", buyerId: \"buyer\", goodsId: \"g\", goodsName: \"Goods\", activityGoods: false, paidAmount: \"50\", groupedAt: $g}) { orderSn } }";
        s.gql(&platform, q, json!({ "o": format!("B-{i}"), "g": grouped })).await;
    }
    let mut rows = Vec::new();

    // One client, one request at a time.
    let mut samples = Vec::new();
    let wall = Instant::now();
    for i in 0..400 {
        let t = Instant::now();
        s.gql(&admin, CREATE, json!({ "o": format!("B-{i}"), "f": "BALANCE" })).await;
        samples.push(t.elapsed());
    }
    rows.push(row(&format!("{label}: createPayout BALANCE, sequential"), samples, wall.elapsed()));

    // 32 clients at once.
    let wall = Instant::now();
    let mut samples = Vec::new();
    for chunk in (400..1_200).collect::<Vec<_>>().chunks(32) {
        let timed = futures_util::future::join_all(chunk.iter().map(|i| {
            let (s, admin) = (&s, &admin);
            async move {
                let t = Instant::now();
                s.gql(
                    admin,
                    CREATE,
                    json!({ "o": format!("B-{i}"), "f": if i % 2 == 0 { "BALANCE" } else { "WECHAT_SCAN" } }),
                )
                .await;
                t.elapsed()
            }
        }))
        .await;
        samples.extend(timed);
    }
    rows.push(row(&format!("{label}: createPayout, 32 concurrent"), samples, wall.elapsed()));

    let mut samples = Vec::new();
    let wall = Instant::now();
    for i in 0..400 {
        let t = Instant::now();
        s.gql(&admin, PREVIEW, json!({ "o": format!("B-{}", i * 3) })).await;
        samples.push(t.elapsed());
    }
    rows.push(row(&format!("{label}: payoutPreview"), samples, wall.elapsed()));

    for n in [20, 100] {
        let mut samples = Vec::new();
        let wall = Instant::now();
        for _ in 0..200 {
            let t = Instant::now();
            s.gql(&admin, PAGE, json!({ "n": n })).await;
            samples.push(t.elapsed());
        }
        rows.push(row(
            &format!("{label}: payouts(first: {n}) with applicant, order, history"),
            samples,
            wall.elapsed(),
        ));
    }
    rows
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = std::env::temp_dir().join(format!("smallpay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rows = rt.block_on(run("SQLite", format!("sqlite://{}?mode=rwc", dir.join("bench.db").display())));
    if let Ok(admin_url) = std::env::var("BENCH_POSTGRES_URL") {
        let name = format!("smallpay_bench_{}", std::process::id());
        let url = {
            let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
            format!("{base}/{name}")
        };
        rt.block_on(async {
            use sea_orm::ConnectionTrait;
            let admin = sea_orm::Database::connect(admin_url.as_str()).await.expect("BENCH_POSTGRES_URL");
            admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
            rows.extend(run("PostgreSQL", url).await);
            admin.execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)")).await.unwrap();
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("| scenario | requests | p50 | p95 | p99 | requests/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    for r in rows {
        println!("| {} | {} | {} | {} | {} | {:.0} |", r.name, r.n, ms(r.p50), ms(r.p95), ms(r.p99), r.per_second);
    }
}
