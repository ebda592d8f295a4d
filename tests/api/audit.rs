//! The audit (`smallpay audit`, the `audit` query): books built through the API are clean;
//! each corruption planted directly in the database is reported with exactly its kind; a
//! limit lowered later is not reported; an admin sees only its own shop; and the real binary
//! exits 0 on clean books, 1 on a violation and 2 when it cannot run.
use smallpay::config::ExposeSecret as _;
use std::process::Stdio;

use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};
use serde_json::{Value, json};
use smallpay::auth::Role;

use crate::{
    helpers::{Backend, TestApp},
    on_both_databases,
    payouts::shop,
};

const AUDIT: &str = "{ audit { clean shops payouts ledgerEntries checks { check checked violations }
  violations { kind check shopId payoutId accountId orderSn ledgerEntryId day message } } }";
const CONFIRM: &str = "mutation($id: ID!, $t: String!) { confirmRecharge(payoutId: $id, channelTxnId: $t) { id } }";

/// The audit as `token` sees it.
async fn audit(app: &TestApp, token: &str) -> Value {
    app.ok(token, AUDIT, json!({})).await["audit"].clone()
}

fn kinds(report: &Value) -> Vec<String> {
    report["violations"].as_array().unwrap().iter().map(|v| v["kind"].as_str().unwrap().to_owned()).collect()
}

/// Asserts that the platform's audit finds nothing; returns the report.
async fn assert_clean(app: &TestApp) -> Value {
    let report = audit(app, &app.platform()).await;
    assert_eq!(report["clean"], true, "{report:#}");
    assert_eq!(kinds(&report), Vec::<String>::new());
    report
}

/// Runs `sql` in a transaction, audits every shop inside it, and rolls back: the violations
/// the planted corruption causes, and nothing is left behind. Unless the planting writes the
/// day sums itself, they are then kept in step with the planted payouts (as every write keeps
/// them), so that each planting shows the one invariant it breaks.
async fn planted(app: &TestApp, sql: &[String]) -> Vec<smallpay::audit::Violation> {
    let tx = app.state.db.begin().await.unwrap();
    for statement in sql {
        tx.execute_unprepared(statement).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    if !sql.iter().any(|s| s.contains("commit_buckets")) {
        for shop in smallpay::audit::repo::shop_ids(&tx, None).await.unwrap() {
            smallpay::payouts::totals::rebuild(&tx, &shop).await.unwrap();
        }
    }
    let report = smallpay::audit::service::audit_in(&tx, None, app.config.timezone, app.state.clock.now()).await;
    if tx.get_database_backend() == DbBackend::Sqlite {
        // A planting may lift the CHECK constraints of its connection; the pool keeps it.
        tx.execute_unprepared("PRAGMA ignore_check_constraints = OFF").await.unwrap();
    }
    tx.rollback().await.unwrap();
    report.unwrap_or_else(|e| panic!("audit failed: {e:?}")).violations
}

/// Plants `sql` and asserts the audit finds exactly one violation, of `kind`; returns it.
async fn plant(app: &TestApp, kind: &str, sql: &[String]) -> smallpay::audit::Violation {
    let found = planted(app, sql).await;
    let names: Vec<&str> = found.iter().map(|v| v.kind.as_str()).collect();
    assert_eq!(names, [kind], "planting {kind}: {found:#?}");
    found.into_iter().next().unwrap()
}

/// A second entry of `kind` for `payout`, which a unique index forbids: the planting drops it
/// first (inside its transaction, so the rollback restores it).
fn second_entry(kind: &str, amount: i64, payout: &str) -> Vec<String> {
    let mut planted = vec!["DROP INDEX uq_ledger_entries_payout_kind".to_owned()];
    planted.extend(entry("s1", kind, amount, Some(payout)));
    planted
}

/// SQL strings from `&str`s.
fn sql(statements: &[&str]) -> Vec<String> {
    statements.iter().map(|s| (*s).to_owned()).collect()
}

/// A new ledger entry of `shop` after its last one (same time), moving its balance by
/// `amount` fen, for `payout` (or none).
fn entry(shop: &str, kind: &str, amount: i64, payout: Option<&str>) -> Vec<String> {
    let payout = payout.unwrap_or("NULL");
    vec![
        format!(
            "INSERT INTO ledger_entries (shop_id, kind, amount_fen, balance_after_fen, payout_id, reference, at) \
             SELECT shop_id, '{kind}', {amount}, balance_after_fen + {amount}, {payout}, NULL, at FROM ledger_entries \
             WHERE id = (SELECT MAX(id) FROM ledger_entries WHERE shop_id = '{shop}')"
        ),
        format!("UPDATE shops SET balance_fen = balance_fen + {amount} WHERE id = '{shop}'"),
    ]
}

/// The payouts of [`books`], by what they are.
struct Books {
    admin: String,
    /// admin, BALANCE 8.00 → SUCCEEDED.
    balance: String,
    /// cs-1 under its quota (10.00 / 50.00), BALANCE 5.00 and 3.00 → SUCCEEDED.
    quota_paid: String,
    /// cs-1, WECHAT_SCAN 6.00, recharged → SUCCEEDED (three steps of history).
    scan: String,
    /// cs-1, ALIPAY_SCAN 3.00 → PENDING_RECHARGE.
    recharging: String,
    /// cs-1, REQUEST_APPROVAL 4.00 → PENDING_APPROVAL.
    requested: String,
    /// admin, BALANCE 7.00 to a `-invalid` buyer → FAILED, with an open account card.
    failed: String,
    /// cs-1's request for 2.00, approved from the balance → SUCCEEDED.
    approved: String,
    /// cs-1's request for 1.00, rejected → REJECTED.
    rejected: String,
}

/// A shop `s1` (100.00) with payouts in most statuses, each on its own order, all made through
/// the API at one instant of the test clock.
async fn books(app: &TestApp) -> Books {
    let (admin, cs, _) = shop(app, "100", json!({})).await;
    app.ok(
        &admin,
        "mutation { setQuota(accountId: \"cs-1\", perPayoutLimit: \"10\", dailyLimit: \"50\") { dailyLimit } }",
        json!({}),
    )
    .await;
    for n in 1..=9 {
        let buyer = if n == 6 { "b-invalid" } else { "buyer-1" };
        app.sync_order(&format!("O-{n}"), "s1", json!({ "buyerId": buyer })).await;
    }
    let id = |p: Value| p["id"].as_str().unwrap().to_owned();
    let balance = id(app.pay(&admin, "O-1", "8.00", "BALANCE").await);
    let quota_paid = id(app.pay(&cs, "O-2", "5.00", "BALANCE").await);
    app.pay(&cs, "O-9", "3.00", "BALANCE").await;
    let scan = id(app.pay(&cs, "O-3", "6.00", "WECHAT_SCAN").await);
    app.ok(&app.platform(), CONFIRM, json!({ "id": scan, "t": "wx-1" })).await;
    let recharging = id(app.pay(&cs, "O-4", "3.00", "ALIPAY_SCAN").await);
    let requested = id(app.pay(&cs, "O-5", "4.00", "REQUEST_APPROVAL").await);
    let failed = id(app.pay(&admin, "O-6", "7.00", "BALANCE").await);
    let approved = id(app.pay(&cs, "O-7", "2.00", "REQUEST_APPROVAL").await);
    app.ok(&admin, "mutation($id: ID!) { approvePayout(payoutId: $id) { status } }", json!({ "id": approved })).await;
    let rejected = id(app.pay(&cs, "O-8", "1.00", "REQUEST_APPROVAL").await);
    app.ok(
        &admin,
        "mutation($id: ID!) { rejectPayout(payoutId: $id, reason: \"no\") { status } }",
        json!({ "id": rejected }),
    )
    .await;
    Books { admin, balance, quota_paid, scan, recharging, requested, failed, approved, rejected }
}

async fn audit_ledger_and_debits(app: TestApp) {
    let b = books(&app).await;
    let report = assert_clean(&app).await;
    assert_eq!((report["shops"].clone(), report["payouts"].clone()), (json!(1), json!(9)));
    // OPENING and the debits of 8.00, 5.00, 3.00, 7.00 and 2.00.
    assert_eq!(report["ledgerEntries"], 6);
    let checks: Vec<&str> = report["checks"].as_array().unwrap().iter().map(|c| c["check"].as_str().unwrap()).collect();
    assert_eq!(
        checks,
        ["LEDGER", "PAYOUT_MONEY", "APPLICATIONS", "QUOTAS", "SHOP_CAPS", "HISTORY", "JOBS", "DAY_SUMS"]
    );
    assert!(report["checks"].as_array().unwrap().iter().all(|c| c["checked"].as_i64().unwrap() > 0), "{report:#}");

    let v = plant(&app, "BALANCE_MISMATCH", &sql(&["UPDATE shops SET balance_fen = balance_fen - 1 WHERE id = 's1'"]))
        .await;
    assert!(
        v.message.contains("shop s1") && v.message.contains("74.99") && v.message.contains("75.00"),
        "{}",
        v.message
    );
    let last = "(SELECT MAX(id) FROM ledger_entries WHERE shop_id = 's1')";
    let v = plant(
        &app,
        "LEDGER_CHAIN_BROKEN",
        &[format!("UPDATE ledger_entries SET balance_after_fen = balance_after_fen + 1 WHERE id = {last}")],
    )
    .await;
    assert!(v.ledger_entry_id.is_some());

    // The CHECK constraints keep a balance from going negative: lift them inside the planting
    // transaction (rolled back, like the rest).
    let lift = match app.state.db.get_database_backend() {
        DbBackend::Postgres => {
            "DO $$ DECLARE r record; BEGIN FOR r IN SELECT conrelid::regclass AS t, conname \
             FROM pg_constraint WHERE contype = 'c' AND conrelid IN ('shops'::regclass, 'ledger_entries'::regclass) \
             LOOP EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.t, r.conname); END LOOP; END $$"
        }
        _ => "PRAGMA ignore_check_constraints = ON",
    };
    let mut negative = vec![lift.to_owned()];
    negative.extend(sql(&[
        "UPDATE ledger_entries SET balance_after_fen = balance_after_fen - 1000000 WHERE shop_id = 's1'",
        "UPDATE ledger_entries SET amount_fen = amount_fen - 1000000 WHERE shop_id = 's1' AND kind = 'OPENING'",
        "UPDATE shops SET balance_fen = balance_fen - 1000000 WHERE id = 's1'",
    ]));
    let found = planted(&app, &negative).await;
    let names: Vec<&str> = found.iter().map(|v| v.kind.as_str()).collect();
    assert_eq!(names, ["NEGATIVE_BALANCE"], "{found:#?}");

    let v = plant(&app, "DEBIT_WITHOUT_PAYOUT", &entry("s1", "PAYOUT_DEBIT", -100, None)).await;
    assert!(v.message.contains("no payout"), "{}", v.message);
    let v = plant(
        &app,
        "DEBIT_MISMATCH",
        &[format!("UPDATE payouts SET amount_fen = amount_fen + 100 WHERE id = {}", b.balance)],
    )
    .await;
    assert_eq!(v.payout_id.map(|id| id.to_string()), Some(b.balance.clone()));
    plant(&app, "DEBIT_MISMATCH", &[format!("UPDATE payouts SET funding = 'WECHAT_SCAN' WHERE id = {}", b.approved)])
        .await;
    plant(&app, "DUPLICATE_DEBIT", &second_entry("PAYOUT_DEBIT", -800, &b.balance)).await;
    let v = plant(
        &app,
        "MISSING_DEBIT",
        &[format!(
            "UPDATE ledger_entries SET kind = 'ADJUSTMENT', payout_id = NULL, reference = 'planted' \
             WHERE kind = 'PAYOUT_DEBIT' AND payout_id = {}",
            b.failed
        )],
    )
    .await;
    assert_eq!(v.order_sn.as_deref(), Some("O-6"));
    plant(
        &app,
        "SUCCEEDED_AND_REFUNDED",
        &[format!("UPDATE payouts SET refund_status = 'REFUNDED' WHERE id = {}", b.quota_paid)],
    )
    .await;
    // The kept day sums: the shop's one fen too high (it would refuse what the cap allows), and
    // cs-1's quota usage one yuan too low (it would let the quota overshoot).
    let v = plant(
        &app,
        "DAY_SUM_MISMATCH",
        &sql(&["UPDATE commit_buckets SET paid_fen = paid_fen + 1 WHERE shop_id = 's1' AND account_id = ''"]),
    )
    .await;
    assert_eq!(v.account_id, None);
    assert!(v.day.is_some());
    // 8 + 5 + 3 + 6 + 3 + 7 + 2 (the request pending approval and the rejected one do not count).
    assert!(v.message.contains("paid 34.01") && v.message.contains("paid 34.00"), "{}", v.message);
    let v = plant(
        &app,
        "DAY_SUM_MISMATCH",
        &sql(&["UPDATE commit_buckets SET quota_fen = quota_fen - 100 WHERE shop_id = 's1' AND account_id = 'cs-1'"]),
    )
    .await;
    assert_eq!(v.account_id.as_deref(), Some("cs-1"));
    // Nothing planted stayed.
    assert_clean(&app).await;
}

async fn audit_refunds(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    for n in 1..=3 {
        app.sync_order(&format!("R-{n}"), "s1", json!({ "buyerId": "b-invalid" })).await;
    }
    let id = |p: Value| p["id"].as_str().unwrap().to_owned();
    // Two transfers that fail for the buyer's account (one from the balance, one recharged by
    // scan), closed after 7 days and refunded 3 business days later; a third, 3 days younger,
    // closed but not refunded yet.
    let from_balance = id(app.pay(&admin, "R-1", "8.00", "BALANCE").await);
    let scan = id(app.pay(&admin, "R-2", "6.00", "WECHAT_SCAN").await);
    app.ok(&app.platform(), CONFIRM, json!({ "id": scan, "t": "wx-r2" })).await;
    app.advance(3 * 86400).await;
    let younger = id(app.pay(&admin, "R-3", "5.00", "BALANCE").await);
    app.advance(9 * 86400).await;
    let statuses =
        app.ok(&admin, "{ payouts { edges { node { id refundStatus } } } }", json!({})).await["payouts"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (e["node"]["id"].as_str().unwrap().to_owned(), e["node"]["refundStatus"].as_str().unwrap().to_owned())
            })
            .collect::<Vec<_>>();
    assert_eq!(
        statuses,
        [
            (younger.clone(), "PENDING".to_owned()),
            (scan.clone(), "REFUNDED".to_owned()),
            (from_balance.clone(), "REFUNDED".to_owned())
        ]
    );
    // The scan payout's credit has no debit: that is how rules.md wants it.
    assert_clean(&app).await;

    plant(&app, "CREDIT_WITHOUT_PAYOUT", &entry("s1", "REFUND_CREDIT", 100, None)).await;
    let v = plant(
        &app,
        "CREDIT_MISMATCH",
        &[format!("UPDATE payouts SET amount_fen = amount_fen + 100 WHERE id = {scan}")],
    )
    .await;
    assert!(v.message.contains("6.00") && v.message.contains("7.00"), "{}", v.message);
    // A credit for a payout whose refund is still PENDING (its REFUND job kept pending too).
    plant(
        &app,
        "CREDIT_MISMATCH",
        &[
            format!("UPDATE payouts SET refund_status = 'PENDING' WHERE id = {from_balance}"),
            format!(
                "INSERT INTO scheduled_jobs (kind, payout_id, card_id, due_at, status, attempts, last_error, created_at, \
                 done_at) SELECT 'REFUND', payout_id, NULL, due_at, 'PENDING', 0, NULL, created_at, NULL \
                 FROM scheduled_jobs WHERE payout_id = {from_balance} AND kind = 'REFUND'"
            ),
        ],
    )
    .await;
    plant(&app, "DUPLICATE_CREDIT", &second_entry("REFUND_CREDIT", 800, &from_balance)).await;
    plant(
        &app,
        "MISSING_CREDIT",
        &[format!(
            "UPDATE ledger_entries SET kind = 'ADJUSTMENT', payout_id = NULL, reference = 'planted' \
             WHERE kind = 'REFUND_CREDIT' AND payout_id = {scan}"
        )],
    )
    .await;
    let v = plant(
        &app,
        "MISSING_REFUND_JOB",
        &[format!("DELETE FROM scheduled_jobs WHERE payout_id = {younger} AND kind = 'REFUND'")],
    )
    .await;
    assert!(v.message.contains("CLOSED (refund PENDING)"), "{}", v.message);
    assert_clean(&app).await;
}

async fn audit_history(app: TestApp) {
    let b = books(&app).await;
    assert_clean(&app).await;
    plant(&app, "HISTORY_MISSING", &[format!("DELETE FROM payout_transitions WHERE payout_id = {}", b.rejected)]).await;
    plant(
        &app,
        "HISTORY_BAD_START",
        &[format!(
            "UPDATE payout_transitions SET from_status = 'PENDING_APPROVAL' WHERE payout_id = {} AND from_status IS NULL",
            b.scan
        )],
    )
    .await;
    plant(
        &app,
        "HISTORY_CHAIN_BROKEN",
        &[format!(
            "UPDATE payout_transitions SET from_status = 'PENDING_APPROVAL' WHERE payout_id = {} \
             AND from_status = 'PENDING_RECHARGE'",
            b.scan
        )],
    )
    .await;
    plant(
        &app,
        "TRANSITION_NOT_ALLOWED",
        &[format!(
            "INSERT INTO payout_transitions (payout_id, shop_id, order_sn, applicant_id, from_status, to_status, at, actor, note) \
             SELECT payout_id, shop_id, order_sn, applicant_id, 'SUCCEEDED', 'SUCCEEDED', at, 'planted', NULL \
             FROM payout_transitions WHERE payout_id = {} AND to_status = 'SUCCEEDED'",
            b.balance
        )],
    )
    .await;
    let v = plant(
        &app,
        "STATUS_NOT_LATEST_TRANSITION",
        &[format!("UPDATE payouts SET status = 'FAILED' WHERE id = {}", b.balance)],
    )
    .await;
    assert!(v.message.contains("FAILED") && v.message.contains("SUCCEEDED"), "{}", v.message);
    assert_clean(&app).await;
}

async fn audit_limits(app: TestApp) {
    let b = books(&app).await;
    assert_clean(&app).await;
    let v = plant(
        &app,
        "TOO_MANY_APPLICATIONS",
        &[format!("UPDATE payouts SET order_sn = 'O-1' WHERE id IN ({}, {}, {})", b.quota_paid, b.scan, b.approved)],
    )
    .await;
    assert_eq!(v.order_sn.as_deref(), Some("O-1"));
    // cs-1 paid 5.00 and 3.00 itself; the approved request is not its quota's.
    let v = plant(
        &app,
        "QUOTA_PER_PAYOUT_EXCEEDED",
        &sql(&["UPDATE quotas SET per_payout_limit_fen = 499 WHERE account_id = 'cs-1'"]),
    )
    .await;
    assert_eq!(
        (v.account_id.as_deref(), v.payout_id.map(|p| p.to_string())),
        (Some("cs-1"), Some(b.quota_paid.clone()))
    );
    let v = plant(
        &app,
        "QUOTA_DAILY_EXCEEDED",
        &sql(&["UPDATE quotas SET per_payout_limit_fen = 500, daily_limit_fen = 799 WHERE account_id = 'cs-1'"]),
    )
    .await;
    assert!(v.day.is_some() && v.message.contains("8.00") && v.message.contains("7.99"), "{}", v.message);
    // Committed today: 8 + 5 + 3 + 6 + 3 (waiting for its recharge) + 7 + 2 = 34.00, of which
    // 25.00 from the balance.
    let v =
        plant(&app, "SHOP_DAILY_CAP_EXCEEDED", &sql(&["UPDATE shops SET daily_cap_fen = 3399 WHERE id = 's1'"])).await;
    assert!(v.message.contains("34.00") && v.message.contains("33.99"), "{}", v.message);
    plant(
        &app,
        "SHOP_DAILY_BALANCE_CAP_EXCEEDED",
        &sql(&["UPDATE shops SET daily_balance_cap_fen = 2499 WHERE id = 's1'"]),
    )
    .await;
    assert!(
        planted(&app, &sql(&["UPDATE shops SET daily_cap_fen = 3400, daily_balance_cap_fen = 2500"])).await.is_empty()
    );

    // Limits lowered later, through the API, are no violation: what was paid was allowed then.
    app.advance(1).await;
    app.ok(
        &b.admin,
        "mutation { setQuota(accountId: \"cs-1\", perPayoutLimit: \"1\", dailyLimit: \"1\") { dailyLimit } }",
        json!({}),
    )
    .await;
    app.sync_shop("s1", "100", json!({ "dailyCap": "1", "dailyBalanceCap": "1" })).await;
    let report = assert_clean(&app).await;
    let judged = |check: &str| {
        report["checks"].as_array().unwrap().iter().find(|c| c["check"] == check).unwrap()["checked"].as_i64().unwrap()
    };
    assert_eq!((judged("QUOTAS"), judged("SHOP_CAPS")), (0, 0), "{report:#}");
}

async fn audit_jobs(app: TestApp) {
    let b = books(&app).await;
    assert_clean(&app).await;
    // A PAYING payout whose delivery was never scheduled; with a DELIVER job (any status) it
    // is fine.
    let paying = [
        format!("DELETE FROM payout_transitions WHERE payout_id = {} AND to_status = 'SUCCEEDED'", b.balance),
        format!("UPDATE payouts SET status = 'PAYING', succeeded_at = NULL WHERE id = {}", b.balance),
        format!("DELETE FROM scheduled_jobs WHERE payout_id = {} AND kind = 'DELIVER'", b.balance),
    ];
    plant(&app, "MISSING_DELIVER_JOB", &paying).await;
    let mut delivered = paying.to_vec();
    delivered.push(format!(
        "INSERT INTO scheduled_jobs (kind, payout_id, card_id, due_at, status, attempts, last_error, created_at, done_at) \
         SELECT 'DELIVER', payout_id, NULL, created_at, 'DONE', 1, NULL, created_at, created_at FROM scheduled_jobs \
         WHERE payout_id = {} AND kind = 'CLOSE'",
        b.balance
    ));
    assert!(planted(&app, &delivered).await.is_empty());

    plant(
        &app,
        "MISSING_APPROVAL_EXPIRY_JOB",
        &[format!("DELETE FROM scheduled_jobs WHERE payout_id = {} AND kind = 'APPROVAL_EXPIRY'", b.requested)],
    )
    .await;
    let v = plant(
        &app,
        "MISSING_RECHARGE_DEADLINE_JOB",
        &[format!(
            "UPDATE scheduled_jobs SET status = 'FAILED' WHERE payout_id = {} AND kind = 'RECHARGE_DEADLINE'",
            b.recharging
        )],
    )
    .await;
    assert!(v.message.contains("found: FAILED"), "{}", v.message);
    plant(
        &app,
        "MISSING_CLOSE_JOB",
        &[format!("DELETE FROM scheduled_jobs WHERE payout_id = {} AND kind = 'CLOSE'", b.failed)],
    )
    .await;
    let v =
        plant(&app, "MISSING_CARD_EXPIRY_JOB", &sql(&["DELETE FROM scheduled_jobs WHERE kind = 'CARD_EXPIRY'"])).await;
    assert_eq!(v.payout_id.map(|p| p.to_string()), Some(b.failed.clone()));
    assert_clean(&app).await;
}

async fn audit_tenancy(app: TestApp) {
    for (shop, order) in [("shop-a", "A-1"), ("shop-b", "B-1")] {
        app.sync_shop(shop, "50", json!({})).await;
        app.sync_order(order, shop, json!({})).await;
        app.pay(&app.admin(shop), order, "5.00", "BALANCE").await;
    }
    let (admin_a, admin_b) = (app.admin("shop-a"), app.admin("shop-b"));
    for token in [&admin_a, &admin_b] {
        assert_eq!(audit(&app, token).await["clean"], true);
    }
    // Shop B's books go wrong (committed, seen by every audit from now on).
    app.state
        .db
        .execute_unprepared("UPDATE shops SET balance_fen = balance_fen - 1 WHERE id = 'shop-b'")
        .await
        .unwrap();

    let a = audit(&app, &admin_a).await;
    assert_eq!((a["clean"].clone(), a["shops"].clone(), a["payouts"].clone()), (json!(true), json!(1), json!(1)));
    assert!(!a.to_string().contains("shop-b"), "{a:#}");
    let b = audit(&app, &admin_b).await;
    assert_eq!((b["clean"].clone(), b["shops"].clone()), (json!(false), json!(1)));
    assert_eq!(kinds(&b), ["BALANCE_MISMATCH"]);
    assert_eq!(b["violations"][0]["shopId"], "shop-b");
    assert_eq!(b["violations"][0]["check"], "LEDGER");
    let all = audit(&app, &app.platform()).await;
    assert_eq!((all["shops"].clone(), kinds(&all)), (json!(2), vec!["BALANCE_MISMATCH".to_owned()]));
    assert_eq!(all["checks"][0], json!({ "check": "LEDGER", "checked": 4, "violations": 1 }));

    // Only PLATFORM and ADMIN may audit.
    for role in [Role::CsAdmin, Role::Cs, Role::Staff] {
        let token = app.token(role, Some("shop-a"), "someone");
        assert_eq!(app.code(Some(&token), AUDIT, json!({})).await, "FORBIDDEN", "{role:?}");
    }
    assert_eq!(app.code(Some(&app.token(Role::Buyer, None, "buyer-1")), AUDIT, json!({})).await, "FORBIDDEN");
    assert_eq!(app.code(None, AUDIT, json!({})).await, "UNAUTHENTICATED");
}

on_both_databases!(audit_ledger_and_debits, audit_refunds, audit_history, audit_limits, audit_jobs, audit_tenancy);

/// Runs `smallpay audit` with `args`; returns its exit code and what it printed.
async fn run_audit(args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_smallpay"))
        .arg("audit")
        .args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("smallpay runs");
    (
        out.status.code().expect("exited"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_binary_exits_0_when_clean_1_on_a_violation_2_when_it_cannot_run_sqlite() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    books(&app).await;
    let url = app.config.database_url.expose_secret().to_owned();

    let (code, out, err) = run_audit(&["--database-url", &url]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 shop(s), 9 payout(s), 6 ledger entries") && out.contains("clean: no violations"), "{out}");
    for check in ["LEDGER", "PAYOUT_MONEY", "APPLICATIONS", "QUOTAS", "SHOP_CAPS", "HISTORY", "JOBS"] {
        assert!(out.contains(check), "{check}: {out}");
    }

    app.state.db.execute_unprepared("UPDATE shops SET balance_fen = balance_fen - 1 WHERE id = 's1'").await.unwrap();
    let (code, out, err) = run_audit(&["--database-url", &url]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("1 violation(s):"), "{out}");
    assert!(out.contains("BALANCE_MISMATCH") && out.contains("shop s1: the balance is 74.99"), "{out}");

    // A database that is not there, or not migrated.
    let dir = std::env::temp_dir().join(format!("smallpay-audit-{}", uuid::Uuid::new_v4().simple()));
    let missing = format!("sqlite://{}", dir.join("none.db").display());
    let (code, out, err) = run_audit(&["--database-url", &missing]).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("smallpay audit:"), "{err}");
    std::fs::create_dir_all(&dir).unwrap();
    let empty = format!("sqlite://{}?mode=rwc", dir.join("empty.db").display());
    let (code, _, err) = run_audit(&["--database-url", &empty]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not migrated"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
