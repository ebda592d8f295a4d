//! The real binary as a process: `smallpay serve` prints where it listens, and a buyer's full
//! account number never reaches any log line (debug level) or any answer; the log formats.
use std::{process::Stdio, time::Duration};

use serde_json::{Value, json};
use smallpay::auth::{JwtKeys, Role};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::Command,
};

use crate::helpers::{Backend, TestDb, test_config};

const SECRET: &str = "a-test-secret-that-is-long-enough-to-use";

async fn gql(http: &reqwest::Client, base: &str, token: &str, query: &str, variables: Value) -> Value {
    let r = http
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }));
    r.send().await.expect("request").json().await.expect("json")
}

async fn account_numbers_never_reach_a_log_line(backend: Backend) {
    let Some((_db, url)) = TestDb::create(backend).await else {
        return;
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_smallpay"))
        .args(["serve", "--no-demo"])
        .env("DATABASE_URL", &url)
        .env("SMALLPAY_BIND", "127.0.0.1:0")
        .env("SMALLPAY_TEST_CLOCK", "1")
        .env("SMALLPAY_GATEWAY", "simulated")
        .env("SMALLPAY_JWT_SECRET", SECRET)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("smallpay starts");
    let mut stderr = child.stderr.take().unwrap();
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    let base = loop {
        let line =
            tokio::time::timeout(Duration::from_secs(30), stdout.next_line()).await.expect("starts in time").unwrap();
        let line = line.expect("prints where it listens");
        printed.push_str(&line);
        printed.push('\n');
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.to_owned();
        }
    };
    let mut config = test_config();
    config.jwt_secret = Some(SECRET.into());
    let keys = JwtKeys::from_config(&config).unwrap();
    let token = |role, shop: Option<&str>, sub: &str| {
        keys.sign(&keys.claims(role, shop, sub, None, Duration::from_secs(600))).unwrap()
    };
    let (platform, admin, buyer) = (
        token(Role::Platform, None, "p"),
        token(Role::Admin, Some("s1"), "admin"),
        token(Role::Buyer, None, "hana-invalid"),
    );
    let http = reqwest::Client::new();
    let shop = "mutation { syncShop(input: {id: \"s1\", name: \"S\", openingBalance: \"50\", zeroEntry: false, depositPaid: true, hasUnpaidBills: false}) { id } }";
    gql(&http, &base, &platform, shop, json!({})).await;
    let grouped = chrono::Utc::now() - chrono::TimeDelta::days(1);
    let order = "mutation($g: DateTime) { syncOrder(input: {orderSn: \"O-1\", shopId: \"s1\", buyerId: \"hana-invalid\", goodsId: \"g\", goodsName: \"n\", activityGoods: false, paidAmount: \"9\", groupedAt: $g}) { orderSn } }";
    gql(&http, &base, &platform, order, json!({ "g": grouped.to_rfc3339() })).await;
    let pay = "mutation { createPayout(input: {orderSn: \"O-1\", type: OTHER, amount: \"5\", reason: \"r\", message: \"m\", funding: BALANCE}) { id } }";
    gql(&http, &base, &admin, pay, json!({})).await;

    let cards = "{ myAccountCards { id status accountMasked } }";
    let submit = "mutation($c: ID!, $k: ReceivingAccountKind!, $n: String!) { submitReceivingAccount(cardId: $c, account: {kind: $k, accountNo: $n, holderName: \"H\"}) { status accountMasked } }";
    let mut answers = String::new();
    for (kind, number) in [("BANK_CARD", "4000000000020000"), ("ALIPAY", "13900139000")] {
        let open = gql(&http, &base, &buyer, cards, json!({})).await;
        let card = open["data"]["myAccountCards"][0]["id"].clone();
        let r = gql(&http, &base, &buyer, submit, json!({ "c": card, "k": kind, "n": number })).await;
        assert_eq!(r["data"]["submitReceivingAccount"]["status"], "SUBMITTED", "{r}");
        answers.push_str(&r.to_string());
    }
    answers.push_str(&gql(&http, &base, &buyer, cards, json!({})).await.to_string());
    answers.push_str(&gql(&http, &base, &buyer, "{ myNotifications { body } }", json!({})).await.to_string());
    // Run the job runner (it delivers the notices, which are logged).
    http.post(format!("{base}/_test/clock/advance?seconds=1")).send().await.unwrap();

    let pid = child.id().expect("running");
    let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.expect("stops on SIGTERM").unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status}");
    while let Ok(Some(line)) = stdout.next_line().await {
        printed.push_str(&line);
        printed.push('\n');
    }
    let logs = format!("{printed}{}", errors.await.unwrap());
    assert!(logs.contains("buyer notice delivered"), "the debug log was captured: {logs}");
    for secret in ["4000000000020000", "13900139000"] {
        assert!(!logs.contains(secret), "{secret} in a log line");
        assert!(!answers.contains(secret), "{secret} in an answer");
    }
    // The configured secrets neither: the JWT secret, and the database URL (it may hold a password).
    assert!(!logs.contains(SECRET), "the JWT secret in a log line");
    assert!(!logs.contains(url.as_str()), "the database URL in a log line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_numbers_never_reach_a_log_line_sqlite() {
    account_numbers_never_reach_a_log_line(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_numbers_never_reach_a_log_line_postgres() {
    account_numbers_never_reach_a_log_line(Backend::Postgres).await;
}

/// Starts the binary (demo data on a fresh SQLite file) with `env`, sends `requests` (query,
/// request id) as the demo admin, stops it, and returns its stderr: the log.
async fn log_of(env: &[(&str, &str)], requests: &[(&str, &str)]) -> String {
    let (_db, url) = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_smallpay"));
    command
        .env("DATABASE_URL", &url)
        .env("SMALLPAY_BIND", "127.0.0.1:0")
        .env("SMALLPAY_JWT_SECRET", SECRET)
        .env_remove("RUST_LOG")
        .env_remove("SMALLPAY_LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("smallpay starts");
    let mut stderr = child.stderr.take().unwrap();
    let log = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut admin = None;
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line()).await.unwrap().unwrap().unwrap();
        if let Some(token) = line.trim_start().strip_prefix("admin ") {
            admin = token.split_whitespace().last().map(str::to_owned);
        }
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.to_owned();
        }
    };
    let http = reqwest::Client::new();
    for (query, id) in requests {
        let response = http
            .post(format!("{base}/graphql"))
            .bearer_auth(admin.as_deref().expect("the demo admin's token is printed"))
            .header("x-request-id", *id)
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-request-id"], *id);
    }
    let pid = child.id().expect("running").to_string();
    let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
    tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    log.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_the_request_id_account_operation_and_duration() {
    let log = log_of(&[("SMALLPAY_LOG_FORMAT", "json")], &[("query Who { me { role } }", "req-json-1")]).await;
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}")))
        .collect();
    assert!(lines.iter().all(|l| l["timestamp"].is_string() && l["level"].is_string() && l["target"].is_string()));
    let finished = lines
        .iter()
        .find(|l| l["span"]["request_id"] == "req-json-1" && l["message"] == "request finished")
        .unwrap_or_else(|| panic!("no line for the request: {log}"));
    assert_eq!(finished["level"], "INFO");
    assert_eq!(finished["span"]["account"], "demo-shop/admin");
    assert_eq!(finished["span"]["operation"], "Who");
    assert_eq!(finished["status"], 200);
    assert!(finished["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{finished}");
    assert!(!log.contains('\u{1b}'), "no escapes in JSON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_to_a_pipe_have_no_colour_escapes_and_name_the_request() {
    let log = log_of(&[], &[("{ me { role } }", "req-text-1")]).await;
    assert!(!log.contains('\u{1b}'), "an ANSI escape in a log written to a pipe: {log:?}");
    let finished = log.lines().find(|l| l.contains("req-text-1")).unwrap_or_else(|| panic!("{log}"));
    assert!(finished.contains("request finished") && finished.contains("demo-shop/admin"), "{finished}");
    assert!(finished.contains("duration_ms="), "{finished}");
}

/// A TOML file of settings under the environment under the flags: `smallpay settings` says where
/// each value came from and never shows a secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_come_from_a_file_under_the_environment_and_the_flags() {
    let file = std::env::temp_dir().join(format!("smallpay-settings-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        "max_body_bytes = 5000\nmax_query_bytes = 1000\nmax_fields = 7\njwt_secret = \"a-file-secret-that-is-long-enough-to-use\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smallpay"))
        .args(["settings", "--max-fields", "9"])
        .env("SMALLPAY_CONFIG", &file)
        .env("SMALLPAY_MAX_QUERY_BYTES", "2000")
        .env_remove("SMALLPAY_MAX_BODY_BYTES")
        .env_remove("SMALLPAY_MAX_ROOT_FIELDS")
        .env_remove("SMALLPAY_JWT_SECRET")
        .output()
        .await
        .unwrap();
    std::fs::remove_file(&file).ok();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "max_body_bytes = \"5000\"  # from the config file",
        "max_query_bytes = \"2000\"  # from the environment",
        "max_fields = \"9\"  # from the command line",
        "jwt_secret = \"(set; not shown)\"  # from the config file",
        "max_root_fields = \"32\"  # from the default",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    assert!(!text.contains("a-file-secret"), "{text}");
}

/// `serve --config FILE`: the server runs on the file's database, address and key.
async fn the_server_runs_on_its_config_file(backend: Backend) {
    let Some((_db, url)) = TestDb::create(backend).await else {
        return;
    };
    let file = std::env::temp_dir().join(format!("smallpay-serve-{}-{backend:?}.toml", std::process::id()));
    let settings =
        format!("database_url = {url:?}\nbind = \"127.0.0.1:0\"\njwt_secret = {SECRET:?}\ngateway = \"manual\"\n");
    std::fs::write(&file, settings).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_smallpay"))
        .args(["serve", "--no-demo", "--config"])
        .arg(&file)
        .env_remove("DATABASE_URL")
        .env_remove("SMALLPAY_BIND")
        .env_remove("SMALLPAY_JWT_SECRET")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("smallpay starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line()).await.expect("in time").unwrap();
        if let Some(addr) = line.expect("prints where it listens").strip_prefix("listening on ") {
            break addr.to_owned();
        }
    };
    std::fs::remove_file(&file).ok();
    let mut config = test_config();
    config.jwt_secret = Some(SECRET.into());
    let keys = JwtKeys::from_config(&config).unwrap();
    let platform = keys.sign(&keys.claims(Role::Platform, None, "p", None, Duration::from_secs(600))).unwrap();
    let http = reqwest::Client::new();
    let shop = "mutation { syncShop(input: {id: \"s9\", name: \"S\", openingBalance: \"50\", zeroEntry: false, depositPaid: true, hasUnpaidBills: false}) { id balance } }";
    let answer = gql(&http, &base, &platform, shop, json!({})).await;
    assert_eq!(answer["data"]["syncShop"]["balance"], "50.00", "signed with the file's key: {answer}");
    use sea_orm::ConnectionTrait as _;
    let backend_db = smallpay::db::connect(&url, smallpay::config::SqliteSynchronous::Full).await.unwrap();
    let rows = backend_db
        .query_one_raw(sea_orm::Statement::from_string(
            backend_db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM shops".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows.try_get::<i64>("", "n").unwrap(), 1, "the file's database holds the shop");
    child.kill().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_on_its_config_file_sqlite() {
    the_server_runs_on_its_config_file(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_on_its_config_file_postgres() {
    the_server_runs_on_its_config_file(Backend::Postgres).await;
}
