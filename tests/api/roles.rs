//! The role matrix: every query, mutation and subscription of the contract (and the fields
//! that name roles), tried with a token of each of the six roles. The allowed roles are typed
//! here from api.graphql's comments, not taken from the server: an allowed role passes the
//! guard (it succeeds, or fails on a rule other than the role: NOT_FOUND, INVALID_STATE, a
//! blocker…), every other role gets FORBIDDEN.
use serde_json::{Value, json};
use smallpay::auth::Role;

use crate::{helpers::TestApp, on_both_databases};

const ADMIN: &str = "ADMIN";
const CS_ADMIN: &str = "CS_ADMIN";
const CS: &str = "CS";
const STAFF: &str = "STAFF";
const BUYER: &str = "BUYER";
const PLATFORM: &str = "PLATFORM";
const EVERYONE: &[&str] = &[ADMIN, CS_ADMIN, CS, STAFF, BUYER, PLATFORM];
/// "merchant roles" in api.graphql.
const MERCHANTS: &[&str] = &[ADMIN, CS_ADMIN, CS, STAFF];

/// (what, document, roles that pass the guard). `$paid` is a succeeded balance payout, `$scan`
/// a scan payout waiting for its recharge (applicant `cs-1`), `$asked` an approval request.
const OPERATIONS: &[(&str, &str, &[&str])] = &[
    // Query
    ("me", "{ me { id role } }", EVERYONE),
    ("shop", "{ shop { id } }", MERCHANTS),
    ("order", "{ order(orderSn: \"O-1\") { orderSn } }", MERCHANTS),
    ("orders", "{ orders { totalCount } }", MERCHANTS),
    ("payout", "query($paid: ID!) { payout(id: $paid) { id } }", MERCHANTS),
    ("payouts", "{ payouts { totalCount } }", MERCHANTS),
    ("payoutPreview", "{ payoutPreview(orderSn: \"O-1\") { allowed } }", MERCHANTS),
    ("pendingApprovals", "{ pendingApprovals { totalCount } }", &[ADMIN]),
    ("quotas", "{ quotas { dailyLimit } }", &[ADMIN]),
    ("accounts", "{ accounts { id } }", &[ADMIN]),
    ("myAccountCards", "{ myAccountCards { id } }", &[BUYER]),
    ("myNotifications", "{ myNotifications { id } }", &[BUYER]),
    // Fields that name roles
    ("Shop.balance", "{ shop { name balance } }", &[ADMIN, CS_ADMIN]),
    (
        "Shop.balance (platform)",
        "mutation { adjustShopBalance(shopId: \"s1\", amount: \"0.01\", reference: \"matrix\") { balance } }",
        &[PLATFORM],
    ),
    // The applicant is cs-1: none of the matrix's accounts, so only ADMIN may see its quota.
    ("Account.quota", "query($scan: ID!) { payout(id: $scan) { applicant { quota { dailyLimit } } } }", &[ADMIN]),
    // Mutation
    (
        "createPayout BALANCE",
        "mutation { createPayout(input: { orderSn: \"O-2\", type: OTHER, amount: \"1.00\", reason: \"r\", message: \"m\", funding: BALANCE }) { id } }",
        MERCHANTS,
    ),
    (
        "createPayout REQUEST_APPROVAL",
        "mutation { createPayout(input: { orderSn: \"O-3\", type: OTHER, amount: \"1.00\", reason: \"r\", message: \"m\", funding: REQUEST_APPROVAL }) { id } }",
        &[CS_ADMIN, CS, STAFF],
    ),
    // "the applicant, or ADMIN": the applicant itself is tried below.
    ("continueRecharge", "mutation($scan: ID!) { continueRecharge(payoutId: $scan) { qrPayload } }", &[ADMIN]),
    ("resendAccountCard", "mutation($paid: ID!) { resendAccountCard(payoutId: $paid) { id } }", MERCHANTS),
    ("rejectPayout", "mutation($asked: ID!) { rejectPayout(payoutId: $asked, reason: \"no\") { id } }", &[ADMIN]),
    ("approvePayout", "mutation($asked: ID!) { approvePayout(payoutId: $asked) { id } }", &[ADMIN]),
    (
        "setQuota",
        "mutation { setQuota(accountId: \"cs-1\", perPayoutLimit: \"5\", dailyLimit: \"10\") { dailyLimit } }",
        &[ADMIN],
    ),
    ("clearQuota", "mutation { clearQuota(accountId: \"cs-1\") { id } }", &[ADMIN]),
    (
        "submitReceivingAccount",
        "mutation { submitReceivingAccount(cardId: \"1\", account: { kind: ALIPAY, accountNo: \"13800138000\", holderName: \"张三\" }) { id } }",
        &[BUYER],
    ),
    (
        "syncShop",
        "mutation { syncShop(input: { id: \"s9\", name: \"n\", zeroEntry: false, depositPaid: true, hasUnpaidBills: false }) { id } }",
        &[PLATFORM],
    ),
    (
        "adjustShopBalance",
        "mutation { adjustShopBalance(shopId: \"s1\", amount: \"1.00\", reference: \"g-1\") { id } }",
        &[PLATFORM],
    ),
    (
        "syncOrder",
        "mutation { syncOrder(input: { orderSn: \"O-9\", shopId: \"s1\", buyerId: \"b\", goodsId: \"g\", goodsName: \"n\", activityGoods: false, paidAmount: \"1.00\" }) { orderSn } }",
        &[PLATFORM],
    ),
    (
        "recordPlatformCompensation",
        "mutation { recordPlatformCompensation(input: { orderSn: \"O-1\", type: OTHER, amount: \"1.00\" }) { id } }",
        &[PLATFORM],
    ),
    (
        "confirmRecharge",
        "mutation($scan: ID!) { confirmRecharge(payoutId: $scan, channelTxnId: \"matrix-txn\") { id } }",
        &[PLATFORM],
    ),
    (
        "reportTransferResult",
        "mutation($paid: ID!) { reportTransferResult(payoutId: $paid, succeeded: true) { id } }",
        &[PLATFORM],
    ),
];

/// Subscription: (field, document, roles admitted).
const SUBSCRIPTIONS: &[(&str, &str, &[&str])] = &[
    ("payoutStatusChanged", "subscription { payoutStatusChanged { id } }", MERCHANTS),
    ("approvalRequested", "subscription { approvalRequested { id } }", &[ADMIN]),
    // "the applicant's own requests": any merchant role's (an admin's are none).
    ("approvalResolved", "subscription { approvalResolved { id } }", MERCHANTS),
];

fn token(app: &TestApp, role: &str) -> String {
    let r = match role {
        ADMIN => Role::Admin,
        CS_ADMIN => Role::CsAdmin,
        CS => Role::Cs,
        STAFF => Role::Staff,
        BUYER => Role::Buyer,
        PLATFORM => Role::Platform,
        other => panic!("no role {other}"),
    };
    let shop = MERCHANTS.contains(&role).then_some("s1");
    app.token(r, shop, &format!("matrix-{}", role.to_lowercase()))
}

fn codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("?").to_owned()).collect())
        .unwrap_or_default()
}

async fn every_field_admits_exactly_the_roles_of_the_contract(app: TestApp) {
    app.sync_shop("s1", "100.00", json!({})).await;
    for sn in ["O-1", "O-2", "O-3"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    let cs1 = app.token(Role::Cs, Some("s1"), "cs-1");
    app.ok(&cs1, "{ me { id } }", json!({})).await;
    let paid = app.pay(&app.admin("s1"), "O-1", "1.00", "BALANCE").await["id"].clone();
    let scan = app.pay(&cs1, "O-2", "1.00", "WECHAT_SCAN").await["id"].clone();
    let asked = app.pay(&cs1, "O-3", "1.00", "REQUEST_APPROVAL").await["id"].clone();
    let vars = json!({ "paid": paid, "scan": scan, "asked": asked });
    // Every role has signed in once (a quota needs an existing account).
    for role in EVERYONE {
        app.ok(&token(&app, role), "{ me { id } }", json!({})).await;
    }

    // The applicant itself may continue its recharge and see its own quota (no FORBIDDEN).
    app.ok(&cs1, "mutation($scan: ID!) { continueRecharge(payoutId: $scan) { qrPayload } }", vars.clone()).await;
    let own = "query($scan: ID!) { payout(id: $scan) { applicant { quota { dailyLimit } } } }";
    let own = app.gql(Some(&cs1), own, vars.clone()).await;
    assert!(own.get("errors").is_none(), "{own}");

    let mut wrong = Vec::new();
    for (what, document, allowed) in OPERATIONS {
        for role in EVERYONE {
            let response = app.gql(Some(&token(&app, role)), document, vars.clone()).await;
            let codes = codes(&response);
            let forbidden = codes.iter().any(|c| c == "FORBIDDEN");
            let broken = codes
                .iter()
                .any(|c| ["UNAUTHENTICATED", "INTERNAL", "GRAPHQL_VALIDATION_FAILED"].contains(&c.as_str()));
            if forbidden == allowed.contains(role) || broken {
                wrong.push(format!("{what} as {role}: {response}"));
            }
        }
    }
    for (what, document, allowed) in SUBSCRIPTIONS {
        for role in EVERYONE {
            let mut sub = app.subscribe("graphql-transport-ws", &token(&app, role), document, json!({})).await;
            if allowed.contains(role) {
                if !sub.registered {
                    wrong.push(format!("{what} as {role}: not registered: {:?}", sub.next().await));
                }
            } else {
                let answer = sub.next().await;
                let refused = answer.as_ref().err().is_some_and(|e| e[0]["extensions"]["code"] == "FORBIDDEN");
                if sub.registered || !refused {
                    wrong.push(format!("{what} as {role}: not refused: {answer:?}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "guards that disagree with api.graphql:\n{}", wrong.join("\n"));
}

on_both_databases!(every_field_admits_exactly_the_roles_of_the_contract);
