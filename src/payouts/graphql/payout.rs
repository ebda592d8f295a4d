//! The `Payout` object, its recharge info, and the look-ahead prefetch of a page of payouts.
use std::collections::BTreeSet;

use async_graphql::{Context, ID, Object, Result, SimpleObject, Value, resolver_utils::enum_value};
use chrono::{DateTime, Utc};
use entity::payout;

use super::transition::PayoutTransition;
use crate::{
    accounts::graphql::Account,
    auth::Viewer,
    cards::graphql::AccountCard,
    domain::{money::Cny, vocab},
    error::AppError,
    graphql::{
        enums::{FundingMethod, PayoutStatus, PayoutType, RefundStatus, TransferFailureKind},
        loaders::{self, AccountKey, CardByPayout, OrderBySn, PayoutById, RequestLoader, TransitionsByPayout},
        plain::{Plain, optional, plain_object, scalar},
    },
    orders::graphql::Order,
};

fn loader<'a>(ctx: &Context<'a>) -> Result<&'a RequestLoader> {
    ctx.data::<RequestLoader>()
}

/// A payout on one order.
pub struct Payout(pub payout::Model);

plain_object!(Payout, PayoutFields);

/// `Payout`'s resolvers (its plain fields are read by [`Plain`] as well).
struct PayoutFields<'a>(&'a payout::Model);

/// A compensation the shop pays the buyer of one order through the platform.
#[Object(name = "Payout")]
impl PayoutFields<'_> {
    /// The payout's id; pass it as `payoutId`.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The order it is paid on.
    async fn order_sn(&self) -> &str {
        &self.0.order_sn
    }

    /// That order.
    async fn order(&self, ctx: &Context<'_>) -> Result<Order> {
        let order = loader(ctx)?.load_one(OrderBySn(self.0.order_sn.clone())).await?;
        Ok(Order(order.ok_or_else(|| AppError::Internal(format!("order of payout {} missing", self.0.id)))?))
    }

    /// The order's goods id, copied at creation.
    async fn goods_id(&self) -> &str {
        &self.0.goods_id
    }

    /// What it compensates.
    #[graphql(name = "type")]
    async fn kind(&self) -> PayoutType {
        self.0.r#type.into()
    }

    /// What the buyer gets, in yuan (1.00 up to the shop's maximum for the goods).
    async fn amount(&self) -> Cny {
        Cny::from(self.0.amount_fen)
    }

    /// Why the shop pays (internal).
    async fn reason(&self) -> &str {
        &self.0.reason
    }

    /// What the buyer is told.
    async fn message(&self) -> &str {
        &self.0.message
    }

    /// Why the applicant asked the admin.
    async fn approval_note(&self) -> Option<&str> {
        self.0.approval_note.as_deref()
    }

    /// Where the payout is in its lifecycle (rules.md "Statuses").
    async fn status(&self) -> PayoutStatus {
        self.0.status.into()
    }

    /// Null while PENDING_APPROVAL or after REJECTED.
    async fn funding(&self) -> Option<FundingMethod> {
        self.0.funding.map(Into::into)
    }

    /// Who asked for the payout.
    async fn applicant(&self, ctx: &Context<'_>) -> Result<Account> {
        let key = AccountKey { shop_id: self.0.shop_id.clone(), id: self.0.applicant_id.clone() };
        let account = loader(ctx)?.load_one(key).await?;
        Ok(Account(account.ok_or_else(|| AppError::Internal(format!("applicant of payout {} missing", self.0.id)))?))
    }

    /// The admin who decided the request, if it was one.
    async fn approver(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        let Some(id) = &self.0.approver_id else {
            return Ok(None);
        };
        let key = AccountKey { shop_id: self.0.shop_id.clone(), id: id.clone() };
        Ok(loader(ctx)?.load_one(key).await?.map(Account))
    }

    /// Why the admin rejected the request, or "expired" when nobody decided it within 7
    /// days; null unless REJECTED.
    async fn reject_reason(&self) -> Option<&str> {
        self.0.reject_reason.as_deref()
    }

    /// When it was created (UTC).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When money left the shop (balance debit or recharge received).
    async fn deducted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deducted_at
    }

    /// When the channel reported it delivered (UTC); null unless SUCCEEDED.
    async fn succeeded_at(&self) -> Option<DateTime<Utc>> {
        self.0.succeeded_at
    }

    /// Why the transfer failed: set on FAILED, cleared when a submitted account retries it;
    /// null otherwise.
    async fn failure_kind(&self) -> Option<TransferFailureKind> {
        self.0.failure_kind.map(Into::into)
    }

    /// The channel's reason for the failure, when it gave one; set and cleared with
    /// failureKind.
    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason.as_deref()
    }

    /// How to recharge, while PENDING_RECHARGE; shown to the applicant and the admin only
    /// (those who may `continueRecharge`), null for anyone else.
    async fn recharge(&self, ctx: &Context<'_>) -> Result<Option<RechargeInfo>> {
        if self.0.status != vocab::PayoutStatus::PendingRecharge {
            return Ok(None);
        }
        let may = ctx.data_opt::<Viewer>().is_some_and(|v| v.is_applicant_or_admin(&self.0.applicant_id));
        if !may {
            return Ok(None);
        }
        Ok(Some(RechargeInfo::of(self.0)?))
    }

    /// When it closed, 7 days after commit while still PAYING or FAILED (UTC); null unless
    /// CLOSED.
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }

    /// Whether a closed payout's amount is back in the balance: NONE unless CLOSED, then
    /// PENDING, then REFUNDED after 3 business days.
    async fn refund_status(&self) -> RefundStatus {
        self.0.refund_status.into()
    }

    /// When the amount returned to the shop's balance (UTC); null until REFUNDED.
    async fn refunded_at(&self) -> Option<DateTime<Utc>> {
        self.0.refunded_at
    }

    /// When the payout last changed (UTC): its creation, its newest status change (the last
    /// `history` entry's `at`) or its refund, whichever came last. An addition to the
    /// contract's Payout, for a client that keeps copies of payouts and asks what is newer.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The newest account card, once FAILED for BUYER_ACCOUNT.
    async fn account_card(&self, ctx: &Context<'_>) -> Result<Option<AccountCard>> {
        let card = loader(ctx)?.load_one(CardByPayout(self.0.id)).await?;
        Ok(card.flatten().map(AccountCard))
    }

    /// Every status change, oldest first.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<PayoutTransition>> {
        let rows = loader(ctx)?.load_one(TransitionsByPayout(self.0.id)).await?;
        Ok(rows.unwrap_or_default().into_iter().map(PayoutTransition).collect())
    }
}

/// The QR code to recharge a scan payout, and until when.
#[derive(SimpleObject)]
pub struct RechargeInfo {
    /// WECHAT_SCAN or ALIPAY_SCAN: which app scans the code.
    pub method: FundingMethod,
    /// The content to show as a QR code for the merchant to scan (a weixin:// or alipays://
    /// URL).
    pub qr_payload: String,
    /// One hour after the payout was committed.
    pub deadline: DateTime<Utc>,
}

impl RechargeInfo {
    /// The recharge info of a scan payout (`INTERNAL` if the row lacks it).
    pub fn of(p: &payout::Model) -> Result<RechargeInfo, AppError> {
        let missing = || AppError::Internal(format!("payout {} has no recharge data", p.id));
        Ok(RechargeInfo {
            method: p.funding.ok_or_else(missing)?.into(),
            qr_payload: p.qr_payload.clone().ok_or_else(missing)?,
            deadline: p.recharge_deadline.ok_or_else(missing)?,
        })
    }
}

/// Loads, in one query per relation, what the selection under `edges.node` will ask of each
/// payout of a page, so that resolving the nodes hits the request's loader cache instead of
/// depending on batch timing: a page costs the same statements whatever its size. The
/// order's own relations are prefetched by [`Order::prefetch`].
pub async fn prefetch(ctx: &Context<'_>, rows: &[payout::Model]) -> Result<()> {
    let node = ctx.look_ahead().field("edges").field("node");
    if rows.is_empty() || !node.exists() {
        return Ok(());
    }
    let loader = loader(ctx)?;
    let order = node.field("order");
    if order.exists() {
        let sns: BTreeSet<String> = rows.iter().map(|p| p.order_sn.clone()).collect();
        loaders::prefetch(loader, sns.iter().cloned().map(OrderBySn)).await?;
        Order::prefetch(loader, order, &sns).await?;
    }
    if node.field("applicant").exists() || node.field("approver").exists() {
        let keys: BTreeSet<(String, String)> = rows
            .iter()
            .flat_map(|p| {
                std::iter::once(&p.applicant_id).chain(p.approver_id.as_ref()).map(|a| (p.shop_id.clone(), a.clone()))
            })
            .collect();
        loaders::prefetch(loader, keys.into_iter().map(|(shop_id, id)| AccountKey { shop_id, id })).await?;
    }
    if node.field("accountCard").exists() {
        loaders::prefetch(loader, rows.iter().map(|p| CardByPayout(p.id))).await?;
    }
    let history = node.field("history");
    if history.exists() {
        let transitions = loaders::prefetch(loader, rows.iter().map(|p| TransitionsByPayout(p.id))).await?;
        if history.field("payout").exists() {
            loader.feed_many(rows.iter().map(|p| (PayoutById(p.id), p.clone()))).await;
            let ids: BTreeSet<i64> = transitions.values().flatten().map(|t| t.payout_id).collect();
            loaders::prefetch(loader, ids.into_iter().map(PayoutById)).await?;
        }
    }
    Ok(())
}

impl Plain for PayoutFields<'_> {
    fn plain(&self, name: &str) -> Option<Value> {
        let p = self.0;
        let text = |s: &Option<String>| optional(s.clone(), Value::String);
        let instant = |at: Option<DateTime<Utc>>| optional(at, |at| scalar(&at));
        Some(match name {
            "id" => Value::String(p.id.to_string()),
            "orderSn" => Value::String(p.order_sn.clone()),
            "goodsId" => Value::String(p.goods_id.clone()),
            "type" => enum_value(PayoutType::from(p.r#type)),
            "amount" => scalar(&Cny::from(p.amount_fen)),
            "reason" => Value::String(p.reason.clone()),
            "message" => Value::String(p.message.clone()),
            "approvalNote" => text(&p.approval_note),
            "status" => enum_value(PayoutStatus::from(p.status)),
            "funding" => optional(p.funding, |f| enum_value(FundingMethod::from(f))),
            "rejectReason" => text(&p.reject_reason),
            "createdAt" => scalar(&p.created_at),
            "deductedAt" => instant(p.deducted_at),
            "succeededAt" => instant(p.succeeded_at),
            "failureKind" => optional(p.failure_kind, |k| enum_value(TransferFailureKind::from(k))),
            "failureReason" => text(&p.failure_reason),
            "closedAt" => instant(p.closed_at),
            "refundStatus" => enum_value(RefundStatus::from(p.refund_status)),
            "refundedAt" => instant(p.refunded_at),
            "updatedAt" => scalar(&p.updated_at),
            // Null without a read of the viewer unless it is pending recharge (the resolver's
            // first check); `approver`, null without one, always resolves.
            "recharge" if p.status != vocab::PayoutStatus::PendingRecharge => Value::Null,
            _ => return None,
        })
    }
}
