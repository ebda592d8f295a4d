//! Bad input gets `BAD_USER_INPUT` (or `GRAPHQL_VALIDATION_FAILED` for a bad document) and
//! changes nothing.
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp, first_code},
    on_both_databases,
};

const ADJUST: &str =
    "mutation($a: Decimal!) { adjustShopBalance(shopId: \"s1\", amount: $a, reference: \"ref-1\") { balance } }";

async fn balance(app: &TestApp) -> Value {
    app.ok(&app.admin("s1"), "{ shop { balance } }", json!({})).await["shop"]["balance"].clone()
}

async fn money_input_is_exact_or_refused(app: TestApp) {
    app.sync_shop("s1", "10.00", json!({})).await;
    let p = app.platform();
    for bad in [
        json!(1.5),
        json!("1.005"),
        json!("1e3"),
        json!("NaN"),
        json!("ten"),
        json!(""),
        json!(" 1.00"),
        json!(true),
        json!(1e3),
    ] {
        let response = app.gql(Some(&p), ADJUST, json!({ "a": bad })).await;
        assert_eq!(first_code(&response), "BAD_USER_INPUT", "{bad}: {response}");
    }
    // Inline literals in the document are judged the same way.
    let inline = app
        .gql(
            Some(&p),
            "mutation { adjustShopBalance(shopId: \"s1\", amount: 1.5, reference: \"x\") { balance } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&inline), "BAD_USER_INPUT", "{inline}");
    assert_eq!(balance(&app).await, "10.00", "refused input moved no money");
    // Accepted forms; output always has 2 decimals.
    for (i, (good, expected)) in [(json!("7.5"), "17.50"), (json!(3), "20.50")].into_iter().enumerate() {
        let r = app.gql(Some(&p), &ADJUST.replace("ref-1", &format!("ok-{i}")), json!({ "a": good })).await;
        assert_eq!(r["data"]["adjustShopBalance"]["balance"], expected, "{r}");
    }
}

async fn strings_are_trimmed_non_blank_and_bounded(app: TestApp) {
    let p = app.platform();
    let sync = "mutation($i: ShopInput!) { syncShop(input: $i) { id name } }";
    let base = json!({ "id": "s1", "name": "Shop", "zeroEntry": false, "depositPaid": true, "hasUnpaidBills": false });
    let with = |k: &str, v: Value| {
        let mut i = base.clone();
        i[k] = v;
        json!({ "i": i })
    };
    for (field, vars) in [
        ("name", with("name", json!("   "))),
        ("name", with("name", json!("x".repeat(201)))),
        ("id", with("id", json!(" "))),
        ("id", with("id", json!("s 1"))),
        ("timeZone", with("timeZone", json!("Mars/Olympus"))),
        ("dailyCap", with("dailyCap", json!("-1.00"))),
        ("maxAmountRegular", with("maxAmountRegular", json!("0"))),
        ("openingBalance", with("openingBalance", json!("-5"))),
    ] {
        let response = app.gql(Some(&p), sync, vars.clone()).await;
        assert_eq!(first_code(&response), "BAD_USER_INPUT", "{vars}: {response}");
        assert_eq!(response["errors"][0]["extensions"]["field"], field, "{vars}: {response}");
    }
    // Nothing was created by any of them.
    assert_eq!(app.code(Some(&app.admin("s1")), "{ shop { id } }", json!({})).await, "NOT_FOUND");
    let data = app.ok(&p, sync, with("name", json!(format!("  {}  ", "名".repeat(200))))).await;
    assert_eq!(data["syncShop"]["name"].as_str().unwrap().chars().count(), 200);
}

/// The answer to a text of `length` characters in `field`: no error where it is `accepted`,
/// else `BAD_USER_INPUT` naming the field.
fn assert_bound(field: &str, length: usize, accepted: bool, response: &Value) {
    if accepted {
        assert!(response.get("errors").is_none(), "{field} of {length} characters: {response}");
    } else {
        assert_eq!(first_code(response), "BAD_USER_INPUT", "{field} of {length}: {response}");
        assert_eq!(response["errors"][0]["extensions"]["field"], field, "{response}");
    }
}

/// Each length bound on a mutation's text, both sides: the limit itself is accepted and one
/// character more is refused with `BAD_USER_INPUT` naming the field (characters, not bytes:
/// 因 is three bytes). The refusals write nothing.
async fn every_length_bound_accepts_its_limit_and_refuses_one_past_it(app: TestApp) {
    app.sync_shop("s1", "100.00", json!({})).await;
    let (platform, admin) = (app.platform(), app.admin("s1"));
    let cs = app.token(smallpay::auth::Role::Cs, Some("s1"), "cs-1");
    app.ok(&cs, "{ me { id } }", json!({})).await;
    let order = |sn: &str, field: &str, value: &str| json!({ "i": app.order_input(sn, "s1", json!({ field: value })) });
    let sync_order = "mutation($i: OrderInput!) { syncOrder(input: $i) { orderSn } }";
    let counts = async || {
        let orders = app.ok(&admin, "{ orders { totalCount } }", json!({})).await["orders"]["totalCount"].clone();
        (orders, app.payout_count("s1").await, app.balance_and_ledger("s1").await)
    };
    // (field, limit, the request with a value of that many characters)
    type Request = (String, &'static str, Value);
    type Case<'a> = (&'static str, usize, Box<dyn FnMut(String) -> Request + 'a>);
    let mut n = 0;
    let mut cases: Vec<Case<'_>> = vec![
        ("orderSn", 64, Box::new(|v| (platform.clone(), sync_order, order(&v, "orderSn", &v)))),
        ("goodsId", 64, Box::new(|v| (platform.clone(), sync_order, order("O-G", "goodsId", &v)))),
        ("buyerId", 128, Box::new(|v| (platform.clone(), sync_order, order("O-B", "buyerId", &v)))),
        ("goodsName", 200, Box::new(|v| (platform.clone(), sync_order, order("O-N", "goodsName", &v)))),
        (
            "reference",
            128,
            Box::new(|v| {
                let adjust = "mutation($r: String!) { adjustShopBalance(shopId: \"s1\", amount: \"1.00\", reference: $r) { balance } }";
                (platform.clone(), adjust, json!({ "r": v }))
            }),
        ),
    ];
    for (field, limit, request) in &mut cases {
        for (length, accepted) in [(*limit + 1, false), (*limit, true)] {
            n += 1;
            let value: String = format!("{n}-").chars().chain(std::iter::repeat('因')).take(length).collect();
            let value = if *field == "orderSn" || *field == "goodsId" { value.replace('因', "x") } else { value };
            let (token, query, vars) = request(value);
            let before = counts().await;
            let response = app.gql(Some(&token), query, vars).await;
            assert_bound(field, length, accepted, &response);
            if !accepted {
                assert_eq!(counts().await, before, "{field} of {length} wrote something");
            }
        }
    }

    // The payout's own texts, each on an order of its own (the 60 s rule).
    for (field, limit, funding, token) in
        [("approvalNote", 500, "REQUEST_APPROVAL", &cs), ("idempotencyKey", 128, "BALANCE", &admin)]
    {
        for (length, accepted) in [(limit + 1, false), (limit, true)] {
            let sn = format!("O-{field}-{length}");
            app.sync_order(&sn, "s1", json!({})).await;
            let value = format!("{length}").chars().chain(std::iter::repeat('k')).take(length).collect::<String>();
            let before = counts().await;
            let response = app.create_payout(token, &sn, "1.00", funding, json!({ field: value })).await;
            assert_bound(field, length, accepted, &response);
            if !accepted {
                assert_eq!(counts().await, before, "{field} of {length} wrote something");
            }
        }
    }
    // A rejection's reason: 500 characters.
    app.sync_order("O-R", "s1", json!({})).await;
    let asked = app.create_payout(&cs, "O-R", "1.00", "REQUEST_APPROVAL", json!({})).await;
    let id = asked["data"]["createPayout"]["id"].clone();
    let reject = "mutation($id: ID!, $r: String!) { rejectPayout(payoutId: $id, reason: $r) { status rejectReason } }";
    let refused = app.gql(Some(&admin), reject, json!({ "id": id, "r": "因".repeat(501) })).await;
    assert_eq!(first_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "reason", "{refused}");
    let status = "query($id: ID!) { payout(id: $id) { status } }";
    assert_eq!(app.ok(&admin, status, json!({ "id": id })).await["payout"]["status"], "PENDING_APPROVAL");
    let rejected = app.ok(&admin, reject, json!({ "id": id, "r": "因".repeat(500) })).await;
    assert_eq!(rejected["rejectPayout"]["status"], "REJECTED");
    assert_eq!(rejected["rejectPayout"]["rejectReason"].as_str().unwrap().chars().count(), 500);
}

#[tokio::test]
async fn bad_documents_are_graphql_validation_failed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.admin("s1");
    for doc in [
        "{ me { id ",
        "{ nope }",
        "{ me { id } orders(first: \"x\") { totalCount } }",
        "query($x: Int!) { me { id } }",
        "{ orders(filter: { colour: \"red\" }) { totalCount } }",
    ] {
        let response = app.gql(Some(&admin), doc, json!({})).await;
        let code = first_code(&response);
        assert!(code == "GRAPHQL_VALIDATION_FAILED" || code == "BAD_USER_INPUT", "{doc}: {response}");
    }
    assert_eq!(app.code(Some(&admin), "{ nope }", json!({})).await, "GRAPHQL_VALIDATION_FAILED");
    // Deeper than the limit.
    let nested = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType {".repeat(14),
        "}".repeat(14)
    );
    assert_eq!(app.code(Some(&admin), &nested, json!({})).await, "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn no_error_reveals_internals() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.sync_shop("s1", "1.00", json!({})).await;
    // Break the database under the server: every query now fails inside SQL.
    use sea_orm::ConnectionTrait;
    app.state.db.execute_unprepared("ALTER TABLE orders RENAME TO orders_gone").await.unwrap();
    let response = app.gql(Some(&app.admin("s1")), "{ orders { totalCount } }", json!({})).await;
    assert_eq!(first_code(&response), "INTERNAL");
    let text = response.to_string().to_lowercase();
    for leak in ["select", "orders_gone", "no such table", "sqlite", "relation", ".rs"] {
        assert!(!text.contains(leak), "{leak} leaked: {response}");
    }
}

on_both_databases!(
    money_input_is_exact_or_refused,
    strings_are_trimmed_non_blank_and_bounded,
    every_length_bound_accepts_its_limit_and_refuses_one_past_it
);
