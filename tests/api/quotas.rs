//! Quotas through the API: setting, clearing, listing, usage, and who may see them.
use serde_json::{Value, json};
use smallpay::auth::Role;

use crate::{helpers::TestApp, on_both_databases, payouts::shop};

const SET: &str = "mutation($a: ID!, $p: Decimal!, $d: Decimal!) {
  setQuota(accountId: $a, perPayoutLimit: $p, dailyLimit: $d) { account { id } perPayoutLimit dailyLimit usedToday remainingToday }
}";
const CLEAR: &str = "mutation($a: ID!) { clearQuota(accountId: $a) { id quota { dailyLimit } } }";

async fn set(app: &TestApp, token: &str, account: &str, per: Value, daily: Value) -> Value {
    app.gql(Some(token), SET, json!({ "a": account, "p": per, "d": daily })).await
}

async fn quotas_are_validated_and_kept_per_account(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    app.sync_shop("s2", "0", json!({})).await;
    app.ok(&app.token(Role::Cs, Some("s2"), "cs-other"), "{ me { id } }", json!({})).await;
    let staff = app.token(Role::Staff, Some("s1"), "staff-1");
    app.ok(&staff, "{ me { id } }", json!({})).await;

    for (account, per, daily, code) in [
        ("cs-1", json!("0"), json!("10"), "BAD_USER_INPUT"),
        ("cs-1", json!("-1"), json!("10"), "BAD_USER_INPUT"),
        ("cs-1", json!("5"), json!("0"), "BAD_USER_INPUT"),
        ("cs-1", json!("10.01"), json!("10"), "BAD_USER_INPUT"),
        ("cs-1", json!("1.001"), json!("10"), "BAD_USER_INPUT"),
        ("admin", json!("1"), json!("10"), "BAD_USER_INPUT"),
        ("nobody", json!("1"), json!("10"), "NOT_FOUND"),
        ("cs-other", json!("1"), json!("10"), "NOT_FOUND"),
    ] {
        let response = set(&app, &admin, account, per.clone(), daily.clone()).await;
        assert_eq!(crate::helpers::first_code(&response), code, "{account} {per} {daily}: {response}");
    }
    assert_eq!(app.ok(&admin, "{ quotas { account { id } } }", json!({})).await["quotas"], json!([]));

    // Exactly equal limits are fine; setting again replaces.
    let q = app.ok(&admin, SET, json!({ "a": "cs-1", "p": "10", "d": "10" })).await;
    assert_eq!(
        q["setQuota"],
        json!({ "account": { "id": "cs-1" }, "perPayoutLimit": "10.00", "dailyLimit": "10.00", "usedToday": "0.00", "remainingToday": "10.00" })
    );
    app.ok(&admin, SET, json!({ "a": "cs-1", "p": "5", "d": "20" })).await;
    app.ok(&admin, SET, json!({ "a": "staff-1", "p": "1", "d": "2" })).await;
    let list = app.ok(&admin, "{ quotas { account { id } perPayoutLimit dailyLimit } }", json!({})).await;
    assert_eq!(
        list["quotas"],
        json!([
            { "account": { "id": "cs-1" }, "perPayoutLimit": "5.00", "dailyLimit": "20.00" },
            { "account": { "id": "staff-1" }, "perPayoutLimit": "1.00", "dailyLimit": "2.00" },
        ])
    );

    // Only the admin manages quotas.
    for token in [&cs, &staff] {
        assert_eq!(app.code(Some(token), "{ quotas { dailyLimit } }", json!({})).await, "FORBIDDEN");
        let r = set(&app, token, "cs-1", json!("1"), json!("1")).await;
        assert_eq!(crate::helpers::first_code(&r), "FORBIDDEN");
    }

    // Clearing removes the balance from a CS agent.
    let cleared = app.ok(&admin, CLEAR, json!({ "a": "cs-1" })).await;
    assert_eq!(cleared["clearQuota"], json!({ "id": "cs-1", "quota": null }));
    assert_eq!(app.code(Some(&admin), CLEAR, json!({ "a": "nobody" })).await, "NOT_FOUND");
    app.sync_order("O-1", "s1", json!({})).await;
    crate::payouts::refused(&app, &cs, "O-1", "1.00", "BALANCE", "NO_QUOTA_CONFIGURED").await;
}

async fn usage_counts_only_balance_payouts_the_account_paid_today(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    for sn in ["O-1", "O-2", "O-3", "O-4"] {
        app.sync_order(sn, "s1", json!({})).await;
    }
    app.ok(&admin, SET, json!({ "a": "cs-1", "p": "10", "d": "15" })).await;
    app.pay(&cs, "O-1", "10.00", "BALANCE").await;
    app.pay(&cs, "O-2", "9.00", "WECHAT_SCAN").await;
    app.pay(&cs, "O-3", "9.00", "REQUEST_APPROVAL").await;
    app.pay(&admin, "O-4", "9.00", "BALANCE").await;
    let quota = "{ quotas { usedToday remainingToday } }";
    assert_eq!(
        app.ok(&admin, quota, json!({})).await["quotas"],
        json!([{ "usedToday": "10.00", "remainingToday": "5.00" }])
    );

    // Account.quota: the admin, or the account itself; nobody else.
    let applicant_quota = "query($id: ID!) { payout(id: $id) { applicant { id quota { usedToday } } } }";
    let cs_payout =
        app.ok(&admin, "{ order(orderSn: \"O-1\") { payouts { id } } }", json!({})).await["order"]["payouts"][0]["id"]
            .clone();
    let admin_payout =
        app.ok(&admin, "{ order(orderSn: \"O-4\") { payouts { id } } }", json!({})).await["order"]["payouts"][0]["id"]
            .clone();
    let seen = app.ok(&admin, applicant_quota, json!({ "id": cs_payout })).await;
    assert_eq!(seen["payout"]["applicant"]["quota"]["usedToday"], "10.00");
    let own = app.ok(&cs, applicant_quota, json!({ "id": cs_payout })).await;
    assert_eq!(own["payout"]["applicant"]["quota"]["usedToday"], "10.00");
    let staff = app.token(Role::Staff, Some("s1"), "staff-1");
    let other = app.gql(Some(&staff), applicant_quota, json!({ "id": cs_payout })).await;
    assert_eq!(other["data"]["payout"]["applicant"]["quota"], json!(null));
    assert_eq!(crate::helpers::first_code(&other), "FORBIDDEN");
    let admins = app.ok(&admin, applicant_quota, json!({ "id": admin_payout })).await;
    assert_eq!(admins["payout"]["applicant"]["quota"], json!(null), "an admin has no quota");

    // Tomorrow (the shop's day) the usage starts again.
    let now = app.state.clock.now();
    let end = crate::expect::next_midnight(now, chrono_tz::Asia::Shanghai);
    app.advance((end - now).num_seconds()).await;
    assert_eq!(
        app.ok(&admin, quota, json!({})).await["quotas"],
        json!([{ "usedToday": "0.00", "remainingToday": "15.00" }])
    );
}

async fn an_account_that_turns_admin_keeps_no_quota(app: TestApp) {
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    app.ok(&admin, SET, json!({ "a": "cs-1", "p": "5", "d": "10" })).await;
    let mine = "{ me { role quota { dailyLimit } } }";
    assert_eq!(app.ok(&cs, mine, json!({})).await["me"], json!({ "role": "CS", "quota": { "dailyLimit": "10.00" } }));

    // cs-1 signs in as ADMIN: it has no quota, wherever one would show.
    let promoted = app.token(Role::Admin, Some("s1"), "cs-1");
    assert_eq!(app.ok(&promoted, mine, json!({})).await["me"], json!({ "role": "ADMIN", "quota": null }));
    assert_eq!(app.ok(&admin, "{ quotas { account { id } } }", json!({})).await["quotas"], json!([]));
    let accounts = app.ok(&admin, "{ accounts { id role quota { dailyLimit } } }", json!({})).await;
    let cs_1 = accounts["accounts"].as_array().unwrap().iter().find(|a| a["id"] == "cs-1").unwrap().clone();
    assert_eq!(cs_1, json!({ "id": "cs-1", "role": "ADMIN", "quota": null }));

    // Back to CS, the old quota does not come back: the admin sets a new one if it wants.
    assert_eq!(app.ok(&cs, mine, json!({})).await["me"], json!({ "role": "CS", "quota": null }));
    app.sync_order("O-1", "s1", json!({})).await;
    crate::payouts::refused(&app, &cs, "O-1", "1.00", "BALANCE", "NO_QUOTA_CONFIGURED").await;

    // Setting a quota while the account turns ADMIN: either the quota is refused or it goes.
    let cs_2 = app.token(Role::Cs, Some("s1"), "cs-2");
    app.ok(&cs_2, mine, json!({})).await;
    let admin_2 = app.token(Role::Admin, Some("s1"), "cs-2");
    let sets = (0..8).map(|_| set(&app, &admin, "cs-2", json!("1"), json!("2")));
    let promotion = app.gql(Some(&admin_2), mine, json!({}));
    let (answers, promoted) = tokio::join!(futures_util::future::join_all(sets), promotion);
    assert_eq!(promoted["data"]["me"], json!({ "role": "ADMIN", "quota": null }), "{promoted}");
    for answer in answers.iter().filter(|a| a.get("errors").is_some()) {
        assert_eq!(crate::helpers::first_code(answer), "BAD_USER_INPUT", "{answer}");
    }
    assert_eq!(app.ok(&admin, "{ quotas { account { id } } }", json!({})).await["quotas"], json!([]));
    assert_eq!(app.ok(&admin_2, mine, json!({})).await["me"]["quota"], json!(null));
}

on_both_databases!(
    quotas_are_validated_and_kept_per_account,
    usage_counts_only_balance_payouts_the_account_paid_today,
    an_account_that_turns_admin_keeps_no_quota,
);
