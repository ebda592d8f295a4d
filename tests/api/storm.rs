//! A storm of concurrent `createPayout` calls over few orders, accounts and a small balance,
//! with 20 random seeds: afterwards every limit holds and the ledger balances to the fen.
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::TimeDelta;
use chrono_tz::Asia::Shanghai;
use entity::{
    ledger_entry, payout, payout_transition,
    vocab::{Fen, FundingMethod, PayoutStatus, PayoutType, RefundStatus},
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use smallpay::auth::Role;

use crate::{helpers::TestApp, on_both_databases};

const SEEDS: u64 = 20;
const WAVES: usize = 4;
const PER_WAVE: usize = 50;
// Below the balance cap: the balance itself is raced for, not only the caps.
const OPENING_FEN: i64 = 100_00;
const DAILY_CAP_FEN: i64 = 400_00;
const DAILY_BALANCE_CAP_FEN: i64 = 120_00;
const QUOTA_PER_FEN: i64 = 30_00;
const QUOTA_DAILY_FEN: i64 = 50_00;
const ORDERS: usize = 6;

/// (sub, role, has a quota)
const ACCOUNTS: &[(&str, Role, bool)] = &[
    ("admin", Role::Admin, false),
    ("csa", Role::CsAdmin, false),
    ("cs-1", Role::Cs, true),
    ("cs-2", Role::Cs, true),
    ("staff-1", Role::Staff, false),
];

/// Whether `code` may refuse `call` at all (rules.md, "Creating a payout"): the payout
/// blockers whatever the funding, the amount's bounds only for an amount outside them, the
/// balance blockers only for `BALANCE` (quota ones only for an account they can concern), a
/// reused key only with a key. A rule that refused more than this fails the storm.
fn may_refuse(call: &Call, code: &str) -> bool {
    let (_, role, has_quota) = ACCOUNTS[call.account];
    let balance = call.funding == "BALANCE";
    match code {
        "SHOP_DAILY_CAP_REACHED" | "ORDER_RATE_LIMITED" | "ORDER_ATTEMPTS_EXHAUSTED" => true,
        "AMOUNT_BELOW_MINIMUM" => call.amount_fen < 100,
        "AMOUNT_ABOVE_MAXIMUM" => call.amount_fen > 200_00,
        "NO_QUOTA_CONFIGURED" => balance && matches!(role, Role::Cs | Role::Staff) && !has_quota,
        "PER_PAYOUT_QUOTA_EXCEEDED" => balance && has_quota && call.amount_fen > QUOTA_PER_FEN,
        "DAILY_QUOTA_EXCEEDED" => balance && has_quota,
        "SHOP_DAILY_BALANCE_CAP_REACHED" | "INSUFFICIENT_BALANCE" => balance,
        "IDEMPOTENCY_KEY_REUSED" => call.key.is_some(),
        // Contention that the server's retries did not resolve: legal, as long as nothing was written.
        "UNAVAILABLE" => true,
        _ => false,
    }
}

/// Whether `call` cannot go through whatever the shop's day holds: an amount below 1.00, or a
/// balance payout its account's quota rules out by itself.
fn must_refuse(call: &Call) -> bool {
    let (_, role, has_quota) = ACCOUNTS[call.account];
    let balance = call.funding == "BALANCE";
    call.amount_fen < 100
        || (balance && matches!(role, Role::Cs | Role::Staff) && !has_quota)
        || (balance && has_quota && call.amount_fen > QUOTA_PER_FEN)
}

/// What an approval may answer instead of going through (rules.md, "Approvals": the shop's
/// blockers again, the balance ones only when the admin funds it from the balance).
fn approval_may_refuse(funding: &str, code: &str) -> bool {
    match code {
        "SHOP_DAILY_CAP_REACHED" | "INVALID_STATE" | "UNAVAILABLE" => true,
        "SHOP_DAILY_BALANCE_CAP_REACHED" | "INSUFFICIENT_BALANCE" => funding == "BALANCE",
        _ => false,
    }
}

/// What a recharge confirmation may answer instead of going through: the payout was committed
/// at its creation, so nothing is judged again but its state.
const RECHARGE_REFUSALS: &[&str] = &["INVALID_STATE", "UNAVAILABLE"];

const APPROVE: &str = "mutation($id: ID!, $f: FundingMethod) { approvePayout(payoutId: $id, funding: $f) { status } }";
const CONFIRM: &str = "mutation($id: ID!, $t: String!) { confirmRecharge(payoutId: $id, channelTxnId: $t) { status } }";

struct Call {
    account: usize,
    order: usize,
    amount_fen: i64,
    funding: &'static str,
    key: Option<String>,
}

fn random_call(rng: &mut StdRng) -> Call {
    let account = rng.random_range(0..ACCOUNTS.len());
    let fundings: &[&str] = if ACCOUNTS[account].1 == Role::Admin {
        &["BALANCE", "BALANCE", "BALANCE", "WECHAT_SCAN", "ALIPAY_SCAN"]
    } else {
        &["BALANCE", "BALANCE", "BALANCE", "WECHAT_SCAN", "REQUEST_APPROVAL"]
    };
    Call {
        account,
        order: rng.random_range(0..ORDERS),
        amount_fen: rng.random_range(50..=4_500),
        funding: fundings[rng.random_range(0..fundings.len())],
        key: rng.random_bool(0.3).then(|| format!("k{}", rng.random_range(0..3))),
    }
}

/// Runs one seed; answers how many approvals and recharges went through.
async fn run_seed(app: &TestApp, seed: u64) -> (usize, usize) {
    let shop = format!("storm-{seed}");
    app.sync_shop(
        &shop,
        &format!("{}", OPENING_FEN / 100),
        json!({ "dailyCap": format!("{}", DAILY_CAP_FEN / 100), "dailyBalanceCap": format!("{}", DAILY_BALANCE_CAP_FEN / 100) }),
    )
    .await;
    for i in 0..ORDERS {
        app.sync_order(&format!("{shop}-O{i}"), &shop, json!({})).await;
    }
    let tokens: Vec<String> = ACCOUNTS.iter().map(|(sub, role, _)| app.token(*role, Some(&shop), sub)).collect();
    for t in &tokens {
        app.ok(t, "{ me { id } }", json!({})).await;
    }
    let set = "mutation($a: ID!, $p: Decimal!, $d: Decimal!) { setQuota(accountId: $a, perPayoutLimit: $p, dailyLimit: $d) { dailyLimit } }";
    for (sub, _, quota) in ACCOUNTS {
        if *quota {
            let vars =
                json!({ "a": sub, "p": format!("{}", QUOTA_PER_FEN / 100), "d": format!("{}", QUOTA_DAILY_FEN / 100) });
            app.ok(&tokens[0], set, vars).await;
        }
    }

    let mut rng = StdRng::seed_from_u64(seed);
    let mut keyed: HashMap<(usize, String), String> = HashMap::new();
    // Every payout an answer reported created, and what the answers said became of it.
    let mut created: HashSet<String> = HashSet::new();
    let (mut requests, mut scans): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let (mut approved, mut recharged): (HashSet<String>, HashSet<String>) = (HashSet::new(), HashSet::new());
    let platform = app.platform();
    for wave in 0..WAVES {
        if wave == WAVES / 2 {
            // The second half straddles the shop's midnight: 23:59:30, then 00:00:31.
            let now = app.state.clock.now();
            let midnight = crate::expect::next_midnight(now, Shanghai);
            app.advance((midnight - now).num_seconds() - 30).await;
        }
        let calls: Vec<Call> = (0..PER_WAVE).map(|_| random_call(&mut rng)).collect();
        let mut to_approve: Vec<(String, &str)> = Vec::new();
        let mut to_confirm: Vec<String> = Vec::new();
        for _ in 0..5 {
            if !requests.is_empty() {
                let id = requests[rng.random_range(0..requests.len())].clone();
                to_approve.push((id, if rng.random_bool(0.7) { "BALANCE" } else { "WECHAT_SCAN" }));
            }
            if !scans.is_empty() {
                to_confirm.push(scans[rng.random_range(0..scans.len())].clone());
            }
        }
        let creations = futures_util::future::join_all(calls.iter().map(|c| {
            let mut extra = json!({});
            if let Some(k) = &c.key {
                extra["idempotencyKey"] = json!(k);
            }
            let amount = format!("{}.{:02}", c.amount_fen / 100, c.amount_fen % 100);
            let order = format!("{shop}-O{}", c.order);
            let token = &tokens[c.account];
            async move { app.create_payout(token, &order, &amount, c.funding, extra).await }
        }));
        let approvals = futures_util::future::join_all(
            to_approve.iter().map(|(id, f)| app.gql(Some(&tokens[0]), APPROVE, json!({ "id": id, "f": f }))),
        );
        let confirmations = futures_util::future::join_all(
            to_confirm
                .iter()
                .map(|id| app.gql(Some(&platform), CONFIRM, json!({ "id": id, "t": format!("{shop}-{id}-{wave}") }))),
        );
        let (answers, approval_answers, confirm_answers) =
            futures_util::future::join3(creations, approvals, confirmations).await;
        for (call, answer) in calls.iter().zip(&answers) {
            match answer["data"]["createPayout"]["id"].as_str() {
                Some(id) => {
                    assert!(!must_refuse(call), "seed {seed}: created what no day allows: {answer}");
                    created.insert(id.to_owned());
                    match answer["data"]["createPayout"]["status"].as_str() {
                        Some("PENDING_APPROVAL") => requests.push(id.to_owned()),
                        Some("PENDING_RECHARGE") => scans.push(id.to_owned()),
                        _ => {}
                    }
                    if let Some(k) = &call.key {
                        let first = keyed.entry((call.account, k.clone())).or_insert_with(|| id.to_owned());
                        assert_eq!(first, id, "seed {seed}: one key, one payout");
                    }
                }
                None => {
                    let code = crate::helpers::first_code(answer);
                    assert!(
                        may_refuse(call, &code),
                        "seed {seed}: {} by {:?} refused with {code}: {answer}",
                        call.funding,
                        ACCOUNTS[call.account].1
                    );
                }
            }
        }
        for ((id, funding), answer) in to_approve.iter().zip(&approval_answers) {
            match answer["data"]["approvePayout"]["status"].as_str() {
                Some("PENDING_RECHARGE") => {
                    approved.insert(id.clone());
                    scans.push(id.clone());
                }
                Some(_) => {
                    approved.insert(id.clone());
                }
                None => {
                    let code = crate::helpers::first_code(answer);
                    assert!(approval_may_refuse(funding, &code), "seed {seed}: approval from {funding}: {answer}");
                }
            }
        }
        for (id, answer) in to_confirm.iter().zip(&confirm_answers) {
            if answer["data"]["confirmRecharge"]["status"].is_string() {
                recharged.insert(id.clone());
            } else {
                let code = crate::helpers::first_code(answer);
                assert!(RECHARGE_REFUSALS.contains(&code.as_str()), "seed {seed}: recharge {answer}");
            }
        }
        app.advance(61).await;
    }
    assert!(!created.is_empty(), "seed {seed}: something went through");

    // Nothing an answer reported as refused was written: the shop's payouts are exactly those
    // reported created; a request no approval went through for is still undecided (or expired),
    // a scan no confirmation went through for was never recharged.
    let db = &app.state.db;
    let stored = payout::Entity::find().filter(payout::Column::ShopId.eq(shop.as_str())).all(db).await.unwrap();
    let ids: HashSet<String> = stored.iter().map(|p| p.id.to_string()).collect();
    assert_eq!(ids, created, "seed {seed}: the payouts written are the payouts reported");
    for p in &stored {
        let id = p.id.to_string();
        let history = payout_transition::Entity::find()
            .filter(payout_transition::Column::PayoutId.eq(p.id))
            .all(db)
            .await
            .unwrap();
        let left_approval = history
            .iter()
            .any(|t| t.from_status.map(|s| s.as_str()) == Some("PENDING_APPROVAL") && t.actor != "system");
        if requests.contains(&id) {
            assert_eq!(left_approval, approved.contains(&id), "seed {seed}: payout {id} approved as answered");
        }
        let recharged_in_history = history
            .iter()
            .any(|t| t.from_status.map(|s| s.as_str()) == Some("PENDING_RECHARGE") && t.to_status.as_str() == "PAYING");
        if scans.contains(&id) {
            assert_eq!(recharged_in_history, recharged.contains(&id), "seed {seed}: payout {id} recharged as answered");
        }
    }
    check_invariants(app, &shop, seed).await;
    (approved.len(), recharged.len())
}

async fn check_invariants(app: &TestApp, shop: &str, seed: u64) {
    let db = &app.state.db;
    let payouts = payout::Entity::find().filter(payout::Column::ShopId.eq(shop)).all(db).await.unwrap();
    let entries = ledger_entry::Entity::find().filter(ledger_entry::Column::ShopId.eq(shop)).all(db).await.unwrap();
    let (balance, ledger_sum) = app.balance_and_ledger(shop).await;

    // The ledger balances exactly: opening − Σ debits.
    let debits: i64 = entries.iter().filter(|e| e.kind.as_str() == "PAYOUT_DEBIT").map(|e| e.amount_fen.0).sum();
    assert_eq!(balance, ledger_sum, "seed {seed}");
    assert_eq!(balance, OPENING_FEN + debits, "seed {seed}");
    assert!(balance >= 0, "seed {seed}");
    let balance_payouts: Vec<&payout::Model> =
        payouts.iter().filter(|p| p.funding.map(|f| f.as_str()) == Some("BALANCE")).collect();
    assert_eq!(
        -debits,
        balance_payouts.iter().map(|p| p.amount_fen.0).sum::<i64>(),
        "seed {seed}: one debit per balance payout"
    );
    assert_eq!(
        entries.iter().filter(|e| e.kind.as_str() == "PAYOUT_DEBIT").count(),
        balance_payouts.len(),
        "seed {seed}"
    );

    // Caps and quotas, per commit day of the shop. The commit and the quota use are read from
    // each payout's recorded history (rules.md "Counting"), not from the columns the server
    // computes them into: committed when it first entered PENDING_RECHARGE or PAYING; a
    // request (it went through PENDING_APPROVAL) uses no quota.
    let history =
        payout_transition::Entity::find().filter(payout_transition::Column::ShopId.eq(shop)).all(db).await.unwrap();
    let mut committed: HashMap<i64, chrono::DateTime<chrono::Utc>> = HashMap::new();
    let mut requested: std::collections::HashSet<i64> = std::collections::HashSet::new();
    for t in &history {
        match t.to_status.as_str() {
            "PENDING_RECHARGE" | "PAYING" => {
                let at = committed.entry(t.payout_id).or_insert(t.at);
                *at = (*at).min(t.at);
            }
            "PENDING_APPROVAL" => {
                requested.insert(t.payout_id);
            }
            _ => {}
        }
    }
    let day = |p: &payout::Model| committed.get(&p.id).map(|t| t.with_timezone(&Shanghai).date_naive());
    let mut per_day: BTreeMap<_, (i64, i64)> = BTreeMap::new();
    let mut quota_use: BTreeMap<(String, _), i64> = BTreeMap::new();
    for p in payouts.iter().filter(|p| committed.contains_key(&p.id) && p.status.as_str() != "RECHARGE_FAILED") {
        let totals = per_day.entry(day(p)).or_default();
        totals.0 += p.amount_fen.0;
        if p.funding.map(|f| f.as_str()) == Some("BALANCE") {
            totals.1 += p.amount_fen.0;
        }
        if p.funding.map(|f| f.as_str()) == Some("BALANCE") && !requested.contains(&p.id) {
            *quota_use.entry((p.applicant_id.clone(), day(p))).or_default() += p.amount_fen.0;
        }
    }
    for (d, (all, from_balance)) in &per_day {
        assert!(*all <= DAILY_CAP_FEN, "seed {seed} {d:?}: {all} over the daily cap");
        assert!(*from_balance <= DAILY_BALANCE_CAP_FEN, "seed {seed} {d:?}: {from_balance} over the balance cap");
    }
    for ((account, d), used) in &quota_use {
        let (_, role, has_quota) = ACCOUNTS.iter().find(|a| a.0 == account).unwrap();
        match role {
            Role::Cs | Role::Staff => {
                assert!(*has_quota, "seed {seed}: {account} paid from the balance without a quota");
                assert!(*used <= QUOTA_DAILY_FEN, "seed {seed} {account} {d:?}: quota overdrawn ({used})");
            }
            _ => {}
        }
    }
    for p in balance_payouts.iter().filter(|p| !requested.contains(&p.id)) {
        let (_, role, has_quota) = ACCOUNTS.iter().find(|a| a.0 == p.applicant_id).unwrap();
        if *has_quota {
            assert!(p.amount_fen.0 <= QUOTA_PER_FEN, "seed {seed}: per-payout quota passed");
        }
        assert!(!matches!(role, Role::Staff), "seed {seed}: staff without quota paid from the balance");
    }

    // Orders: at most 3 applications, 60 s apart; amounts within [1.00, 200.00].
    let mut by_order: BTreeMap<&str, Vec<&payout::Model>> = BTreeMap::new();
    for p in &payouts {
        assert!((100..=200_00).contains(&p.amount_fen.0), "seed {seed}: amount {}", p.amount_fen.0);
        by_order.entry(p.order_sn.as_str()).or_default().push(p);
    }
    for (order, mut list) in by_order {
        let applications =
            list.iter().filter(|p| p.status.as_str() != "REJECTED" && p.status.as_str() != "RECHARGE_FAILED").count();
        assert!(applications <= 3, "seed {seed} {order}: {applications} applications");
        list.sort_by_key(|p| p.created_at);
        for pair in list.windows(2) {
            assert!(
                pair[1].created_at - pair[0].created_at >= TimeDelta::seconds(60),
                "seed {seed} {order}: too close"
            );
        }
    }
}

async fn concurrent_payouts_never_pass_a_limit(app: TestApp) {
    let (mut approved, mut recharged) = (0, 0);
    for seed in 0..SEEDS {
        let (a, r) = run_seed(&app, seed).await;
        (approved, recharged) = (approved + a, recharged + r);
    }
    assert!(approved > 0 && recharged > 0, "the storm raced approvals ({approved}) and recharges ({recharged})");
}

on_both_databases!(concurrent_payouts_never_pass_a_limit);

/// The invariant checker must catch a broken limit: a payout past the daily cap, written
/// around the service, makes it fail.
#[tokio::test]
#[should_panic(expected = "over the daily cap")]
async fn the_storm_checks_would_catch_a_broken_limit() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    run_seed(&app, 0).await;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let now = app.state.clock.now();
    let template =
        payout::Entity::find().filter(payout::Column::ShopId.eq("storm-0")).all(&app.state.db).await.unwrap();
    let base = template.first().expect("a payout").clone();
    let extra = payout::ActiveModel {
        shop_id: Set("storm-0".into()),
        order_sn: Set(base.order_sn.clone()),
        goods_id: Set(base.goods_id.clone()),
        buyer_id: Set(base.buyer_id.clone()),
        r#type: Set(PayoutType::Other),
        amount_fen: Set(Fen(DAILY_CAP_FEN + 1)),
        reason: Set("r".into()),
        message: Set("m".into()),
        status: Set(PayoutStatus::PendingRecharge),
        funding: Set(Some(FundingMethod::WechatScan)),
        applicant_id: Set("admin".into()),
        uses_quota: Set(false),
        created_at: Set(now + TimeDelta::hours(1)),
        committed_at: Set(Some(now)),
        refund_status: Set(RefundStatus::None),
        updated_at: Set(now),
        ..Default::default()
    };
    let extra = extra.insert(&app.state.db).await.unwrap();
    payout_transition::ActiveModel {
        payout_id: Set(extra.id),
        shop_id: Set("storm-0".into()),
        order_sn: Set(extra.order_sn.clone()),
        applicant_id: Set("admin".into()),
        from_status: Set(None),
        to_status: Set(PayoutStatus::PendingRecharge),
        at: Set(now),
        actor: Set("admin".into()),
        note: Set(None),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .unwrap();
    check_invariants(&app, "storm-0", 0).await;
}
