//! GraphQL: the admin's `pendingApprovals`, `approvePayout` and `rejectPayout`.
use async_graphql::{Context, ID, Object, Result};

use super::service;
use crate::{
    auth::{
        RoleGuard,
        guards::{Throttle, viewer},
    },
    graphql::enums::FundingMethod,
    graphql::pagination::PageRequest,
    payouts::graphql::{
        connection::{CURSOR_KIND, PayoutConnection},
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
    /// Requests waiting for the admin, oldest first, cursor-paged (first ≤ 100). ADMIN.
    #[graphql(
        guard = "RoleGuard::admin()",
        complexity = "5 + first.unwrap_or(20).clamp(0, 100) as usize * child_complexity"
    )]
    async fn pending_approvals(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<PayoutConnection> {
        let state = ctx.data::<AppState>()?;
        let scope = viewer(ctx)?.shop_scope()?;
        let page = PageRequest::parse(CURSOR_KIND, first, after.as_deref())?;
        let count = ctx.look_ahead().field("totalCount").exists();
        let (rows, total) = service::pending(state.ctx(), &scope, page, count).await?;
        prefetch(ctx, &rows).await?;
        Ok(PayoutConnection::from_rows(rows, page.limit, total, (scope, service::pending_filter())))
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
        Ok(Payout(service::approve(state.ctx(), state.payments(), viewer(ctx)?, id, funding.into()).await?))
    }

    /// Rejects a request; the reason is required and kept. ADMIN.
    #[graphql(guard = "RoleGuard::admin().and(Throttle)")]
    async fn reject_payout(&self, ctx: &Context<'_>, payout_id: ID, reason: String) -> Result<Payout> {
        let state = ctx.data::<AppState>()?;
        let id = self::payout_id(&payout_id)?;
        let reason = validate::text("reason", &reason, 500)?;
        Ok(Payout(service::reject(state.ctx(), viewer(ctx)?, id, &reason).await?))
    }
}
