//! GraphQL: `Payout`, `PayoutTransition`, `RechargeInfo`, `PayoutPreview`, `payout`,
//! `payoutPreview` and `createPayout`.
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{payout, payout_transition};

use super::{
    contact, lifecycle, service,
    types::{
        BalanceBlocker, DuplicateSource, FundingChoice, FundingMethod, PayoutBlocker, PayoutStatus, PayoutType,
        RefundStatus, TransferFailureKind,
    },
};
use crate::{
    accounts::graphql::Account,
    auth::{RoleGuard, guards::viewer},
    error::AppError,
    graphql::loaders::{
        AccountKey, CompensationsByOrder, OrderBySn, PayoutById, PayoutsByOrder, RequestLoader, TransitionsByPayout,
    },
    money::Cny,
    orders::graphql::Order,
    state::AppState,
    validate,
};

fn loader<'a>(ctx: &Context<'a>) -> Result<&'a RequestLoader> {
    ctx.data::<RequestLoader>()
}

/// A stored enum value, parsed (`INTERNAL` if the database holds something unknown).
pub fn parse<T>(value: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    parse(value).ok_or_else(|| AppError::Internal(format!("unknown stored value {value}")).into())
}

/// Parses a payout id from the API (`NOT_FOUND` when it cannot name a payout).
pub fn payout_id(id: &ID) -> Result<i64, AppError> {
    id.trim().parse::<i64>().map_err(|_| AppError::not_found(format!("payout {}", id.as_str())))
}

/// A payout on one order.
pub struct Payout(pub payout::Model);

#[Object]
impl Payout {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn order_sn(&self) -> &str {
        &self.0.order_sn
    }

    async fn order(&self, ctx: &Context<'_>) -> Result<Order> {
        let order = loader(ctx)?.load_one(OrderBySn(self.0.order_sn.clone())).await?;
        Ok(Order(order.ok_or_else(|| AppError::Internal(format!("order of payout {} missing", self.0.id)))?))
    }

    async fn goods_id(&self) -> &str {
        &self.0.goods_id
    }

    #[graphql(name = "type")]
    async fn kind(&self) -> Result<PayoutType> {
        parse(&self.0.r#type, PayoutType::parse)
    }

    async fn amount(&self) -> Cny {
        Cny::from_fen(self.0.amount_fen)
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

    async fn status(&self) -> Result<PayoutStatus> {
        parse(&self.0.status, PayoutStatus::parse)
    }

    /// Null while PENDING_APPROVAL or after REJECTED.
    async fn funding(&self) -> Result<Option<FundingMethod>> {
        self.0.funding.as_deref().map(|f| parse(f, FundingMethod::parse)).transpose()
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

    async fn reject_reason(&self) -> Option<&str> {
        self.0.reject_reason.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When money left the shop (balance debit or recharge received).
    async fn deducted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deducted_at
    }

    async fn succeeded_at(&self) -> Option<DateTime<Utc>> {
        self.0.succeeded_at
    }

    async fn failure_kind(&self) -> Result<Option<TransferFailureKind>> {
        self.0.failure_kind.as_deref().map(|k| parse(k, TransferFailureKind::parse)).transpose()
    }

    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason.as_deref()
    }

    /// How to recharge, while PENDING_RECHARGE.
    async fn recharge(&self) -> Result<Option<RechargeInfo>> {
        if self.0.status != PayoutStatus::PendingRecharge.as_str() {
            return Ok(None);
        }
        RechargeInfo::of(&self.0).map(Some)
    }

    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }

    async fn refund_status(&self) -> Result<RefundStatus> {
        parse(&self.0.refund_status, RefundStatus::parse)
    }

    async fn refunded_at(&self) -> Option<DateTime<Utc>> {
        self.0.refunded_at
    }

    /// The newest account card, once FAILED for BUYER_ACCOUNT.
    async fn account_card(&self, ctx: &Context<'_>) -> Result<Option<crate::cards::graphql::AccountCard>> {
        let card = loader(ctx)?.load_one(crate::graphql::loaders::CardByPayout(self.0.id)).await?;
        Ok(card.flatten().map(crate::cards::graphql::AccountCard))
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
    pub method: FundingMethod,
    pub qr_payload: String,
    /// One hour after the payout was committed.
    pub deadline: DateTime<Utc>,
}

impl RechargeInfo {
    pub fn of(p: &payout::Model) -> Result<RechargeInfo> {
        let missing = || AppError::Internal(format!("payout {} has no recharge data", p.id));
        Ok(RechargeInfo {
            method: parse(p.funding.as_deref().ok_or_else(missing)?, FundingMethod::parse)?,
            qr_payload: p.qr_payload.clone().ok_or_else(missing)?,
            deadline: p.recharge_deadline.ok_or_else(missing)?,
        })
    }
}

/// One status change of a payout.
pub struct PayoutTransition(pub payout_transition::Model);

#[Object]
impl PayoutTransition {
    /// The event id: pass it as afterEventId to resume.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn payout_id(&self) -> ID {
        ID(self.0.payout_id.to_string())
    }

    /// The payout as it is now.
    async fn payout(&self, ctx: &Context<'_>) -> Result<Payout> {
        let found = loader(ctx)?.load_one(PayoutById(self.0.payout_id)).await?;
        Ok(Payout(found.ok_or_else(|| AppError::Internal(format!("payout {} missing", self.0.payout_id)))?))
    }

    /// Null for the creation.
    async fn from(&self) -> Result<Option<PayoutStatus>> {
        self.0.from_status.as_deref().map(|s| parse(s, PayoutStatus::parse)).transpose()
    }

    async fn to(&self) -> Result<PayoutStatus> {
        parse(&self.0.to_status, PayoutStatus::parse)
    }

    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }

    /// An account id, "buyer:<buyer id>", "system" or "platform".
    async fn actor(&self) -> &str {
        &self.0.actor
    }

    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
}

/// An earlier payment on the order: a payout of the shop or the platform's own compensation.
#[derive(SimpleObject)]
pub struct DuplicateRecord {
    pub source: DuplicateSource,
    pub payout_id: Option<ID>,
    #[graphql(name = "type")]
    pub kind: PayoutType,
    pub amount: Cny,
    /// Null for PLATFORM records.
    pub status: Option<PayoutStatus>,
    /// The payout's createdAt, or the compensation's time.
    pub at: DateTime<Utc>,
}

/// What the rules say before creating a payout on an order.
#[derive(SimpleObject)]
pub struct PayoutPreview {
    pub order_sn: String,
    /// The order was refunded; earlier payouts are not returned (seed §6 Q2).
    pub order_refunded: bool,
    pub allowed: bool,
    pub blockers: Vec<PayoutBlocker>,
    pub balance_allowed: bool,
    pub balance_blockers: Vec<BalanceBlocker>,
    pub min_amount: Cny,
    pub max_amount: Cny,
    pub remaining_attempts: i32,
    /// Null: the operator has no quota (ADMIN, and CS_ADMIN without one, need none; CS and
    /// STAFF then cannot use the balance).
    pub per_payout_limit: Option<Cny>,
    pub remaining_quota_today: Option<Cny>,
    pub can_request_approval: bool,
    /// Earlier payouts on the order and the platform's compensations, newest first.
    pub duplicates: Vec<DuplicateRecord>,
}

impl PayoutPreview {
    fn from_service(p: service::Preview) -> Result<Self> {
        let mut duplicates = Vec::with_capacity(p.payouts.len() + p.compensations.len());
        for payout in &p.payouts {
            duplicates.push(DuplicateRecord {
                source: DuplicateSource::Payout,
                payout_id: Some(ID(payout.id.to_string())),
                kind: parse(&payout.r#type, PayoutType::parse)?,
                amount: Cny::from_fen(payout.amount_fen),
                status: Some(parse(&payout.status, PayoutStatus::parse)?),
                at: payout.created_at,
            });
        }
        for c in &p.compensations {
            duplicates.push(DuplicateRecord {
                source: DuplicateSource::Platform,
                payout_id: None,
                kind: parse(&c.r#type, PayoutType::parse)?,
                amount: Cny::from_fen(c.amount_fen),
                status: None,
                at: c.at,
            });
        }
        duplicates.sort_by_key(|d| std::cmp::Reverse(d.at));
        let d = p.decision;
        Ok(PayoutPreview {
            order_sn: p.order.order_sn,
            order_refunded: p.order.refunded,
            allowed: d.allowed(),
            balance_allowed: d.balance_allowed(),
            blockers: d.blockers,
            balance_blockers: d.balance_blockers,
            min_amount: d.min_amount,
            max_amount: d.max_amount,
            remaining_attempts: i32::try_from(d.remaining_attempts).unwrap_or(0),
            per_payout_limit: d.per_payout_limit,
            remaining_quota_today: d.remaining_quota_today,
            can_request_approval: d.can_request_approval,
            duplicates,
        })
    }
}

#[derive(InputObject)]
pub struct CreatePayoutInput {
    pub order_sn: String,
    #[graphql(name = "type")]
    pub kind: PayoutType,
    /// At least 1.00, at most the shop's maximum for the goods.
    pub amount: Cny,
    /// Why the shop pays; non-blank, at most 200 characters.
    pub reason: String,
    /// What the buyer is told; non-blank, at most 500 characters; no off-platform contact.
    pub message: String,
    pub funding: FundingChoice,
    /// With REQUEST_APPROVAL: why the applicant asks (at most 500 characters).
    pub approval_note: Option<String>,
    /// Repeating a request with the same key (same account, within 24 h) returns the same
    /// payout; the same key with another payload is IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

impl CreatePayoutInput {
    fn validate(self) -> Result<service::NewPayout, AppError> {
        let reason = validate::text("reason", &self.reason, 200)?;
        let message = validate::text("message", &self.message, 500)?;
        for (field, text) in [("reason", &reason), ("message", &message)] {
            if let Some(why) = contact::off_platform_contact(text) {
                return Err(AppError::bad_input(
                    field,
                    format!("`{field}` must not solicit off-platform contact: it {why}"),
                ));
            }
        }
        Ok(service::NewPayout {
            order_sn: validate::id("orderSn", &self.order_sn)?,
            kind: self.kind,
            amount: validate::positive("amount", self.amount)?,
            reason,
            message,
            funding: self.funding,
            approval_note: validate::optional_text("approvalNote", self.approval_note.as_deref(), 500)?,
            idempotency_key: validate::optional_text("idempotencyKey", self.idempotency_key.as_deref(), 128)?,
        })
    }
}

/// Narrows the history; every given field must match.
#[derive(InputObject, Default)]
pub struct PayoutFilter {
    pub order_sn: Option<String>,
    pub goods_id: Option<String>,
    pub applicant_id: Option<ID>,
    /// Deducted at or after (inclusive).
    pub deducted_from: Option<DateTime<Utc>>,
    /// Deducted before (exclusive).
    pub deducted_to: Option<DateTime<Utc>>,
    /// Any of these statuses.
    pub status: Option<Vec<PayoutStatus>>,
    #[graphql(name = "type")]
    pub kind: Option<PayoutType>,
}

impl PayoutFilter {
    fn validate(self) -> Result<super::repo::HistoryFilter, AppError> {
        Ok(super::repo::HistoryFilter {
            order_sn: self.order_sn.as_deref().map(|s| validate::id("orderSn", s)).transpose()?,
            goods_id: self.goods_id.as_deref().map(|s| validate::id("goodsId", s)).transpose()?,
            applicant_id: self.applicant_id.as_deref().map(|s| validate::text("applicantId", s, 128)).transpose()?,
            deducted_from: self.deducted_from.map(crate::clock::to_millis),
            deducted_to: self.deducted_to.map(crate::clock::to_millis),
            statuses: self.status.unwrap_or_default(),
            kind: self.kind,
        })
    }
}

#[derive(Default)]
pub struct PayoutsQuery;

#[Object]
impl PayoutsQuery {
    /// One payout of the caller's shop; null when there is none. Merchant roles.
    #[graphql(guard = "RoleGuard::merchant()")]
    async fn payout(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Payout>> {
        let state = ctx.data::<AppState>()?;
        let scope = viewer(ctx)?.shop_scope()?;
        let Ok(id) = payout_id(&id) else {
            return Ok(None);
        };
        Ok(super::repo::find(&state.db, &scope, id).await?.map(Payout))
    }

    /// The shop's payout records, newest first, filtered and cursor-paged (first ≤ 100).
    /// Merchant roles.
    #[graphql(guard = "RoleGuard::merchant()")]
    async fn payouts(
        &self,
        ctx: &Context<'_>,
        filter: Option<PayoutFilter>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<PayoutConnection> {
        let state = ctx.data::<AppState>()?;
        let scope = viewer(ctx)?.shop_scope()?;
        let filter = filter.unwrap_or_default().validate()?;
        let page = crate::graphql::pagination::PageRequest::parse(CURSOR_KIND, first, after.as_deref())?;
        let rows = super::repo::history_page(&state.db, &scope, &filter, page).await?;
        let total = super::repo::history_count(&state.db, &scope, &filter).await?;
        prefetch(ctx, &rows).await?;
        Ok(PayoutConnection::from_rows(rows, page.limit, total))
    }

    /// What the rules say about a payout on an order, and the earlier payments on it. Without
    /// an amount the minimum is judged and no AMOUNT_* code is reported. Merchant roles.
    #[graphql(guard = "RoleGuard::merchant()")]
    async fn payout_preview(&self, ctx: &Context<'_>, order_sn: String, amount: Option<Cny>) -> Result<PayoutPreview> {
        let state = ctx.data::<AppState>()?;
        let order_sn = validate::id("orderSn", &order_sn)?;
        let amount = amount.map(|a| validate::positive("amount", a)).transpose()?;
        PayoutPreview::from_service(service::preview(state.ctx(), viewer(ctx)?, &order_sn, amount).await?)
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
    #[graphql(guard = "RoleGuard::merchant()")]
    async fn create_payout(&self, ctx: &Context<'_>, input: CreatePayoutInput) -> Result<Payout> {
        let state = ctx.data::<AppState>()?;
        let payout = service::create(state.ctx(), state.channel(), viewer(ctx)?, input.validate()?).await?;
        Ok(Payout(payout))
    }

    /// The QR code of a PENDING_RECHARGE payout again, until 1 h after its commit; then
    /// INVALID_STATE. The applicant, or ADMIN.
    #[graphql(guard = "RoleGuard::merchant()")]
    async fn continue_recharge(&self, ctx: &Context<'_>, payout_id: ID) -> Result<RechargeInfo> {
        let state = ctx.data::<AppState>()?;
        let payout =
            lifecycle::continue_recharge(state.ctx(), viewer(ctx)?, super::graphql::payout_id(&payout_id)?).await?;
        RechargeInfo::of(&payout)
    }

    /// The channel's callback: the merchant paid the QR code. PENDING_RECHARGE → PAYING, then
    /// the transfer; idempotent on `channelTxnId`; after the deadline INVALID_STATE. PLATFORM.
    #[graphql(guard = "RoleGuard::platform()")]
    async fn confirm_recharge(&self, ctx: &Context<'_>, payout_id: ID, channel_txn_id: String) -> Result<Payout> {
        let state = ctx.data::<AppState>()?;
        let txn = validate::id("channelTxnId", &channel_txn_id)?;
        Ok(Payout(
            lifecycle::confirm_recharge(state.ctx(), state.channel(), super::graphql::payout_id(&payout_id)?, &txn)
                .await?,
        ))
    }

    /// The channel's result for a PAYING transfer: SUCCEEDED, or FAILED with its kind and
    /// reason. A payout not PAYING is INVALID_STATE and nothing changes. PLATFORM.
    #[graphql(guard = "RoleGuard::platform()")]
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
        let id = super::graphql::payout_id(&payout_id)?;
        let kind = failure_kind.unwrap_or(TransferFailureKind::BuyerAccount);
        Ok(Payout(lifecycle::settle_transfer(state.ctx(), id, succeeded, kind, reason).await?))
    }
}

#[derive(SimpleObject)]
pub struct PayoutEdge {
    pub cursor: String,
    pub node: Payout,
}

/// A page of payouts.
#[derive(SimpleObject)]
pub struct PayoutConnection {
    pub edges: Vec<PayoutEdge>,
    pub page_info: crate::graphql::pagination::PageInfo,
    /// Payouts matching, over all pages.
    pub total_count: i32,
}

pub const CURSOR_KIND: &str = "payout";

/// Loads, in one query per relation, what the selection under `edges.node` will ask of each
/// payout of a page, so that resolving the nodes hits the request's loader cache instead of
/// depending on batch timing: a page costs the same statements whatever its size.
pub async fn prefetch(ctx: &Context<'_>, rows: &[payout::Model]) -> Result<()> {
    use std::collections::BTreeSet;
    let node = ctx.look_ahead().field("edges").field("node");
    if rows.is_empty() || !node.exists() {
        return Ok(());
    }
    let loader = loader(ctx)?;
    let order = node.field("order");
    if order.exists() {
        let sns: BTreeSet<String> = rows.iter().map(|p| p.order_sn.clone()).collect();
        loader.load_many(sns.iter().cloned().map(OrderBySn)).await?;
        if order.field("payouts").exists() {
            loader.load_many(sns.iter().cloned().map(PayoutsByOrder)).await?;
        }
        if order.field("platformCompensations").exists() {
            loader.load_many(sns.iter().cloned().map(CompensationsByOrder)).await?;
        }
    }
    if node.field("applicant").exists() || node.field("approver").exists() {
        let keys: BTreeSet<(String, String)> = rows
            .iter()
            .flat_map(|p| {
                std::iter::once(&p.applicant_id).chain(p.approver_id.as_ref()).map(|a| (p.shop_id.clone(), a.clone()))
            })
            .collect();
        loader.load_many(keys.into_iter().map(|(shop_id, id)| AccountKey { shop_id, id })).await?;
    }
    if node.field("accountCard").exists() {
        loader.load_many(rows.iter().map(|p| crate::graphql::loaders::CardByPayout(p.id))).await?;
    }
    let history = node.field("history");
    if history.exists() {
        let transitions = loader.load_many(rows.iter().map(|p| TransitionsByPayout(p.id))).await?;
        if history.field("payout").exists() {
            loader.feed_many(rows.iter().map(|p| (PayoutById(p.id), p.clone()))).await;
            let ids: BTreeSet<i64> = transitions.values().flatten().map(|t| t.payout_id).collect();
            loader.load_many(ids.into_iter().map(PayoutById)).await?;
        }
    }
    Ok(())
}

impl PayoutConnection {
    /// A page from `limit + 1` fetched rows.
    pub fn from_rows(rows: Vec<payout::Model>, limit: u64, total: u64) -> Self {
        let (rows, has_next_page) = crate::graphql::pagination::split_page(rows, limit);
        let edges: Vec<PayoutEdge> = rows
            .into_iter()
            .map(|p| PayoutEdge {
                cursor: crate::graphql::pagination::encode_cursor(CURSOR_KIND, p.id),
                node: Payout(p),
            })
            .collect();
        PayoutConnection {
            page_info: crate::graphql::pagination::PageInfo {
                has_next_page,
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            total_count: i32::try_from(total).unwrap_or(i32::MAX),
        }
    }
}
