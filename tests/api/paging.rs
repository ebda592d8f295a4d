//! Relay pages both ways on `payouts`, `orders` and `pendingApprovals`: walking a list forward
//! (`first`/`after`) and backward (`last`/`before`) visits the same items in mirrored page
//! order, with no gap or duplicate; `pageInfo` on the first, middle and last page either way;
//! filters; the far side's flag costs one statement only when read; and every refusal.
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use smallpay::auth::Role;

use crate::{helpers::TestApp, on_both_databases, payouts::shop};

/// The list's page query with every paging argument as a variable.
fn query(list: &str) -> String {
    let (params, args, node) = match list {
        "payouts" => ("$f: PayoutFilter, ", "filter: $f, ", "id"),
        "orders" => ("$f: OrderFilter, ", "filter: $f, ", "orderSn"),
        _ => ("", "", "id"),
    };
    format!(
        "query({params}$first: Int, $after: String, $last: Int, $before: String) {{
           {list}({args}first: $first, after: $after, last: $last, before: $before) {{
             totalCount pageInfo {{ hasPreviousPage hasNextPage startCursor endCursor }}
             edges {{ cursor node {{ {node} }} }} }} }}"
    )
}

/// One page as read: its items (ids or order numbers) and its connection.
struct Page {
    items: Vec<String>,
    connection: Value,
}

impl Page {
    fn info(&self, flag: &str) -> &Value {
        &self.connection["pageInfo"][flag]
    }
}

async fn fetch(app: &TestApp, token: &str, list: &str, vars: Value) -> Page {
    let data = app.ok(token, &query(list), vars).await;
    let connection = data[list].clone();
    let edges = connection["edges"].as_array().unwrap();
    let items = edges
        .iter()
        .map(|e| {
            let node = &e["node"];
            node.get("id").or_else(|| node.get("orderSn")).unwrap().as_str().unwrap().to_owned()
        })
        .collect();
    // startCursor / endCursor are the first and last edge's cursors (null on an empty page).
    let cursor = |e: Option<&Value>| e.map(|e| e["cursor"].clone()).unwrap_or(Value::Null);
    assert_eq!(connection["pageInfo"]["startCursor"], cursor(edges.first()), "{connection}");
    assert_eq!(connection["pageInfo"]["endCursor"], cursor(edges.last()), "{connection}");
    Page { items, connection }
}

/// Every page of `list` (filtered by `filter`) walked with `size` per page, forward from the
/// start or backward from the end, in the order visited.
async fn walk(app: &TestApp, token: &str, list: &str, filter: &Value, size: u32, forward: bool) -> Vec<Page> {
    let mut pages = Vec::new();
    let mut cursor = Value::Null;
    for _ in 0..50 {
        let vars = if forward {
            json!({ "f": filter, "first": size, "after": cursor })
        } else {
            json!({ "f": filter, "last": size, "before": cursor })
        };
        let page = fetch(app, token, list, vars).await;
        let (more, next) = if forward { ("hasNextPage", "endCursor") } else { ("hasPreviousPage", "startCursor") };
        let done = page.info(more) == false;
        cursor = page.info(next).clone();
        pages.push(page);
        if done {
            return pages;
        }
    }
    panic!("{list} {filter}: more than 50 pages");
}

/// `list` under `filter` is `expected` (in list order) walked either way with `size` items a
/// page: forward pages in order and backward pages from the end hold the same items, each
/// page full but the one at the far end, with the flags of its place.
async fn walks_both_ways(app: &TestApp, token: &str, list: &str, filter: Value, size: u32, expected: &[String]) {
    let what = format!("{list} {filter} by {size}");
    let pages_needed = expected.len().div_ceil(size as usize).max(1);
    for forward in [true, false] {
        let way = if forward { "forward" } else { "backward" };
        let pages = walk(app, token, list, &filter, size, forward).await;
        assert_eq!(pages.len(), pages_needed, "{what} {way}: pages");
        for (i, page) in pages.iter().enumerate() {
            let (first_visited, last_visited) = (i == 0, i + 1 == pages.len());
            if !last_visited {
                assert_eq!(page.items.len(), size as usize, "{what} {way}: page {i} is full");
            }
            let (before, after) =
                if forward { (!first_visited, !last_visited) } else { (!last_visited, !first_visited) };
            assert_eq!(page.info("hasPreviousPage"), before, "{what} {way}: page {i} hasPreviousPage");
            assert_eq!(page.info("hasNextPage"), after, "{what} {way}: page {i} hasNextPage");
            assert_eq!(page.connection["totalCount"], expected.len(), "{what} {way}: page {i}");
        }
        // Backward pages come from the end: read in reverse they are the list in order.
        let ordered: Vec<&Page> = if forward { pages.iter().collect() } else { pages.iter().rev().collect() };
        let seen: Vec<String> = ordered.into_iter().flat_map(|p| p.items.clone()).collect();
        assert_eq!(seen, expected, "{what} {way}: every item once, in list order");
    }
}

/// Payouts on orders O-0..O-{n}: every third by BALANCE (SUCCEEDED), the others by
/// WECHAT_SCAN (PENDING_RECHARGE); all at one instant (ties on every time). Newest first.
async fn payouts(app: &TestApp, token: &str, n: usize) -> (Vec<String>, Vec<String>) {
    let mut made = Vec::new();
    for i in 0..n {
        let sn = format!("O-{i}");
        app.sync_order(&sn, "s1", json!({})).await;
        let funding = if i % 3 == 0 { "BALANCE" } else { "WECHAT_SCAN" };
        let id = app.pay(token, &sn, "1.00", funding).await["id"].as_str().unwrap().to_owned();
        made.push((id, funding));
    }
    made.reverse();
    let balance = made.iter().filter(|(_, f)| *f == "BALANCE").map(|(id, _)| id.clone()).collect();
    (made.into_iter().map(|(id, _)| id).collect(), balance)
}

async fn the_history_walks_both_ways_alike(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    let (all, balance) = payouts(&app, &admin, 9).await;
    let recharging: Vec<String> = all.iter().filter(|id| !balance.contains(id)).cloned().collect();
    for size in [1, 2, 4, 9, 20] {
        walks_both_ways(&app, &admin, "payouts", json!({}), size, &all).await;
    }
    walks_both_ways(&app, &admin, "payouts", json!({ "status": ["SUCCEEDED"] }), 2, &balance).await;
    walks_both_ways(&app, &admin, "payouts", json!({ "status": ["PENDING_RECHARGE"] }), 4, &recharging).await;
    walks_both_ways(&app, &admin, "payouts", json!({ "orderSn": "O-4" }), 1, &all[4..5]).await;
    // A range of `deductedAt`: its matching keys are sorted, not walked (keyset::sorting_matches).
    let now = app.state.clock.now();
    let (from, to) =
        ((now - chrono::TimeDelta::seconds(1)).to_rfc3339(), (now + chrono::TimeDelta::seconds(1)).to_rfc3339());
    for size in [1, 2, 5] {
        walks_both_ways(&app, &admin, "payouts", json!({ "deductedFrom": from, "deductedTo": to }), size, &balance)
            .await;
    }
    walks_both_ways(&app, &admin, "payouts", json!({ "orderSn": "nothing" }), 3, &[]).await;

    // `last` without `before`: the oldest items, in list order.
    let tail = fetch(&app, &admin, "payouts", json!({ "last": 3 })).await;
    assert_eq!(tail.items, all[6..]);
    assert_eq!((tail.info("hasPreviousPage"), tail.info("hasNextPage")), (&json!(true), &json!(false)));
    // A middle page either way.
    let middle = fetch(&app, &admin, "payouts", json!({ "last": 3, "before": tail.info("startCursor") })).await;
    assert_eq!(middle.items, all[3..6]);
    assert_eq!((middle.info("hasPreviousPage"), middle.info("hasNextPage")), (&json!(true), &json!(true)));
    let again = fetch(&app, &admin, "payouts", json!({ "first": 3, "after": middle.info("startCursor") })).await;
    assert_eq!(again.items, all[4..7], "forward from a backward page's cursor");
    assert_eq!((again.info("hasPreviousPage"), again.info("hasNextPage")), (&json!(true), &json!(true)));
    // Past either end: an empty page that still knows what lies behind it.
    let last_cursor = tail.info("endCursor").clone();
    let beyond = fetch(&app, &admin, "payouts", json!({ "first": 3, "after": last_cursor })).await;
    assert!(beyond.items.is_empty());
    assert_eq!((beyond.info("hasPreviousPage"), beyond.info("hasNextPage")), (&json!(true), &json!(false)));
    let first_cursor = fetch(&app, &admin, "payouts", json!({ "first": 1 })).await.info("startCursor").clone();
    let ahead = fetch(&app, &admin, "payouts", json!({ "last": 3, "before": first_cursor })).await;
    assert!(ahead.items.is_empty());
    assert_eq!((ahead.info("hasPreviousPage"), ahead.info("hasNextPage")), (&json!(false), &json!(true)));
    // `last: 0` answers whether anything is there without any item.
    let none = fetch(&app, &admin, "payouts", json!({ "last": 0 })).await;
    assert!(none.items.is_empty());
    assert_eq!(none.info("hasPreviousPage"), true);

    // The summary and the count cover the filter whichever way the page was taken.
    let summary = "query($last: Int) { payouts(filter: { status: [SUCCEEDED] }, last: $last) {
      totalCount summary { count amount } edges { node { id } } } }";
    let data = app.ok(&admin, summary, json!({ "last": 1 })).await;
    assert_eq!(data["payouts"]["totalCount"], 3);
    assert_eq!(data["payouts"]["summary"], json!({ "count": 3, "amount": "3.00" }));
    assert_eq!(data["payouts"]["edges"][0]["node"]["id"].as_str(), Some(balance[2].as_str()));
}

async fn orders_walk_both_ways_with_filters(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_shop("s2", "100", json!({})).await;
    let mut all = Vec::new();
    for i in 0..7 {
        let sn = format!("O-{i}");
        app.sync_order(&sn, "s1", json!({ "goodsId": if i % 2 == 0 { "G-A" } else { "G-B" } })).await;
        app.sync_order(&format!("X-{i}"), "s2", json!({ "goodsId": "G-A" })).await;
        all.push(sn);
    }
    all.reverse();
    let goods_a: Vec<String> =
        all.iter().filter(|sn| sn.trim_start_matches("O-").parse::<u32>().unwrap() % 2 == 0).cloned().collect();
    for size in [1, 3, 7] {
        walks_both_ways(&app, &admin, "orders", json!({}), size, &all).await;
    }
    walks_both_ways(&app, &admin, "orders", json!({ "goodsId": "G-A" }), 3, &goods_a).await;
    walks_both_ways(&app, &admin, "orders", json!({ "goodsId": "G-C" }), 3, &[]).await;
    let tail = fetch(&app, &admin, "orders", json!({ "last": 2 })).await;
    assert_eq!(tail.items, ["O-1", "O-0"]);
}

async fn pending_approvals_walk_both_ways_oldest_first(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    let mut requests = Vec::new();
    for i in 0..5 {
        let sn = format!("O-{i}");
        app.sync_order(&sn, "s1", json!({})).await;
        let made = app.create_payout(&cs, &sn, "1.00", "REQUEST_APPROVAL", json!({})).await;
        requests.push(made["data"]["createPayout"]["id"].as_str().unwrap().to_owned());
    }
    // A decided request leaves the list.
    app.ok(
        &admin,
        "mutation($id: ID!) { rejectPayout(payoutId: $id, reason: \"no\") { id } }",
        json!({ "id": requests[2] }),
    )
    .await;
    requests.remove(2);
    for size in [1, 2, 3, 4] {
        walks_both_ways(&app, &admin, "pendingApprovals", Value::Null, size, &requests).await;
    }
    let newest = fetch(&app, &admin, "pendingApprovals", json!({ "last": 2 })).await;
    assert_eq!(newest.items, requests[2..], "the newest requests, still oldest first");
    assert_eq!(app.code(Some(&cs), &query("pendingApprovals"), json!({ "last": 1 })).await, "FORBIDDEN");
}

async fn the_far_side_is_probed_only_when_read(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    let (all, _) = payouts(&app, &admin, 5).await;
    let cursor = fetch(&app, &admin, "payouts", json!({ "first": 2 })).await.info("endCursor").clone();
    let cost = |query: String, vars: Value| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let before = app.state.statements.load(Ordering::SeqCst);
            let data = app.ok(&admin, &query, vars).await;
            (app.state.statements.load(Ordering::SeqCst) - before, data)
        }
    };
    for (way, flag, vars) in [
        ("forward", "hasPreviousPage", json!({ "first": 2, "after": cursor })),
        ("backward", "hasNextPage", json!({ "last": 2, "before": cursor })),
    ] {
        let read = format!(
            "query($first: Int, $after: String, $last: Int, $before: String) {{
              payouts(first: $first, after: $after, last: $last, before: $before) {{ pageInfo {{ {flag} }} edges {{ node {{ id }} }} }} }}"
        );
        let unread = read.replace(flag, "endCursor");
        let (with, data) = cost(read, vars.clone()).await;
        let (without, _) = cost(unread, vars).await;
        assert_eq!(with, without + 1, "{way}: one probe for {flag}, only when read");
        assert_eq!(data["payouts"]["pageInfo"][flag], true, "{way}");
    }
    let sizes = [1, 3];
    let mut costs = Vec::new();
    for last in sizes {
        let (c, data) = cost(query("payouts").replace("totalCount", ""), json!({ "last": last })).await;
        assert_eq!(data["payouts"]["edges"].as_array().unwrap().len(), last);
        costs.push(c);
    }
    assert_eq!(costs[0], costs[1], "a backward page's statements do not grow with its size");
    assert_eq!(all.len(), 5);
}

async fn bad_paging_arguments_are_refused(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    payouts(&app, &admin, 3).await;
    app.sync_order("O-9", "s1", json!({})).await;
    let payout_cursor = fetch(&app, &admin, "payouts", json!({ "first": 1 })).await.info("endCursor").clone();
    let order_cursor = fetch(&app, &admin, "orders", json!({ "first": 1 })).await.info("endCursor").clone();
    let count = app.payout_count("s1").await;
    let cases = [
        ("payouts", json!({ "first": 2, "last": 2 }), "first and last"),
        ("payouts", json!({ "first": 2, "before": payout_cursor }), "first and before"),
        ("payouts", json!({ "last": 2, "after": payout_cursor }), "last and after"),
        ("payouts", json!({ "after": payout_cursor, "before": payout_cursor }), "after and before"),
        ("payouts", json!({ "first": -1 }), "negative first"),
        ("payouts", json!({ "last": -1 }), "negative last"),
        ("payouts", json!({ "first": 101 }), "first too large"),
        ("payouts", json!({ "last": 101 }), "last too large"),
        ("payouts", json!({ "last": 1, "before": "garbage!" }), "a malformed before"),
        ("payouts", json!({ "before": "b3JkZXI6NQ" }), "order:5 as before"),
        ("payouts", json!({ "after": "cGF5b3V0Ong" }), "payout:x"),
        ("payouts", json!({ "last": 1, "before": order_cursor }), "an order cursor as before"),
        ("payouts", json!({ "first": 1, "after": order_cursor }), "an order cursor as after"),
        ("pendingApprovals", json!({ "last": 1, "before": order_cursor }), "an order cursor for approvals"),
        ("pendingApprovals", json!({ "first": 1, "last": 1 }), "approvals: first and last"),
        ("pendingApprovals", json!({ "last": 101 }), "approvals: last too large"),
        ("orders", json!({ "last": 1, "before": payout_cursor }), "a payout cursor for orders"),
        ("orders", json!({ "first": 1, "last": 1 }), "orders: first and last"),
        ("orders", json!({ "last": -5 }), "orders: negative last"),
    ];
    for (list, vars, what) in cases {
        let response = app.gql(Some(&admin), &query(list), vars).await;
        assert_eq!(response["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{what}: {response}");
        assert_eq!(response["data"], Value::Null, "{what}: no page");
    }
    assert_eq!(app.payout_count("s1").await, count, "nothing changed");

    // `last: N` costs what `first: N` costs in the complexity budget.
    let heavy = |args: &str| {
        format!(
            "{{ payouts({args}) {{ edges {{ node {{ id amount status applicant {{ id name role }}
              history {{ id from to at actor note }} order {{ orderSn goodsName payouts {{ id status }} }} }} }} }} }}"
        )
    };
    for args in ["first: 20", "last: 20"] {
        app.ok(&admin, &heavy(args), json!({})).await;
    }
    for args in ["first: 100", "last: 100"] {
        let refused = app.gql(Some(&admin), &heavy(args), json!({})).await;
        assert_eq!(refused["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{args}: {refused}");
    }
    let staff = app.token(Role::Staff, Some("s1"), "st");
    app.ok(&staff, "{ me { id } }", json!({})).await;
    let page = fetch(&app, &staff, "payouts", json!({ "last": 2 })).await;
    assert_eq!(page.items.len(), 2, "a merchant role pages backward too");
}

on_both_databases!(
    the_history_walks_both_ways_alike,
    orders_walk_both_ways_with_filters,
    pending_approvals_walk_both_ways_oldest_first,
    the_far_side_is_probed_only_when_read,
    bad_paging_arguments_are_refused,
);
