//! The stored vocabulary: typed columns hold exactly the contract's strings, as the first
//! migration's `VARCHAR` columns always did — so rows written before the typed entities read
//! back unchanged, and nothing needed a data migration.
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::{helpers::TestApp, on_both_databases, payouts::shop};

async fn column_strings(app: &TestApp, sql: &str) -> Vec<Vec<Option<String>>> {
    let db = &app.state.db;
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql.to_owned())).await.unwrap();
    rows.iter()
        .map(|row| (0..).map_while(|i| row.try_get_by_index::<Option<String>>(i).ok()).collect::<Vec<_>>())
        .collect()
}

fn strings(values: &[Option<&str>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_owned)).collect()
}

async fn typed_columns_store_the_contract_strings(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    let paid = app.pay(&admin, "O-1", "8.00", "BALANCE").await;
    let stored = column_strings(
        &app,
        &format!(
            "SELECT status, funding, type, refund_status FROM payouts WHERE id = {}",
            paid["id"].as_str().unwrap()
        ),
    )
    .await;
    // The simulated channel delivered it right after the commit.
    assert_eq!(stored, [strings(&[Some("SUCCEEDED"), Some("BALANCE"), Some("SHIPPING_FEE"), Some("NONE")])]);
    let history = column_strings(&app, "SELECT from_status, to_status FROM payout_transitions ORDER BY id").await;
    assert_eq!(history, [strings(&[None, Some("PAYING")]), strings(&[Some("PAYING"), Some("SUCCEEDED")])]);
    let ledger = column_strings(&app, "SELECT kind FROM ledger_entries ORDER BY id").await;
    assert_eq!(ledger, [strings(&[Some("OPENING")]), strings(&[Some("PAYOUT_DEBIT")])]);
    let roles = column_strings(&app, "SELECT role FROM accounts WHERE id = 'admin'").await;
    assert_eq!(roles, [strings(&[Some("ADMIN")])]);
    let jobs = column_strings(&app, "SELECT kind, status FROM scheduled_jobs ORDER BY id").await;
    assert_eq!(jobs, [strings(&[Some("DELIVER"), Some("DONE")]), strings(&[Some("CLOSE"), Some("PENDING")])]);
}

async fn rows_written_as_strings_read_back_typed(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    // A row as the string-typed code wrote it, one per status.
    let statuses = [
        ("PENDING_APPROVAL", "NULL"),
        ("PENDING_RECHARGE", "'WECHAT_SCAN'"),
        ("RECHARGE_FAILED", "'ALIPAY_SCAN'"),
        ("REJECTED", "NULL"),
        ("PAYING", "'BALANCE'"),
        ("SUCCEEDED", "'BALANCE'"),
        ("FAILED", "'BALANCE'"),
        ("CLOSED", "'BALANCE'"),
    ];
    let db = &app.state.db;
    for (i, (status, funding)) in statuses.iter().enumerate() {
        let sql = format!(
            "INSERT INTO payouts (shop_id, order_sn, goods_id, buyer_id, type, amount_fen, reason, message, status, \
             funding, applicant_id, uses_quota, created_at, failure_kind, refund_status, updated_at) VALUES \
             ('s1', 'O-1', 'G-1', 'b-1', 'SHIPPING_FEE', {amount}, 'r', 'm', '{status}', {funding}, 'admin', false, \
             '2026-11-0{day}T00:00:00Z', {failure}, '{refund}', '2026-11-01T00:00:00Z')",
            amount = 100 + i,
            day = i + 1,
            failure = if *status == "FAILED" { "'BUYER_ACCOUNT'" } else { "NULL" },
            refund = if *status == "CLOSED" { "PENDING" } else { "NONE" },
        );
        db.execute_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
    }
    let data = app
        .ok(
            &admin,
            "{ payouts(first: 20) { edges { node { type status funding failureKind refundStatus } } } }",
            json!({}),
        )
        .await;
    let mut read: Vec<Value> = data["payouts"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
    read.reverse();
    let expected: Vec<Value> = statuses
        .iter()
        .map(|(status, funding)| {
            json!({
                "type": "SHIPPING_FEE",
                "status": status,
                "funding": if *funding == "NULL" { Value::Null } else { json!(funding.trim_matches('\'')) },
                "failureKind": if *status == "FAILED" { json!("BUYER_ACCOUNT") } else { Value::Null },
                "refundStatus": if *status == "CLOSED" { "PENDING" } else { "NONE" },
            })
        })
        .collect();
    assert_eq!(read, expected);
}

on_both_databases!(typed_columns_store_the_contract_strings, rows_written_as_strings_read_back_typed);
