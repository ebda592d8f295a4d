//! The payout roots: `payout`, `payouts`, `payoutPreview`; `createPayout`,
//! `continueRecharge`, `confirmRecharge`, `reportTransferResult`.
use async_graphql::{Context, ID, Object, Result};

use super::{
    connection::{CURSOR_KIND, PayoutConnection, payout_connection},
    inputs::{CreatePayoutInput, PayoutFilter},
    payout::{Payout, RechargeInfo, prefetch},
    preview::PayoutPreview,
};
use crate::graphql::reads::read_db;
use crate::{
    auth::{
        RoleGuard,
        guards::{Throttle, viewer},
    },
    domain::money::Cny,
    graphql::{
        enums::TransferFailureKind,
        pagination::{self, PageArgs},
    },
    payouts::{
        lifecycle::{self, TransferResult},
        recharge, repo, service,
    },
    shops,
    state::AppState,
    validate,
};

#[derive(Default)]
pub struct PayoutsQuery;

#[Object]
impl PayoutsQuery {
    /// One payout of the caller's shop; null when there is none. Merchant roles.
    #[graphql(guard = "RoleGuard::merchant()")]
    async fn payout(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Payout>> {
        let scope = viewer(ctx)?.shop_scope()?;
        let Ok(id) = super::payout_id(&id) else {
            return Ok(None);
        };
        Ok(repo::find(read_db(ctx)?, &scope, id).await?.map(Payout))
    }

    /// The shop's payout records, newest first, filtered and cursor-paged both ways:
    /// `first`/`after` forward, `last`/`before` backward (each ≤ 100; 20 without either).
    /// Merchant roles.
    #[graphql(guard = "RoleGuard::merchant()", complexity = "pagination::cost(first, last, child_complexity)")]
    async fn payouts(
        &self,
        ctx: &Context<'_>,
        filter: Option<PayoutFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<PayoutConnection> {
        let scope = viewer(ctx)?.shop_scope()?;
        let filter = filter.unwrap_or_default().validate()?;
        let args = PageArgs { first, after: after.as_deref(), last, before: before.as_deref() };
        let request = args.parse(CURSOR_KIND)?;
        let page =
            repo::history_page(read_db(ctx)?, &scope, &filter, request, pagination::wants_far_side(ctx, request))
                .await?;
        // Counted only when someone reads it; without a filter, the shop's own count.
        let total = match ctx.look_ahead().field("totalCount").exists() {
            false => 0,
            true if filter.is_empty() => shops::repo::payout_count(read_db(ctx)?, &scope).await?,
            true => repo::history_count(read_db(ctx)?, &scope, &filter).await?,
        };
        prefetch(ctx, &page.rows).await?;
        Ok(payout_connection(page, total, (scope, filter)))
    }

    /// What the rules say about a payout on an order, and the earlier payments on it. Without
    /// an amount the minimum is judged and no AMOUNT_* code is reported. Merchant roles.
    #[graphql(guard = "RoleGuard::merchant()", complexity = 25)]
    async fn payout_preview(&self, ctx: &Context<'_>, order_sn: String, amount: Option<Cny>) -> Result<PayoutPreview> {
        let state = ctx.data::<AppState>()?;
        let order_sn = validate::id("orderSn", &order_sn)?;
        let amount = amount.map(|a| validate::positive("amount", a)).transpose()?;
        Ok(service::preview(state.deps_on(read_db(ctx)?), viewer(ctx)?, &order_sn, amount).await?.into())
    }
}

#[derive(Default)]
pub struct PayoutsMutation;

#[Object]
impl PayoutsMutation {
    /// Creates a payout. BALANCE → PAYING (debited; the channel delivers after the commit);
    /// WECHAT_SCAN / ALIPAY_SCAN → PENDING_RECHARGE with a QR code for 1 h; REQUEST_APPROVAL
    /// → PENDING_APPROVAL (not for ADMIN). A refusal carries the first broken rule as
    /// `extensions.code` and every broken rule in `extensions.blockers`, and writes nothing.
    /// ADMIN, CS_ADMIN, CS, STAFF.
    #[graphql(guard = "RoleGuard::merchant().and(Throttle)", complexity = 25)]
    async fn create_payout(&self, ctx: &Context<'_>, input: CreatePayoutInput) -> Result<Payout> {
        let state = ctx.data::<AppState>()?;
        let payout = service::create(state.deps(), state.payments(), viewer(ctx)?, input.validate()?).await?;
        Ok(Payout(payout))
    }

    /// The QR code of a PENDING_RECHARGE payout again, until 1 h after its commit; then
    /// INVALID_STATE. The applicant, or ADMIN.
    #[graphql(guard = "RoleGuard::merchant().and(Throttle)")]
    async fn continue_recharge(&self, ctx: &Context<'_>, payout_id: ID) -> Result<RechargeInfo> {
        let state = ctx.data::<AppState>()?;
        let payout = recharge::continue_recharge(state.deps(), viewer(ctx)?, super::payout_id(&payout_id)?).await?;
        Ok(RechargeInfo::of(&payout)?)
    }

    /// The channel's callback: the merchant paid the QR code. PENDING_RECHARGE → PAYING, then
    /// the transfer; idempotent on `channelTxnId`; after the deadline INVALID_STATE. PLATFORM.
    #[graphql(guard = "RoleGuard::platform().and(Throttle)", complexity = 25)]
    async fn confirm_recharge(&self, ctx: &Context<'_>, payout_id: ID, channel_txn_id: String) -> Result<Payout> {
        let state = ctx.data::<AppState>()?;
        let txn = validate::id("channelTxnId", &channel_txn_id)?;
        Ok(Payout(
            recharge::confirm_recharge(state.deps(), state.payments(), super::payout_id(&payout_id)?, &txn).await?,
        ))
    }

    /// The channel's result for a PAYING transfer: SUCCEEDED, or FAILED with its kind and
    /// reason. A payout not PAYING is INVALID_STATE and nothing changes. PLATFORM.
    #[graphql(guard = "RoleGuard::platform().and(Throttle)")]
    async fn report_transfer_result(
        &self,
        ctx: &Context<'_>,
        payout_id: ID,
        succeeded: bool,
        #[graphql(default_with = "Some(TransferFailureKind::BuyerAccount)")] failure_kind: Option<TransferFailureKind>,
        failure_reason: Option<String>,
    ) -> Result<Payout> {
        let state = ctx.data::<AppState>()?;
        let reason = validate::optional_text("failureReason", failure_reason.as_deref(), 500)?;
        let id = super::payout_id(&payout_id)?;
        let result = if succeeded {
            TransferResult::Succeeded
        } else {
            TransferResult::Failed { kind: failure_kind.unwrap_or(TransferFailureKind::BuyerAccount).into(), reason }
        };
        Ok(Payout(lifecycle::report_transfer(state.deps(), id, result).await?))
    }
}
