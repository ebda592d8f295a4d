//! The buyer's side through the API: notices on success and failure, account cards, submitting
//! a receiving account (and the retry), resending, expiry, and the full number never shown.
use serde_json::{Value, json};
use smallpay::auth::Role;

use crate::{
    helpers::{TestApp, first_code, instant},
    on_both_databases,
    payouts::shop,
};

const CARDS: &str = "{ myAccountCards { id payoutId orderSn shopName amount type status sentAt expiresAt accountKind \
                     accountMasked submittedAt } }";
const NOTICES: &str = "{ myNotifications { payoutId kind channels title body } }";
const SUBMIT: &str = "mutation($c: ID!, $k: ReceivingAccountKind!, $n: String!, $h: String! = \"张三\") {
  submitReceivingAccount(cardId: $c, account: { kind: $k, accountNo: $n, holderName: $h }) { id status accountKind accountMasked } }";
const RESEND: &str = "mutation($id: ID!) { resendAccountCard(payoutId: $id) { id status } }";
const PAYOUT: &str = "query($id: ID!) { payout(id: $id) { status failureKind accountCard { id status accountMasked } history { from to actor } } }";

fn buyer(app: &TestApp, id: &str) -> String {
    app.token(Role::Buyer, None, id)
}

/// Where the simulated channel sent each transfer of a payout, from its books: (kind, masked
/// number, holder's name), all empty for the buyer's own account; sorted, as the transfer keys
/// are random.
async fn payees(app: &TestApp, payout_id: &Value) -> Vec<[Option<String>; 3]> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let id: i64 = payout_id.as_str().unwrap().parse().unwrap();
    let rows = entity::channel_transfer::Entity::find()
        .filter(entity::channel_transfer::Column::PayoutId.eq(id))
        .all(&app.state.db)
        .await
        .unwrap();
    let mut payees: Vec<[Option<String>; 3]> = rows
        .into_iter()
        .map(|t| [t.payee_kind.map(|k| k.to_string()), t.payee_account_masked, t.payee_holder])
        .collect();
    payees.sort();
    payees
}

async fn a_success_notifies_the_buyer_in_app_and_on_wechat(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({ "buyerId": "alice" })).await;
    let p = app.pay(&admin, "O-1", "6.50", "BALANCE").await;
    let notices = app.ok(&buyer(&app, "alice"), NOTICES, json!({})).await["myNotifications"].clone();
    assert_eq!(notices.as_array().unwrap().len(), 1, "{notices}");
    assert_eq!(notices[0]["kind"], "PAYOUT_SUCCEEDED");
    assert_eq!(notices[0]["title"], "商家补偿转账通知");
    assert_eq!(notices[0]["channels"], json!(["IN_APP", "WECHAT"]));
    assert_eq!(notices[0]["payoutId"], p["id"]);
    assert!(notices[0]["body"].as_str().unwrap().contains("6.50"));
    // Nobody else sees it; merchants cannot use the buyer's fields.
    assert_eq!(app.ok(&buyer(&app, "bob"), NOTICES, json!({})).await["myNotifications"], json!([]));
    assert_eq!(app.code(Some(&admin), NOTICES, json!({})).await, "FORBIDDEN");
    assert_eq!(app.code(Some(&admin), CARDS, json!({})).await, "FORBIDDEN");
    // The runner hands notices to the delivery worker.
    app.advance(1).await;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let undelivered = entity::buyer_notification::Entity::find()
        .filter(entity::buyer_notification::Column::DeliveredAt.is_null())
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(undelivered.is_empty());
}

async fn a_buyer_account_failure_sends_a_card_the_buyer_fills_in(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({ "buyerId": "carol-invalid" })).await;
    let p = app.pay(&admin, "O-1", "9.00", "BALANCE").await;
    let carol = buyer(&app, "carol-invalid");
    let failed = app.ok(&admin, PAYOUT, json!({ "id": p["id"] })).await["payout"].clone();
    assert_eq!((failed["status"].as_str(), failed["failureKind"].as_str()), (Some("FAILED"), Some("BUYER_ACCOUNT")));
    let notices = app.ok(&carol, NOTICES, json!({})).await["myNotifications"].clone();
    let kinds: Vec<&str> = notices.as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ACCOUNT_CARD_SENT", "PAYOUT_FAILED"], "newest first");
    assert_eq!(notices[1]["channels"], json!(["IN_APP"]));
    let cards = app.ok(&carol, CARDS, json!({})).await["myAccountCards"].clone();
    let card = cards[0].clone();
    assert_eq!(
        (
            card["status"].as_str(),
            card["amount"].as_str(),
            card["orderSn"].as_str(),
            card["shopName"].as_str(),
            card["type"].as_str()
        ),
        (Some("OPEN"), Some("9.00"), Some("O-1"), Some("Shop s1"), Some("SHIPPING_FEE"))
    );
    assert_eq!(failed["accountCard"]["id"], card["id"]);

    // Bad accounts are refused and change nothing.
    for (kind, number) in [("ALIPAY", "12345"), ("BANK_CARD", "4111111111111112"), ("BANK_CARD", "41111111")] {
        let r = app.gql(Some(&carol), SUBMIT, json!({ "c": card["id"], "k": kind, "n": number })).await;
        assert_eq!(first_code(&r), "BAD_USER_INPUT", "{number}");
    }
    // Another buyer's card does not exist for you.
    assert_eq!(
        app.code(Some(&buyer(&app, "dave")), SUBMIT, json!({ "c": card["id"], "k": "ALIPAY", "n": "13800138000" }))
            .await,
        "NOT_FOUND"
    );

    // A bank card ending in 0000 fails again (simulated channel): a new card is sent.
    assert_eq!(card["submittedAt"], Value::Null, "an open card was not submitted");
    let first_submitted = app.state.clock.now();
    let r = app.ok(&carol, SUBMIT, json!({ "c": card["id"], "k": "BANK_CARD", "n": "4000 0000 0002 0000" })).await;
    assert_eq!(
        r["submitReceivingAccount"],
        json!({ "id": card["id"], "status": "SUBMITTED", "accountKind": "BANK_CARD", "accountMasked": "**** 0000" })
    );
    let again = app.ok(&admin, PAYOUT, json!({ "id": p["id"] })).await["payout"].clone();
    assert_eq!(again["status"], "FAILED");
    let tos: Vec<&str> = again["history"].as_array().unwrap().iter().map(|t| t["to"].as_str().unwrap()).collect();
    assert_eq!(tos, ["PAYING", "FAILED", "PAYING", "FAILED"]);
    assert_eq!(again["history"][2]["actor"], "buyer:carol-invalid");
    let cards = app.ok(&carol, CARDS, json!({})).await["myAccountCards"].clone();
    assert_eq!(cards.as_array().unwrap().len(), 2);
    assert_eq!((cards[0]["status"].as_str(), cards[1]["status"].as_str()), (Some("OPEN"), Some("SUBMITTED")));
    assert_eq!((instant(&cards[1]["submittedAt"]), cards[0]["submittedAt"].clone()), (first_submitted, Value::Null));
    // A submitted card cannot be submitted again.
    let r = app.gql(Some(&carol), SUBMIT, json!({ "c": card["id"], "k": "ALIPAY", "n": "13800138000" })).await;
    assert_eq!(first_code(&r), "INVALID_STATE");

    // An Alipay account on the new card, in another holder's name, 90 s later: paid.
    app.advance(90).await;
    let r =
        app.ok(&carol, SUBMIT, json!({ "c": cards[0]["id"], "k": "ALIPAY", "n": "13800138000", "h": "李四" })).await;
    assert_eq!(r["submitReceivingAccount"]["accountMasked"], "138****8000");
    let paid = app.ok(&admin, PAYOUT, json!({ "id": p["id"] })).await["payout"].clone();
    assert_eq!(paid["status"], "SUCCEEDED");
    let cards = app.ok(&carol, CARDS, json!({})).await["myAccountCards"].clone();
    let submitted: Vec<_> = cards.as_array().unwrap().iter().map(|c| instant(&c["submittedAt"])).collect();
    assert_eq!(submitted, [first_submitted + chrono::TimeDelta::seconds(90), first_submitted], "each card's own");
    // Each retry went to the account of the card submitted last, with its holder's name: the
    // channel checks the name against the account (rules.md, Statuses: "the payout is retried").
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        payees(&app, &p["id"]).await,
        [
            [None, None, None],
            [some("ALIPAY"), some("138****8000"), some("李四")],
            [some("BANK_CARD"), some("**** 0000"), some("张三")],
        ],
        "the first transfer to the buyer's own account, then each submitted account"
    );
    assert_eq!(app.balance_and_ledger("s1").await, (9100, 9100), "debited once through every retry");
    // The success after the retry notifies the buyer like any success; each failure told the
    // buyer (in the app only) to contact the platform.
    let notices = app.ok(&carol, NOTICES, json!({})).await["myNotifications"].clone();
    let success = &notices[0];
    assert_eq!(
        (success["kind"].as_str(), success["title"].as_str(), success["payoutId"].clone()),
        (Some("PAYOUT_SUCCEEDED"), Some("商家补偿转账通知"), p["id"].clone())
    );
    assert_eq!(success["channels"], json!(["IN_APP", "WECHAT"]));
    let failures: Vec<&Value> = notices.as_array().unwrap().iter().filter(|n| n["kind"] == "PAYOUT_FAILED").collect();
    assert_eq!(failures.len(), 2, "{notices}");
    for f in failures {
        assert_eq!(f["channels"], json!(["IN_APP"]));
        let body = f["body"].as_str().unwrap();
        assert!(body.contains("联系平台") && body.contains("9.00") && body.contains("O-1"), "{body}");
    }

    // The full numbers never appear in any answer.
    let everything = format!(
        "{}{}{}",
        app.ok(&carol, CARDS, json!({})).await,
        app.ok(&carol, NOTICES, json!({})).await,
        app.ok(&admin, PAYOUT, json!({ "id": p["id"] })).await
    );
    for secret in ["13800138000", "4000000000020000", "4000 0000 0002 0000"] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    // Nor in the database in clear.
    use sea_orm::EntityTrait;
    let stored = entity::account_card::Entity::find().all(&app.state.db).await.unwrap();
    assert!(stored.iter().all(|c| c.account_sealed.as_deref().is_none_or(|s| !s.contains("13800138000"))));
}

async fn other_failures_send_no_card_and_cards_expire_after_72_hours(app: TestApp) {
    let (admin, _, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({ "buyerId": "erin-invalid" })).await;
    app.sync_order("O-2", "s1", json!({ "buyerId": "frank" })).await;
    let p = app.pay(&admin, "O-1", "3.00", "BALANCE").await;
    let erin = buyer(&app, "erin-invalid");
    let card = app.ok(&erin, CARDS, json!({})).await["myAccountCards"][0].clone();

    app.advance(72 * 3600 - 1).await;
    assert_eq!(app.ok(&erin, CARDS, json!({})).await["myAccountCards"][0]["status"], "OPEN");
    app.advance(1).await;
    assert_eq!(app.ok(&erin, CARDS, json!({})).await["myAccountCards"][0]["status"], "EXPIRED");
    let r = app.gql(Some(&erin), SUBMIT, json!({ "c": card["id"], "k": "ALIPAY", "n": "13800138000" })).await;
    assert_eq!(first_code(&r), "INVALID_STATE");

    // The merchant resends: a new open card; resending again replaces it.
    let first = app.ok(&admin, RESEND, json!({ "id": p["id"] })).await["resendAccountCard"].clone();
    assert_eq!(first["status"], "OPEN");
    // At most one card a minute per payout: a resend is not a spray.
    assert_eq!(app.code(Some(&admin), RESEND, json!({ "id": p["id"] })).await, "RATE_LIMITED");
    app.advance(60).await;
    let second = app.ok(&admin, RESEND, json!({ "id": p["id"] })).await["resendAccountCard"].clone();
    let cards = app.ok(&erin, CARDS, json!({})).await["myAccountCards"].clone();
    let statuses: Vec<(&Value, &str)> =
        cards.as_array().unwrap().iter().map(|c| (&c["id"], c["status"].as_str().unwrap())).collect();
    assert_eq!(statuses, [(&second["id"], "OPEN"), (&first["id"], "EXPIRED"), (&card["id"], "EXPIRED")]);
    let r = app.gql(Some(&erin), SUBMIT, json!({ "c": first["id"], "k": "ALIPAY", "n": "13800138000" })).await;
    assert_eq!(first_code(&r), "INVALID_STATE", "a replaced card");

    // Resend only while FAILED for the buyer's account, only in one's own shop.
    app.sync_shop("s2", "0", json!({})).await;
    assert_eq!(app.code(Some(&app.admin("s2")), RESEND, json!({ "id": p["id"] })).await, "NOT_FOUND");
    assert_eq!(app.code(Some(&buyer(&app, "erin-invalid")), RESEND, json!({ "id": p["id"] })).await, "FORBIDDEN");
    let q = app
        .gql(
            Some(&app.platform()),
            "mutation($id: ID!) { reportTransferResult(payoutId: $id, succeeded: false, failureKind: OTHER) { id } }",
            json!({ "id": p["id"] }),
        )
        .await;
    assert_eq!(first_code(&q), "INVALID_STATE", "not PAYING");
    let ok = app.pay(&admin, "O-2", "3.00", "BALANCE").await;
    assert_eq!(app.code(Some(&admin), RESEND, json!({ "id": ok["id"] })).await, "INVALID_STATE");

    // Closing the payout (7 days after commit) expires its open card: a card resent on day 6
    // would be open until day 9, but the day-7 close expires it.
    let (balance, ledger) = app.balance_and_ledger("s1").await;
    app.advance(6 * 86400 - (72 * 3600 + 60)).await; // day 6 since the payout was committed
    let late = app.ok(&admin, RESEND, json!({ "id": p["id"] })).await["resendAccountCard"].clone();
    app.advance(86400 - 1).await;
    let cards = app.ok(&erin, CARDS, json!({})).await["myAccountCards"].clone();
    assert_eq!((&cards[0]["id"], cards[0]["status"].as_str()), (&late["id"], Some("OPEN")), "{cards}");
    assert_eq!(app.ok(&admin, PAYOUT, json!({ "id": p["id"] })).await["payout"]["status"], "FAILED");
    app.advance(1).await;
    assert_eq!(app.ok(&admin, PAYOUT, json!({ "id": p["id"] })).await["payout"]["status"], "CLOSED");
    let cards = app.ok(&erin, CARDS, json!({})).await["myAccountCards"].clone();
    assert_eq!((&cards[0]["id"], cards[0]["status"].as_str()), (&late["id"], Some("EXPIRED")), "{cards}");
    assert!(cards.as_array().unwrap().iter().all(|c| c["status"] == "EXPIRED"), "{cards}");
    // Submitting on it now is refused and moves no money; nor can the closed payout get a card.
    let r = app.gql(Some(&erin), SUBMIT, json!({ "c": late["id"], "k": "ALIPAY", "n": "13800138000" })).await;
    assert_eq!(first_code(&r), "INVALID_STATE");
    assert_eq!(app.code(Some(&admin), RESEND, json!({ "id": p["id"] })).await, "INVALID_STATE");
    assert_eq!(app.balance_and_ledger("s1").await, (balance, ledger), "nothing refunded before 3 business days");
}

async fn an_other_failure_sends_no_card(manual: TestApp) {
    let (admin, _, _) = shop(&manual, "100", json!({})).await;
    manual.sync_order("O-1", "s1", json!({ "buyerId": "gina" })).await;
    let p = manual.pay(&admin, "O-1", "3.00", "BALANCE").await;
    let report = "mutation($id: ID!) { reportTransferResult(payoutId: $id, succeeded: false, failureKind: OTHER, failureReason: \"risk control\") { status } }";
    manual.ok(&manual.platform(), report, json!({ "id": p["id"] })).await;
    let gina = buyer(&manual, "gina");
    assert_eq!(manual.ok(&gina, CARDS, json!({})).await["myAccountCards"], json!([]));
    let notices = manual.ok(&gina, NOTICES, json!({})).await["myNotifications"].clone();
    assert_eq!(notices.as_array().unwrap().len(), 1);
    assert_eq!(notices[0]["kind"], "PAYOUT_FAILED");
    assert_eq!(notices[0]["channels"], json!(["IN_APP"]));
    let body = notices[0]["body"].as_str().unwrap();
    assert!(body.contains("联系平台") && body.contains("3.00") && body.contains("O-1"), "contact the platform: {body}");
    assert_eq!(manual.code(Some(&admin), RESEND, json!({ "id": p["id"] })).await, "INVALID_STATE");
}

on_both_databases!(
    a_success_notifies_the_buyer_in_app_and_on_wechat,
    a_buyer_account_failure_sends_a_card_the_buyer_fills_in,
    other_failures_send_no_card_and_cards_expire_after_72_hours,
);

on_both_databases!(manual_channel: an_other_failure_sends_no_card);
