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

on_both_databases!(money_input_is_exact_or_refused, strings_are_trimmed_non_blank_and_bounded);
