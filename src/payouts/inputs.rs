//! A decision's inputs in one statement (issue 25, design 2).
//!
//! [`super::snapshot()`] reads what the rules judge in five statements: the shop, the order, the
//! shop's day's sums, the order's payouts and the operator's quota. A preview and a creation
//! read it here in one — and each statement saved is a round trip (on SQLite a hop to the
//! driver's worker thread and back, with the shop's write lock held across it for a creation):
//!
//! - the shop row (for a creation locked, `FOR UPDATE OF` the shop on PostgreSQL; on SQLite the
//!   transaction's `BEGIN IMMEDIATE` holds the write lock),
//! - joined with the order (`LEFT JOIN`: a missing order is a row without one), the operator's
//!   quota and the operator's account as stored,
//! - and, as scalar subqueries, the shop's day's sums and the operator's quota usage (the
//!   buckets of [`totals`]), how many of the order's payouts count as applications, and when the
//!   newest was created.
//!
//! The day's bounds depend on the shop's zone, which this same statement reads: they are taken
//! in the server's default zone. For a shop whose day there is another (or not whole quarter
//! hours), the sums are read again for its own day by [`totals::of_shop`] — one statement more,
//! the same numbers.
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::{account, order, payout, quota, shop, vocab::Fen};
use sea_orm::{
    ConnectionTrait, FromQueryResult, IdenStatic, Iterable, QueryResult,
    sea_query::{Alias, Condition, Expr, ExprTrait as _, JoinType, LockType, Order, Query, SelectStatement},
};

use super::{
    snapshot::{self, Parts},
    totals::{self, Totals},
};
use crate::{
    auth::{ShopScope, Viewer},
    domain::{
        payout::{QuotaLimits, Snapshot, counts_as_application},
        shop::day_bounds,
        vocab::{PayoutStatus, Role},
    },
    error::AppResult,
};

/// Lock the shop row for the transaction (a creation) or only read it (a preview).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    ForUpdate,
    No,
}

/// What one statement read for a decision on one order by one operator.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub shop: shop::Model,
    /// `None`: the shop has no such order.
    pub order: Option<order::Model>,
    /// The operator's account as stored (name, role); `None` before its first write.
    pub account: Option<(String, Role)>,
    quota: Option<QuotaLimits>,
    /// The sums over the default zone's day; `None` when the shop's day is another.
    totals: Option<Totals>,
    applications: u32,
    newest: Option<DateTime<Utc>>,
}

impl Inputs {
    /// Reads them; `None` when the shop does not exist.
    pub async fn read(
        db: &impl ConnectionTrait,
        scope: &ShopScope,
        order_sn: &str,
        operator: &Viewer,
        (now, default_zone): (DateTime<Utc>, Tz),
        lock: Lock,
    ) -> AppResult<Option<Inputs>> {
        let day = day_bounds(default_zone, now);
        let buckets = totals::whole_buckets(day.0, day.1);
        let statement = statement(scope, order_sn, &operator.sub, buckets, lock);
        let Some(row) = db.query_one(&statement).await? else { return Ok(None) };
        let decoded = decode(&row, buckets.is_some())?;
        // Whether that day is the shop's own is known only now, from its zone.
        let own_day = day_bounds(crate::domain::shop::zone_of(&decoded.shop.time_zone, default_zone), now);
        Ok(Some(Inputs { totals: decoded.totals.filter(|_| own_day == day), ..decoded }))
    }

    /// The snapshot of the order (which must be there) for `operator`, in the shop's zone `tz`:
    /// the sums read again when the statement's day was not the shop's.
    pub async fn snapshot(
        &self,
        db: &impl ConnectionTrait,
        scope: &ShopScope,
        order: &order::Model,
        operator: &Viewer,
        (now, tz): (DateTime<Utc>, Tz),
    ) -> AppResult<Snapshot> {
        let totals = match self.totals {
            Some(totals) => totals,
            None => {
                let (from, to) = day_bounds(tz, now);
                totals::of_shop(db, scope, from, to, Some(&operator.sub)).await?
            }
        };
        let parts = Parts {
            totals,
            order_applications: self.applications,
            last_payout_created_at: self.newest,
            quota: self.quota,
        };
        Ok(snapshot::assemble(now, tz, &self.shop, order, operator, parts))
    }
}

/// Column aliases: the shop's and the order's columns under these prefixes.
const SHOP: &str = "s_";
const ORDER: &str = "o_";

/// The statement (see the module's comment); `buckets`: the day's, when it is whole quarter
/// hours (otherwise no sums are read here).
fn statement(
    scope: &ShopScope,
    order_sn: &str,
    operator: &str,
    buckets: Option<(i64, i64)>,
    lock: Lock,
) -> SelectStatement {
    let (s, o, q, a) = (Alias::new("s"), Alias::new("o"), Alias::new("q"), Alias::new("a"));
    let mut select = Query::select();
    select.from_as(shop::Entity, s.clone());
    for c in shop::Column::iter() {
        select.expr_as(Expr::col((s.clone(), c)), Alias::new(format!("{SHOP}{}", c.as_str())));
    }
    for c in order::Column::iter() {
        select.expr_as(Expr::col((o.clone(), c)), Alias::new(format!("{ORDER}{}", c.as_str())));
    }
    select
        .expr_as(Expr::col((q.clone(), quota::Column::PerPayoutLimitFen)), Alias::new("q_per_payout"))
        .expr_as(Expr::col((q.clone(), quota::Column::DailyLimitFen)), Alias::new("q_daily"))
        .expr_as(Expr::col((a.clone(), account::Column::Name)), Alias::new("a_name"))
        .expr_as(Expr::col((a.clone(), account::Column::Role)), Alias::new("a_role"));
    // The order's payouts (by its number, as `repo::of_orders` reads them).
    let of_order = |p: &mut SelectStatement| {
        p.from(payout::Entity).and_where(
            Expr::col((payout::Entity, payout::Column::OrderSn)).equals((o.clone(), order::Column::OrderSn)),
        );
    };
    let not_counted: Vec<&str> =
        PayoutStatus::iter().filter(|status| !counts_as_application(*status)).map(|status| status.as_str()).collect();
    let mut applications = Query::select();
    of_order(applications.expr(Expr::cust("COUNT(*)")));
    applications.and_where(Expr::col((payout::Entity, payout::Column::Status)).is_not_in(not_counted));
    let mut newest = Query::select();
    of_order(newest.column((payout::Entity, payout::Column::CreatedAt)));
    newest.order_by((payout::Entity, payout::Column::CreatedAt), Order::Desc).limit(1);
    select
        .expr_as(Expr::SubQuery(None, Box::new(applications.into())), Alias::new("applications"))
        .expr_as(Expr::SubQuery(None, Box::new(newest.into())), Alias::new("newest"));
    if let Some(buckets) = buckets {
        let shop_id = (s.clone(), shop::Column::Id);
        select
            .expr_as(totals::bucket_sum(shop_id.clone(), "", buckets, "paid_fen"), Alias::new("paid"))
            .expr_as(totals::bucket_sum(shop_id.clone(), "", buckets, "balance_fen"), Alias::new("from_balance"))
            .expr_as(totals::bucket_sum(shop_id, operator, buckets, "quota_fen"), Alias::new("quota_used"));
    }
    // Each joined row is the shop's (its `shop_id` the shop's id) and has `key` = `value`.
    let of_shop = |alias: &Alias, key: &str, value: &str| {
        Condition::all()
            .add(Expr::col((alias.clone(), Alias::new("shop_id"))).equals((s.clone(), shop::Column::Id)))
            .add(Expr::col((alias.clone(), Alias::new(key))).eq(value))
    };
    let on_order = of_shop(&o, order::Column::OrderSn.as_str(), order_sn);
    let on_quota = of_shop(&q, quota::Column::AccountId.as_str(), operator);
    let on_account = of_shop(&a, account::Column::Id.as_str(), operator);
    select
        .join_as(JoinType::LeftJoin, order::Entity, o, on_order)
        .join_as(JoinType::LeftJoin, quota::Entity, q, on_quota)
        .join_as(JoinType::LeftJoin, account::Entity, a, on_account)
        .and_where(Expr::col((s.clone(), shop::Column::Id)).eq(scope.id()));
    if lock == Lock::ForUpdate {
        // Only the shop's row: PostgreSQL locks no row of an outer join's nullable side.
        select.lock_with_tables(LockType::Update, [s]);
    }
    select
}

fn decode(row: &QueryResult, with_sums: bool) -> AppResult<Inputs> {
    let shop = shop::Model::from_query_result(row, SHOP)?;
    let order = match row.try_get::<Option<i64>>(ORDER, "id")? {
        Some(_) => Some(order::Model::from_query_result(row, ORDER)?),
        None => None,
    };
    let quota = match (row.try_get::<Option<Fen>>("", "q_per_payout")?, row.try_get::<Option<Fen>>("", "q_daily")?) {
        (Some(per_payout), Some(daily)) => Some(QuotaLimits { per_payout: per_payout.into(), daily: daily.into() }),
        _ => None,
    };
    let account = match (row.try_get::<Option<String>>("", "a_name")?, row.try_get::<Option<Role>>("", "a_role")?) {
        (Some(name), Some(role)) => Some((name, role)),
        _ => None,
    };
    let totals = if with_sums {
        Some(Totals {
            paid: row.try_get("", "paid")?,
            from_balance: row.try_get("", "from_balance")?,
            quota_used: row.try_get("", "quota_used")?,
        })
    } else {
        None
    };
    let applications: i64 = row.try_get("", "applications")?;
    Ok(Inputs {
        shop,
        order,
        account,
        quota,
        totals,
        applications: u32::try_from(applications).unwrap_or(u32::MAX),
        newest: row.try_get("", "newest")?,
    })
}
