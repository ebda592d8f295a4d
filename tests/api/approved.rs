//! After the approval: deadlines run from the approval (the commit), not from the request; the
//! balance blockers re-checked at approval each at its boundary; a close that cancels a late
//! transfer result. Instants typed out from the test clock's start (Tuesday 2026-11-24 10:00
//! in Shanghai = 02:00 UTC).
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use smallpay::auth::Role;

use crate::{
    helpers::{TestApp, first_code},
    on_both_databases,
    payouts::shop,
};

const APPROVE: &str = "mutation($id: ID!, $f: FundingMethod) { approvePayout(payoutId: $id, funding: $f) { status recharge { deadline } } }";
const PAYOUT: &str = "query($id: ID!) { payout(id: $id) { status deductedAt closedAt refundStatus refundedAt } }";
const REPORT: &str =
    "mutation($id: ID!, $ok: Boolean!) { reportTransferResult(payoutId: $id, succeeded: $ok) { status } }";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn advance_to(app: &TestApp, when: &str) {
    let now = app.state.clock.now();
    app.advance((at(when) - now).num_seconds()).await;
    assert_eq!(app.state.clock.now(), at(when));
}

async fn ask(app: &TestApp, token: &str, order: &str, amount: &str) -> Value {
    let r = app.create_payout(token, order, amount, "REQUEST_APPROVAL", json!({})).await;
    assert_eq!(r["data"]["createPayout"]["status"], "PENDING_APPROVAL", "{r}");
    r["data"]["createPayout"].clone()
}

async fn status(app: &TestApp, admin: &str, id: &Value) -> Value {
    app.ok(admin, PAYOUT, json!({ "id": id })).await["payout"].clone()
}

async fn deadlines_run_from_the_approval(manual: TestApp) {
    let app = manual;
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    for sn in ["O-1", "O-2"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    assert_eq!(app.state.clock.now(), at("2026-11-24T02:00:00Z"));
    let scan = ask(&app, &cs, "O-1", "10.00").await;
    let balance = ask(&app, &cs, "O-2", "20.00").await;

    // Approved two days later (Thursday 10:00 Shanghai).
    advance_to(&app, "2026-11-26T02:00:00Z").await;
    let r = app.ok(&admin, APPROVE, json!({ "id": scan["id"], "f": "WECHAT_SCAN" })).await["approvePayout"].clone();
    assert_eq!(r["status"], "PENDING_RECHARGE");
    assert_eq!(r["recharge"]["deadline"].as_str().map(at), Some(at("2026-11-26T03:00:00Z")), "approval + 1 h");
    let r = app.ok(&admin, APPROVE, json!({ "id": balance["id"], "f": "BALANCE" })).await["approvePayout"].clone();
    assert_eq!(r["status"], "PAYING");
    assert_eq!(app.balance_and_ledger("s1").await, (8000, 8000));

    // The recharge window: one hour from the approval.
    advance_to(&app, "2026-11-26T02:59:59Z").await;
    assert_eq!(status(&app, &admin, &scan["id"]).await["status"], "PENDING_RECHARGE");
    advance_to(&app, "2026-11-26T03:00:00Z").await;
    assert_eq!(status(&app, &admin, &scan["id"]).await["status"], "RECHARGE_FAILED");

    // The request's 7-day expiry (request + 7 days) leaves the approved payout alone…
    advance_to(&app, "2026-12-01T02:00:00Z").await;
    assert_eq!(status(&app, &admin, &balance["id"]).await["status"], "PAYING");
    // …it closes 7 days after the approval (the commit): Thursday 2026-12-03 10:00 Shanghai.
    advance_to(&app, "2026-12-03T01:59:59Z").await;
    assert_eq!(status(&app, &admin, &balance["id"]).await["status"], "PAYING");
    advance_to(&app, "2026-12-03T02:00:00Z").await;
    let closed = status(&app, &admin, &balance["id"]).await;
    assert_eq!((closed["status"].as_str(), closed["refundStatus"].as_str()), (Some("CLOSED"), Some("PENDING")));
    assert_eq!(closed["closedAt"].as_str().map(at), Some(at("2026-12-03T02:00:00Z")));

    // The channel's transfer was cancelled at the close: a late result changes nothing.
    let before = app.balance_and_ledger("s1").await;
    for ok in [true, false] {
        let late = app.gql(Some(&app.platform()), REPORT, json!({ "id": balance["id"], "ok": ok })).await;
        assert_eq!(first_code(&late), "INVALID_STATE", "{late}");
    }
    assert_eq!(app.balance_and_ledger("s1").await, before);
    assert_eq!(status(&app, &admin, &balance["id"]).await["status"], "CLOSED");

    // Refunded 3 business days later (Friday, Monday, Tuesday): Tuesday 2026-12-08 10:00.
    advance_to(&app, "2026-12-08T01:59:59Z").await;
    assert_eq!(status(&app, &admin, &balance["id"]).await["refundStatus"], "PENDING");
    advance_to(&app, "2026-12-08T02:00:00Z").await;
    assert_eq!(status(&app, &admin, &balance["id"]).await["refundStatus"], "REFUNDED");
    assert_eq!(app.balance_and_ledger("s1").await, (10000, 10000));
}

async fn a_saturday_close_is_refunded_on_wednesday(manual: TestApp) {
    let app = manual;
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    // Saturday 2026-11-28 10:00 Shanghai: committed; closed the next Saturday.
    advance_to(&app, "2026-11-28T02:00:00Z").await;
    let p = app.pay(&admin, "O-1", "5.00", "BALANCE").await;
    advance_to(&app, "2026-12-05T02:00:00Z").await;
    assert_eq!(status(&app, &admin, &p["id"]).await["status"], "CLOSED");
    // Monday, Tuesday, Wednesday: Wednesday 2026-12-09 10:00.
    advance_to(&app, "2026-12-09T01:59:59Z").await;
    assert_eq!(status(&app, &admin, &p["id"]).await["refundStatus"], "PENDING");
    advance_to(&app, "2026-12-09T02:00:00Z").await;
    assert_eq!(status(&app, &admin, &p["id"]).await["refundStatus"], "REFUNDED");
    assert_eq!(app.balance_and_ledger("s1").await, (10000, 10000));
}

async fn balance_blockers_are_judged_again_at_their_boundaries(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({ "dailyCap": "100", "dailyBalanceCap": "40" })).await;
    for sn in ["O-1", "O-2", "O-3", "O-4", "O-5", "O-6"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    // cs-1's quota is 5 / 10: approved requests are not judged by it.
    app.ok(
        &admin,
        "mutation { setQuota(accountId: \"cs-1\", perPayoutLimit: \"5\", dailyLimit: \"10\") { dailyLimit } }",
        json!({}),
    )
    .await;
    let fits = ask(&app, &cs, "O-1", "20.00").await;
    let over = ask(&app, &cs, "O-2", "20.01").await;
    app.pay(&admin, "O-3", "20.00", "BALANCE").await;
    let refused = |r: Value| (first_code(&r), r["errors"][0]["extensions"]["blockers"].clone());

    // The shop's daily balance cap: 20 + 20.01 > 40, 20 + 20 = 40 fits.
    let r = app.gql(Some(&admin), APPROVE, json!({ "id": over["id"] })).await;
    assert_eq!(refused(r), ("SHOP_DAILY_BALANCE_CAP_REACHED".into(), json!(["SHOP_DAILY_BALANCE_CAP_REACHED"])));
    assert_eq!(status(&app, &admin, &over["id"]).await["status"], "PENDING_APPROVAL");
    app.ok(&admin, APPROVE, json!({ "id": fits["id"] })).await;
    assert_eq!(app.ok(&cs, "{ me { quota { usedToday } } }", json!({})).await["me"]["quota"]["usedToday"], "0.00");

    // The balance: 60.00 left. A request of exactly the balance fits, a fen more does not.
    advance_to(&app, "2026-11-24T16:00:00Z").await; // a new day in Shanghai: the caps start again
    let exact = ask(&app, &cs, "O-4", "35.00").await;
    let staff = app.token(Role::Staff, Some("s1"), "staff-1");
    let big = ask(&app, &staff, "O-6", "65.01").await;
    let drain = "mutation { adjustShopBalance(shopId: \"s1\", amount: \"-25\", reference: \"fee\") { balance } }";
    app.ok(&app.platform(), drain, json!({})).await;
    let more = ask(&app, &cs, "O-5", "35.01").await;
    let r = app.gql(Some(&admin), APPROVE, json!({ "id": more["id"] })).await;
    assert_eq!(refused(r), ("INSUFFICIENT_BALANCE".into(), json!(["INSUFFICIENT_BALANCE"])));

    // A zero-entry shop without its deposit: no balance approval, a scan one is fine.
    app.sync_shop(
        "s1",
        "0",
        json!({ "zeroEntry": true, "depositPaid": false, "dailyCap": "100", "dailyBalanceCap": "40" }),
    )
    .await;
    let r = app.gql(Some(&admin), APPROVE, json!({ "id": exact["id"] })).await;
    assert_eq!(first_code(&r), "ZERO_ENTRY_NO_DEPOSIT");
    app.sync_shop(
        "s1",
        "0",
        json!({ "zeroEntry": true, "depositPaid": true, "dailyCap": "100", "dailyBalanceCap": "40" }),
    )
    .await;
    let r = app.ok(&admin, APPROVE, json!({ "id": exact["id"] })).await;
    assert_eq!(r["approvePayout"]["status"], "PAYING");
    assert_eq!(app.balance_and_ledger("s1").await, (0, 0), "exactly the balance");

    // The shop's daily cap at approval: 35 paid today; 65 more fits, 65.01 does not.
    let r = app.gql(Some(&admin), APPROVE, json!({ "id": big["id"], "f": "WECHAT_SCAN" })).await;
    assert_eq!(first_code(&r), "SHOP_DAILY_CAP_REACHED");
    app.sync_shop(
        "s1",
        "0",
        json!({ "zeroEntry": true, "depositPaid": true, "dailyCap": "100.01", "dailyBalanceCap": "40" }),
    )
    .await;
    let r = app.ok(&admin, APPROVE, json!({ "id": big["id"], "f": "WECHAT_SCAN" })).await;
    assert_eq!(r["approvePayout"]["status"], "PENDING_RECHARGE");
}

on_both_databases!(balance_blockers_are_judged_again_at_their_boundaries);
on_both_databases!(manual_channel: deadlines_run_from_the_approval, a_saturday_close_is_refunded_on_wednesday);
