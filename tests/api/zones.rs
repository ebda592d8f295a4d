//! Shops outside the server's default zone (Asia/Shanghai): one in America/New_York and one
//! in Europe/Berlin, each with its own caps, quota and maximums. "Today", the commit day, the
//! order's age and the refund's business days are the shop's, not the server's. Every instant
//! below is typed out: the test clock starts on Tuesday 2026-11-24 02:00 UTC (Monday 21:00 in
//! New York, Tuesday 03:00 in Berlin).
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::America::New_York;
use serde_json::{Value, json};
use smallpay::auth::Role;

use crate::{
    expect,
    helpers::{TestApp, first_code},
    on_both_databases,
};

const TOTALS: &str = "{ shop { timeZone paidToday paidFromBalanceToday } }";
const QUOTA: &str = "{ me { quota { usedToday remainingToday } } }";
const CONFIRM: &str = "mutation($id: ID!, $t: String!) { confirmRecharge(payoutId: $id, channelTxnId: $t) { status } }";
const APPROVE: &str = "mutation($id: ID!) { approvePayout(payoutId: $id) { status funding } }";
const PAYOUT: &str = "query($id: ID!) { payout(id: $id) { status closedAt refundStatus refundedAt } }";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Moves the test clock to `when` (never back).
async fn advance_to(app: &TestApp, when: DateTime<Utc>) {
    let now = app.state.clock.now();
    assert!(when >= now, "the clock only moves forward: {now} → {when}");
    app.advance((when - now).num_seconds()).await;
    assert_eq!(app.state.clock.now(), when);
}

/// The New York shop `ny`: caps 300 / 100, maximums 80 / 20, opening 500; `cs-1` has a quota
/// of 30 per payout and 50 a day. Returns (admin, cs-1).
async fn new_york(app: &TestApp) -> (String, String) {
    let shop = app
        .sync_shop(
            "ny",
            "500",
            json!({ "timeZone": "America/New_York", "dailyCap": "300", "dailyBalanceCap": "100",
                    "maxAmountRegular": "80", "maxAmountActivity": "20" }),
        )
        .await;
    assert_eq!(shop["timeZone"], "America/New_York");
    let (admin, cs) = (app.admin("ny"), app.token(Role::Cs, Some("ny"), "cs-1"));
    app.ok(&cs, "{ me { id } }", json!({})).await;
    let set = "mutation { setQuota(accountId: \"cs-1\", perPayoutLimit: \"30\", dailyLimit: \"50\") { dailyLimit } }";
    app.ok(&admin, set, json!({})).await;
    (admin, cs)
}

async fn order(app: &TestApp, shop: &str, sn: &str, extra: Value) {
    app.sync_order(sn, shop, extra).await;
}

async fn totals(app: &TestApp, token: &str) -> (String, String) {
    let t = app.ok(token, TOTALS, json!({})).await["shop"].clone();
    (t["paidToday"].as_str().unwrap().to_owned(), t["paidFromBalanceToday"].as_str().unwrap().to_owned())
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

async fn the_commit_day_is_the_shops_day(app: TestApp) {
    let (admin, cs) = new_york(&app).await;
    for sn in ["N-1", "N-2", "N-3", "N-4", "N-5", "N-6", "N-7"] {
        order(&app, "ny", sn, json!({})).await;
    }
    // Monday 23:59:30 in New York (Tuesday 12:59:30 in Shanghai): a scan payout of 50.00.
    advance_to(&app, at("2026-11-24T04:59:30Z")).await;
    let scan = app.pay(&admin, "N-1", "50.00", "WECHAT_SCAN").await;
    assert_eq!(totals(&app, &admin).await, pair("50.00", "0.00"));
    // And a request of 20.00 from cs-1, not counted while pending.
    advance_to(&app, at("2026-11-24T04:59:40Z")).await;
    let asked = app.pay(&cs, "N-2", "20.00", "REQUEST_APPROVAL").await;
    assert_eq!(asked["status"], "PENDING_APPROVAL");
    assert_eq!(totals(&app, &admin).await, pair("50.00", "0.00"));

    // Tuesday 00:00:30 in New York (still Tuesday in Shanghai): a new day for the shop.
    advance_to(&app, at("2026-11-24T05:00:30Z")).await;
    assert_eq!(totals(&app, &admin).await, pair("0.00", "0.00"), "midnight in New York");
    // The recharge after midnight: the payout was committed on Monday, it stays there.
    let recharged = app.ok(&app.platform(), CONFIRM, json!({ "id": scan["id"], "t": "ny-txn-1" })).await;
    assert_eq!(recharged["confirmRecharge"]["status"], "PAYING");
    assert_eq!(totals(&app, &admin).await, pair("0.00", "0.00"), "counted on its commit day, Monday");
    // The approval after midnight: committed now, on Tuesday, from the balance, and under the
    // admin's authority: no quota used.
    let approved = app.ok(&admin, APPROVE, json!({ "id": asked["id"] })).await;
    assert_eq!(approved["approvePayout"], json!({ "status": "PAYING", "funding": "BALANCE" }));
    assert_eq!(totals(&app, &admin).await, pair("20.00", "20.00"));
    assert_eq!(
        app.ok(&cs, QUOTA, json!({})).await["me"]["quota"],
        json!({ "usedToday": "0.00", "remainingToday": "50.00" })
    );

    // The shop's own limits: maximums 80 / 20 (activity goods), per-payout quota 30, balance
    // cap 100, daily cap 300.
    order(&app, "ny", "N-ACT", json!({ "activityGoods": true })).await;
    let code = |r: Value| first_code(&r);
    assert_eq!(code(app.create_payout(&admin, "N-3", "80.01", "WECHAT_SCAN", json!({})).await), "AMOUNT_ABOVE_MAXIMUM");
    assert_eq!(
        code(app.create_payout(&admin, "N-ACT", "20.01", "WECHAT_SCAN", json!({})).await),
        "AMOUNT_ABOVE_MAXIMUM"
    );
    assert_eq!(code(app.create_payout(&cs, "N-3", "30.01", "BALANCE", json!({})).await), "PER_PAYOUT_QUOTA_EXCEEDED");
    app.pay(&cs, "N-3", "30.00", "BALANCE").await;
    assert_eq!(app.ok(&cs, QUOTA, json!({})).await["me"]["quota"]["usedToday"], "30.00");
    assert_eq!(
        code(app.create_payout(&admin, "N-4", "50.01", "BALANCE", json!({})).await),
        "SHOP_DAILY_BALANCE_CAP_REACHED"
    );
    app.pay(&admin, "N-4", "50.00", "BALANCE").await;
    assert_eq!(totals(&app, &admin).await, pair("100.00", "100.00"));
    // Scan payouts, recharged (an unrecharged one stops counting after its hour).
    for (sn, amount, funding) in
        [("N-5", "80.00", "WECHAT_SCAN"), ("N-6", "80.00", "ALIPAY_SCAN"), ("N-ACT", "20.00", "WECHAT_SCAN")]
    {
        let p = app.pay(&admin, sn, amount, funding).await;
        app.ok(&app.platform(), CONFIRM, json!({ "id": p["id"], "t": format!("ny-txn-{sn}") })).await;
    }
    assert_eq!(totals(&app, &admin).await, pair("280.00", "100.00"));
    assert_eq!(
        code(app.create_payout(&admin, "N-7", "20.01", "WECHAT_SCAN", json!({})).await),
        "SHOP_DAILY_CAP_REACHED"
    );
    // Until Tuesday 23:59:59 in New York; Wednesday 00:00 there is a new day.
    advance_to(&app, at("2026-11-25T04:59:59Z")).await;
    assert_eq!(
        code(app.create_payout(&admin, "N-7", "20.01", "WECHAT_SCAN", json!({})).await),
        "SHOP_DAILY_CAP_REACHED"
    );
    advance_to(&app, at("2026-11-25T05:00:00Z")).await;
    assert_eq!(totals(&app, &admin).await, pair("0.00", "0.00"));
    app.pay(&admin, "N-7", "20.01", "WECHAT_SCAN").await;
}

async fn berlins_day_ends_at_its_midnight(app: TestApp) {
    app.sync_shop(
        "be",
        "100",
        json!({ "timeZone": "Europe/Berlin", "dailyCap": "10", "dailyBalanceCap": "4", "maxAmountRegular": "6" }),
    )
    .await;
    let admin = app.admin("be");
    for sn in ["B-1", "B-2", "B-3", "B-4"] {
        order(&app, "be", sn, json!({})).await;
    }
    // Tuesday 03:00 in Berlin (10:00 in Shanghai).
    assert_eq!(
        first_code(&app.create_payout(&admin, "B-2", "6.01", "WECHAT_SCAN", json!({})).await),
        "AMOUNT_ABOVE_MAXIMUM"
    );
    app.pay(&admin, "B-1", "4.00", "BALANCE").await;
    assert_eq!(
        first_code(&app.create_payout(&admin, "B-2", "1.00", "BALANCE", json!({})).await),
        "SHOP_DAILY_BALANCE_CAP_REACHED"
    );
    let scan = app.pay(&admin, "B-2", "6.00", "WECHAT_SCAN").await;
    app.ok(&app.platform(), CONFIRM, json!({ "id": scan["id"], "t": "be-txn-1" })).await;
    assert_eq!(totals(&app, &admin).await, pair("10.00", "4.00"));
    // Shanghai's midnight (16:00 UTC) is not Berlin's.
    advance_to(&app, at("2026-11-24T16:00:00Z")).await;
    assert_eq!(
        first_code(&app.create_payout(&admin, "B-3", "1.00", "WECHAT_SCAN", json!({})).await),
        "SHOP_DAILY_CAP_REACHED"
    );
    // Tuesday 23:59:59 in Berlin (CET, UTC+1), then Wednesday.
    advance_to(&app, at("2026-11-24T22:59:59Z")).await;
    assert_eq!(totals(&app, &admin).await, pair("10.00", "4.00"));
    advance_to(&app, at("2026-11-24T23:00:00Z")).await;
    assert_eq!(totals(&app, &admin).await, pair("0.00", "0.00"));
    app.pay(&admin, "B-3", "4.00", "BALANCE").await;
}

async fn order_age_across_new_yorks_dst_change(app: TestApp) {
    let (admin, _) = new_york(&app).await;
    // Tuesday 2026-11-24 10:00 EST (UTC−5). Three months earlier, same wall time, is
    // 2026-08-24 10:00 EDT (UTC−4) = 14:00 UTC: an hour from "now − 3 months" in UTC or
    // in Shanghai (15:00 UTC).
    advance_to(&app, at("2026-11-24T15:00:00Z")).await;
    let mark = expect::local(New_York, "2026-08-24T10:00:00".parse::<NaiveDateTime>().unwrap());
    assert_eq!(mark, at("2026-08-24T14:00:00Z"));
    let grouped = |t: DateTime<Utc>| json!({ "groupedAt": t.to_rfc3339() });
    order(&app, "ny", "A-MARK", grouped(mark)).await;
    order(&app, "ny", "A-BEFORE", grouped(mark - chrono::TimeDelta::seconds(1))).await;
    order(&app, "ny", "A-HALF", grouped(at("2026-08-24T14:30:00Z"))).await;
    // A year earlier: 2025-11-24 10:00 EST = 15:00 UTC.
    order(&app, "ny", "Y-MARK", grouped(at("2025-11-24T15:00:00Z"))).await;
    order(&app, "ny", "Y-BEFORE", grouped(at("2025-11-24T14:59:59Z"))).await;
    let preview = "query($o: String!) { payoutPreview(orderSn: $o) { blockers balanceBlockers } }";
    let lists = |sn: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let p = app.ok(admin, preview, json!({ "o": sn })).await["payoutPreview"].clone();
            (p["blockers"].clone(), p["balanceBlockers"].clone())
        }
    };
    assert_eq!(lists("A-MARK").await, (json!([]), json!([])), "exactly 3 months: not yet scan only");
    assert_eq!(lists("A-HALF").await, (json!([]), json!([])), "less than 3 months in New York");
    assert_eq!(lists("A-BEFORE").await, (json!([]), json!(["ORDER_GROUPED_3_TO_12_MONTHS"])));
    assert_eq!(lists("Y-MARK").await.0, json!([]), "exactly a year: not too old");
    assert_eq!(lists("Y-BEFORE").await.0, json!(["ORDER_TOO_OLD"]));
    app.pay(&admin, "A-HALF", "1.00", "BALANCE").await;
}

async fn a_friday_close_is_refunded_on_new_yorks_wednesday(app: TestApp) {
    let (admin, _) = new_york(&app).await;
    order(&app, "ny", "C-1", json!({ "buyerId": "zed-invalid" })).await;
    // Friday 2026-11-27 20:00 EST = Saturday 09:00 in Shanghai.
    advance_to(&app, at("2026-11-28T01:00:00Z")).await;
    let p = app.pay(&admin, "C-1", "7.00", "BALANCE").await;
    let failed = app.ok(&admin, PAYOUT, json!({ "id": p["id"] })).await["payout"].clone();
    assert_eq!(failed["status"], "FAILED", "the simulated channel refuses *-invalid buyers");
    assert_eq!(app.balance_and_ledger("ny").await, (49300, 49300));
    // Closed 7 days after the commit: Friday 2026-12-04 20:00 EST.
    advance_to(&app, at("2026-12-05T00:59:59Z")).await;
    assert_eq!(app.ok(&admin, PAYOUT, json!({ "id": p["id"] })).await["payout"]["status"], "FAILED");
    advance_to(&app, at("2026-12-05T01:00:00Z")).await;
    let closed = app.ok(&admin, PAYOUT, json!({ "id": p["id"] })).await["payout"].clone();
    assert_eq!((closed["status"].as_str(), closed["refundStatus"].as_str()), (Some("CLOSED"), Some("PENDING")));
    // 3 business days in New York: Monday, Tuesday, Wednesday 2026-12-09 20:00 EST. (Counted
    // in Shanghai, from Saturday 09:00, it would be Wednesday 09:00 there: Tuesday 20:00 here.)
    assert_eq!(
        expect::add_business_days(at("2026-12-05T01:00:00Z"), New_York, 3),
        at("2026-12-10T01:00:00Z"),
        "the test's own reckoning"
    );
    advance_to(&app, at("2026-12-10T00:59:59Z")).await;
    assert_eq!(app.ok(&admin, PAYOUT, json!({ "id": p["id"] })).await["payout"]["refundStatus"], "PENDING");
    assert_eq!(app.balance_and_ledger("ny").await, (49300, 49300));
    advance_to(&app, at("2026-12-10T01:00:00Z")).await;
    let refunded = app.ok(&admin, PAYOUT, json!({ "id": p["id"] })).await["payout"].clone();
    assert_eq!(refunded["refundStatus"], "REFUNDED");
    assert_eq!(refunded["refundedAt"].as_str().map(at), Some(at("2026-12-10T01:00:00Z")));
    assert_eq!(app.balance_and_ledger("ny").await, (50000, 50000));
}

/// The day's sums are kept per quarter hour as payouts are committed (`commit_buckets`); a
/// shop in Asia/Kathmandu (UTC+5:45) has days that start at a quarter past the hour in UTC.
/// Every kind of change moves the sums — a balance payout with and without the quota, a scan,
/// a request that counts only once approved (and then uses no quota), a recharge that fails —
/// the migration that adds the buckets fills them from the payouts already there, and the day
/// ends at Kathmandu's midnight, 18:15 UTC, to the second.
async fn the_day_sums_follow_every_change_and_a_quarter_hour_zone(app: TestApp) {
    use migration::MigratorTrait as _;
    app.sync_shop("ktm", "500", json!({ "timeZone": "Asia/Kathmandu", "dailyCap": "300", "dailyBalanceCap": "100" }))
        .await;
    let (admin, cs) = (app.admin("ktm"), app.token(Role::Cs, Some("ktm"), "cs-1"));
    app.ok(&cs, "{ me { id } }", json!({})).await;
    let set = "mutation { setQuota(accountId: \"cs-1\", perPayoutLimit: \"30\", dailyLimit: \"50\") { dailyLimit } }";
    app.ok(&admin, set, json!({})).await;
    for sn in ["K-1", "K-2", "K-3", "K-4", "K-5"] {
        order(&app, "ktm", sn, json!({})).await;
    }
    let used =
        || async { app.ok(&cs, QUOTA, json!({})).await["me"]["quota"]["usedToday"].as_str().unwrap().to_owned() };

    app.pay(&admin, "K-1", "10.00", "BALANCE").await;
    assert_eq!((totals(&app, &admin).await, used().await), (pair("10.00", "10.00"), "0.00".into()));
    app.pay(&cs, "K-2", "20.00", "BALANCE").await;
    assert_eq!((totals(&app, &admin).await, used().await), (pair("30.00", "30.00"), "20.00".into()));
    app.pay(&cs, "K-3", "5.00", "WECHAT_SCAN").await;
    assert_eq!((totals(&app, &admin).await, used().await), (pair("35.00", "30.00"), "20.00".into()));
    let request = app.pay(&cs, "K-4", "7.00", "REQUEST_APPROVAL").await["id"].clone();
    assert_eq!(totals(&app, &admin).await, pair("35.00", "30.00"), "a pending request is not counted");
    app.ok(&admin, APPROVE, json!({ "id": request })).await;
    assert_eq!((totals(&app, &admin).await, used().await), (pair("42.00", "37.00"), "20.00".into()));
    app.advance(3600).await;
    assert_eq!(totals(&app, &admin).await, pair("37.00", "37.00"), "the failed recharge left the sums");

    // Back to before the buckets' migration (and those after it), then up again: it backfills.
    let migrations = migration::Migrator::migrations();
    let buckets = migrations.iter().position(|m| m.name() == "m20261203_000002_commit_buckets").unwrap();
    let since = u32::try_from(migrations.len() - buckets).unwrap();
    migration::Migrator::down(&app.state.db, Some(since)).await.unwrap();
    use sea_orm::ConnectionTrait as _;
    assert!(app.state.db.execute_unprepared("SELECT 1 FROM commit_buckets").await.is_err(), "the buckets are gone");
    migration::Migrator::up(&app.state.db, None).await.unwrap();
    assert_eq!((totals(&app, &admin).await, used().await), (pair("37.00", "37.00"), "20.00".into()), "backfill");
    smallpay::payouts::totals::rebuild(&app.state.db, "ktm").await.unwrap();
    assert_eq!((totals(&app, &admin).await, used().await), (pair("37.00", "37.00"), "20.00".into()), "rebuilt");

    advance_to(&app, at("2026-11-24T18:14:59Z")).await;
    assert_eq!((totals(&app, &admin).await, used().await), (pair("37.00", "37.00"), "20.00".into()));
    advance_to(&app, at("2026-11-24T18:15:00Z")).await;
    assert_eq!((totals(&app, &admin).await, used().await), (pair("0.00", "0.00"), "0.00".into()), "a new day");
    app.pay(&cs, "K-5", "3.00", "BALANCE").await;
    assert_eq!((totals(&app, &admin).await, used().await), (pair("3.00", "3.00"), "3.00".into()));
}

/// The sums of a window that is not whole quarter hours come from the payouts themselves
/// (`totals::exact`): no zone in today's tz database has such a day, so no request reaches
/// that path — the day of a zone whose offset once had seconds (local mean time) would. They
/// agree with the buckets on a whole window and count only the window's payouts in a part.
async fn a_window_of_part_quarter_hours_sums_the_payouts_themselves(app: TestApp) {
    use smallpay::{auth::ShopScope, payouts::totals};
    app.sync_shop("s1", "500", json!({})).await;
    let (admin, cs) = (app.admin("s1"), app.token(Role::Cs, Some("s1"), "cs-1"));
    app.ok(&cs, "{ me { id } }", json!({})).await;
    let set = "mutation { setQuota(accountId: \"cs-1\", perPayoutLimit: \"30\", dailyLimit: \"50\") { dailyLimit } }";
    app.ok(&admin, set, json!({})).await;
    for sn in ["W-1", "W-2", "W-3"] {
        order(&app, "s1", sn, json!({})).await;
    }
    let start = app.state.clock.now(); // 02:00 UTC, a quarter hour
    app.pay(&admin, "W-1", "10.00", "BALANCE").await; // 02:00
    app.advance(600).await;
    app.pay(&cs, "W-2", "20.00", "BALANCE").await; // 02:10
    app.advance(600).await;
    app.pay(&cs, "W-3", "5.00", "WECHAT_SCAN").await; // 02:20: paid, not from the balance, no quota
    let (db, scope, cs_id) = (&app.state.db, ShopScope::platform("s1"), Some("cs-1"));
    let minutes = |m: i64| start + chrono::TimeDelta::minutes(m);
    let sums = |t: totals::Totals| (t.paid, t.from_balance, t.quota_used);

    let whole = totals::of_shop(db, &scope, start, minutes(30), cs_id).await.unwrap();
    assert_eq!(sums(whole), (35_00, 30_00, 20_00), "the buckets");
    let exact = totals::exact::of_shop(db, &scope, start, minutes(30), cs_id).await.unwrap();
    assert_eq!(sums(exact), sums(whole), "the payouts themselves agree with the buckets");
    let part = totals::of_shop(db, &scope, minutes(5), minutes(25), cs_id).await.unwrap();
    assert_eq!(sums(part), (25_00, 20_00, 20_00), "02:05–02:25: the second and third payouts");
    let part = totals::of_shop(db, &scope, minutes(1), minutes(11), None).await.unwrap();
    assert_eq!(sums(part), (20_00, 20_00, 0), "02:01–02:11: the second; no account asked about");

    let accounts = ["cs-1".to_owned(), "admin".to_owned()];
    let used = totals::quota_used(db, &scope, &accounts, minutes(5), minutes(25)).await.unwrap();
    assert_eq!(used.get("cs-1"), Some(&20_00), "{used:?}");
    let used = totals::quota_used(db, &scope, &accounts, minutes(15), minutes(25)).await.unwrap();
    assert_eq!(used.get("cs-1").copied().unwrap_or(0), 0, "the scan used no quota: {used:?}");
}

on_both_databases!(
    a_window_of_part_quarter_hours_sums_the_payouts_themselves,
    the_day_sums_follow_every_change_and_a_quarter_hour_zone,
    the_commit_day_is_the_shops_day,
    berlins_day_ends_at_its_midnight,
    order_age_across_new_yorks_dst_change,
    a_friday_close_is_refunded_on_new_yorks_wednesday,
);
