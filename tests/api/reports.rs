//! Reports (rules.md "Reports"): each account's day over two days and the following week in
//! Asia/Shanghai (payouts by funding and type, requests and how they ended, quota limits and
//! usage, refunds), days across a daylight-saving change in America/New_York, who may read
//! whose days, and refused ranges.
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use smallpay::auth::Role;

use crate::{helpers::TestApp, on_both_databases};

const REPORT: &str =
    "query($from: Date!, $to: Date!, $a: ID) { accountDailyReport(from: $from, to: $to, accountId: $a) {
  account { id } day payouts amount fromBalance byScan byType { type count amount }
  requested approved rejected expired quotaPerPayout quotaDaily quotaUsed refunded } }";
const CONFIRM: &str = "mutation($id: ID!) { confirmRecharge(payoutId: $id, channelTxnId: \"txn-1\") { status } }";
const APPROVE: &str = "mutation($id: ID!) { approvePayout(payoutId: $id) { status } }";
const REJECT: &str = "mutation($id: ID!) { rejectPayout(payoutId: $id, reason: \"no\") { status } }";
const SET_QUOTA: &str = "mutation($a: ID!, $p: Decimal!, $d: Decimal!) { setQuota(accountId: $a, perPayoutLimit: $p, dailyLimit: $d) { dailyLimit } }";

async fn report(app: &TestApp, token: &str, from: &str, to: &str, account: Option<&str>) -> Vec<Value> {
    let data = app.ok(token, REPORT, json!({ "from": from, "to": to, "a": account })).await;
    data["accountDailyReport"].as_array().unwrap().clone()
}

/// The (account, day) lines of a report.
fn lines(days: &[Value]) -> Vec<(String, String)> {
    days.iter()
        .map(|d| (d["account"]["id"].as_str().unwrap().to_owned(), d["day"].as_str().unwrap().to_owned()))
        .collect()
}

fn line<'a>(days: &'a [Value], account: &str, day: &str) -> &'a Value {
    days.iter()
        .find(|d| d["account"]["id"] == account && d["day"] == day)
        .unwrap_or_else(|| panic!("{account} {day} in {days:#?}"))
}

async fn ask(app: &TestApp, token: &str, order: &str, amount: &str) -> Value {
    let r = app.create_payout(token, order, amount, "REQUEST_APPROVAL", json!({})).await;
    r["data"]["createPayout"]["id"].clone()
}

async fn each_accounts_day_in_shanghai(app: TestApp) {
    app.sync_shop("s1", "1000", json!({})).await;
    let (admin, cs) = (app.admin("s1"), app.token(Role::Cs, Some("s1"), "cs-1"));
    for t in [&admin, &cs] {
        app.ok(t, "{ me { id } }", json!({})).await;
    }
    for sn in ["O-1", "O-2", "O-3", "O-4", "O-5", "O-6", "O-7"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    app.sync_order("O-8", "s1", json!({ "buyerId": "buyer-invalid" })).await;
    // Tuesday 2026-11-24, 10:00 in Shanghai.
    app.ok(&admin, SET_QUOTA, json!({ "a": "cs-1", "p": "30", "d": "100" })).await;
    app.pay(&cs, "O-1", "20.00", "BALANCE").await;
    let scan =
        app.create_payout(&cs, "O-2", "5.00", "WECHAT_SCAN", json!({ "type": "PRICE_DIFFERENCE" })).await["data"]["createPayout"]["id"].clone();
    app.ok(&app.platform(), CONFIRM, json!({ "id": scan })).await;
    let failing = app.pay(&cs, "O-8", "7.00", "BALANCE").await; // FAILED: the buyer's account
    assert_eq!(failing["status"], "PAYING");
    let approved = ask(&app, &cs, "O-3", "8.00").await;
    let rejected = ask(&app, &cs, "O-4", "6.00").await;
    ask(&app, &cs, "O-5", "4.00").await; // nobody decides it
    app.pay(&admin, "O-7", "3.00", "BALANCE").await;
    // Wednesday: the admin decides, the quota changes, the applicant pays again.
    app.advance(24 * 3600).await;
    assert_eq!(app.ok(&admin, APPROVE, json!({ "id": approved })).await["approvePayout"]["status"], "PAYING");
    app.ok(&admin, REJECT, json!({ "id": rejected })).await;
    app.ok(&admin, SET_QUOTA, json!({ "a": "cs-1", "p": "40", "d": "200" })).await;
    app.pay(&cs, "O-6", "10.00", "BALANCE").await;

    let days = report(&app, &admin, "2026-11-23", "2026-11-25", None).await;
    assert_eq!(
        lines(&days),
        [("admin", "2026-11-24"), ("cs-1", "2026-11-24"), ("cs-1", "2026-11-25")]
            .map(|(a, d)| (a.to_owned(), d.to_owned())),
        "by day then account; the empty Monday left out"
    );
    let tuesday = line(&days, "cs-1", "2026-11-24");
    assert_eq!(
        tuesday,
        &json!({ "account": { "id": "cs-1" }, "day": "2026-11-24", "payouts": 3, "amount": "32.00", "fromBalance": "27.00",
                 "byScan": "5.00",
                 "byType": [{ "type": "SHIPPING_FEE", "count": 2, "amount": "27.00" }, { "type": "PRICE_DIFFERENCE", "count": 1, "amount": "5.00" }],
                 "requested": 3, "approved": 1, "rejected": 1, "expired": 0,
                 "quotaPerPayout": "30.00", "quotaDaily": "100.00", "quotaUsed": "27.00", "refunded": "0.00" })
    );
    let wednesday = line(&days, "cs-1", "2026-11-25");
    assert_eq!(
        (&wednesday["payouts"], &wednesday["amount"], &wednesday["fromBalance"], &wednesday["requested"]),
        (&json!(2), &json!("18.00"), &json!("18.00"), &json!(0)),
        "the approved request counts on the approval's day, for its applicant"
    );
    assert_eq!(
        (&wednesday["quotaUsed"], &wednesday["quotaPerPayout"], &wednesday["quotaDaily"]),
        (&json!("10.00"), &json!("40.00"), &json!("200.00")),
        "an approved request uses no quota; the limits set that day"
    );
    // quotaUsed is what usedToday shows.
    let used = app.ok(&cs, "{ me { quota { usedToday } } }", json!({})).await["me"]["quota"]["usedToday"].clone();
    assert_eq!(used, wednesday["quotaUsed"]);
    // The admin's own balance payout is in its kept usage too, though it has no quota.
    let admins = line(&days, "admin", "2026-11-24");
    assert_eq!(
        (&admins["payouts"], &admins["quotaUsed"], &admins["quotaDaily"]),
        (&json!(1), &json!("3.00"), &json!(null))
    );

    // Ten days on: the request expired (counted on the day it was made), the failed payout was
    // closed after 7 days and refunded 3 business days later (Friday 2026-12-04).
    app.advance(9 * 24 * 3600).await;
    let days = report(&app, &admin, "2026-11-24", "2026-12-04", Some("cs-1")).await;
    let tuesday = line(&days, "cs-1", "2026-11-24");
    assert_eq!((&tuesday["approved"], &tuesday["rejected"], &tuesday["expired"]), (&json!(1), &json!(1), &json!(1)));
    let friday = line(&days, "cs-1", "2026-12-04");
    assert_eq!((&friday["refunded"], &friday["payouts"]), (&json!("7.00"), &json!(0)));
    assert_eq!(lines(&days).len(), 3, "only cs-1's days with activity: {days:#?}");
}

async fn who_reads_whose_days(app: TestApp) {
    app.sync_shop("s1", "1000", json!({})).await;
    app.sync_shop("s2", "1000", json!({})).await;
    let (admin, cs, other_cs) =
        (app.admin("s1"), app.token(Role::Cs, Some("s1"), "cs-1"), app.token(Role::CsAdmin, Some("s1"), "csa"));
    for t in [&admin, &cs, &other_cs] {
        app.ok(t, "{ me { id } }", json!({})).await;
    }
    for sn in ["O-1", "O-2", "O-3"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    app.pay(&admin, "O-1", "3.00", "BALANCE").await;
    app.pay(&other_cs, "O-2", "4.00", "BALANCE").await;
    ask(&app, &cs, "O-3", "5.00").await;
    let day = "2026-11-24";
    let all = report(&app, &admin, day, day, None).await;
    assert_eq!(lines(&all).iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(), ["admin", "cs-1", "csa"]);
    let one = report(&app, &admin, day, day, Some("csa")).await;
    assert_eq!(lines(&one), [("csa".to_owned(), day.to_owned())]);
    let own = report(&app, &cs, day, day, None).await;
    assert_eq!(lines(&own), [("cs-1".to_owned(), day.to_owned())], "a CS reads its own days only");
    assert_eq!(report(&app, &cs, day, day, Some("cs-1")).await.len(), 1);
    let vars = |a: &str| json!({ "from": day, "to": day, "a": a });
    assert_eq!(app.code(Some(&cs), REPORT, vars("csa")).await, "FORBIDDEN");
    assert_eq!(app.code(Some(&other_cs), REPORT, vars("admin")).await, "FORBIDDEN");
    // Another shop sees none of it, even naming the account.
    let elsewhere = app.admin("s2");
    assert!(report(&app, &elsewhere, day, day, None).await.is_empty());
    assert!(report(&app, &elsewhere, day, day, Some("cs-1")).await.is_empty());
    for token in [app.platform(), app.token(Role::Buyer, None, "buyer-1")] {
        assert_eq!(app.code(Some(&token), REPORT, vars("cs-1")).await, "FORBIDDEN");
    }
    // Refused ranges, each BAD_USER_INPUT.
    for (from, to, why) in [
        ("2026-11-25", "2026-11-24", "from after to"),
        ("2026-01-01", "2026-04-04", "94 days"),
        ("2026-13-01", "2026-13-02", "not a date"),
        ("2026-11-24T00:00:00Z", "2026-11-24", "not a date"),
    ] {
        assert_eq!(app.code(Some(&admin), REPORT, json!({ "from": from, "to": to })).await, "BAD_USER_INPUT", "{why}");
    }
    assert_eq!(report(&app, &admin, "2026-01-01", "2026-04-03", None).await.len(), 0, "93 days are accepted");
}

/// Moves the test clock to `when` (never back).
async fn advance_to(app: &TestApp, when: &str) {
    let when: DateTime<Utc> = when.parse().unwrap();
    app.advance((when - app.state.clock.now()).num_seconds()).await;
    assert_eq!(app.state.clock.now(), when);
}

async fn days_across_a_daylight_saving_change_in_new_york(app: TestApp) {
    app.sync_shop("ny", "1000", json!({ "timeZone": "America/New_York" })).await;
    let (admin, cs) = (app.admin("ny"), app.token(Role::Cs, Some("ny"), "cs-1"));
    app.ok(&cs, "{ me { id } }", json!({})).await;
    app.ok(&admin, SET_QUOTA, json!({ "a": "cs-1", "p": "50", "d": "500" })).await;
    // Sunday 2027-03-14 is 23 hours long in New York: 02:00 EST jumps to 03:00 EDT.
    let payouts = [
        ("2027-03-14T04:30:00Z", "2.00"), // Saturday 23:30 EST
        ("2027-03-14T05:30:00Z", "3.00"), // Sunday 00:30 EST
        ("2027-03-15T03:30:00Z", "4.00"), // Sunday 23:30 EDT
        ("2027-03-15T04:30:00Z", "5.00"), // Monday 00:30 EDT
    ];
    for (i, (at, amount)) in payouts.iter().enumerate() {
        advance_to(&app, at).await;
        let sn = format!("O-{i}");
        app.sync_order(&sn, "ny", json!({})).await;
        app.pay(&cs, &sn, amount, "BALANCE").await;
    }
    let days = report(&app, &admin, "2027-03-13", "2027-03-15", None).await;
    let got: Vec<(&str, &Value, &Value, &Value)> =
        days.iter().map(|d| (d["day"].as_str().unwrap(), &d["payouts"], &d["amount"], &d["quotaUsed"])).collect();
    assert_eq!(
        got,
        [
            ("2027-03-13", &json!(1), &json!("2.00"), &json!("2.00")),
            ("2027-03-14", &json!(2), &json!("7.00"), &json!("7.00")),
            ("2027-03-15", &json!(1), &json!("5.00"), &json!("5.00")),
        ]
    );
}

on_both_databases!(
    each_accounts_day_in_shanghai,
    who_reads_whose_days,
    days_across_a_daylight_saving_change_in_new_york,
);
