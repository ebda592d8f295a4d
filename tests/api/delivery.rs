//! Durable delivery through the API: a lost channel answer is asked again (never guessed, never
//! paid twice), survives a restart, and a close never refunds what the channel delivered.
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::{helpers::TestApp, on_both_databases, payouts::shop};

const PAYOUT: &str = "query($id: ID!) { payout(id: $id) { id status refundStatus succeededAt history { to } } }";

async fn status(app: &TestApp, token: &str, id: &Value) -> Value {
    app.ok(token, PAYOUT, json!({ "id": id })).await["payout"].clone()
}

/// The simulated channel's books for a payout: (outcome, rows).
async fn channel_rows(app: &TestApp, payout_id: &Value) -> Vec<String> {
    let db = &app.state.db;
    let sql = format!(
        "SELECT outcome FROM channel_transfers WHERE payout_id = {} ORDER BY key",
        payout_id.as_str().unwrap().parse::<i64>().unwrap()
    );
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
    rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect()
}

async fn execute(app: &TestApp, sql: &str) {
    let db = &app.state.db;
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql.to_owned())).await.unwrap();
}

async fn a_lost_answer_is_asked_again_and_paid_once(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({ "buyerId": "b-timeout" })).await;
    let p = app.pay(&admin, "O-1", "8.00", "BALANCE").await;
    assert_eq!(p["status"], "PAYING");
    // The channel moved the money but its answer was lost: the payout waits, not guessed.
    assert_eq!(status(&app, &admin, &p["id"]).await["status"], "PAYING");
    assert_eq!(channel_rows(&app, &p["id"]).await, ["DELIVERED"]);
    // Before the lease runs out nobody asks again; after it, the runner asks `status(key)`.
    app.advance(10).await;
    assert_eq!(status(&app, &admin, &p["id"]).await["status"], "PAYING");
    app.advance(25).await;
    let settled = status(&app, &admin, &p["id"]).await;
    assert_eq!(settled["status"], "SUCCEEDED", "{settled}");
    assert_eq!(channel_rows(&app, &p["id"]).await, ["DELIVERED"], "paid exactly once");
    // Nothing more happens later: no refund of a delivered transfer.
    app.advance(8 * 24 * 3600).await;
    let later = status(&app, &admin, &p["id"]).await;
    assert_eq!((later["status"].clone(), later["refundStatus"].clone()), (json!("SUCCEEDED"), json!("NONE")));
    assert_eq!(app.balance_and_ledger("s1").await, (92_00, 92_00));
}

async fn a_pending_delivery_survives_a_restart(mut app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({ "buyerId": "b-timeout" })).await;
    let p = app.pay(&admin, "O-1", "8.00", "BALANCE").await;
    app.restart().await;
    assert_eq!(status(&app, &admin, &p["id"]).await["status"], "PAYING");
    app.advance(60).await;
    assert_eq!(status(&app, &admin, &p["id"]).await["status"], "SUCCEEDED");
    assert_eq!(channel_rows(&app, &p["id"]).await, ["DELIVERED"]);
}

/// rules.md "Statuses", `CLOSED` (a decision that came from the README): when the channel
/// answers at the close that it already delivered the money, the payout is `SUCCEEDED`, never
/// closed or refunded — money paid is never returned to the shop.
async fn a_close_never_refunds_what_the_channel_delivered(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({ "buyerId": "b-timeout" })).await;
    let p = app.pay(&admin, "O-1", "8.00", "BALANCE").await;
    // The delivery job is lost (as if its runner's answer never came back and the job was
    // gone): only the close is left to find out what the channel did.
    execute(&app, "UPDATE scheduled_jobs SET status = 'DONE' WHERE kind = 'DELIVER'").await;
    app.advance(7 * 24 * 3600 + 60).await;
    let closed = status(&app, &admin, &p["id"]).await;
    assert_eq!(closed["status"], "SUCCEEDED", "the channel delivered it: {closed}");
    app.advance(7 * 24 * 3600).await;
    let later = status(&app, &admin, &p["id"]).await;
    assert_eq!(later["refundStatus"], "NONE");
    assert_eq!(app.balance_and_ledger("s1").await, (92_00, 92_00), "no refund of a paid transfer");
}

async fn a_close_refunds_only_what_the_channel_confirms_unpaid(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({ "buyerId": "b-timeout" })).await;
    let p = app.pay(&admin, "O-1", "8.00", "BALANCE").await;
    // As if the process stopped between the commit and the channel call: the channel never
    // saw the key, and the job was lost.
    execute(&app, "DELETE FROM channel_transfers").await;
    execute(&app, "UPDATE scheduled_jobs SET status = 'DONE' WHERE kind = 'DELIVER'").await;
    app.advance(7 * 24 * 3600 + 60).await;
    let closed = status(&app, &admin, &p["id"]).await;
    assert_eq!((closed["status"].clone(), closed["refundStatus"].clone()), (json!("CLOSED"), json!("PENDING")));
    assert_eq!(channel_rows(&app, &p["id"]).await, ["CANCELLED"], "the key can never pay now");
    app.advance(7 * 24 * 3600).await;
    assert_eq!(status(&app, &admin, &p["id"]).await["refundStatus"], "REFUNDED");
    assert_eq!(app.balance_and_ledger("s1").await, (100_00, 100_00));
}

on_both_databases!(
    a_lost_answer_is_asked_again_and_paid_once,
    a_pending_delivery_survives_a_restart,
    a_close_never_refunds_what_the_channel_delivered,
    a_close_refunds_only_what_the_channel_confirms_unpaid,
);

/// SQLite commits reach the disk before they are acknowledged (`synchronous=FULL`), unless the
/// operator chooses `normal`.
#[tokio::test]
async fn sqlite_is_durable_by_default() {
    async fn synchronous(app: &TestApp) -> i64 {
        let db = &app.state.db;
        let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), "PRAGMA synchronous")).await;
        row.unwrap().unwrap().try_get_by_index::<i64>(0).unwrap()
    }
    let durable = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    assert_eq!(synchronous(&durable).await, 2, "FULL");
    let fast = TestApp::try_spawn_with(crate::helpers::Backend::Sqlite, |c| {
        c.sqlite_synchronous = smallpay::config::SqliteSynchronous::Normal;
    })
    .await
    .unwrap();
    assert_eq!(synchronous(&fast).await, 1, "NORMAL");
}
