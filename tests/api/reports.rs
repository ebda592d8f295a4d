//! Reports (rules.md "Reports"): each account's day over two days and the following week in
//! Asia/Shanghai (payouts by funding and type, requests and how they ended, quota limits and
//! usage, refunds), days across a daylight-saving change in America/New_York, who may read
//! whose days, and refused ranges.
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use smallpay::auth::Role;

use crate::{
    helpers::{Backend, ServerProcess, TestApp},
    on_both_databases,
};

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

/// `GET /exports/payouts.csv?<query>` with `token`.
async fn export(app: &TestApp, token: Option<&str>, query: &str) -> reqwest::Response {
    let mut request = app.http.get(app.url(&format!("/exports/payouts.csv{query}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// The file's rows (the header first), checked to start with a byte-order mark.
async fn rows(response: reqwest::Response) -> Vec<Vec<String>> {
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    let text = bytes.strip_prefix("\u{feff}".as_bytes()).expect("a byte-order mark");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

async fn refused(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_owned())
}

async fn the_history_as_a_file(app: TestApp) {
    app.sync_shop("s1", "1000", json!({})).await;
    app.sync_shop("s2", "1000", json!({})).await;
    let (admin, cs) = (app.admin("s1"), app.token(Role::Cs, Some("s1"), "cs-1"));
    for t in [&admin, &cs] {
        app.ok(t, "{ me { id } }", json!({})).await;
    }
    app.sync_order("O-1", "s1", json!({ "goodsId": "G-1" })).await;
    app.sync_order("O-2", "s1", json!({})).await;
    let paid = app
        .create_payout(
            &admin,
            "O-1",
            "1.50",
            "BALANCE",
            json!({ "reason": "=HYPERLINK(\"x\")", "message": "@买家 请查收, \"谢谢\"" }),
        )
        .await["data"]["createPayout"]["id"]
        .clone();
    app.advance(60).await;
    let asked = app
        .create_payout(
            &cs,
            "O-2",
            "2.00",
            "REQUEST_APPROVAL",
            json!({ "type": "OTHER", "reason": "-5 差价", "message": "+ 补偿" }),
        )
        .await["data"]["createPayout"]["id"]
        .clone();

    let response = export(&app, Some(&admin), "").await;
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(header("content-disposition"), "attachment; filename=\"payouts-s1-2026-11-24.csv\"");
    let file = rows(response).await;
    assert_eq!(
        file[0],
        [
            "payout_id",
            "order_sn",
            "goods_id",
            "type",
            "amount",
            "status",
            "funding",
            "applicant",
            "approver",
            "created_at (Asia/Shanghai)",
            "deducted_at (Asia/Shanghai)",
            "succeeded_at (Asia/Shanghai)",
            "closed_at (Asia/Shanghai)",
            "refunded_at (Asia/Shanghai)",
            "reason",
            "message"
        ]
    );
    assert_eq!(file.len(), 3, "newest first, one row each: {file:?}");
    assert_eq!(
        file[1],
        [
            asked.as_str().unwrap(),
            "O-2",
            "G-1",
            "OTHER",
            "2.00",
            "PENDING_APPROVAL",
            "",
            "cs-1",
            "",
            "2026-11-24 10:01:00",
            "",
            "",
            "",
            "",
            "'-5 差价",
            "'+ 补偿"
        ]
    );
    assert_eq!(
        file[2],
        [
            paid.as_str().unwrap(),
            "O-1",
            "G-1",
            "SHIPPING_FEE",
            "1.50",
            "SUCCEEDED",
            "BALANCE",
            "admin",
            "",
            "2026-11-24 10:00:00",
            "2026-11-24 10:00:00",
            "2026-11-24 10:00:00",
            "",
            "",
            "'=HYPERLINK(\"x\")",
            "'@买家 请查收, \"谢谢\""
        ]
    );
    // The history's filters; a CS sees the shop's history as the history does.
    let only = |file: Vec<Vec<String>>| file.into_iter().skip(1).map(|r| r[0].clone()).collect::<Vec<_>>();
    assert_eq!(
        only(rows(export(&app, Some(&cs), "?status=PENDING_APPROVAL,REJECTED").await).await),
        [asked.as_str().unwrap()]
    );
    assert_eq!(
        only(rows(export(&app, Some(&cs), "?applicantId=admin&type=SHIPPING_FEE").await).await),
        [paid.as_str().unwrap()]
    );
    let since = "?deductedFrom=2026-11-24T10%3A00%3A00%2B08%3A00&orderSn=O-1";
    assert_eq!(only(rows(export(&app, Some(&cs), since).await).await), [paid.as_str().unwrap()]);
    // Another shop's file has no row of it.
    assert_eq!(rows(export(&app, Some(&app.admin("s2")), "").await).await.len(), 1);
    // Refusals, with the API's codes.
    assert_eq!(refused(export(&app, None, "").await).await, (401, "UNAUTHENTICATED".to_owned()));
    assert_eq!(refused(export(&app, Some("not-a-jwt"), "").await).await, (401, "UNAUTHENTICATED".to_owned()));
    assert_eq!(refused(export(&app, Some(&app.platform()), "").await).await, (403, "FORBIDDEN".to_owned()));
    let staff = app.token(Role::Staff, Some("s1"), "st");
    for bad in ["?status=PAID", "?type=other", "?deductedTo=yesterday", "?page=2"] {
        assert_eq!(refused(export(&app, Some(&staff), bad).await).await, (400, "BAD_USER_INPUT".to_owned()), "{bad}");
    }
    // Rate-limited per account: `staff` has used 4 of its 5; `cs` has its own bucket left.
    assert_eq!(export(&app, Some(&staff), "").await.status(), 200);
    assert_eq!(refused(export(&app, Some(&staff), "").await).await, (429, "RATE_LIMITED".to_owned()));
    assert_eq!(export(&app, Some(&cs), "").await.status(), 200);
}

/// The default size of the large export; `SMALLPAY_LARGE_EXPORT=1` (a step of `.ci/run`)
/// exports the 100,000 rows the issue names.
const LARGE: usize = 5_000;
const LARGEST: usize = 100_000;

/// Every payout of a bulk-loaded history exported once by the real binary in a process of its
/// own (SQLite or PostgreSQL), whose resident memory (VmRSS, read from /proc) grows by under
/// 20 MB while it streams a file of `LARGE` rows (`LARGEST` with `SMALLPAY_LARGE_EXPORT=1`)
/// after a file a twentieth that size: the server pages through the history, it never holds
/// the file.
async fn a_large_export_streams_every_row_once_in_flat_memory(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let size = if std::env::var("SMALLPAY_LARGE_EXPORT").is_ok_and(|v| v == "1") { LARGEST } else { LARGE };
    // One malloc arena: glibc gives each thread that allocates its own (the Tokio workers,
    // SQLite's connection threads), so which thread happens to serve the larger file added up
    // to 20 MB of noise (seen once: +23 MB for 5,000 rows on PostgreSQL). The image's musl
    // allocator keeps one heap; what the server retains per row shows either way.
    let Some(server) = ServerProcess::try_start(backend, &[("MALLOC_ARENA_MAX", "1")]).await else { return };
    let http = reqwest::Client::new();
    let gql = |token: String, query: &'static str, variables: Value| {
        let request = http
            .post(server.url("/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }));
        async move {
            let answer: Value = request.send().await.unwrap().json().await.unwrap();
            assert!(answer.get("errors").is_none(), "{answer}");
            answer["data"].clone()
        }
    };
    let platform = server.token(Role::Platform, None, "marketplace");
    let admin = server.token(Role::Admin, Some("s1"), "admin");
    let shop = json!({ "id": "s1", "name": "Shop s1", "openingBalance": "1000", "zeroEntry": false, "depositPaid": true,
                       "hasUnpaidBills": false });
    gql(platform.clone(), "mutation($i: ShopInput!) { syncShop(input: $i) { id } }", json!({ "i": shop })).await;
    for sn in ["O-1", "O-2"] {
        let order = json!({ "orderSn": sn, "shopId": "s1", "buyerId": "buyer-1", "goodsId": "G-1", "goodsName": "Goods",
                            "activityGoods": false, "paidAmount": "99.00", "groupedAt": "2026-11-23T02:00:00Z" });
        let sync = "mutation($i: OrderInput!) { syncOrder(input: $i) { orderSn } }";
        gql(platform.clone(), sync, json!({ "i": order })).await;
    }
    let input = json!({ "orderSn": "O-1", "type": "SHIPPING_FEE", "amount": "1.00", "reason": "运费补偿",
                        "message": "运费已退，请查收", "funding": "BALANCE" });
    let created = gql(
        admin.clone(),
        "mutation($i: CreatePayoutInput!) { createPayout(input: $i) { id } }",
        json!({ "i": input }),
    )
    .await;
    let first: i64 = created["createPayout"]["id"].as_str().unwrap().parse().unwrap();
    // The rest copied from it in one statement, as a bulk load would (the kept sums rebuilt
    // after, as for any load around the use cases).
    let started = std::time::Instant::now();
    let others = "shop_id, goods_id, buyer_id, type, amount_fen, message, approval_note, status, funding, \
        applicant_id, approver_id, uses_quota, reject_reason, created_at, committed_at, deducted_at, succeeded_at, \
        failure_kind, failure_reason, qr_payload, recharge_deadline, channel_txn_id, closed_at, refund_status, \
        refund_due_at, refunded_at, updated_at";
    // O-1 holds a twentieth as many (with the first) but at least three of the export's pages,
    // so that the first export already runs every statement a longer one runs; O-2 the `size`
    // of the export measured.
    let warm = (size / 20).max(3 * smallpay::reports::export::PAGE as usize);
    let copies = size + warm - 1;
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {copies}) \
         INSERT INTO payouts (order_sn, {others}, reason) \
         SELECT CASE WHEN n.i < {warm} THEN 'O-1' ELSE 'O-2' END, {others}, '=bulk ' || n.i \
         FROM payouts, n WHERE payouts.id = {first}"
    );
    let db = sea_orm::Database::connect(server.database_url.as_str()).await.unwrap();
    db.execute_unprepared(&sql).await.unwrap();
    smallpay::payouts::totals::rebuild(&db, "s1").await.unwrap();
    db.close().await.unwrap();
    let loaded = started.elapsed();

    let export = |query: &str| http.get(server.url(&format!("/exports/payouts.csv{query}"))).bearer_auth(&admin).send();
    // Every id seen once: a flag per id.
    let mut seen = vec![false; first as usize + size + warm + 1];
    let mut rows = 0usize;
    let mut read = |line: &[u8]| {
        let id: usize = std::str::from_utf8(line.split(|b| *b == b',').next().unwrap()).unwrap().parse().unwrap();
        assert!(!std::mem::replace(&mut seen[id], true), "payout {id} twice");
        rows += 1;
    };
    // First the smaller file of order O-1: what any export sets up once (the pool's SQLite page
    // caches, the allocator's arenas, the statements) is in the baseline; a server that kept
    // the file would still grow with the larger one.
    let (_, small) = csv_lines(export("?orderSn=O-1").await.unwrap(), || server.rss_kib(), &mut read).await;
    assert_eq!(small, warm, "O-1's payouts");
    let before = server.rss_kib();
    let started = std::time::Instant::now();
    let (peak, lines) = csv_lines(export("?orderSn=O-2").await.unwrap(), || server.rss_kib(), &mut read).await;
    let exported = started.elapsed();
    assert_eq!(lines, size, "O-2's payouts");
    assert_eq!(rows, size + warm, "every payout once");
    let peak = peak.max(server.rss_kib());
    let grown = (peak.saturating_sub(before)) * 1024;
    eprintln!(
        "export of {size} rows ({backend:?}, {}) after one of {warm}: loaded in {loaded:.1?}, exported in \
         {exported:.1?}; server RSS {:.1} MB → peak {:.1} MB (+{:.1} MB)",
        server.bin,
        before as f64 * 1024.0 / 1e6,
        peak as f64 * 1024.0 / 1e6,
        grown as f64 / 1e6
    );
    // The server streams a page at a time: its memory does not grow with the file (~15 MB at
    // 100,000 rows).
    assert!(grown < 20_000_000, "the server's RSS grew by {grown} bytes during the export");
}

/// Reads a CSV answer line by line (no cell of this file holds a line break), the header
/// skipped; returns the highest `rss` seen meanwhile and how many rows `each` was given.
async fn csv_lines(
    mut response: reqwest::Response,
    rss: impl Fn() -> u64,
    each: &mut impl FnMut(&[u8]),
) -> (u64, usize) {
    assert_eq!(response.status(), 200);
    let (mut peak, mut rows, mut header, mut pending) = (rss(), 0, true, Vec::<u8>::new());
    while let Some(chunk) = response.chunk().await.unwrap() {
        pending.extend_from_slice(&chunk);
        let Some(end) = pending.iter().rposition(|b| *b == b'\n') else { continue };
        for line in pending[..end].split(|b| *b == b'\n') {
            if !std::mem::take(&mut header) {
                each(line);
                rows += 1;
            }
        }
        pending.drain(..=end);
        peak = peak.max(rss());
    }
    (peak, rows)
}

mod a_large_export_streams_every_row_once_in_flat_memory {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::a_large_export_streams_every_row_once_in_flat_memory(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_large_export_streams_every_row_once_in_flat_memory(Backend::Postgres).await;
    }
}

const TOTALS: &str = "subscription { shopTotalsChanged { paidToday paidFromBalanceToday balance at
  quotas { account { id } dailyLimit usedToday } } }";

fn totals(message: Result<Value, Value>) -> Value {
    let mut t = message.expect("totals")["shopTotalsChanged"].clone();
    assert!(t["at"].as_str().is_some_and(|at| at.parse::<DateTime<Utc>>().is_ok()), "{t}");
    t.as_object_mut().unwrap().remove("at");
    t
}

async fn live_totals_follow_every_change(app: TestApp) {
    app.sync_shop("s1", "100", json!({})).await;
    app.sync_shop("s2", "100", json!({})).await;
    let (admin, cs) = (app.admin("s1"), app.token(Role::Cs, Some("s1"), "cs-1"));
    app.ok(&cs, "{ me { id } }", json!({})).await;
    app.ok(&admin, SET_QUOTA, json!({ "a": "cs-1", "p": "30", "d": "50" })).await;
    for sn in ["O-1", "O-2", "O-3"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    app.sync_order("X-1", "s2", json!({})).await;
    let mut live = app.subscribe("graphql-transport-ws", &admin, TOTALS, json!({})).await;
    let quota = |used: &str| json!([{ "account": { "id": "cs-1" }, "dailyLimit": "50.00", "usedToday": used }]);
    assert_eq!(
        totals(live.next().await),
        json!({ "paidToday": "0.00", "paidFromBalanceToday": "0.00", "balance": "100.00", "quotas": quota("0.00") }),
        "sent at once"
    );
    // Another shop's payout moves nothing here; this shop's next one is the next message.
    app.pay(&app.admin("s2"), "X-1", "9.00", "BALANCE").await;
    app.pay(&cs, "O-1", "20.00", "BALANCE").await;
    assert_eq!(
        totals(live.next().await),
        json!({ "paidToday": "20.00", "paidFromBalanceToday": "20.00", "balance": "80.00", "quotas": quota("20.00") })
    );
    app.pay(&cs, "O-2", "5.00", "WECHAT_SCAN").await;
    assert_eq!(
        totals(live.next().await),
        json!({ "paidToday": "25.00", "paidFromBalanceToday": "20.00", "balance": "80.00", "quotas": quota("20.00") })
    );
    // A balance change without a transition: the platform's adjustment.
    let adjust = "mutation { adjustShopBalance(shopId: \"s1\", amount: \"-30.00\", reference: \"fee-1\") { balance } }";
    app.ok(&app.platform(), adjust, json!({})).await;
    assert_eq!(
        totals(live.next().await),
        json!({ "paidToday": "25.00", "paidFromBalanceToday": "20.00", "balance": "50.00", "quotas": quota("20.00") })
    );
    // The scan payout's hour runs out: RECHARGE_FAILED leaves the sums.
    app.advance(3601).await;
    assert_eq!(
        totals(live.next().await),
        json!({ "paidToday": "20.00", "paidFromBalanceToday": "20.00", "balance": "50.00", "quotas": quota("20.00") })
    );
    // Only the admin.
    let mut refused = app.subscribe("graphql-transport-ws", &cs, TOTALS, json!({})).await;
    assert_eq!(refused.next().await.expect_err("refused")[0]["extensions"]["code"], "FORBIDDEN");
}

on_both_databases!(
    live_totals_follow_every_change,
    each_accounts_day_in_shanghai,
    who_reads_whose_days,
    days_across_a_daylight_saving_change_in_new_york,
    the_history_as_a_file,
);
