//! The payout lifecycle through the API with the test clock: scan-to-pay and its 1 h window,
//! transfer results, closing after 7 days and the refund 3 business days later, refused
//! edges, restarts and several instances.
use chrono::{DateTime, Datelike, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Asia::Shanghai;
use serde_json::{Value, json};
use smallpay::auth::Role;

use crate::{
    helpers::{Backend, TestApp, first_code, instant},
    on_both_databases,
    payouts::shop,
};

const PAYOUT: &str = "query($id: ID!) { payout(id: $id) { id status funding deductedAt succeededAt failureKind
  failureReason closedAt refundStatus refundedAt updatedAt recharge { qrPayload deadline } history { from to actor note } } }";
const CONTINUE: &str = "mutation($id: ID!) { continueRecharge(payoutId: $id) { method qrPayload deadline } }";
const CONFIRM: &str =
    "mutation($id: ID!, $t: String!) { confirmRecharge(payoutId: $id, channelTxnId: $t) { id status deductedAt } }";
const REPORT: &str = "mutation($id: ID!, $ok: Boolean!, $k: TransferFailureKind, $r: String) {
  reportTransferResult(payoutId: $id, succeeded: $ok, failureKind: $k, failureReason: $r) { id status failureKind failureReason } }";

async fn payout(app: &TestApp, token: &str, id: &Value) -> Value {
    app.ok(token, PAYOUT, json!({ "id": id })).await["payout"].clone()
}

fn statuses(p: &Value) -> Vec<String> {
    p["history"].as_array().unwrap().iter().map(|t| t["to"].as_str().unwrap().to_owned()).collect()
}

async fn scan_to_pay_within_the_hour(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    let p = app.pay(&cs, "O-1", "8.00", "ALIPAY_SCAN").await;
    let id = p["id"].clone();
    // The applicant and the admin may fetch the QR code again; another agent may not, and
    // another shop does not see the payout at all.
    for token in [&cs, &admin] {
        let info = app.ok(token, CONTINUE, json!({ "id": id })).await["continueRecharge"].clone();
        assert_eq!(info["qrPayload"], p["recharge"]["qrPayload"]);
        assert_eq!(info["method"], "ALIPAY_SCAN");
    }
    let other = app.token(Role::Cs, Some("s1"), "cs-2");
    assert_eq!(app.code(Some(&other), CONTINUE, json!({ "id": id })).await, "FORBIDDEN");
    app.sync_shop("s2", "0", json!({})).await;
    assert_eq!(app.code(Some(&app.admin("s2")), CONTINUE, json!({ "id": id })).await, "NOT_FOUND");

    app.advance(3599).await;
    app.ok(&cs, CONTINUE, json!({ "id": id })).await;
    let p = app.platform();
    let confirmed = app.ok(&p, CONFIRM, json!({ "id": id, "t": "alipay-txn-1" })).await["confirmRecharge"].clone();
    assert_eq!(confirmed["status"], "PAYING");
    assert!(confirmed["deductedAt"].is_string());
    // The simulated channel delivered right after; a replayed callback changes nothing.
    let replay = app.ok(&p, CONFIRM, json!({ "id": id, "t": "alipay-txn-1" })).await["confirmRecharge"].clone();
    assert_eq!(replay["status"], "SUCCEEDED");
    let now = payout(&app, &admin, &id).await;
    assert_eq!(statuses(&now), ["PENDING_RECHARGE", "PAYING", "SUCCEEDED"]);
    assert_eq!(now["recharge"], json!(null));
    // A recharge takes nothing from the balance.
    assert_eq!(app.balance_and_ledger("s1").await, (10000, 10000));
    // Another transaction for a payout no longer waiting; a transaction id used elsewhere.
    assert_eq!(app.code(Some(&p), CONFIRM, json!({ "id": id, "t": "alipay-txn-2" })).await, "INVALID_STATE");
    assert_eq!(app.code(Some(&admin), CONTINUE, json!({ "id": id })).await, "INVALID_STATE");
    app.sync_order("O-2", "s1", json!({})).await;
    let second = app.pay(&cs, "O-2", "1.00", "WECHAT_SCAN").await;
    assert_eq!(app.code(Some(&p), CONFIRM, json!({ "id": second["id"], "t": "alipay-txn-1" })).await, "BAD_USER_INPUT");
    assert_eq!(app.code(Some(&p), CONFIRM, json!({ "id": "999999", "t": "x" })).await, "NOT_FOUND");
}

async fn the_recharge_window_closes_at_exactly_one_hour(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    let id = app.pay(&cs, "O-1", "8.00", "WECHAT_SCAN").await["id"].clone();
    let paid = app.ok(&admin, "{ shop { paidToday } }", json!({})).await;
    assert_eq!(paid["shop"]["paidToday"], "8.00");
    app.advance(3599).await;
    assert_eq!(payout(&app, &admin, &id).await["status"], "PENDING_RECHARGE");
    let answer = app.advance(1).await;
    assert_eq!(answer["jobsRun"], 1);
    let failed = payout(&app, &admin, &id).await;
    assert_eq!(failed["status"], "RECHARGE_FAILED");
    assert_eq!(
        failed["history"][1],
        json!({ "from": "PENDING_RECHARGE", "to": "RECHARGE_FAILED", "actor": "system", "note": "not recharged within 1 h" })
    );
    assert_eq!(app.code(Some(&cs), CONTINUE, json!({ "id": id })).await, "INVALID_STATE");
    assert_eq!(app.code(Some(&app.platform()), CONFIRM, json!({ "id": id, "t": "late" })).await, "INVALID_STATE");
    // A failed recharge counts in no sum and is no application: a new payout may be made.
    let paid = app.ok(&admin, "{ shop { paidToday } }", json!({})).await;
    assert_eq!(paid["shop"]["paidToday"], "0.00");
    let preview = app.ok(&cs, crate::payouts::PREVIEW, json!({ "o": "O-1" })).await;
    assert_eq!(preview["payoutPreview"]["remainingAttempts"], 3);
    app.pay(&cs, "O-1", "8.00", "WECHAT_SCAN").await;
}

async fn transfer_results_settle_paying_payouts_only(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    for sn in ["O-1", "O-2", "O-3", "O-4", "O-5"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    let p = app.platform();
    let a = app.pay(&admin, "O-1", "5.00", "BALANCE").await["id"].clone();
    let b = app.pay(&admin, "O-2", "5.00", "BALANCE").await["id"].clone();
    let c = app.pay(&admin, "O-3", "5.00", "BALANCE").await["id"].clone();
    assert_eq!(payout(&app, &admin, &a).await["status"], "PAYING", "the manual channel waits");
    let ok = app.ok(&p, REPORT, json!({ "id": a, "ok": true })).await;
    assert_eq!(ok["reportTransferResult"]["status"], "SUCCEEDED");
    let other = app.ok(&p, REPORT, json!({ "id": b, "ok": false, "k": "OTHER", "r": "channel rejected" })).await;
    assert_eq!(
        other["reportTransferResult"],
        json!({ "id": b, "status": "FAILED", "failureKind": "OTHER", "failureReason": "channel rejected" })
    );
    let default_kind = app.ok(&p, REPORT, json!({ "id": c, "ok": false })).await;
    assert_eq!(default_kind["reportTransferResult"]["failureKind"], "BUYER_ACCOUNT");

    // Results for payouts with no transfer under way: refused, nothing changes.
    let scan = app.pay(&admin, "O-4", "5.00", "WECHAT_SCAN").await["id"].clone();
    let request = app.pay(&cs, "O-5", "5.00", "REQUEST_APPROVAL").await["id"].clone();
    for (id, ok) in [(&a, false), (&a, true), (&b, true), (&scan, true), (&request, false)] {
        let before = payout(&app, &admin, id).await;
        assert_eq!(app.code(Some(&p), REPORT, json!({ "id": id, "ok": ok })).await, "INVALID_STATE", "{before}");
        assert_eq!(payout(&app, &admin, id).await, before);
    }
    assert_eq!(app.code(Some(&admin), REPORT, json!({ "id": a, "ok": true })).await, "FORBIDDEN");
    assert_eq!(app.balance_and_ledger("s1").await, (8500, 8500));
}

/// The next Friday 10:00 in Shanghai at least `after` from `now`.
fn friday_ten(now: DateTime<Utc>, after: TimeDelta) -> DateTime<Utc> {
    let mut day = (now + after).with_timezone(&Shanghai).date_naive();
    loop {
        let candidate = Shanghai
            .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(10, 0, 0).unwrap()))
            .unwrap()
            .with_timezone(&Utc);
        if day.weekday() == Weekday::Fri && candidate >= now + after {
            return candidate;
        }
        day = day.succ_opt().unwrap();
    }
}

async fn a_payout_closes_after_seven_days_and_is_refunded_three_business_days_later(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    for sn in ["O-1", "O-2", "O-3", "O-4"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    let p = app.platform();
    // Commit on a Friday 10:00, so the close falls on the next Friday 10:00.
    let now = app.state.clock.now();
    let commit = friday_ten(now, TimeDelta::zero());
    app.advance((commit - now).num_seconds()).await;
    let paying = app.pay(&admin, "O-1", "10.00", "BALANCE").await["id"].clone();
    let failed = app.pay(&admin, "O-2", "20.00", "BALANCE").await["id"].clone();
    app.ok(&p, REPORT, json!({ "id": failed, "ok": false })).await;
    let done = app.pay(&admin, "O-3", "30.00", "BALANCE").await["id"].clone();
    app.ok(&p, REPORT, json!({ "id": done, "ok": true })).await;
    let scan = app.pay(&admin, "O-4", "7.00", "WECHAT_SCAN").await["id"].clone();
    app.ok(&p, CONFIRM, json!({ "id": scan, "t": "wx-1" })).await;
    assert_eq!(app.balance_and_ledger("s1").await, (4000, 4000));

    // `updatedAt` (an addition to the contract) is the last change's instant: here every
    // payout's creation and first status changes happened at the commit.
    assert_eq!(instant(&payout(&app, &admin, &paying).await["updatedAt"]), commit);
    app.advance(7 * 86400 - 1).await;
    for id in [&paying, &failed, &scan] {
        assert_eq!(payout(&app, &admin, id).await["refundStatus"], "NONE");
    }
    app.advance(1).await;
    for (id, from) in [(&paying, "PAYING"), (&failed, "FAILED"), (&scan, "PAYING")] {
        let closed = payout(&app, &admin, id).await;
        assert_eq!((closed["status"].as_str(), closed["refundStatus"].as_str()), (Some("CLOSED"), Some("PENDING")));
        let last = closed["history"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            last,
            json!({ "from": from, "to": "CLOSED", "actor": "system", "note": "closed 7 days after commit" })
        );
        let closed_at = instant(&closed["closedAt"]);
        assert_eq!(closed_at, commit + TimeDelta::days(7));
        assert_eq!(instant(&closed["updatedAt"]), closed_at, "the close is its last change");
    }
    assert_eq!(payout(&app, &admin, &done).await["status"], "SUCCEEDED", "a delivered payout never closes");
    // A result arriving after the close changes nothing.
    assert_eq!(app.code(Some(&p), REPORT, json!({ "id": paying, "ok": true })).await, "INVALID_STATE");

    // Closed Friday 10:00 → refunded Wednesday 10:00 (Mon, Tue, Wed).
    let wednesday = commit + TimeDelta::days(7 + 5);
    assert_eq!(wednesday.with_timezone(&Shanghai).weekday(), Weekday::Wed);
    app.advance(5 * 86400 - 1).await;
    assert_eq!(payout(&app, &admin, &paying).await["refundStatus"], "PENDING");
    assert_eq!(app.balance_and_ledger("s1").await, (4000, 4000));
    app.advance(1).await;
    for id in [&paying, &failed, &scan] {
        let refunded = payout(&app, &admin, id).await;
        assert_eq!(refunded["refundStatus"], "REFUNDED");
        assert_eq!(instant(&refunded["refundedAt"]), wednesday);
        assert_eq!(instant(&refunded["updatedAt"]), wednesday, "the refund is its last change");
    }
    // 100 − 10 − 20 − 30 + 10 + 20 + 7 (the scan payout's recharge returns to the balance too).
    assert_eq!(app.balance_and_ledger("s1").await, (7700, 7700));
    // Nothing is refunded twice.
    assert_eq!(app.advance(30 * 86400).await["jobsRun"], 0, "every deadline ran once already");
    assert_eq!(app.balance_and_ledger("s1").await, (7700, 7700));

    // rules.md, "Counting": the 3-limit counts every payout of the order but REJECTED and
    // RECHARGE_FAILED ones, so a closed and refunded payout keeps its attempt.
    let remaining = "query($o: String!) { payoutPreview(orderSn: $o) { remainingAttempts } }";
    assert_eq!(app.ok(&admin, remaining, json!({ "o": "O-1" })).await["payoutPreview"]["remainingAttempts"], 2);
    app.pay(&admin, "O-1", "1.00", "BALANCE").await;
    app.advance(60).await;
    app.pay(&admin, "O-1", "1.00", "BALANCE").await;
    app.advance(60).await;
    let r = app.create_payout(&admin, "O-1", "1.00", "BALANCE", json!({})).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "ORDER_ATTEMPTS_EXHAUSTED", "{r}");
}

async fn deadlines_survive_a_restart(mut app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    let id = app.pay(&admin, "O-1", "8.00", "WECHAT_SCAN").await["id"].clone();
    app.restart().await;
    let admin = app.admin("s1");
    assert_eq!(payout(&app, &admin, &id).await["status"], "PENDING_RECHARGE");
    app.advance(3600).await;
    assert_eq!(payout(&app, &admin, &id).await["status"], "RECHARGE_FAILED");
}

on_both_databases!(
    scan_to_pay_within_the_hour,
    the_recharge_window_closes_at_exactly_one_hour,
    deadlines_survive_a_restart,
);

on_both_databases!(manual_channel:
    transfer_results_settle_paying_payouts_only,
    a_payout_closes_after_seven_days_and_is_refunded_three_business_days_later,
);

/// Two instances on one PostgreSQL database advance their clocks at the same time: every
/// deadline runs exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_run_each_deadline_once_postgres() {
    let Some(app) = TestApp::try_spawn(Backend::Postgres).await else {
        return;
    };
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let sn = format!("O-{i}");
        app.sync_order(&sn, "s1", json!({})).await;
        ids.push(app.pay(&admin, &sn, "1.00", "WECHAT_SCAN").await["id"].clone());
    }
    let other = app.second_instance().await;
    let (a, b) = tokio::join!(app.advance(3600), other.advance(3600));
    let ran = a["jobsRun"].as_u64().unwrap() + b["jobsRun"].as_u64().unwrap();
    assert_eq!(ran, 12, "{a} {b}");
    for id in &ids {
        let p = payout(&other, &admin, id).await;
        assert_eq!(statuses(&p), ["PENDING_RECHARGE", "RECHARGE_FAILED"]);
    }
    assert!(first_code(&other.gql(None, "{ me { id } }", json!({})).await) == "UNAUTHENTICATED");
}
