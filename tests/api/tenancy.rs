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

/// The same subs in two shops, under other names and roles: alice is s1's admin and s2's CS
/// agent, bob s1's CS agent and s2's admin. Each shop's answers name its own accounts.
async fn the_same_subs_in_two_shops_are_different_accounts(app: TestApp) {
    app.sync_shop("s1", "100", json!({})).await;
    app.sync_shop("s2", "100", json!({})).await;
    app.sync_order("A-1", "s1", json!({})).await;
    app.sync_order("B-1", "s2", json!({})).await;
    let sign = |role: Role, shop: &str, sub: &str, name: &str| {
        let claims = app.keys.claims(role, Some(shop), sub, Some(name), std::time::Duration::from_secs(3600));
        app.keys.sign(&claims).unwrap()
    };
    let alice1 = sign(Role::Admin, "s1", "alice", "Alice (s1 admin)");
    let bob1 = sign(Role::Cs, "s1", "bob", "Bob (s1 agent)");
    let alice2 = sign(Role::Cs, "s2", "alice", "Alice (s2 agent)");
    let bob2 = sign(Role::Admin, "s2", "bob", "Bob (s2 admin)");
    for t in [&alice1, &bob1, &alice2, &bob2] {
        app.ok(t, "{ me { id } }", json!({})).await;
    }
    // s1: bob asks, alice approves. s2: bob gives alice a quota, alice pays from the balance.
    let asked = app.create_payout(&bob1, "A-1", "5.00", "REQUEST_APPROVAL", json!({})).await;
    let p1 = asked["data"]["createPayout"]["id"].clone();
    app.ok(&alice1, "mutation($id: ID!) { approvePayout(payoutId: $id) { id } }", json!({ "id": p1 })).await;
    let set = "mutation { setQuota(accountId: \"alice\", perPayoutLimit: \"10\", dailyLimit: \"20\") { usedToday } }";
    app.ok(&bob2, set, json!({})).await;
    let p2 = app.pay(&alice2, "B-1", "7.00", "BALANCE").await["id"].clone();

    let q = "query($o: String!) { order(orderSn: $o) { payouts { id
      applicant { id name role quota { usedToday } } approver { id name role } } } quotas { account { id name role } usedToday } }";
    let s1 = app.ok(&alice1, q, json!({ "o": "A-1" })).await;
    assert_eq!(
        s1["order"]["payouts"],
        json!([{ "id": p1, "applicant": { "id": "bob", "name": "Bob (s1 agent)", "role": "CS", "quota": null },
                 "approver": { "id": "alice", "name": "Alice (s1 admin)", "role": "ADMIN" } }])
    );
    assert_eq!(s1["quotas"], json!([]), "no quota in s1");
    let s2 = app.ok(&bob2, q, json!({ "o": "B-1" })).await;
    assert_eq!(
        s2["order"]["payouts"],
        json!([{ "id": p2, "applicant": { "id": "alice", "name": "Alice (s2 agent)", "role": "CS", "quota": { "usedToday": "7.00" } },
                 "approver": null }])
    );
    assert_eq!(
        s2["quotas"],
        json!([{ "account": { "id": "alice", "name": "Alice (s2 agent)", "role": "CS" }, "usedToday": "7.00" }])
    );
    // Each shop's order lists only its own payouts; the other shop's order and payout are absent.
    assert_eq!(app.ok(&bob2, q, json!({ "o": "A-1" })).await["order"], json!(null));
    let payout = "query($id: ID!) { payout(id: $id) { id } }";
    assert_eq!(app.ok(&alice2, payout, json!({ "id": p1 })).await["payout"], json!(null));
    assert_eq!(app.ok(&bob1, payout, json!({ "id": p2 })).await["payout"], json!(null));
    assert_eq!(
        app.ok(&alice1, "{ me { role quota { usedToday } } }", json!({})).await["me"],
        json!({ "role": "ADMIN", "quota": null })
    );
    assert_eq!(
        app.ok(&alice2, "{ me { role quota { usedToday } } }", json!({})).await["me"],
        json!({ "role": "CS", "quota": { "usedToday": "7.00" } })
    );

    // A subscription in s2 filtered by s1's payout: the replay from the start has none of its
    // events, while the same filter in s1 replays them.
    let status = "subscription($p: ID, $a: ID) { payoutStatusChanged(payoutId: $p, afterEventId: $a) { payoutId to } }";
    let mut own = app.subscribe("graphql-transport-ws", &alice1, status, json!({ "p": p1, "a": "0" })).await;
    assert_eq!(own.next().await.unwrap()["payoutStatusChanged"], json!({ "payoutId": p1, "to": "PENDING_APPROVAL" }));
    let mut other = app.subscribe("graphql-transport-ws", &bob2, status, json!({ "p": p1, "a": "0" })).await;
    assert!(other.registered);
    // Everything s2 may see, from the start: its own payout's events, then a marker — a
    // payout made in s2 after a new event of s1's payout — and nothing of s1's in between.
    let all = "subscription($a: ID) { payoutStatusChanged(afterEventId: $a) { payoutId to } }";
    let mut everything = app.subscribe("graphql-transport-ws", &bob2, all, json!({ "a": "0" })).await;
    app.sync_order("A-2", "s1", json!({})).await;
    app.pay(&alice1, "A-2", "2.00", "BALANCE").await;
    app.sync_order("B-2", "s2", json!({})).await;
    let marker = app.pay(&alice2, "B-2", "1.00", "BALANCE").await["id"].clone();
    loop {
        let event = everything.next().await.expect("an event")["payoutStatusChanged"].clone();
        assert!(event["payoutId"] == p2 || event["payoutId"] == marker, "another shop's payout leaked: {event}");
        if event["payoutId"] == marker {
            break;
        }
    }
    // The filtered subscription's replay went out when it registered, before the marker was
    // made: had it leaked s1's payout, that frame would have arrived by now.
    assert_eq!(
        other.arrived(),
        Vec::<serde_json::Value>::new(),
        "s1's payout {p1} leaked to s2's subscription filtered by it"
    );
}

on_both_databases!(
    a_shop_sees_only_its_own_data,
    a_token_for_an_unknown_shop_sees_nothing,
    the_same_subs_in_two_shops_are_different_accounts,
);
