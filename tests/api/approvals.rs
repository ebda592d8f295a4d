//! Approvals through the API: staff ask, the admin sees, approves or rejects, the rules hold
//! at approval time, and an undecided request expires after 7 days.
use chrono::{Months, TimeDelta, Utc};
use chrono_tz::Asia::Shanghai;
use serde_json::{Value, json};
use smallpay::auth::Role;

use crate::{
    helpers::{TestApp, first_code},
    on_both_databases,
    payouts::{PREVIEW, shop},
};

const PENDING: &str = "query($first: Int, $after: String) { pendingApprovals(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id amount approvalNote applicant { id } } } } }";
const APPROVE: &str = "mutation($id: ID!, $f: FundingMethod) { approvePayout(payoutId: $id, funding: $f) {
  id status funding approver { id } deductedAt recharge { method deadline } } }";
const REJECT: &str = "mutation($id: ID!, $r: String!) { rejectPayout(payoutId: $id, reason: $r) { id status rejectReason approver { id } } }";
const PAYOUT: &str = "query($id: ID!) { payout(id: $id) { status funding approver { id } rejectReason history { from to actor note } } }";

async fn ask(app: &TestApp, token: &str, order: &str, amount: &str, note: &str) -> Value {
    let r = app.create_payout(token, order, amount, "REQUEST_APPROVAL", json!({ "approvalNote": note })).await;
    r["data"]["createPayout"].clone()
}

async fn the_admin_sees_and_approves_at_once(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    for sn in ["O-1", "O-2", "O-3"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    let a = ask(&app, &cs, "O-1", "20.00", "first").await;
    let b = ask(&app, &cs, "O-2", "5.00", "second").await;
    let c = ask(&app, &cs, "O-3", "6.00", "third").await;
    // Oldest first, paged.
    let page = app.ok(&admin, PENDING, json!({ "first": 2 })).await["pendingApprovals"].clone();
    assert_eq!(page["totalCount"], 3);
    let ids: Vec<&Value> = page["edges"].as_array().unwrap().iter().map(|e| &e["node"]["id"]).collect();
    assert_eq!(ids, [&a["id"], &b["id"]]);
    assert_eq!(page["edges"][0]["node"]["approvalNote"], "first");
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let rest = app.ok(&admin, PENDING, json!({ "first": 2, "after": page["pageInfo"]["endCursor"] })).await["pendingApprovals"].clone();
    assert_eq!(rest["edges"][0]["node"]["id"], c["id"]);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    assert_eq!(app.code(Some(&cs), PENDING, json!({})).await, "FORBIDDEN");
    // The summary covers the whole pending list, not the page.
    let summary = app.ok(&admin, "{ pendingApprovals(first: 1) { summary { count amount byStatus { status count } byFunding { funding } } } }", json!({})).await;
    assert_eq!(
        summary["pendingApprovals"]["summary"],
        json!({ "count": 3, "amount": "31.00", "byStatus": [{ "status": "PENDING_APPROVAL", "count": 3 }], "byFunding": [] })
    );

    // Approved at once: no 60 s rule, the request does not count against itself, no quota.
    let approved = app.ok(&admin, APPROVE, json!({ "id": a["id"] })).await["approvePayout"].clone();
    assert_eq!((approved["status"].as_str(), approved["funding"].as_str()), (Some("PAYING"), Some("BALANCE")));
    assert_eq!(approved["approver"], json!({ "id": "admin" }));
    let now = app.ok(&cs, PAYOUT, json!({ "id": a["id"] })).await["payout"].clone();
    assert_eq!(now["status"], "SUCCEEDED");
    // The summary is the pending list's, not the shop's history: the approved one has left it.
    let after =
        app.ok(&admin, "{ pendingApprovals(first: 1) { totalCount summary { count amount } } }", json!({})).await;
    assert_eq!(after["pendingApprovals"], json!({ "totalCount": 2, "summary": { "count": 2, "amount": "11.00" } }));
    assert_eq!(
        now["history"],
        json!([
            { "from": null, "to": "PENDING_APPROVAL", "actor": "cs-1", "note": "first" },
            { "from": "PENDING_APPROVAL", "to": "PAYING", "actor": "admin", "note": "approved" },
            { "from": "PAYING", "to": "SUCCEEDED", "actor": "platform", "note": null },
        ])
    );
    assert_eq!(app.balance_and_ledger("s1").await, (8000, 8000));
    let totals = app.ok(&admin, "{ shop { paidToday paidFromBalanceToday } }", json!({})).await;
    assert_eq!(totals["shop"], json!({ "paidToday": "20.00", "paidFromBalanceToday": "20.00" }));
    let set = "mutation { setQuota(accountId: \"cs-1\", perPayoutLimit: \"1\", dailyLimit: \"1\") { usedToday } }";
    assert_eq!(
        app.ok(&admin, set, json!({})).await["setQuota"]["usedToday"],
        "0.00",
        "an approved request uses no quota"
    );

    // By scan: waits for the recharge like the admin's own scan payout.
    let scan = app.ok(&admin, APPROVE, json!({ "id": b["id"], "f": "ALIPAY_SCAN" })).await["approvePayout"].clone();
    assert_eq!(scan["status"], "PENDING_RECHARGE");
    assert_eq!(scan["recharge"]["method"], "ALIPAY_SCAN");
    let confirm = "mutation($id: ID!) { confirmRecharge(payoutId: $id, channelTxnId: \"ali-9\") { status } }";
    app.ok(&app.platform(), confirm, json!({ "id": b["id"] })).await;
    assert_eq!(app.ok(&cs, PAYOUT, json!({ "id": b["id"] })).await["payout"]["status"], "SUCCEEDED");
    assert_eq!(app.ok(&admin, PENDING, json!({})).await["pendingApprovals"]["totalCount"], 1);
}

async fn rejecting_needs_a_reason_and_gives_the_attempt_back(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    let a = ask(&app, &cs, "O-1", "20.00", "please").await;
    assert_eq!(app.ok(&cs, PREVIEW, json!({ "o": "O-1" })).await["payoutPreview"]["remainingAttempts"], 2);
    assert_eq!(app.code(Some(&admin), REJECT, json!({ "id": a["id"], "r": "   " })).await, "BAD_USER_INPUT");
    let rejected = app.ok(&admin, REJECT, json!({ "id": a["id"], "r": "重复补偿" })).await["rejectPayout"].clone();
    assert_eq!(
        rejected,
        json!({ "id": a["id"], "status": "REJECTED", "rejectReason": "重复补偿", "approver": { "id": "admin" } })
    );
    assert_eq!(app.ok(&cs, PREVIEW, json!({ "o": "O-1" })).await["payoutPreview"]["remainingAttempts"], 3);
    // The applicant sees the outcome on the order.
    let order = app.ok(&cs, "{ order(orderSn: \"O-1\") { payouts { status rejectReason } } }", json!({})).await;
    assert_eq!(order["order"]["payouts"], json!([{ "status": "REJECTED", "rejectReason": "重复补偿" }]));

    // rules.md, "Refusals": `ORDER_RATE_LIMITED` — a payout on the order created less than 60 s
    // ago, whatever became of it: the rejected request still holds the order for its minute.
    let since = app.state.clock.now() - crate::helpers::instant(&a["createdAt"]);
    app.advance(59 - since.num_seconds()).await;
    let r = app.create_payout(&admin, "O-1", "1.00", "BALANCE", json!({})).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "ORDER_RATE_LIMITED", "59 s after a rejected request: {r}");
    app.advance(1).await;
    app.pay(&admin, "O-1", "1.00", "BALANCE").await;
}

async fn deciding_is_refused_when_it_cannot_be_decided(app: TestApp) {
    let (admin, cs, cs_admin) = shop(&app, "100", json!({})).await;
    for sn in ["O-1", "O-2", "O-3"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    let a = ask(&app, &cs, "O-1", "2.00", "x").await;
    app.ok(&admin, APPROVE, json!({ "id": a["id"] })).await;
    let before = app.ok(&admin, PAYOUT, json!({ "id": a["id"] })).await;
    assert_eq!(app.code(Some(&admin), APPROVE, json!({ "id": a["id"] })).await, "INVALID_STATE");
    assert_eq!(app.code(Some(&admin), REJECT, json!({ "id": a["id"], "r": "late" })).await, "INVALID_STATE");
    assert_eq!(app.ok(&admin, PAYOUT, json!({ "id": a["id"] })).await, before);
    let own = app.pay(&admin, "O-2", "2.00", "BALANCE").await;
    assert_eq!(app.code(Some(&admin), APPROVE, json!({ "id": own["id"] })).await, "INVALID_STATE");
    // Only the admin decides; another shop's admin does not see the request.
    let b = ask(&app, &cs, "O-3", "2.00", "y").await;
    for token in [&cs, &cs_admin] {
        assert_eq!(app.code(Some(token), APPROVE, json!({ "id": b["id"] })).await, "FORBIDDEN");
    }
    app.sync_shop("s2", "100", json!({})).await;
    let other = app.admin("s2");
    assert_eq!(app.code(Some(&other), APPROVE, json!({ "id": b["id"] })).await, "NOT_FOUND");
    assert_eq!(app.code(Some(&other), REJECT, json!({ "id": b["id"], "r": "no" })).await, "NOT_FOUND");
    assert_eq!(app.code(Some(&admin), APPROVE, json!({ "id": "nope" })).await, "NOT_FOUND");
    assert_eq!(app.ok(&other, PENDING, json!({})).await["pendingApprovals"]["totalCount"], 0);
    assert_eq!(app.ok(&admin, PAYOUT, json!({ "id": b["id"] })).await["payout"]["status"], "PENDING_APPROVAL");
}

async fn the_rules_hold_at_approval_time(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    for sn in ["O-1", "O-2"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    let a = ask(&app, &cs, "O-1", "50.00", "x").await;
    // The balance fell meanwhile: no balance approval; a scan approval still works.
    let drain = "mutation { adjustShopBalance(shopId: \"s1\", amount: \"-60\", reference: \"fee\") { balance } }";
    app.ok(&app.platform(), drain, json!({})).await;
    let r = app.gql(Some(&admin), APPROVE, json!({ "id": a["id"] })).await;
    assert_eq!(first_code(&r), "INSUFFICIENT_BALANCE");
    assert_eq!(r["errors"][0]["extensions"]["blockers"], json!(["INSUFFICIENT_BALANCE"]));
    assert_eq!(app.ok(&admin, PAYOUT, json!({ "id": a["id"] })).await["payout"]["status"], "PENDING_APPROVAL");
    // The shop got unpaid bills and a lower daily cap: even a scan approval is refused.
    app.sync_shop("s1", "0", json!({ "hasUnpaidBills": true, "dailyCap": "40" })).await;
    let r = app.gql(Some(&admin), APPROVE, json!({ "id": a["id"], "f": "WECHAT_SCAN" })).await;
    assert_eq!(r["errors"][0]["extensions"]["blockers"], json!(["SHOP_UNPAID_BILLS", "SHOP_DAILY_CAP_REACHED"]));
    app.sync_shop("s1", "0", json!({ "dailyCap": "60" })).await;
    let ok = app.ok(&admin, APPROVE, json!({ "id": a["id"], "f": "WECHAT_SCAN" })).await;
    assert_eq!(ok["approvePayout"]["status"], "PENDING_RECHARGE");
    assert_eq!(app.balance_and_ledger("s1").await, (4000, 4000));
}

/// rules.md "Approvals": the order is judged as it was when the request was made — its age
/// at the request decides whether the balance may pay, and the year limit is not re-judged.
async fn the_order_is_judged_as_it_was_at_the_request(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    let local_now = app.state.clock.now().with_timezone(&Shanghai);
    let ago = |months: u32| (local_now - Months::new(months)).with_timezone(&Utc);
    // Under 3 months old at the request (by a day), and a year old less a day.
    app.sync_order("O-YOUNG", "s1", json!({ "groupedAt": (ago(3) + TimeDelta::days(1)).to_rfc3339() })).await;
    app.sync_order("O-OLD", "s1", json!({ "groupedAt": (ago(12) + TimeDelta::days(1)).to_rfc3339() })).await;
    let young = ask(&app, &cs, "O-YOUNG", "20.00", "young order").await;
    let old = ask(&app, &cs, "O-OLD", "10.00", "old order").await;
    assert_eq!(
        (young["status"].as_str(), old["status"].as_str()),
        (Some("PENDING_APPROVAL"), Some("PENDING_APPROVAL"))
    );

    // Two days later one order is past 3 months and the other past a year: a new payout on
    // them is scan-only, and too old.
    app.advance(2 * 86400).await;
    let preview = |sn: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let p = app.ok(admin, PREVIEW, json!({ "o": sn })).await["payoutPreview"].clone();
            (p["blockers"].clone(), p["balanceBlockers"].clone())
        }
    };
    assert_eq!(preview("O-YOUNG").await, (json!([]), json!(["ORDER_GROUPED_3_TO_12_MONTHS"])));
    assert_eq!(preview("O-OLD").await, (json!(["ORDER_TOO_OLD"]), json!([])));

    // The young one was under 3 months at the request: the balance pays it.
    let from_balance = app.gql(Some(&admin), APPROVE, json!({ "id": young["id"], "f": "BALANCE" })).await;
    assert_eq!(from_balance["data"]["approvePayout"]["status"], "PAYING", "{from_balance}");
    assert_eq!(app.balance_and_ledger("s1").await, (8000, 8000));

    // The old one was 3–12 months old at the request: never from the balance, even past a
    // year (the year limit is not re-judged, so a scan approval goes ahead).
    let refused = app.gql(Some(&admin), APPROVE, json!({ "id": old["id"], "f": "BALANCE" })).await;
    assert_eq!(first_code(&refused), "ORDER_GROUPED_3_TO_12_MONTHS", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["blockers"], json!(["ORDER_GROUPED_3_TO_12_MONTHS"]));
    assert_eq!(app.ok(&admin, PAYOUT, json!({ "id": old["id"] })).await["payout"]["status"], "PENDING_APPROVAL");
    assert_eq!(app.balance_and_ledger("s1").await, (8000, 8000), "a refused approval moves nothing");
    let by_scan = app.gql(Some(&admin), APPROVE, json!({ "id": old["id"], "f": "WECHAT_SCAN" })).await;
    assert_eq!(by_scan["data"]["approvePayout"]["status"], "PENDING_RECHARGE", "{by_scan}");
}

async fn two_admins_deciding_at_once_make_one_decision(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    let a = ask(&app, &cs, "O-1", "10.00", "x").await;
    let second_admin = app.token(Role::Admin, Some("s1"), "admin-2");
    let calls = (0..10).map(|i| {
        let token = if i % 2 == 0 { &admin } else { &second_admin };
        let (query, vars) = if i % 3 == 0 {
            (REJECT, json!({ "id": a["id"], "r": "no" }))
        } else {
            (APPROVE, json!({ "id": a["id"] }))
        };
        app.gql(Some(token), query, vars)
    });
    let answers = futures_util::future::join_all(calls).await;
    let winners: Vec<usize> = (0..answers.len()).filter(|&i| answers[i].get("errors").is_none()).collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for r in answers.iter().filter(|r| r.get("errors").is_some()) {
        assert_eq!(first_code(r), "INVALID_STATE", "{r}");
    }
    // What is stored is the winner's decision, by the winner's account, and the balance moved
    // by it alone: 10.00 less after an approval from the balance, unchanged after a rejection.
    let winner = winners[0];
    let (approved, by) = (!winner.is_multiple_of(3), if winner.is_multiple_of(2) { "admin" } else { "admin-2" });
    let stored = app.ok(&admin, PAYOUT, json!({ "id": a["id"] })).await["payout"].clone();
    assert_eq!(stored["approver"]["id"], by, "{stored}");
    let decisions: Vec<&Value> =
        stored["history"].as_array().unwrap().iter().filter(|t| t["from"] == "PENDING_APPROVAL").collect();
    assert_eq!(decisions.len(), 1, "{stored}");
    let (balance, ledger) = app.balance_and_ledger("s1").await;
    assert_eq!(balance, ledger);
    if approved {
        assert_eq!(decisions[0]["to"], "PAYING", "{stored}");
        assert_eq!(stored["funding"], "BALANCE", "{stored}");
        assert_eq!(balance, 9000);
    } else {
        assert_eq!(decisions[0]["to"], "REJECTED", "{stored}");
        assert_eq!(stored["rejectReason"], "no", "{stored}");
        assert_eq!(balance, 10000);
    }
}

async fn an_undecided_request_expires_after_seven_days(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    let a = ask(&app, &cs, "O-1", "10.00", "x").await;
    app.advance(7 * 86400 - 1).await;
    assert_eq!(app.ok(&admin, PAYOUT, json!({ "id": a["id"] })).await["payout"]["status"], "PENDING_APPROVAL");
    app.advance(1).await;
    let expired = app.ok(&admin, PAYOUT, json!({ "id": a["id"] })).await["payout"].clone();
    assert_eq!((expired["status"].as_str(), expired["rejectReason"].as_str()), (Some("REJECTED"), Some("expired")));
    assert_eq!(
        expired["history"][1],
        json!({ "from": "PENDING_APPROVAL", "to": "REJECTED", "actor": "system", "note": "expired" })
    );
    assert_eq!(app.code(Some(&admin), APPROVE, json!({ "id": a["id"] })).await, "INVALID_STATE");
}

on_both_databases!(
    the_admin_sees_and_approves_at_once,
    rejecting_needs_a_reason_and_gives_the_attempt_back,
    deciding_is_refused_when_it_cannot_be_decided,
    the_rules_hold_at_approval_time,
    the_order_is_judged_as_it_was_at_the_request,
    two_admins_deciding_at_once_make_one_decision,
    an_undecided_request_expires_after_seven_days,
);
