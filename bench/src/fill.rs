//! Filling the database: shops, accounts and a sample of orders through the API (the
//! platform's `syncShop` / `syncOrder`, and a first request per account); the order pools of
//! the create scenarios and the payout history (≥ 100,000 payouts with their transitions,
//! debits and channel records) directly into the database, in multi-row INSERTs inside big
//! transactions, as the server would have written them.
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, TimeDelta, Utc};
use entity::vocab::{
    ChannelOutcome, EntryKind, Fen, FundingMethod, PayoutStatus, PayoutType, RefundStatus, Role as StoredRole,
};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, TransactionTrait};
use serde_json::json;
use smallpay::{
    auth::{JwtKeys, Role},
    config::Config,
    domain::actor::Actor,
};

use crate::load::{self, Req};

pub const HOT: &str = "bench-hot";
pub const FAN: &str = "bench-fan";
pub const HIST: &str = "bench-hist";
/// Shops of the "across 16 shops" scenario.
pub const SHOPS: usize = 16;

pub fn shop(i: usize) -> String {
    format!("bench-s{i:02}")
}

/// Mints tokens with the servers' shared secret.
#[derive(Clone)]
pub struct Tokens(Arc<JwtKeys>);

impl Tokens {
    pub fn new(secret: &str) -> Tokens {
        let mut config = Config::defaults();
        config.jwt_secret = Some(secret.into());
        Tokens(Arc::new(JwtKeys::from_config(&config).expect("JWT keys from the secret")))
    }

    /// A token valid for 12 h; the account's name is its `sub`.
    pub fn token(&self, role: Role, shop: Option<&str>, sub: &str) -> Arc<str> {
        let claims = self.0.claims(role, shop, sub, Some(sub), Duration::from_secs(12 * 3600));
        self.0.sign(&claims).expect("sign a token").into()
    }

    pub fn platform(&self) -> Arc<str> {
        self.token(Role::Platform, None, "marketplace")
    }

    pub fn admin(&self, shop: &str) -> Arc<str> {
        self.token(Role::Admin, Some(shop), "admin")
    }
}

/// Orders for the create scenarios, handed out once each.
pub struct Pool {
    sns: Vec<String>,
    next: AtomicUsize,
}

impl Pool {
    pub fn new(prefix: &str, n: usize) -> Pool {
        Pool { sns: (0..n).map(|i| format!("{prefix}-{i:07}")).collect(), next: AtomicUsize::new(0) }
    }

    pub fn take(&self) -> Option<&str> {
        self.sns.get(self.next.fetch_add(1, Ordering::Relaxed)).map(String::as_str)
    }

    /// The i-th order, whether handed out or not.
    pub fn nth(&self, i: usize) -> &str {
        &self.sns[i % self.sns.len()]
    }

    pub fn all(&self) -> &[String] {
        &self.sns
    }
}

/// Sends one GraphQL request that must succeed (fill steps stop the run on any error).
pub async fn must(client: &reqwest::Client, base: &str, token: &Arc<str>, query: &str, variables: serde_json::Value) {
    let req = Req { token: Some(token.clone()), body: json!({ "query": query, "variables": variables }).to_string() };
    if let Err(e) = load::send(client, &format!("{base}/graphql"), &req).await {
        panic!("fill request failed: {e}\nquery: {query}");
    }
}

const SYNC_SHOP: &str = "mutation($i: ShopInput!) { syncShop(input: $i) { id } }";
pub const SYNC_ORDER: &str = "mutation($i: OrderInput!) { syncOrder(input: $i) { orderSn } }";

/// `syncShop` with a balance and caps large enough that no create scenario is ever refused.
pub async fn sync_shop(client: &reqwest::Client, base: &str, tokens: &Tokens, id: &str) {
    let input = json!({
        "id": id, "name": format!("Shop {id}"), "openingBalance": "100000000",
        "zeroEntry": false, "depositPaid": true, "hasUnpaidBills": false,
        "dailyCap": "1000000000", "dailyBalanceCap": "1000000000",
    });
    must(client, base, &tokens.platform(), SYNC_SHOP, json!({ "i": input })).await;
    // The admin's account exists from its first request.
    must(client, base, &tokens.admin(id), "{ me { id } }", json!({})).await;
}

pub fn order_input(sn: &str, shop: &str, grouped: DateTime<Utc>) -> serde_json::Value {
    json!({
        "orderSn": sn, "shopId": shop, "buyerId": "bench-buyer", "goodsId": "G-1",
        "goodsName": "Bench goods", "activityGoods": false, "paidAmount": "99.00",
        "groupedAt": grouped.to_rfc3339(),
    })
}

fn order_row(
    sn: &str,
    shop: &str,
    buyer: &str,
    goods: &str,
    grouped: DateTime<Utc>,
    at: DateTime<Utc>,
) -> entity::order::ActiveModel {
    entity::order::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        order_sn: Set(sn.to_owned()),
        shop_id: Set(shop.to_owned()),
        buyer_id: Set(buyer.to_owned()),
        goods_id: Set(goods.to_owned()),
        goods_name: Set(format!("Bench goods {goods}")),
        activity_goods: Set(false),
        paid_amount_fen: Set(Fen(9900)),
        grouped_at: Set(Some(grouped)),
        refunded: Set(false),
        created_at: Set(at),
        updated_at: Set(at),
    }
}

/// Connects for bulk loading (the server's own pool settings, commits not waiting for the disk).
pub async fn connect(url: &str) -> DatabaseConnection {
    smallpay::db::connect(url, smallpay::config::SqliteSynchronous::Normal).await.expect("connect for bulk load")
}

/// Inserts the orders `sns` of `shop` (grouped a day ago) in multi-row INSERTs.
pub async fn bulk_orders(db: &DatabaseConnection, shop: &str, sns: &[String]) {
    let now = Utc::now();
    for batch in sns.chunks(20_000) {
        let tx = db.begin().await.expect("begin");
        for chunk in batch.chunks(1_000) {
            let rows = chunk.iter().map(|sn| order_row(sn, shop, "bench-buyer", "G-1", now - TimeDelta::days(1), now));
            entity::order::Entity::insert_many(rows).exec(&tx).await.expect("insert orders");
        }
        tx.commit().await.expect("commit orders");
    }
}

/// The history shop's accounts: (sub, role).
pub fn hist_accounts() -> Vec<(String, Role)> {
    let mut accounts = vec![("admin".to_owned(), Role::Admin)];
    accounts.extend((0..5).map(|i| (format!("csadmin-{i:02}"), Role::CsAdmin)));
    accounts.extend((0..14).map(|i| (format!("cs-{i:02}"), Role::Cs)));
    accounts
}

pub fn stored_role(role: Role) -> StoredRole {
    match role {
        Role::Admin => StoredRole::Admin,
        Role::CsAdmin => StoredRole::CsAdmin,
        Role::Cs => StoredRole::Cs,
        Role::Staff => StoredRole::Staff,
        Role::Buyer => StoredRole::Buyer,
        Role::Platform => StoredRole::Platform,
    }
}

/// What the history looks like, for the filter scenarios.
pub struct History {
    pub payouts: usize,
    /// An order with two payouts.
    pub order_sn: String,
    pub applicant: String,
    pub goods: String,
    /// A week of deductions.
    pub deducted_from: DateTime<Utc>,
    pub deducted_to: DateTime<Utc>,
}

impl History {
    /// One field a line, for `--history-file`.
    pub fn to_lines(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n",
            self.payouts,
            self.order_sn,
            self.applicant,
            self.goods,
            self.deducted_from.to_rfc3339(),
            self.deducted_to.to_rfc3339()
        )
    }

    /// What [`History::to_lines`] wrote.
    pub fn from_lines(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        let mut next = || lines.next().map(str::to_owned);
        let time = |t: String| DateTime::parse_from_rfc3339(&t).ok().map(|t| t.with_timezone(&Utc));
        Some(Self {
            payouts: next()?.parse().ok()?,
            order_sn: next()?,
            applicant: next()?,
            goods: next()?,
            deducted_from: time(next()?)?,
            deducted_to: time(next()?)?,
        })
    }
}

/// The history shop with `n` payouts spread over the last 190 days, created directly in the
/// database before the server starts (so the event publisher never replays them): the shop
/// and its opening entry, its accounts, an order per two payouts, and per payout its row and
/// transitions — 80 % `SUCCEEDED` from the balance (with the debit and the channel's record),
/// 10 % `RECHARGE_FAILED` scan payouts, 10 % `REJECTED` requests.
pub async fn bulk_history(url: &str, n: usize) -> History {
    let db = connect(url).await;
    let now = Utc::now();
    let start = now - TimeDelta::days(190);
    let step = TimeDelta::milliseconds(TimeDelta::days(189).num_milliseconds() / i64::try_from(n.max(1)).unwrap_or(1));
    let opening = 1_000_000_000_i64; // 10,000,000.00 yuan
    let accounts = hist_accounts();
    let first_id: i64 = {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT COALESCE(MAX(id), 0) AS m FROM payouts",
            ))
            .await
            .expect("max payout id")
            .expect("a row");
        row.try_get::<i64>("", "m").expect("max id") + 1
    };

    let tx = db.begin().await.expect("begin");
    entity::shop::Entity::insert(entity::shop::ActiveModel {
        id: Set(HIST.to_owned()),
        name: Set("Shop bench-hist".to_owned()),
        zero_entry: Set(false),
        deposit_paid: Set(true),
        has_unpaid_bills: Set(false),
        time_zone: Set("Asia/Shanghai".to_owned()),
        // ~530 payouts a day: caps that a shop of this size would have been given.
        daily_cap_fen: Set(Fen(100_000_000)),
        daily_balance_cap_fen: Set(Fen(100_000_000)),
        max_amount_regular_fen: Set(Fen(20_000)),
        max_amount_activity_fen: Set(Fen(5_000)),
        balance_fen: Set(Fen(opening)),
        // The payouts inserted below (the server keeps it from then on).
        payout_count: Set(i64::try_from(n).expect("a count")),
        created_at: Set(start - TimeDelta::days(1)),
        updated_at: Set(start - TimeDelta::days(1)),
    })
    .exec(&tx)
    .await
    .expect("insert history shop");
    entity::ledger_entry::Entity::insert(entity::ledger_entry::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        shop_id: Set(HIST.to_owned()),
        kind: Set(EntryKind::Opening),
        amount_fen: Set(Fen(opening)),
        balance_after_fen: Set(Fen(opening)),
        payout_id: Set(None),
        reference: Set(None),
        at: Set(start - TimeDelta::days(1)),
    })
    .exec(&tx)
    .await
    .expect("insert opening entry");
    let account_rows = accounts.iter().map(|(sub, role)| entity::account::ActiveModel {
        shop_id: Set(HIST.to_owned()),
        id: Set(sub.clone()),
        name: Set(sub.clone()),
        role: Set(stored_role(*role)),
        created_at: Set(start - TimeDelta::days(1)),
        updated_at: Set(start - TimeDelta::days(1)),
    });
    entity::account::Entity::insert_many(account_rows).exec(&tx).await.expect("insert accounts");
    tx.commit().await.expect("commit shop");

    let payers: Vec<&str> = accounts.iter().filter(|(_, r)| *r != Role::Cs).map(|(s, _)| s.as_str()).collect();
    let requesters: Vec<&str> = accounts.iter().filter(|(_, r)| *r == Role::Cs).map(|(s, _)| s.as_str()).collect();
    let mut balance = opening;
    let types = [PayoutType::ShippingFee, PayoutType::PriceDifference, PayoutType::Other];
    const BATCH: usize = 10_000;
    for batch_start in (0..n).step_by(BATCH) {
        let batch_end = (batch_start + BATCH).min(n);
        let mut orders = Vec::new();
        let mut payouts = Vec::new();
        let mut transitions = Vec::new();
        let mut ledger = Vec::new();
        let mut channel = Vec::new();
        for k in batch_start..batch_end {
            let id = first_id + i64::try_from(k).unwrap_or(0);
            let created = start + step * i32::try_from(k).unwrap_or(0);
            let sn = format!("H-{:07}", k / 2);
            let goods = format!("G-{:02}", (k / 2) % 40);
            let buyer = format!("buyer-{:04}", (k / 2) % 3000);
            if k % 2 == 0 {
                // An order per two payouts (a batch never splits a pair, BATCH being even).
                orders.push(order_row(
                    &sn,
                    HIST,
                    &buyer,
                    &goods,
                    created - TimeDelta::days(1),
                    created - TimeDelta::days(1),
                ));
            }
            let amount = Fen(100 + i64::try_from(k % 50).unwrap_or(0) * 100);
            let kind = k % 10;
            let (status, funding, applicant) = match kind {
                9 => (PayoutStatus::Rejected, None, requesters[k % requesters.len()]),
                8 => (PayoutStatus::RechargeFailed, Some(FundingMethod::WechatScan), payers[k % payers.len()]),
                _ => (PayoutStatus::Succeeded, Some(FundingMethod::Balance), payers[k % payers.len()]),
            };
            let later = created + TimeDelta::seconds(1);
            let deadline = created + TimeDelta::hours(1);
            let succeeded = status == PayoutStatus::Succeeded;
            let scan = status == PayoutStatus::RechargeFailed;
            let rejected = status == PayoutStatus::Rejected;
            let key = format!("tk-bench-{id}");
            payouts.push(entity::payout::ActiveModel {
                id: Set(id),
                shop_id: Set(HIST.to_owned()),
                order_sn: Set(sn.clone()),
                goods_id: Set(goods.clone()),
                buyer_id: Set(buyer.clone()),
                r#type: Set(types[k % 3]),
                amount_fen: Set(amount),
                reason: Set("运费补偿".to_owned()),
                message: Set("运费已退，请查收".to_owned()),
                approval_note: Set(rejected.then(|| "额度不足，请审批".to_owned())),
                status: Set(status),
                funding: Set(funding),
                applicant_id: Set(applicant.to_owned()),
                approver_id: Set(rejected.then(|| "admin".to_owned())),
                uses_quota: Set(succeeded),
                reject_reason: Set(rejected.then(|| "bench: rejected".to_owned())),
                created_at: Set(created),
                committed_at: Set((!rejected).then_some(created)),
                deducted_at: Set(succeeded.then_some(created)),
                succeeded_at: Set(succeeded.then_some(later)),
                failure_kind: Set(None),
                failure_reason: Set(None),
                qr_payload: Set(scan.then(|| format!("weixin://smallpay/recharge/bench{id}?amount={}", amount.0 / 100))),
                recharge_deadline: Set(scan.then_some(deadline)),
                channel_txn_id: Set(None),
                closed_at: Set(None),
                refund_status: Set(RefundStatus::None),
                refund_due_at: Set(None),
                refunded_at: Set(None),
                updated_at: Set(if scan { deadline } else { later }),
                transfer_key: Set(succeeded.then(|| key.clone())),
            });
            let (first, last_to, last_at, actor, note) = match status {
                PayoutStatus::Rejected => (
                    PayoutStatus::PendingApproval,
                    PayoutStatus::Rejected,
                    later,
                    Actor::Merchant("admin"),
                    Some("bench: rejected"),
                ),
                PayoutStatus::RechargeFailed => {
                    (PayoutStatus::PendingRecharge, PayoutStatus::RechargeFailed, deadline, Actor::System, None)
                }
                _ => (PayoutStatus::Paying, PayoutStatus::Succeeded, later, Actor::Platform, None),
            };
            for (from, to, at, by, note) in
                [(None, first, created, Actor::Merchant(applicant), None), (Some(first), last_to, last_at, actor, note)]
            {
                transitions.push(entity::payout_transition::ActiveModel {
                    id: sea_orm::ActiveValue::NotSet,
                    payout_id: Set(id),
                    shop_id: Set(HIST.to_owned()),
                    order_sn: Set(sn.clone()),
                    applicant_id: Set(applicant.to_owned()),
                    from_status: Set(from),
                    to_status: Set(to),
                    at: Set(at),
                    actor: Set(by.name()),
                    actor_kind: Set(by.kind()),
                    note: Set(note.map(str::to_owned)),
                });
            }
            if succeeded {
                balance -= amount.0;
                ledger.push(entity::ledger_entry::ActiveModel {
                    id: sea_orm::ActiveValue::NotSet,
                    shop_id: Set(HIST.to_owned()),
                    kind: Set(EntryKind::PayoutDebit),
                    amount_fen: Set(Fen(-amount.0)),
                    balance_after_fen: Set(Fen(balance)),
                    payout_id: Set(Some(id)),
                    reference: Set(None),
                    at: Set(created),
                });
                channel.push(entity::channel_transfer::ActiveModel {
                    key: Set(key),
                    payout_id: Set(id),
                    amount_fen: Set(amount),
                    outcome: Set(ChannelOutcome::Delivered),
                    failure_kind: Set(None),
                    reason: Set(None),
                    at: Set(later),
                    payee_kind: Set(None),
                    payee_account_masked: Set(None),
                    payee_holder: Set(None),
                });
            }
        }
        let tx = db.begin().await.expect("begin");
        insert_chunked::<entity::order::Entity>(&tx, orders, 1_000).await;
        insert_chunked::<entity::payout::Entity>(&tx, payouts, 500).await;
        insert_chunked::<entity::payout_transition::Entity>(&tx, transitions, 2_000).await;
        insert_chunked::<entity::ledger_entry::Entity>(&tx, ledger, 2_000).await;
        insert_chunked::<entity::channel_transfer::Entity>(&tx, channel, 2_000).await;
        tx.commit().await.expect("commit history batch");
    }
    smallpay::payouts::totals::rebuild(&db, HIST).await.expect("the history shop's day sums");
    let backend = db.get_database_backend();
    db.execute_raw(sea_orm::Statement::from_string(
        backend,
        format!("UPDATE shops SET balance_fen = {balance} WHERE id = '{HIST}'"),
    ))
    .await
    .expect("history shop balance");
    if backend == sea_orm::DbBackend::Postgres {
        // Explicit ids leave the sequence behind; and statistics, as autovacuum would gather.
        for sql in ["SELECT setval(pg_get_serial_sequence('payouts', 'id'), (SELECT MAX(id) FROM payouts))", "ANALYZE"]
        {
            db.execute_unprepared(sql).await.expect(sql);
        }
    }
    db.close().await.ok();
    let week_start = start + step * i32::try_from(n / 2).unwrap_or(0);
    History {
        payouts: n,
        order_sn: format!("H-{:07}", n / 4),
        applicant: "csadmin-01".to_owned(),
        goods: "G-07".to_owned(),
        deducted_from: week_start,
        deducted_to: week_start + TimeDelta::days(7),
    }
}

async fn insert_chunked<E: EntityTrait>(tx: &sea_orm::DatabaseTransaction, rows: Vec<E::ActiveModel>, chunk: usize) {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let part: Vec<_> = rows.by_ref().take(chunk).collect();
        E::insert_many(part).exec_without_returning(tx).await.expect("bulk insert");
    }
}
