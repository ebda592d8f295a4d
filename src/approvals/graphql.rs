//! GraphQL: the admin's `pendingApprovals`, `approvePayout` and `rejectPayout`.
use async_graphql::{Context, ID, Object, Result};

use super::service;
use crate::graphql::reads::read_db;
use crate::{
    auth::{
        RoleGuard,
        guards::{Throttle, viewer},
    },
    graphql::enums::FundingMethod,
    graphql::pagination::{self, PageArgs},
    payouts::graphql::{
        connection::{CURSOR_KIND, PayoutConnection, payout_connection},
        payout::{Payout, prefetch},
        payout_id,
    },
    state::AppState,
    validate,
};

#[derive(Default)]
pub struct ApprovalsQuery;

#[Object]
impl ApprovalsQuery {
    /// Requests waiting for the admin, oldest first, cursor-paged both ways: `first`/`after`
    /// forward, `last`/`before` backward (each ≤ 100; 20 without either). ADMIN.
    #[graphql(guard = "RoleGuard::admin()", complexity = "pagination::cost(first, last, child_complexity)")]
    async fn pending_approvals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<PayoutConnection> {
        let state = ctx.data::<AppState>()?;
        let scope = viewer(ctx)?.shop_scope()?;
        let args = PageArgs { first, after: after.as_deref(), last, before: before.as_deref() };
        let request = args.parse(CURSOR_KIND)?;
        let probe = pagination::wants_far_side(ctx, request);
        let count = ctx.look_ahead().field("totalCount").exists();
        let (page, total) = service::pending(state.deps_on(read_db(ctx)?), &scope, request, probe, count).await?;
        prefetch(ctx, &page.rows).await?;
        Ok(payout_connection(page, total, (scope, service::pending_filter())))
    }
}

#[derive(Default)]
pub struct ApprovalsMutation;

#[Object]
impl ApprovalsMutation {
    /// Approves a request, paid with `funding` (BALANCE: PAYING and debited; a scan:
    /// PENDING_RECHARGE for 1 h). Re-checks the shop's unpaid bills and daily cap, and for
    /// BALANCE every balance rule but the quota ones; a broken rule refuses the approval with
    /// its code and the request stays pending. ADMIN.
    #[graphql(guard = "RoleGuard::admin().and(Throttle)", complexity = 25)]
    async fn approve_payout(
        &self,
        ctx: &Context<'_>,
        payout_id: ID,
        #[graphql(default_with = "Some(FundingMethod::Balance)")] funding: Option<FundingMethod>,
    ) -> Result<Payout> {
        let state = ctx.data::<AppState>()?;
        let id = self::payout_id(&payout_id)?;
        let funding = funding.unwrap_or(FundingMethod::Balance);
        Ok(Payout(service::approve(state.deps(), state.payments(), viewer(ctx)?, id, funding.into()).await?))
    }

    /// Rejects a request; the reason is required and kept. ADMIN.
    #[graphql(guard = "RoleGuard::admin().and(Throttle)")]
    async fn reject_payout(&self, ctx: &Context<'_>, payout_id: ID, reason: String) -> Result<Payout> {
        let state = ctx.data::<AppState>()?;
        let id = self::payout_id(&payout_id)?;
        let reason = validate::text("reason", &reason, 500)?;
        Ok(Payout(service::reject(state.deps(), viewer(ctx)?, id, &reason).await?))
    }
}
