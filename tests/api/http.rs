//! The HTTP surface beyond GraphQL: health, readiness, metrics, the test clock, request ids,
//! persisted queries, GraphiQL's own assets, and the subscription socket's handshake on both
//! protocols.
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
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
    let now = crate::helpers::instant(&answer["now"]);
    assert_eq!(now, start + chrono::TimeDelta::hours(1));
    assert_eq!(app.state.clock.now(), start + chrono::TimeDelta::hours(1));
    assert_eq!(answer["jobsRun"], 0);
    // The shop's "today" follows the service clock, not the machine's: a payout made now
    // carries the service clock's time and counts in today's sums until the service clock
    // passes the shop's midnight — one second before it still today, at it a new day.
    let shop = app.sync_shop("s1", "100", json!({})).await;
    let zone: chrono_tz::Tz = shop["timeZone"].as_str().unwrap().parse().unwrap();
    app.sync_order("O-1", "s1", json!({})).await;
    let admin = app.admin("s1");
    let payout = app.pay(&admin, "O-1", "5.00", "BALANCE").await;
    let created = crate::helpers::instant(&payout["createdAt"]);
    assert_eq!(created, app.state.clock.now());
    let paid_today = async || app.ok(&admin, "{ shop { paidToday } }", json!({})).await["shop"]["paidToday"].clone();
    assert_eq!(paid_today().await, "5.00");
    let midnight = crate::expect::next_midnight(app.state.clock.now(), zone);
    app.advance((midnight - app.state.clock.now()).num_seconds() - 1).await;
    assert_eq!(paid_today().await, "5.00", "one second before the shop's midnight");
    app.advance(1).await;
    assert_eq!(app.state.clock.now(), midnight);
    assert_eq!(paid_today().await, "0.00", "at the shop's midnight");
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

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let id_of = |r: &reqwest::Response| r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
    let graphql = app.http.post(app.url("/graphql")).json(&json!({ "query": "{ __typename }" })).send().await.unwrap();
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    let (a, b) = (id_of(&graphql).expect("an id"), id_of(&health).expect("an id"));
    assert!(uuid::Uuid::parse_str(&a).is_ok() && uuid::Uuid::parse_str(&b).is_ok(), "{a} {b}");
    assert_ne!(a, b, "one id per request");
    // A proxy's own id is kept; one that is not a short token is replaced.
    let kept = app.http.get(app.url("/healthz")).header("x-request-id", "edge-42.a:b_c").send().await.unwrap();
    assert_eq!(id_of(&kept).as_deref(), Some("edge-42.a:b_c"));
    for odd in ["x".repeat(65), "a b".to_owned(), "<script>".to_owned()] {
        let replaced = app.http.get(app.url("/healthz")).header("x-request-id", &odd).send().await.unwrap();
        let id = id_of(&replaced).unwrap();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{odd:?} became {id}");
    }
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// POSTs a request with a persisted-query hash, and the document when `query` is given.
async fn persisted(app: &TestApp, token: &str, hash: &str, query: Option<&str>) -> Value {
    let mut body = json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
    if let Some(query) = query {
        body["query"] = json!(query);
    }
    let response = app.http.post(app.url("/graphql")).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn persisted_queries_run_by_hash_once_registered(app: TestApp) {
    let admin = app.admin("s1");
    app.sync_shop("s1", "10", json!({})).await;
    let query = "query Shop { shop { id balance } }";
    let hash = sha256(query);
    let unknown = persisted(&app, &admin, &hash, None).await;
    assert_eq!(crate::helpers::first_code(&unknown), "PERSISTED_QUERY_NOT_FOUND", "{unknown}");
    assert_eq!(unknown["errors"][0]["message"], "PersistedQueryNotFound");
    let registered = persisted(&app, &admin, &hash, Some(query)).await;
    assert_eq!(registered["data"]["shop"]["balance"], "10.00", "{registered}");
    let by_hash = persisted(&app, &admin, &hash, None).await;
    assert_eq!(by_hash, registered, "the hash alone runs the same document");
    // Another account may use a hash someone else registered: the document is not a secret,
    // and what it reads is decided by the token.
    let other = persisted(&app, &app.admin("s2"), &hash, None).await;
    assert_eq!(crate::helpers::first_code(&other), "NOT_FOUND", "{other}");

    // A document sent with a hash that is not its own: refused, nothing stored or run.
    let wrong = persisted(&app, &admin, &sha256("{ me { id } }"), Some(query)).await;
    assert_eq!(crate::helpers::first_code(&wrong), "BAD_USER_INPUT", "{wrong}");
    let still_unknown = persisted(&app, &admin, &sha256("{ me { id } }"), None).await;
    assert_eq!(crate::helpers::first_code(&still_unknown), "PERSISTED_QUERY_NOT_FOUND");
    let bad_version = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({ "query": query, "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hash } } }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(crate::helpers::first_code(&bad_version), "BAD_USER_INPUT", "{bad_version}");
}

/// The persisted-query store is also the service's cache of parsed documents: a document sent
/// as text (no `persistedQuery`) is kept under its hash once it has validated, by the rule that
/// keeps one sent with its hash, so a repeated query is parsed once. Observable: its hash alone
/// then runs it. Every request is still measured with its own variables, a kept document or
/// not; a document that did not validate is not kept.
async fn a_document_sent_as_text_is_kept_under_its_hash_once_it_validated(app: TestApp) {
    let admin = app.admin("s1");
    app.sync_shop("s1", "10", json!({})).await;
    let query = "query Balance { shop { id balance } }";
    let first = app.ok(&admin, query, json!({})).await;
    assert_eq!(first["shop"]["balance"], "10.00", "{first}");
    let by_hash = persisted(&app, &admin, &sha256(query), None).await;
    assert_eq!(by_hash["data"], first, "the hash alone runs the document sent as text: {by_hash}");
    let again = app.ok(&admin, query, json!({})).await;
    assert_eq!(again, first, "the text again, from the kept parse");

    // Kept, then sent again as text with a variable that makes it too large: measured, refused.
    let placed = format!(
        "query P($n: String!) {{ {} }}",
        (0..30).map(|i| format!("t{i}: __type(name: $n) {{ name }} ")).collect::<String>()
    );
    let kept = app.ok(&admin, &placed, json!({ "n": "Query" })).await;
    assert_eq!(kept["t0"]["name"], "Query", "{kept}");
    let by_hash = json!({
        "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(&placed) } },
        "variables": { "n": "Query" },
    });
    let response = app.http.post(app.url("/graphql")).bearer_auth(&admin).json(&by_hash).send().await.unwrap();
    let stored: Value = response.json().await.unwrap();
    assert_eq!(stored["data"], kept, "kept: {stored}");
    let refused = app.gql(Some(&admin), &placed, json!({ "n": vec![1; 1_000] })).await;
    assert_eq!(refused["errors"][0]["extensions"]["limit"], "maxNodes", "{refused}");

    // A document that does not validate runs nothing and is not kept.
    let invalid = "query Bad { shop { id nope } }";
    let answer = app.gql(Some(&admin), invalid, json!({})).await;
    assert_eq!(crate::helpers::first_code(&answer), "GRAPHQL_VALIDATION_FAILED", "{answer}");
    let unknown = persisted(&app, &admin, &sha256(invalid), None).await;
    assert_eq!(crate::helpers::first_code(&unknown), "PERSISTED_QUERY_NOT_FOUND", "{unknown}");
}

#[tokio::test]
async fn a_persisted_query_cannot_get_past_the_limits() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.admin("s1");
    // 40 root fields: over maxRootFields (32). Sent with its hash it is refused before it is
    // stored, so the hash alone finds nothing.
    let wide = format!("{{ {} }}", (0..40).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" "));
    let hash = sha256(&wide);
    let refused = persisted(&app, &admin, &hash, Some(&wide)).await;
    assert_eq!(refused["errors"][0]["extensions"]["limit"], "maxRootFields", "{refused}");
    let alone = persisted(&app, &admin, &hash, None).await;
    assert_eq!(crate::helpers::first_code(&alone), "PERSISTED_QUERY_NOT_FOUND", "{alone}");
    // Too long a document with its hash: refused on its size, before anything parses it.
    let long = format!("{{ __typename }} #{}", "x".repeat(40_000));
    let refused = persisted(&app, &admin, &sha256(&long), Some(&long)).await;
    assert_eq!(refused["errors"][0]["extensions"]["limit"], "maxQueryBytes", "{refused}");
    // Neither a document nor a hash: 400, a validation error.
    let empty =
        app.http.post(app.url("/graphql")).bearer_auth(&admin).json(&json!({ "query": "" })).send().await.unwrap();
    assert_eq!(empty.status(), 400);
    let empty: Value = empty.json().await.unwrap();
    assert_eq!(crate::helpers::first_code(&empty), "GRAPHQL_VALIDATION_FAILED", "{empty}");
}

#[tokio::test]
async fn graphiql_loads_only_its_own_assets_and_carries_no_token_in_production() {
    let dev = TestApp::spawn(Backend::Sqlite).await;
    let page = dev.http.get(dev.url("/graphql")).header("accept", "text/html").send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self';"), "{csp}");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    let assets: Vec<&str> = html.split(['"', '\'']).filter(|s| s.starts_with("/graphiql/assets/")).collect();
    assert_eq!(assets.len(), 7, "five scripts and two style sheets: {html}");
    assert!(!html.contains("http://") && !html.contains("https://"), "no other origin named: {html}");
    for asset in assets {
        let response = dev.http.get(dev.url(asset)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable", "{asset}");
        let stale = asset.replace("/graphiql/assets/", "/graphiql/assets/0");
        let old = dev.http.get(dev.url(&stale)).send().await.unwrap();
        assert_eq!(old.status(), 404, "another version's path: {stale}");
    }
    // The test server has no demo tokens: the page carries none.
    assert!(html.contains(r#""accounts":[]"#), "{html}");

    let prod = TestApp::try_spawn_with(Backend::Sqlite, |c| {
        c.environment = smallpay::config::Environment::Production;
        c.test_clock = false;
        c.graphiql = Some(true);
    })
    .await
    .unwrap();
    let html =
        prod.http.get(prod.url("/graphql")).header("accept", "text/html").send().await.unwrap().text().await.unwrap();
    assert!(html.contains(r#""accounts":[]"#) && !html.contains("Bearer"), "{html}");
    let off = TestApp::try_spawn_with(Backend::Sqlite, |c| {
        c.environment = smallpay::config::Environment::Production;
        c.test_clock = false;
    })
    .await
    .unwrap();
    let asset = html.split('"').find(|s| s.starts_with("/graphiql/assets/")).unwrap();
    assert_eq!(off.http.get(off.url(asset)).send().await.unwrap().status(), 404, "GraphiQL off: no assets either");
}

on_both_databases!(
    health_readiness_and_metrics,
    the_test_clock_moves_only_when_told,
    persisted_queries_run_by_hash_once_registered,
    a_document_sent_as_text_is_kept_under_its_hash_once_it_validated
);

/// The real binary as a process on a database of the test's, with `env`.
pub struct Binary {
    child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// What it printed on stdout up to `listening on`.
    pub printed: String,
    logs: tokio::task::JoinHandle<String>,
}

impl Binary {
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Binary {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_smallpay"));
        command
            .args(["serve", "--no-demo"])
            .env("DATABASE_URL", database_url)
            .env("SMALLPAY_BIND", "127.0.0.1:0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("smallpay starts");
        let mut stderr = child.stderr.take().unwrap();
        let logs = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = String::new();
        let base = loop {
            let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
                .await
                .expect("starts in time")
                .unwrap()
                .expect("prints where it listens");
            printed.push_str(&line);
            printed.push('\n');
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.to_owned();
            }
        };
        Binary { child, base, printed, logs }
    }

    /// Stops it with SIGTERM (it must exit 0); returns everything it logged.
    pub async fn stop(mut self) -> String {
        let pid = self.child.id().expect("running");
        let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        let status = tokio::time::timeout(std::time::Duration::from_secs(30), self.child.wait())
            .await
            .expect("stops on SIGTERM")
            .unwrap();
        assert!(status.success(), "graceful shutdown exits 0: {status}");
        self.logs.await.unwrap()
    }
}

async fn metrics_can_have_a_listener_of_their_own(backend: Backend) {
    let Some((_db, url)) = crate::helpers::TestDb::create(backend).await else {
        return;
    };
    let server = Binary::start(
        &url,
        &[
            ("SMALLPAY_ENV", "production"),
            ("SMALLPAY_JWT_SECRET", "a-test-secret-that-is-long-enough-to-use"),
            ("SMALLPAY_SEAL_KEY", "a-test-seal-key-that-is-long-enough-to-use"),
            ("SMALLPAY_METRICS_BIND", "127.0.0.1:0"),
            ("RUST_LOG", "info"),
        ],
    )
    .await;
    let metrics_url = server
        .printed
        .lines()
        .find_map(|line| line.strip_prefix("metrics on "))
        .unwrap_or_else(|| panic!("the metrics listener is printed: {}", server.printed))
        .to_owned();
    let http = reqwest::Client::new();
    assert_eq!(http.get(format!("{}/healthz", server.base)).send().await.unwrap().status(), 200);
    assert_eq!(http.get(format!("{}/metrics", server.base)).send().await.unwrap().status(), 404, "not public");
    let metrics = http.get(&metrics_url).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains(r#"http_requests_total{path="/healthz",method="GET",status="200"}"#), "{text}");
    // Only /metrics there.
    let graphql = http.post(metrics_url.replace("/metrics", "/graphql")).body("{}").send().await.unwrap();
    assert_eq!(graphql.status(), 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_have_a_listener_of_their_own_sqlite() {
    metrics_can_have_a_listener_of_their_own(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_have_a_listener_of_their_own_postgres() {
    metrics_can_have_a_listener_of_their_own(Backend::Postgres).await;
}
