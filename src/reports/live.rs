//! `shopTotalsChanged` (rules.md "Reports"): the shop's running totals — paid today, paid
//! from the balance today, the balance, each quota's use today — sent at once, then after
//! every change that moves them.
//!
//! What moves them: a payout's transition (its creation, approval, recharge failure: every one
//! is an event on the bus, from any instance), and the balance's own entries that have no
//! transition (the platform's adjustments, refunds), a quota set or cleared, and the shop's
//! midnight. The stream wakes on the shop's events; every [`POLL`] it also reads a cheap mark
//! of the rest (the shop's balance, the newest quota change, the shop's day: two indexed
//! single-row reads) and wakes when it moved. Once woken it drains what else is queued, reads
//! the totals once, and sends them only if they differ from the last sent: a burst of
//! transitions is one message.
use std::time::Duration;

use async_graphql::{Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::quota_change;
use futures_util::Stream;
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait as _},
};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::{
    auth::ShopScope,
    domain::money::Cny,
    error::{AppError, AppResult},
    quotas::{self, graphql::Quota, service::QuotaView},
    shops,
    state::AppState,
};

/// How often the stream checks for changes that are not transitions.
pub const POLL: Duration = Duration::from_secs(1);

/// The shop's running totals.
#[derive(SimpleObject)]
pub struct ShopTotals {
    /// Committed payouts of the shop today (what SHOP_DAILY_CAP_REACHED counts).
    pub paid_today: Cny,
    /// Those funded from the balance (what SHOP_DAILY_BALANCE_CAP_REACHED counts).
    pub paid_from_balance_today: Cny,
    /// The shop's balance.
    pub balance: Cny,
    /// Every quota of the shop with its use today, by account id.
    pub quotas: Vec<Quota>,
    /// When these totals were read.
    pub at: DateTime<Utc>,
}

/// What the totals are made of, to tell whether they changed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Figures {
    paid: Cny,
    from_balance: Cny,
    balance: Cny,
    quotas: Vec<(String, i64, i64, Cny)>,
}

fn figures(paid: Cny, from_balance: Cny, balance: Cny, quotas: &[QuotaView]) -> Figures {
    let quotas = quotas
        .iter()
        .map(|q| (q.quota.account_id.clone(), q.quota.per_payout_limit_fen.0, q.quota.daily_limit_fen.0, q.used_today))
        .collect();
    Figures { paid, from_balance, balance, quotas }
}

async fn read(state: &AppState, scope: &ShopScope) -> AppResult<(Figures, ShopTotals)> {
    let deps = state.deps();
    let shop = shops::repo::find(deps.db, scope).await?.ok_or_else(|| AppError::not_found("shop"))?;
    let (from, to) = shops::service::today(deps, &shop);
    let sums = crate::payouts::totals::of_shop(deps.db, scope, from, to, None).await?;
    let quotas = quotas::service::list(deps, scope).await?;
    let (paid, from_balance, balance) =
        (Cny::from_fen(sums.paid), Cny::from_fen(sums.from_balance), Cny::from(shop.balance_fen));
    let figures = figures(paid, from_balance, balance, &quotas);
    let totals = ShopTotals {
        paid_today: paid,
        paid_from_balance_today: from_balance,
        balance,
        quotas: quotas.into_iter().map(Quota).collect(),
        at: deps.clock.now(),
    };
    Ok((figures, totals))
}

/// The balance, the newest quota change and the shop's day: what moves the totals without
/// a transition.
async fn mark(state: &AppState, scope: &ShopScope) -> AppResult<(i64, Option<i64>, DateTime<Utc>)> {
    let deps = state.deps();
    let shop = shops::repo::find(deps.db, scope).await?.ok_or_else(|| AppError::not_found("shop"))?;
    let newest: Option<Option<i64>> = quota_change::Entity::find()
        .select_only()
        .expr(Expr::col(quota_change::Column::Id).max())
        .filter(quota_change::Column::ShopId.eq(scope.id()))
        .into_tuple()
        .one(deps.db)
        .await?;
    Ok((shop.balance_fen.0, newest.flatten(), shops::service::today(deps, &shop).0))
}

/// The shop's totals now, then after each change (see the module's notes).
pub fn shop_totals(state: AppState, scope: ShopScope) -> impl Stream<Item = Result<ShopTotals>> {
    // Subscribed before the first read: a change committed meanwhile wakes the loop.
    let mut live = state.bus.subscribe();
    async_stream::stream! {
        let mut sent: Option<Figures> = None;
        loop {
            // The mark before the read: a change after it shows at the next poll.
            let seen = match mark(&state, &scope).await {
                Ok(seen) => seen,
                Err(e) => {
                    yield Err(e.to_graphql());
                    return;
                }
            };
            match read(&state, &scope).await {
                Ok((figures, totals)) => {
                    if sent.as_ref() != Some(&figures) {
                        sent = Some(figures);
                        yield Ok(totals);
                    }
                }
                Err(e) => {
                    yield Err(e.to_graphql());
                    return;
                }
            }
            // Wait for a change of this shop.
            loop {
                tokio::select! {
                    event = live.recv() => match event {
                        Ok(e) if e.shop_id == scope.id() => break,
                        Ok(_) => {}
                        // Some events were missed: the totals are re-read, which covers them.
                        Err(RecvError::Lagged(_)) => break,
                        Err(RecvError::Closed) => return,
                    },
                    () = tokio::time::sleep(POLL) => match mark(&state, &scope).await {
                        Ok(now) if now != seen => break,
                        Ok(_) => {}
                        Err(e) => {
                            yield Err(e.to_graphql());
                            return;
                        }
                    },
                }
            }
            // A burst is one read: whatever else is queued is covered by it.
            loop {
                match live.try_recv() {
                    Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return,
                }
            }
        }
    }
}

#[derive(Default)]
pub struct ReportsSubscription;

#[async_graphql::Subscription(name = "ReportsSubscription")]
impl ReportsSubscription {
    /// The shop's running totals: at once, then after every change that moves them (a payout
    /// committed or leaving the sums, a balance adjustment or refund, a quota set or cleared,
    /// the shop's midnight). ADMIN.
    #[graphql(guard = "crate::auth::RoleGuard::admin()")]
    async fn shop_totals_changed(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> Result<impl Stream<Item = Result<ShopTotals>> + use<>> {
        let state = ctx.data::<AppState>()?.clone();
        let scope = crate::auth::guards::viewer(ctx)?.shop_scope()?;
        Ok(shop_totals(state, scope))
    }
}
