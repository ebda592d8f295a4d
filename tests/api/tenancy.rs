//! One shop never sees another's orders, accounts or balance: by id, by list or by filter.
use serde_json::json;
use smallpay::auth::Role;

use crate::{helpers::TestApp, on_both_databases};

async fn a_shop_sees_only_its_own_data(app: TestApp) {
    app.sync_shop("shop-a", "100.00", json!({})).await;
    app.sync_shop("shop-b", "250.00", json!({})).await;
    app.sync_order("A-1", "shop-a", json!({ "goodsId": "G-shared" })).await;
    app.sync_order("B-1", "shop-b", json!({ "goodsId": "G-shared" })).await;
    app.sync_order("B-2", "shop-b", json!({})).await;
    let admin_a = app.admin("shop-a");
    let admin_b = app.admin("shop-b");
    app.ok(&app.token(Role::Cs, Some("shop-b"), "bob-b"), "{ me { id } }", json!({})).await;

    // By id: another shop's order is absent, not forbidden.
    let data = app.ok(&admin_a, "{ order(orderSn: \"B-1\") { orderSn } }", json!({})).await;
    assert_eq!(data["order"], json!(null));
    let data = app.ok(&admin_a, "{ order(orderSn: \"A-1\") { orderSn } }", json!({})).await;
    assert_eq!(data["order"]["orderSn"], "A-1");

    // By list and by filter.
    let list = "query($f: OrderFilter) { orders(filter: $f) { totalCount edges { node { orderSn } } } }";
    let data = app.ok(&admin_a, list, json!({})).await;
    assert_eq!(data["orders"]["totalCount"], 1);
    assert_eq!(data["orders"]["edges"][0]["node"]["orderSn"], "A-1");
    for filter in [json!({ "goodsId": "G-shared" }), json!({ "orderSn": "B-1" }), json!({ "orderSn": "B-2" })] {
        let data = app.ok(&admin_a, list, json!({ "f": filter })).await;
        let expected = if filter["goodsId"] == "G-shared" { 1 } else { 0 };
        assert_eq!(data["orders"]["totalCount"], expected, "{filter}");
        assert!(data["orders"]["edges"].as_array().unwrap().iter().all(|e| e["node"]["orderSn"] == "A-1"));
    }

    // Accounts and balance.
    let data = app.ok(&admin_a, "{ accounts { id } shop { id balance } }", json!({})).await;
    assert_eq!(data["accounts"], json!([{ "id": "admin" }]));
    assert_eq!(data["shop"], json!({ "id": "shop-a", "balance": "100.00" }));
    let data = app.ok(&admin_b, "{ accounts { id } shop { id balance } }", json!({})).await;
    assert_eq!(data["accounts"], json!([{ "id": "admin" }, { "id": "bob-b" }]));
    assert_eq!(data["shop"]["balance"], "250.00");

    // The same sub in two shops is two accounts.
    let data = app.ok(&app.token(Role::Cs, Some("shop-a"), "bob-b"), "{ me { shop { id } } }", json!({})).await;
    assert_eq!(data["me"]["shop"]["id"], "shop-a");
    assert_eq!(app.ok(&admin_b, "{ accounts { id } }", json!({})).await["accounts"].as_array().unwrap().len(), 2);
}

async fn a_token_for_an_unknown_shop_sees_nothing(app: TestApp) {
    app.sync_shop("shop-a", "1.00", json!({})).await;
    app.sync_order("A-1", "shop-a", json!({})).await;
    let ghost = app.token(Role::Admin, Some("ghost-shop"), "admin");
    assert_eq!(app.code(Some(&ghost), "{ shop { id } }", json!({})).await, "NOT_FOUND");
    let data = app.ok(&ghost, "{ me { id shop { id } } orders { totalCount } accounts { id } }", json!({})).await;
    assert_eq!(data, json!({ "me": { "id": "admin", "shop": null }, "orders": { "totalCount": 0 }, "accounts": [] }));
}

on_both_databases!(a_shop_sees_only_its_own_data, a_token_for_an_unknown_shop_sees_nothing);
