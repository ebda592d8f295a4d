//! The order read side: `order`, `orders` with filters, cursors, `totalCount` and page edges.
use serde_json::{Value, json};

use crate::{helpers::TestApp, on_both_databases};

const PAGE: &str = "query($f: OrderFilter, $first: Int, $after: String) {
  orders(filter: $f, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { orderSn } }
  }
}";

fn sns(page: &Value) -> Vec<String> {
    page["orders"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["orderSn"].as_str().unwrap().to_owned())
        .collect()
}

async fn orders_page_newest_first_with_stable_cursors(app: TestApp) {
    app.sync_shop("s1", "0", json!({})).await;
    for i in 1..=5 {
        app.sync_order(&format!("O-{i}"), "s1", json!({})).await;
    }
    let admin = app.admin("s1");
    // Default page: everything, newest first.
    let all = app.ok(&admin, PAGE, json!({})).await;
    assert_eq!(sns(&all), ["O-5", "O-4", "O-3", "O-2", "O-1"]);
    assert_eq!(all["orders"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(all["orders"]["totalCount"], 5);

    // Exactly at a page boundary: two full pages, then an empty one.
    let p1 = app.ok(&admin, PAGE, json!({ "first": 2 })).await;
    assert_eq!(sns(&p1), ["O-5", "O-4"]);
    assert_eq!(p1["orders"]["pageInfo"]["hasNextPage"], true);
    // New orders arrive while paging: the walk neither repeats nor skips the old ones.
    app.sync_order("O-6", "s1", json!({})).await;
    let after = p1["orders"]["pageInfo"]["endCursor"].clone();
    let p2 = app.ok(&admin, PAGE, json!({ "first": 2, "after": after })).await;
    assert_eq!(sns(&p2), ["O-3", "O-2"]);
    let p3 = app.ok(&admin, PAGE, json!({ "first": 2, "after": p2["orders"]["pageInfo"]["endCursor"] })).await;
    assert_eq!(sns(&p3), ["O-1"]);
    assert_eq!(p3["orders"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(p3["orders"]["totalCount"], 6);
    let end = app.ok(&admin, PAGE, json!({ "first": 2, "after": p3["orders"]["pageInfo"]["endCursor"] })).await;
    assert_eq!(sns(&end), Vec::<String>::new());
    assert_eq!(end["orders"]["pageInfo"], json!({ "hasNextPage": false, "endCursor": null }));

    // first: 0 counts without rows; the edge's cursor is the page's end cursor.
    let none = app.ok(&admin, PAGE, json!({ "first": 0 })).await;
    assert_eq!(none["orders"]["edges"], json!([]));
    assert_eq!(none["orders"]["totalCount"], 6);
    assert_eq!(none["orders"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(p1["orders"]["edges"][1]["cursor"], p1["orders"]["pageInfo"]["endCursor"]);

    // Limits and bad cursors.
    assert_eq!(app.code(Some(&admin), PAGE, json!({ "first": 101 })).await, "BAD_USER_INPUT");
    assert_eq!(app.code(Some(&admin), PAGE, json!({ "first": -1 })).await, "BAD_USER_INPUT");
    assert_eq!(app.code(Some(&admin), PAGE, json!({ "after": "bm9wZQ" })).await, "BAD_USER_INPUT");
    assert_eq!(app.ok(&admin, PAGE, json!({ "first": 100 })).await["orders"]["totalCount"], 6);
}

async fn order_filters_combine(app: TestApp) {
    app.sync_shop("s1", "0", json!({})).await;
    app.sync_order("O-1", "s1", json!({ "goodsId": "G-A" })).await;
    app.sync_order("O-2", "s1", json!({ "goodsId": "G-A", "groupedAt": null })).await;
    app.sync_order("O-3", "s1", json!({ "goodsId": "G-B" })).await;
    let admin = app.admin("s1");
    let cases = [
        (json!({ "goodsId": "G-A" }), vec!["O-2", "O-1"]),
        (json!({ "groupedOnly": true }), vec!["O-3", "O-1"]),
        (json!({ "goodsId": "G-A", "groupedOnly": true }), vec!["O-1"]),
        (json!({ "orderSn": "O-2", "groupedOnly": true }), vec![]),
        (json!({ "orderSn": "O-2", "goodsId": "G-A" }), vec!["O-2"]),
        (json!({ "groupedOnly": false }), vec!["O-3", "O-2", "O-1"]),
    ];
    for (filter, expected) in cases {
        let page = app.ok(&admin, PAGE, json!({ "f": filter })).await;
        assert_eq!(sns(&page), expected, "{filter}");
        assert_eq!(page["orders"]["totalCount"], expected.len(), "{filter}");
    }
}

async fn order_fields_are_what_was_synced(app: TestApp) {
    app.sync_shop("s1", "0", json!({})).await;
    app.sync_order(
        "O-1",
        "s1",
        json!({ "buyerId": "buyer-9", "goodsName": " 雨伞 ", "activityGoods": true, "paidAmount": 12, "groupedAt": "2026-03-04T05:06:07.123Z" }),
    )
    .await;
    let data = app
        .ok(
            &app.admin("s1"),
            "{ order(orderSn: \"O-1\") { orderSn buyerId goodsId goodsName activityGoods paidAmount groupedAt refunded platformCompensations { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["order"],
        json!({
            "orderSn": "O-1", "buyerId": "buyer-9", "goodsId": "G-1", "goodsName": "雨伞", "activityGoods": true,
            "paidAmount": "12.00", "groupedAt": "2026-03-04T05:06:07.123+00:00", "refunded": false, "platformCompensations": [],
        })
    );
}

on_both_databases!(
    orders_page_newest_first_with_stable_cursors,
    order_filters_combine,
    order_fields_are_what_was_synced
);
