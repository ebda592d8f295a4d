//! Everything the payout rules read about one order, for one operator, at one instant.
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::{order, payout, quota, shop};
use sea_orm::ConnectionTrait;

use super::{repo, totals};
use crate::{
    auth::{ShopScope, Viewer},
    domain::{
        money::Cny,
        payout::{self as rules, QuotaLimits, Snapshot},
        shop::{Policy, day_bounds},
    },
    error::AppResult,
    quotas,
};

/// Everything the rules read about one order, for one operator, now: five statements (the
/// approval's path; a preview and a creation read the same in one, [`super::inputs`]).
pub async fn snapshot(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    tz: Tz,
    scope: &ShopScope,
    shop: &shop::Model,
    order: &order::Model,
    operator: &Viewer,
) -> AppResult<(Snapshot, Vec<payout::Model>)> {
    let (from, to) = day_bounds(tz, now);
    let totals = totals::of_shop(db, scope, from, to, Some(&operator.sub)).await?;
    let payouts = repo::of_orders(db, std::slice::from_ref(&order.order_sn)).await?;
    let applications = payouts.iter().filter(|p| rules::counts_as_application(p.status)).count();
    let quota = quotas::repo::find(db, scope, &operator.sub).await?;
    let parts = Parts {
        totals,
        order_applications: u32::try_from(applications).unwrap_or(u32::MAX),
        last_payout_created_at: payouts.iter().map(|p| p.created_at).max(),
        quota: quota.map(|q| limits(&q)),
    };
    Ok((assemble(now, tz, shop, order, operator, parts), payouts))
}

/// What a snapshot reads beyond the shop and the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// The shop's sums over its day, with the operator's quota usage.
    pub totals: totals::Totals,
    /// The order's payouts that count as applications.
    pub order_applications: u32,
    /// When the newest payout on the order was created.
    pub last_payout_created_at: Option<DateTime<Utc>>,
    /// The operator's quota, if it has one.
    pub quota: Option<QuotaLimits>,
}

/// A quota row's limits.
fn limits(q: &quota::Model) -> QuotaLimits {
    QuotaLimits { per_payout: Cny::from(q.per_payout_limit_fen), daily: Cny::from(q.daily_limit_fen) }
}

/// The snapshot of `order` in `shop` for `operator` at `now`.
pub fn assemble(
    now: DateTime<Utc>,
    tz: Tz,
    shop: &shop::Model,
    order: &order::Model,
    operator: &Viewer,
    parts: Parts,
) -> Snapshot {
    Snapshot {
        now,
        tz,
        has_unpaid_bills: shop.has_unpaid_bills,
        zero_entry: shop.zero_entry,
        deposit_paid: shop.deposit_paid,
        balance: Cny::from(shop.balance_fen),
        policy: Policy {
            daily_cap: Cny::from(shop.daily_cap_fen),
            daily_balance_cap: Cny::from(shop.daily_balance_cap_fen),
            max_amount_regular: Cny::from(shop.max_amount_regular_fen),
            max_amount_activity: Cny::from(shop.max_amount_activity_fen),
        },
        shop_paid_today: Cny::from_fen(parts.totals.paid),
        shop_paid_from_balance_today: Cny::from_fen(parts.totals.from_balance),
        grouped_at: order.grouped_at,
        activity_goods: order.activity_goods,
        order_applications: parts.order_applications,
        last_payout_created_at: parts.last_payout_created_at,
        operator_role: operator.role,
        operator_quota: parts.quota,
        operator_used_today: Cny::from_fen(parts.totals.quota_used),
    }
}
