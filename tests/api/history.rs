//! The payout history: every filter alone and combined, stable cursors while payouts arrive,
//! tenant isolation, and a flat number of SQL statements per page whatever its size.
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use smallpay::auth::Role;

use crate::{helpers::TestApp, on_both_databases, payouts::shop};

const HISTORY: &str = "query($f: PayoutFilter, $first: Int, $after: String) {
  payouts(filter: $f, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }";

const SUMMARIZED: &str = "query($f: PayoutFilter) { payouts(filter: $f, first: 100) {
  edges { node { id status funding amount } }
  summary { count amount byStatus { status count amount } byFunding { funding count amount } } } }";

fn fen(amount: &Value) -> i64 {
    let (yuan, cents) = amount.as_str().unwrap().split_once('.').unwrap();
    yuan.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

type Groups = std::collections::BTreeMap<String, (i64, i64)>;

/// The summary's groups under `list` (`byStatus` / `byFunding`) keyed by `key`.
fn groups(summary: &Value, list: &str, key: &str) -> Groups {
    summary[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g[key].as_str().unwrap().to_owned(), (g["count"].as_i64().unwrap(), fen(&g["amount"]))))
        .collect()
}

/// The same groups added up from the page's own payouts.
fn page_groups(nodes: &[Value], key: &str) -> Groups {
    let mut sums = Groups::new();
    for node in nodes.iter().filter(|n| !n[key].is_null()) {
        let sum = sums.entry(node[key].as_str().unwrap().to_owned()).or_default();
        *sum = (sum.0 + 1, sum.1 + fen(&node["amount"]));
    }
    sums
}

/// The summary of `filter` equals what its (whole, single) page adds up to; returns the count.
async fn summary_matches_the_page(app: &TestApp, token: &str, filter: &Value) -> i64 {
    let data = app.ok(token, SUMMARIZED, json!({ "f": filter })).await;
    let nodes: Vec<Value> = data["payouts"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
    let summary = &data["payouts"]["summary"];
    assert_eq!(summary["count"], nodes.len(), "{filter}");
    assert_eq!(fen(&summary["amount"]), nodes.iter().map(|n| fen(&n["amount"])).sum::<i64>(), "{filter}");
    assert_eq!(groups(summary, "byStatus", "status"), page_groups(&nodes, "status"), "{filter}");
    assert_eq!(groups(summary, "byFunding", "funding"), page_groups(&nodes, "funding"), "{filter}");
    summary["count"].as_i64().unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["payouts"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()).collect()
}

async fn every_filter_alone_and_combined(app: TestApp) {
    let (admin, cs, cs_admin) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({ "goodsId": "G-A" })).await;
    app.sync_order("O-2", "s1", json!({ "goodsId": "G-B" })).await;
    app.sync_order("O-3", "s1", json!({ "goodsId": "G-A", "buyerId": "buyer-invalid" })).await;
    let t0 = app.state.clock.now();
    let p1 = app.pay(&admin, "O-1", "1.00", "BALANCE").await["id"].as_str().unwrap().to_owned(); // SUCCEEDED, deducted t0
    let p2 = app.pay(&cs_admin, "O-2", "2.00", "WECHAT_SCAN").await["id"].as_str().unwrap().to_owned(); // PENDING_RECHARGE
    let p3 = app.create_payout(&cs, "O-3", "3.00", "REQUEST_APPROVAL", json!({ "type": "OTHER" })).await["data"]["createPayout"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.advance(3600 * 2).await; // p2's recharge window ends
    let t1 = app.state.clock.now();
    let p4 = app.pay(&admin, "O-1", "4.00", "BALANCE").await["id"].as_str().unwrap().to_owned(); // SUCCEEDED, deducted t1
    let p5 = app
        .create_payout(&cs_admin, "O-2", "5.00", "BALANCE", json!({ "type": "PRICE_DIFFERENCE" }))
        .await["data"]["createPayout"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.advance(61).await;
    let p6 = app.pay(&admin, "O-3", "6.00", "BALANCE").await["id"].as_str().unwrap().to_owned(); // FAILED (buyer-invalid)
    let t2 = app.state.clock.now();

    let cases: Vec<(Value, Vec<&String>)> = vec![
        (json!({}), vec![&p6, &p5, &p4, &p3, &p2, &p1]),
        (json!({ "orderSn": "O-1" }), vec![&p4, &p1]),
        (json!({ "goodsId": "G-A" }), vec![&p6, &p4, &p3, &p1]),
        (json!({ "applicantId": "csa" }), vec![&p5, &p2]),
        (json!({ "deductedFrom": t1.to_rfc3339() }), vec![&p6, &p5, &p4]),
        (json!({ "deductedTo": t1.to_rfc3339() }), vec![&p1]),
        (json!({ "deductedFrom": t0.to_rfc3339(), "deductedTo": t2.to_rfc3339() }), vec![&p5, &p4, &p1]),
        (json!({ "status": ["SUCCEEDED"] }), vec![&p5, &p4, &p1]),
        (json!({ "status": ["RECHARGE_FAILED", "PENDING_APPROVAL"] }), vec![&p3, &p2]),
        (json!({ "status": ["FAILED"] }), vec![&p6]),
        (json!({ "type": "OTHER" }), vec![&p3]),
        (json!({ "type": "PRICE_DIFFERENCE", "applicantId": "csa" }), vec![&p5]),
        (json!({ "goodsId": "G-A", "status": ["SUCCEEDED", "FAILED"], "applicantId": "admin" }), vec![&p6, &p4, &p1]),
        (json!({ "orderSn": "O-1", "deductedFrom": t1.to_rfc3339() }), vec![&p4]),
        (json!({ "orderSn": "O-2", "type": "OTHER" }), vec![]),
    ];
    for (filter, expected) in cases {
        let page = app.ok(&admin, HISTORY, json!({ "f": filter })).await;
        assert_eq!(ids(&page), expected.iter().map(|s| s.as_str()).collect::<Vec<_>>(), "{filter}");
        assert_eq!(page["payouts"]["totalCount"], expected.len(), "{filter}");
        assert_eq!(summary_matches_the_page(&app, &admin, &filter).await, expected.len() as i64, "{filter}");
    }
    // The statuses and fundings seen above, added up exactly.
    let all = app.ok(&admin, SUMMARIZED, json!({})).await["payouts"]["summary"].clone();
    assert_eq!(all["amount"], "21.00");
    assert_eq!(
        groups(&all, "byFunding", "funding"),
        [("BALANCE".to_owned(), (4, 1600)), ("WECHAT_SCAN".to_owned(), (1, 200))].into_iter().collect::<Groups>()
    );
    assert_eq!(app.code(Some(&admin), HISTORY, json!({ "first": 101 })).await, "BAD_USER_INPUT");
    assert_eq!(
        app.code(Some(&admin), HISTORY, json!({ "after": "b3JkZXI6NQ" })).await,
        "BAD_USER_INPUT",
        "an order cursor"
    );
}

async fn paging_forward_while_payouts_arrive(app: TestApp) {
    let (admin, _, cs_admin) = shop(&app, "100", json!({})).await;
    for i in 0..9 {
        app.sync_order(&format!("O-{i}"), "s1", json!({})).await;
    }
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(app.pay(&admin, &format!("O-{i}"), "1.00", "WECHAT_SCAN").await["id"].as_str().unwrap().to_owned());
    }
    made.reverse();
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut round = 0;
    loop {
        let page = app.ok(&admin, HISTORY, json!({ "first": 3, "after": after })).await;
        seen.extend(ids(&page));
        // New payouts arrive between pages: they are newer than every cursor.
        if round < 2 {
            app.pay(&cs_admin, &format!("O-{}", 7 + round), "1.00", "WECHAT_SCAN").await;
        }
        round += 1;
        if page["payouts"]["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["payouts"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, made, "no duplicates, no gaps among the old ones");
    assert_eq!(app.ok(&admin, HISTORY, json!({})).await["payouts"]["totalCount"], 9);
}

async fn another_shop_sees_none_of_it(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    let id = app.pay(&admin, "O-1", "1.00", "BALANCE").await["id"].clone();
    app.sync_shop("s2", "0", json!({})).await;
    let other = app.admin("s2");
    let staff = app.token(Role::Staff, Some("s2"), "x");
    for token in [&other, &staff] {
        assert_eq!(
            app.ok(token, "query($id: ID!) { payout(id: $id) { id } }", json!({ "id": id })).await["payout"],
            json!(null)
        );
        for filter in
            [json!({}), json!({ "orderSn": "O-1" }), json!({ "applicantId": "admin" }), json!({ "goodsId": "G-1" })]
        {
            let page = app.ok(token, HISTORY, json!({ "f": filter })).await;
            assert_eq!(page["payouts"]["totalCount"], 0, "{filter}");
            let summary = &app.ok(token, SUMMARIZED, json!({ "f": filter })).await["payouts"]["summary"];
            assert_eq!(summary, &json!({ "count": 0, "amount": "0.00", "byStatus": [], "byFunding": [] }), "{filter}");
        }
    }
    assert_eq!(app.code(Some(&app.platform()), HISTORY, json!({})).await, "FORBIDDEN");
    assert_eq!(app.code(Some(&app.token(Role::Buyer, None, "buyer-1")), HISTORY, json!({})).await, "FORBIDDEN");
}

const NESTED: &str = "query($first: Int) { payouts(first: $first) { totalCount edges { node {
  id amount status applicant { id name } approver { id } accountCard { id status }
  order { orderSn goodsName payouts { id } platformCompensations { amount } }
  history { id from to payout { id } }
} } } }";

async fn a_page_costs_the_same_statements_whatever_its_size(app: TestApp) {
    let (admin, cs, _) = shop(&app, "1000", json!({})).await;
    for i in 0..20 {
        app.sync_order(&format!("O-{i}"), "s1", json!({})).await;
    }
    for round in 0..2 {
        for i in 0..20 {
            let sn = format!("O-{i}");
            if i % 4 == 0 {
                let id = app.create_payout(&cs, &sn, "1.00", "REQUEST_APPROVAL", json!({})).await["data"]["createPayout"]["id"].clone();
                app.ok(&admin, "mutation($id: ID!) { approvePayout(payoutId: $id) { id } }", json!({ "id": id })).await;
            } else {
                app.pay(&admin, &sn, "1.00", if round == 0 { "BALANCE" } else { "WECHAT_SCAN" }).await;
            }
        }
        app.advance(61).await;
    }
    let mut costs = Vec::new();
    for first in [2, 10, 40] {
        let before = app.state.statements.load(Ordering::SeqCst);
        let data = app.ok(&admin, NESTED, json!({ "first": first })).await;
        let cost = app.state.statements.load(Ordering::SeqCst) - before;
        assert_eq!(data["payouts"]["edges"].as_array().unwrap().len(), first);
        costs.push(cost);
    }
    assert!(costs.iter().all(|c| *c == costs[0]), "statements per page grew with its size: {costs:?}");
    assert!(costs[0] <= 12, "a nested page costs {} statements", costs[0]);
}

async fn the_total_is_counted_only_when_asked(app: TestApp) {
    let (admin, _, _) = shop(&app, "1000", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    app.pay(&admin, "O-1", "1.00", "BALANCE").await;
    let cost = |query: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let before = app.state.statements.load(Ordering::SeqCst);
            app.ok(&admin, query, json!({})).await;
            app.state.statements.load(Ordering::SeqCst) - before
        }
    };
    for (with, without) in [
        ("{ payouts { totalCount edges { node { id } } } }", "{ payouts { edges { node { id } } } }"),
        ("{ orders { totalCount edges { node { orderSn } } } }", "{ orders { edges { node { orderSn } } } }"),
        ("{ pendingApprovals { totalCount edges { node { id } } } }", "{ pendingApprovals { edges { node { id } } } }"),
    ] {
        assert_eq!(cost(with).await, cost(without).await + 1, "{without} ran a COUNT(*) nobody asked for");
    }
}

/// The unfiltered total is the shop's own count (`shops.payout_count`), kept by each creation:
/// it must agree with a counted total through refusals, idempotent replays, concurrent
/// creations and another shop's payouts, and the migration that added it counts the payouts
/// already there.
async fn the_unfiltered_total_is_kept_by_each_creation(app: TestApp) {
    use migration::MigratorTrait as _;
    let (admin, _, cs_admin) = shop(&app, "100", json!({})).await;
    app.sync_shop("s2", "100", json!({})).await;
    for i in 0..12 {
        app.sync_order(&format!("O-{i}"), "s1", json!({})).await;
    }
    app.sync_order("X-1", "s2", json!({})).await;
    let all_statuses = json!({ "status": ["PENDING_APPROVAL", "PENDING_RECHARGE", "RECHARGE_FAILED", "REJECTED",
        "PAYING", "SUCCEEDED", "FAILED", "CLOSED"] });
    let totals = || async {
        let unfiltered = app.ok(&admin, HISTORY, json!({ "first": 1 })).await["payouts"]["totalCount"].clone();
        let counted =
            app.ok(&admin, HISTORY, json!({ "first": 1, "f": all_statuses })).await["payouts"]["totalCount"].clone();
        (unfiltered, counted)
    };
    app.pay(&admin, "O-0", "1.00", "BALANCE").await;
    let elsewhere = app.create_payout(&admin, "X-1", "1.00", "BALANCE", json!({})).await;
    assert_eq!(elsewhere["errors"][0]["extensions"]["code"], "NOT_FOUND", "another shop's order");
    app.pay(&app.admin("s2"), "X-1", "1.00", "BALANCE").await;
    assert_eq!(
        app.create_payout(&admin, "O-1", "0.50", "BALANCE", json!({})).await["errors"][0]["extensions"]["code"],
        "AMOUNT_BELOW_MINIMUM"
    );
    for _ in 0..3 {
        app.create_payout(&cs_admin, "O-2", "2.00", "WECHAT_SCAN", json!({ "idempotencyKey": "k-1" })).await;
    }
    assert_eq!(totals().await, (json!(2), json!(2)), "a refusal and the replays add nothing");
    let creations = (3..11).map(|i| {
        let admin = admin.clone();
        let app = &app;
        async move { app.pay(&admin, &format!("O-{i}"), "1.00", "WECHAT_SCAN").await }
    });
    futures_util::future::join_all(creations).await;
    assert_eq!(totals().await, (json!(10), json!(10)), "eight concurrent creations");

    // The migration that added the count (and the one after it), undone and done again,
    // counts what is there.
    migration::Migrator::down(&app.state.db, Some(2)).await.unwrap();
    migration::Migrator::up(&app.state.db, None).await.unwrap();
    assert_eq!(totals().await, (json!(10), json!(10)), "the migration's backfill");
}

on_both_databases!(
    the_unfiltered_total_is_kept_by_each_creation,
    the_total_is_counted_only_when_asked,
    every_filter_alone_and_combined,
    paging_forward_while_payouts_arrive,
    another_shop_sees_none_of_it,
    a_page_costs_the_same_statements_whatever_its_size,
);
