//! The objects read from their rows without a future per field (`graphql::plain`) answer as
//! async-graphql's own resolution does: every field of `Payout`, `PayoutTransition`, `Order`
//! and `Account`, in payouts of several statuses, asked once as plain fields and once with
//! `__typename` beside them (which takes async-graphql's path for that object).
use serde_json::{Value, json};

use crate::{helpers::TestApp, on_both_databases, payouts::shop};

const TRANSITION: &str = "id payoutId from to at actor actorKind note";
const ACCOUNT: &str = "id name role";
const ORDER: &str = "orderSn buyerId goodsId goodsName activityGoods paidAmount groupedAt refunded";

/// Every field of a payout and of what it names, each selection with `extra` added.
fn history_query(extra: &str) -> String {
    let payout = format!(
        "id orderSn goodsId type amount reason message approvalNote status funding rejectReason createdAt \
         deductedAt succeededAt failureKind failureReason closedAt refundStatus refundedAt updatedAt \
         recharge {{ method qrPayload deadline }} accountCard {{ id status }} {extra}
         order {{ {ORDER} {extra} }}
         applicant {{ {ACCOUNT} {extra} }} approver {{ {ACCOUNT} {extra} }}
         history {{ {TRANSITION} payout {{ id status {extra} }} {extra} }}"
    );
    format!("{{ payouts(first: 10) {{ edges {{ node {{ {payout} }} }} }} }}")
}

/// `value` without its `__typename` entries.
fn without_typename(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("__typename");
            map.values_mut().for_each(without_typename);
        }
        Value::Array(items) => items.iter_mut().for_each(without_typename),
        _ => {}
    }
}

async fn plain_fields_answer_as_async_graphql_does(app: TestApp) {
    let (admin, cs, _) = shop(&app, "1000.00", json!({})).await;
    for sn in ["O-1", "O-2", "O-3", "O-4"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    app.pay(&admin, "O-1", "5.00", "BALANCE").await;
    app.pay(&admin, "O-2", "6.00", "WECHAT_SCAN").await;
    let requested = app.create_payout(&cs, "O-3", "7.00", "REQUEST_APPROVAL", json!({ "approvalNote": "破损" })).await;
    assert!(requested.get("errors").is_none(), "{requested:#}");
    let rejected = app.create_payout(&cs, "O-4", "8.00", "REQUEST_APPROVAL", json!({ "approvalNote": "少件" })).await;
    let id = rejected["data"]["createPayout"]["id"].clone();
    let reject = "mutation($id: ID!) { rejectPayout(payoutId: $id, reason: \"不符合\") { id } }";
    app.ok(&admin, reject, json!({ "id": id })).await;

    let plain = app.ok(&admin, &history_query(""), json!({})).await;
    let mut resolved = app.ok(&admin, &history_query("__typename"), json!({})).await;
    assert_eq!(resolved["payouts"]["edges"][0]["node"]["__typename"], "Payout", "the second query names the types");
    without_typename(&mut resolved);
    assert_eq!(plain, resolved);

    // The page holds what the comparison is meant to cover: each status, each kind of
    // transition note, a recharge, an approver, a reject reason.
    let nodes: Vec<&Value> = plain["payouts"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]).collect();
    assert_eq!(nodes.len(), 4);
    let statuses: Vec<&str> = nodes.iter().map(|n| n["status"].as_str().unwrap()).collect();
    for wanted in ["PENDING_RECHARGE", "PENDING_APPROVAL", "REJECTED"] {
        assert!(statuses.contains(&wanted), "{statuses:?}");
    }
    assert!(nodes.iter().any(|n| n["recharge"]["qrPayload"].is_string()));
    assert!(nodes.iter().any(|n| n["approver"]["role"] == "ADMIN"));
    assert!(nodes.iter().any(|n| n["rejectReason"] == "不符合"));
    assert!(nodes.iter().all(|n| n["history"][0]["from"].is_null() && n["history"][0]["to"].is_string()));
    assert!(nodes.iter().any(|n| n["history"].as_array().unwrap().iter().any(|t| t["note"] == "破损")));

    // Aliases and a field asked twice under its own name answer as before too.
    let aliased = "{ payouts(first: 50) { edges { node { a: id b: amount status status history { t: to to } } } } }";
    let with_typename =
        "{ payouts(first: 50) { edges { node { a: id b: amount status status __typename history { t: to to } } } } }";
    let mut resolved = app.ok(&admin, with_typename, json!({})).await;
    without_typename(&mut resolved);
    assert_eq!(app.ok(&admin, aliased, json!({})).await, resolved);
}

on_both_databases!(plain_fields_answer_as_async_graphql_does);
