//! The platform's idempotent upserts: shops, orders, balance adjustments, compensations.
use serde_json::json;

use crate::{helpers::TestApp, on_both_databases};

const SHOP_Q: &str = "{ shop { id name balance zeroEntry depositPaid hasUnpaidBills timeZone dailyCap dailyBalanceCap maxAmountRegular maxAmountActivity paidToday paidFromBalanceToday } }";

async fn sync_shop_creates_then_updates_with_policy_defaults(app: TestApp) {
    let created = app.sync_shop("s1", "120.50", json!({})).await;
    assert_eq!(created["balance"], "120.50");
    assert_eq!(created["timeZone"], "Asia/Shanghai");
    let data = app.ok(&app.admin("s1"), SHOP_Q, json!({})).await;
    assert_eq!(
        data["shop"],
        json!({
            "id": "s1", "name": "Shop s1", "balance": "120.50", "zeroEntry": false, "depositPaid": true,
            "hasUnpaidBills": false, "timeZone": "Asia/Shanghai", "dailyCap": "5000.00", "dailyBalanceCap": "2000.00",
            "maxAmountRegular": "200.00", "maxAmountActivity": "50.00", "paidToday": "0.00", "paidFromBalanceToday": "0.00",
        })
    );
    // A second sync updates the shop; the opening balance is ignored once the shop exists.
    let updated = app
        .sync_shop(
            "s1",
            "999.00",
            json!({ "name": "  Renamed  ", "timeZone": "Europe/Berlin", "dailyCap": 100, "hasUnpaidBills": true }),
        )
        .await;
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(updated["balance"], "120.50");
    assert_eq!(updated["timeZone"], "Europe/Berlin");
    assert_eq!(updated["dailyCap"], "100.00");
    // Repeating the same sync changes nothing.
    let again = app
        .sync_shop(
            "s1",
            "999.00",
            json!({ "name": "Renamed", "timeZone": "Europe/Berlin", "dailyCap": "100", "hasUnpaidBills": true }),
        )
        .await;
    assert_eq!(again, updated);
    assert_eq!(app.balance_and_ledger("s1").await, (12050, 12050));
}

async fn adjust_shop_balance_is_idempotent_and_never_goes_negative(app: TestApp) {
    app.sync_shop("s1", "10.00", json!({})).await;
    let adjust = "mutation($a: Decimal!, $r: String!) { adjustShopBalance(shopId: \"s1\", amount: $a, reference: $r) { balance } }";
    let p = app.platform();
    let data = app.ok(&p, adjust, json!({ "a": "-2.50", "r": "fee-1" })).await;
    assert_eq!(data["adjustShopBalance"]["balance"], "7.50");
    // Replay: no second movement.
    let data = app.ok(&p, adjust, json!({ "a": "-2.50", "r": "fee-1" })).await;
    assert_eq!(data["adjustShopBalance"]["balance"], "7.50");
    // The same reference with another amount.
    assert_eq!(app.code(Some(&p), adjust, json!({ "a": "-3.00", "r": "fee-1" })).await, "IDEMPOTENCY_KEY_REUSED");
    // Below zero: refused, nothing written; exactly to zero is fine.
    assert_eq!(app.code(Some(&p), adjust, json!({ "a": "-7.51", "r": "fee-2" })).await, "INSUFFICIENT_BALANCE");
    let data = app.ok(&p, adjust, json!({ "a": "-7.50", "r": "fee-2" })).await;
    assert_eq!(data["adjustShopBalance"]["balance"], "0.00");
    assert_eq!(app.code(Some(&p), adjust, json!({ "a": "0", "r": "fee-3" })).await, "BAD_USER_INPUT");
    assert_eq!(app.code(Some(&p), adjust, json!({ "a": "-0.01", "r": "fee-4" })).await, "INSUFFICIENT_BALANCE");
    let data = app.ok(&p, adjust, json!({ "a": 5, "r": "top-up" })).await;
    assert_eq!(data["adjustShopBalance"]["balance"], "5.00");
    let missing = "mutation { adjustShopBalance(shopId: \"nope\", amount: \"1\", reference: \"x\") { balance } }";
    assert_eq!(app.code(Some(&p), missing, json!({})).await, "NOT_FOUND");
    assert_eq!(app.balance_and_ledger("s1").await, (500, 500));
}

async fn concurrent_adjustments_never_overdraw(app: TestApp) {
    app.sync_shop("s1", "1.00", json!({})).await;
    let adjust =
        "mutation($r: String!) { adjustShopBalance(shopId: \"s1\", amount: \"-0.30\", reference: $r) { balance } }";
    let p = app.platform();
    let results = futures_util::future::join_all((0..12).map(|i| {
        let (app, p) = (&app, &p);
        async move { app.gql(Some(p), adjust, json!({ "r": format!("r-{}", i % 6) })).await }
    }))
    .await;
    let refused = results.iter().filter(|r| r.get("errors").is_some()).count();
    for r in &results {
        if r.get("errors").is_some() {
            assert_eq!(crate::helpers::first_code(r), "INSUFFICIENT_BALANCE", "{r}");
        }
    }
    // Six references of 0.30 against 1.00: three fit; replays of a taken reference succeed.
    let (balance, ledger) = app.balance_and_ledger("s1").await;
    assert_eq!((balance, ledger), (10, 10));
    assert_eq!(refused, 6, "three references fit; both tries of the other three are refused");
}

async fn sync_order_upserts_and_never_moves_shop(app: TestApp) {
    app.sync_shop("s1", "0", json!({})).await;
    app.sync_shop("s2", "0", json!({})).await;
    let created = app.sync_order("O-1", "s1", json!({ "groupedAt": null })).await;
    assert_eq!(created["groupedAt"], json!(null));
    assert_eq!(created["refunded"], false);
    let grouped = app.sync_order("O-1", "s1", json!({ "groupedAt": "2026-01-02T03:04:05Z", "refunded": true })).await;
    assert_eq!(grouped["refunded"], true);
    assert!(grouped["groupedAt"].as_str().unwrap().starts_with("2026-01-02T03:04:05"));
    // refunded omitted: unchanged.
    let kept = app.sync_order("O-1", "s1", json!({ "groupedAt": "2026-01-02T03:04:05Z" })).await;
    assert_eq!(kept["refunded"], true);
    let data = app.ok(&app.admin("s1"), "{ orders { totalCount } }", json!({})).await;
    assert_eq!(data["orders"]["totalCount"], 1);
    let moved = "mutation { syncOrder(input: {orderSn: \"O-1\", shopId: \"s2\", buyerId: \"b\", goodsId: \"g\", goodsName: \"n\", activityGoods: false, paidAmount: \"1.00\"}) { orderSn } }";
    assert_eq!(app.code(Some(&app.platform()), moved, json!({})).await, "BAD_USER_INPUT");
    let unknown_shop = moved.replace("\"s2\"", "\"s404\"").replace("O-1", "O-2");
    assert_eq!(app.code(Some(&app.platform()), &unknown_shop, json!({})).await, "NOT_FOUND");
    let data = app.ok(&app.admin("s2"), "{ orders { totalCount } }", json!({})).await;
    assert_eq!(data["orders"]["totalCount"], 0);
}

async fn platform_compensations_are_idempotent_on_their_reference(app: TestApp) {
    app.sync_shop("s1", "0", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    let record = "mutation($i: PlatformCompensationInput!) { recordPlatformCompensation(input: $i) { id orderSn type amount at } }";
    let p = app.platform();
    // With a reference: a replay returns the first record, with or without its time.
    let input = json!({ "orderSn": "O-1", "type": "SHIPPING_FEE", "amount": "8.00", "at": "2026-11-01T10:00:00Z", "reference": "PC-1" });
    let first = app.ok(&p, record, json!({ "i": input })).await["recordPlatformCompensation"].clone();
    let second = app.ok(&p, record, json!({ "i": input })).await["recordPlatformCompensation"].clone();
    assert_eq!(first, second);
    let undated_replay = json!({ "orderSn": "O-1", "type": "SHIPPING_FEE", "amount": "8.00", "reference": "PC-1" });
    let third = app.ok(&p, record, json!({ "i": undated_replay })).await["recordPlatformCompensation"].clone();
    assert_eq!(first, third);
    // The same reference for something else is refused and records nothing.
    let other_amount = json!({ "orderSn": "O-1", "type": "SHIPPING_FEE", "amount": "9.00", "reference": "PC-1" });
    assert_eq!(app.code(Some(&p), record, json!({ "i": other_amount })).await, "IDEMPOTENCY_KEY_REUSED");
    // Without a reference: two genuine 8.00 refunds at the same time are two records.
    let unreferenced =
        json!({ "orderSn": "O-1", "type": "SHIPPING_FEE", "amount": "8.00", "at": "2026-11-01T10:00:00Z" });
    let a = app.ok(&p, record, json!({ "i": unreferenced })).await["recordPlatformCompensation"].clone();
    let b = app.ok(&p, record, json!({ "i": unreferenced })).await["recordPlatformCompensation"].clone();
    assert_ne!(a["id"], b["id"]);
    assert_ne!(a["id"], first["id"]);
    // Without a time: recorded now.
    let undated = json!({ "orderSn": "O-1", "type": "OTHER", "amount": "3.00" });
    let now = app.ok(&p, record, json!({ "i": undated })).await["recordPlatformCompensation"].clone();
    assert!(now["at"].as_str().is_some_and(|at| !at.is_empty()));
    let data = app
        .ok(&app.admin("s1"), "{ order(orderSn: \"O-1\") { platformCompensations { type amount } } }", json!({}))
        .await;
    assert_eq!(
        data["order"]["platformCompensations"],
        json!([
            { "type": "SHIPPING_FEE", "amount": "8.00" },
            { "type": "SHIPPING_FEE", "amount": "8.00" },
            { "type": "SHIPPING_FEE", "amount": "8.00" },
            { "type": "OTHER", "amount": "3.00" },
        ])
    );
    let unknown = json!({ "orderSn": "O-404", "type": "OTHER", "amount": "3.00" });
    assert_eq!(app.code(Some(&p), record, json!({ "i": unknown })).await, "NOT_FOUND");
    let zero = json!({ "orderSn": "O-1", "type": "OTHER", "amount": "0.00" });
    assert_eq!(app.code(Some(&p), record, json!({ "i": zero })).await, "BAD_USER_INPUT");
    let spaced = json!({ "orderSn": "O-1", "type": "OTHER", "amount": "1.00", "reference": "PC 2" });
    assert_eq!(app.code(Some(&p), record, json!({ "i": spaced })).await, "BAD_USER_INPUT");
}

async fn concurrent_replays_of_one_reference_record_it_once(app: TestApp) {
    app.sync_shop("s1", "0", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    let record = "mutation($i: PlatformCompensationInput!) { recordPlatformCompensation(input: $i) { id } }";
    let input = json!({ "orderSn": "O-1", "type": "SHIPPING_FEE", "amount": "8.00", "reference": "PC-RACE" });
    let p = app.platform();
    let calls = (0..16).map(|_| app.ok(&p, record, json!({ "i": input })));
    let ids: Vec<_> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|d| d["recordPlatformCompensation"]["id"].clone())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let data =
        app.ok(&app.admin("s1"), "{ order(orderSn: \"O-1\") { platformCompensations { id } } }", json!({})).await;
    assert_eq!(data["order"]["platformCompensations"], json!([{ "id": ids[0] }]));
}

on_both_databases!(
    sync_shop_creates_then_updates_with_policy_defaults,
    adjust_shop_balance_is_idempotent_and_never_goes_negative,
    concurrent_adjustments_never_overdraw,
    sync_order_upserts_and_never_moves_shop,
    platform_compensations_are_idempotent_on_their_reference,
    concurrent_replays_of_one_reference_record_it_once,
);
