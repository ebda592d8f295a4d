//! Reads from a PostgreSQL hot standby (`SMALLPAY_DATABASE_REPLICA_URL`, `src/db/replica.rs`).
//!
//! The test starts a private primary (`initdb`) and a hot standby of it (`pg_basebackup -R`,
//! both on ports of their own, never the shared server) with the standby logging every
//! statement, so that a read is counted on the standby's side. It checks, through the API:
//! queries are answered by the standby; a state written on the primary behind smallpay's back
//! while the standby's replay is paused (`pg_wal_replay_pause()`) is not seen by a reader, but
//! an account that made a mutation (over HTTP, or on a socket) reads its own write (and the
//! newer state) from the primary — in GraphQL and in the CSV export — until the standby has replayed it, then reads from the
//! standby again; a server whose `SMALLPAY_REPLICA_MAX_LAG` is past skips the standby; and a
//! standby stopped (`pg_ctl stop -m immediate`) costs no client an error.
//!
//! It runs in the PostgreSQL pass (`TEST_POSTGRES_URL` set), and prints a notice and does
//! nothing without `initdb`, `pg_ctl` and `pg_basebackup`. The waits are for conditions (the
//! standby having replayed, the lag having passed its bound), each with a deadline.
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use smallpay::auth::Role;

use crate::{
    helpers::{TestApp, test_config},
    private_postgres::PrivatePostgres,
};

/// How long the standby may take to replay, or the lag to pass a bound, on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(30);
const READ: &str = "{ shop { name } payouts(first: 10) { totalCount } }";

/// What an account sees: the shop's name and how many payouts it has.
async fn seen(app: &TestApp, token: &str) -> (String, i64) {
    let data = app.ok(token, READ, json!({})).await;
    (data["shop"]["name"].as_str().unwrap().to_owned(), data["payouts"]["totalCount"].as_i64().unwrap())
}

/// Statements the standby has run that read the shops table (its log has every statement).
fn standby_reads(standby: &PrivatePostgres) -> usize {
    let log = std::fs::read_to_string(standby.log()).unwrap_or_default();
    log.lines().filter(|l| l.contains("FROM \"shops\"")).count()
}

/// `read` until `done` says yes, within [`DEADLINE`].
async fn until<T: std::fmt::Debug>(what: &str, mut read: impl AsyncFnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let started = Instant::now();
    loop {
        let value = read().await;
        if done(&value) {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "{what}: still {value:?} after {DEADLINE:?}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a read by `token` was answered by the standby: it ran a statement there.
async fn on_standby(app: &TestApp, standby: &PrivatePostgres, token: &str) -> bool {
    let before = standby_reads(standby);
    seen(app, token).await;
    standby_reads(standby) > before
}

async fn sql(db: &DatabaseConnection, statement: &str) {
    db.execute_unprepared(statement).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
}

async fn rename_on_primary(primary: &DatabaseConnection, name: &str) {
    sql(primary, &format!("UPDATE shops SET name = '{name}' WHERE id = 's1'")).await;
}

async fn pause_replay(standby: &DatabaseConnection) {
    sql(standby, "SELECT pg_wal_replay_pause()").await;
    let paused = async || {
        let row = standby.query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_get_wal_replay_pause_state()",
        ));
        row.await.unwrap().unwrap().try_get_by_index::<String>(0).unwrap()
    };
    until("the standby's replay pausing", paused, |state| state == "paused").await;
}

/// The export's payout rows for `token` (the header and byte-order mark aside).
async fn exported(app: &TestApp, token: &str) -> usize {
    let response = app.http.get(app.url("/exports/payouts.csv")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap().lines().skip(1).filter(|l| !l.is_empty()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_read_from_a_postgres_standby_that_keeps_up_and_never_before_the_readers_own_write() {
    if std::env::var("TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()).is_none() {
        eprintln!("notice: TEST_POSTGRES_URL is not set; skipping the standby test");
        return;
    }
    let _ = tracing_subscriber::fmt().with_env_filter("warn,sqlx=off").with_test_writer().try_init();
    let Some(primary) = PrivatePostgres::start().await else { return };
    let admin_db = sea_orm::Database::connect(primary.url("postgres")).await.expect("private server answers");
    sql(&admin_db, "CREATE DATABASE smallpay_standby").await;
    admin_db.close().await.ok();
    let Some(standby) = primary.standby().await else { return };
    let primary_db = sea_orm::Database::connect(primary.url("smallpay_standby")).await.unwrap();
    let standby_db = sea_orm::Database::connect(standby.url("smallpay_standby")).await.unwrap();

    let mut config = test_config();
    config.database_url = primary.url("smallpay_standby").into();
    config.database_replica_url = Some(standby.url("smallpay_standby").into());
    config.replica_max_lag = Duration::from_secs(600);
    let app = TestApp::start(config.clone()).await;
    app.sync_shop("s1", "1000", json!({})).await;
    app.sync_order("o1", "s1", json!({})).await;
    app.sync_order("o2", "s1", json!({})).await;
    let admin = app.admin("s1");
    let reader = app.token(Role::Staff, Some("s1"), "reader");

    // 1. Queries are answered by the standby, once it has shown it keeps up.
    until("a query served by the standby", async || on_standby(&app, &standby, &reader).await, |on| *on).await;
    assert_eq!(seen(&app, &reader).await, ("Shop s1".to_owned(), 0));

    // 2. The standby stops replaying; the primary changes behind smallpay's back. A reader
    //    still sees the standby's state: the answer came from there.
    pause_replay(&standby_db).await;
    rename_on_primary(&primary_db, "renamed on the primary").await;
    assert_eq!(seen(&app, &reader).await, ("Shop s1".to_owned(), 0), "the reader is on the standby");
    assert!(on_standby(&app, &standby, &admin).await, "an account that has not written reads from the standby");

    // 3. The admin's mutation: its own reads go to the primary (its payout, and the newer
    //    name), in GraphQL and in the export; the reader, who wrote nothing, stays on the
    //    standby, which has not replayed either.
    app.pay(&admin, "o1", "5.00", "BALANCE").await;
    assert_eq!(seen(&app, &admin).await, ("renamed on the primary".to_owned(), 1), "the admin reads its own write");
    assert!(!on_standby(&app, &standby, &admin).await, "the admin is on the primary");
    assert_eq!(exported(&app, &admin).await, 1, "the admin's export has its payout");
    assert_eq!(seen(&app, &reader).await, ("Shop s1".to_owned(), 0), "the reader is still on the standby");
    assert_eq!(exported(&app, &reader).await, 0, "the reader's export comes from the standby");

    //    A mutation over a socket counts as well: a second admin pays on o2 through
    //    graphql-transport-ws, and its next reads over HTTP come from the primary.
    let socketeer = app.token(Role::Admin, Some("s1"), "socketeer");
    let input = json!({ "orderSn": "o2", "type": "SHIPPING_FEE", "amount": "3.00", "reason": "运费补偿",
        "message": "运费已退，请查收", "funding": "BALANCE" });
    let mutation = "mutation($i: CreatePayoutInput!) { createPayout(input: $i) { status } }";
    let mut socket = app.subscribe("graphql-transport-ws", &socketeer, mutation, json!({ "i": input })).await;
    let paid = socket.next().await.expect("the mutation over the socket succeeds");
    assert_eq!(paid["createPayout"]["status"], "PAYING", "{paid}");
    assert_eq!(seen(&app, &socketeer).await, ("renamed on the primary".to_owned(), 2), "its own write, by socket");
    assert!(!on_standby(&app, &standby, &socketeer).await, "the socket's writer is on the primary");
    assert_eq!(seen(&app, &reader).await, ("Shop s1".to_owned(), 0), "the reader is still on the standby");

    // 4. Replay resumes: once the standby has replayed past the admin's write, the admin
    //    reads from the standby again.
    sql(&standby_db, "SELECT pg_wal_replay_resume()").await;
    rename_on_primary(&primary_db, "renamed again").await;
    until("the standby replaying the rename", async || seen(&app, &reader).await.0, |n| n == "renamed again").await;
    until("the admin back on the standby", async || on_standby(&app, &standby, &admin).await, |on| *on).await;
    assert_eq!(seen(&app, &admin).await, ("renamed again".to_owned(), 2));

    // 5. A server that allows 1 s of lag skips a standby that falls further behind; the first
    //    server, which allows ten minutes, does not.
    let mut strict = config.clone();
    strict.replica_max_lag = Duration::from_secs(1);
    strict.test_clock_start = Some(app.state.clock.now());
    let strict = TestApp::start(strict).await;
    until("the strict server on the standby", async || on_standby(&strict, &standby, &reader).await, |on| *on).await;
    pause_replay(&standby_db).await;
    rename_on_primary(&primary_db, "renamed a third time").await;
    let lagging_since = Instant::now();
    until(
        "the strict server skipping the lagging standby",
        async || seen(&strict, &reader).await.0,
        |n| n == "renamed a third time",
    )
    .await;
    assert!(lagging_since.elapsed() >= Duration::from_millis(800), "skipped before the lag passed 1 s");
    assert_eq!(seen(&app, &reader).await.0, "renamed again", "the tolerant server still reads the standby");
    let metrics = strict.http.get(strict.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("replica_lag_seconds"), "the lag is exported:\n{metrics}");
    sql(&standby_db, "SELECT pg_wal_replay_resume()").await;
    until("the standby replaying", async || seen(&app, &reader).await.0, |n| n == "renamed a third time").await;

    // 6. The standby goes away: every read answers, from the primary, without an error.
    until("the reader on the standby", async || on_standby(&app, &standby, &reader).await, |on| *on).await;
    standby_db.close().await.ok();
    standby.stop_immediate().await;
    for _ in 0..20 {
        let answer: Value = app.gql(Some(&reader), READ, json!({})).await;
        assert!(answer["errors"].is_null(), "a read while the standby is gone: {answer}");
        assert_eq!(answer["data"]["payouts"]["totalCount"], 2);
    }
    assert_eq!(exported(&app, &admin).await, 2);
    // Writes never went there: they go on.
    app.sync_order("o2", "s1", json!({})).await;
}
