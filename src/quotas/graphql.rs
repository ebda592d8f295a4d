//! GraphQL: `Quota`, the admin's `quotas`, `setQuota` and `clearQuota`.
use async_graphql::{Context, ID, Object, Result};

use super::service::{self, QuotaView};
use crate::graphql::reads::read_db;
use crate::{
    accounts::graphql::Account,
    auth::{
        RoleGuard,
        guards::{Throttle, viewer},
    },
    domain::money::Cny,
    state::AppState,
    validate,
};

/// An account's balance quota and its use today (the shop's day).
pub struct Quota(pub QuotaView);

/// An account's balance quota and its use today (the shop's day).
#[Object]
impl Quota {
    /// The account the quota limits.
    async fn account(&self) -> Account {
        Account(self.0.account.clone())
    }

    /// The most one balance payout of this account may be.
    async fn per_payout_limit(&self) -> Cny {
        Cny::from(self.0.quota.per_payout_limit_fen)
    }

    /// The most this account may pay from the balance per day.
    async fn daily_limit(&self) -> Cny {
        Cny::from(self.0.quota.daily_limit_fen)
    }

    /// Balance payouts the account paid itself today.
    async fn used_today(&self) -> Cny {
        self.0.used_today
    }

    /// What is left of the daily limit today (never negative).
    async fn remaining_today(&self) -> Cny {
        self.0.remaining_today()
    }
}

#[derive(Default)]
pub struct QuotasQuery;

#[Object]
impl QuotasQuery {
    /// Every quota of the shop, by account id. ADMIN.
    #[graphql(guard = "RoleGuard::admin()")]
    async fn quotas(&self, ctx: &Context<'_>) -> Result<Vec<Quota>> {
        let state = ctx.data::<AppState>()?;
        let scope = viewer(ctx)?.shop_scope()?;
        Ok(service::list(state.deps_on(read_db(ctx)?), &scope).await?.into_iter().map(Quota).collect())
    }
}

#[derive(Default)]
pub struct QuotasMutation;

#[Object]
impl QuotasMutation {
    /// Sets an account's quota: both limits positive, per-payout ≤ daily; the account must
    /// exist (it signed in once) and not be an admin. ADMIN.
    #[graphql(guard = "RoleGuard::admin().and(Throttle)")]
    async fn set_quota(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        per_payout_limit: Cny,
        daily_limit: Cny,
    ) -> Result<Quota> {
        let state = ctx.data::<AppState>()?;
        let admin = viewer(ctx)?;
        let scope = admin.shop_scope()?;
        let account_id = validate::text("accountId", &account_id, 128)?;
        let per_payout = validate::positive("perPayoutLimit", per_payout_limit)?;
        let daily = validate::positive("dailyLimit", daily_limit)?;
        Ok(Quota(service::set(state.deps(), &scope, &admin.sub, &account_id, per_payout, daily).await?))
    }

    /// Removes an account's quota. ADMIN.
    #[graphql(guard = "RoleGuard::admin().and(Throttle)")]
    async fn clear_quota(&self, ctx: &Context<'_>, account_id: ID) -> Result<Account> {
        let state = ctx.data::<AppState>()?;
        let admin = viewer(ctx)?;
        let scope = admin.shop_scope()?;
        let account_id = validate::text("accountId", &account_id, 128)?;
        Ok(Account(service::clear(state.deps(), &scope, &admin.sub, &account_id).await?))
    }
}
