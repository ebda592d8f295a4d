//! `PayoutPreview`: what the rules say before creating a payout, and the earlier payments.
use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, Utc};

use crate::{
    domain::{money::Cny, vocab},
    graphql::enums::{BalanceBlocker, DuplicateSource, PayoutBlocker, PayoutStatus, PayoutType},
    payouts::service::Preview,
};

/// An earlier payment on the order: a payout of the shop or the platform's own compensation.
#[derive(SimpleObject)]
pub struct DuplicateRecord {
    /// A payout of this shop, or the platform's own compensation.
    pub source: DuplicateSource,
    /// The payout's id; null for PLATFORM records.
    pub payout_id: Option<ID>,
    /// What it compensated.
    #[graphql(name = "type")]
    pub kind: PayoutType,
    /// What was paid, in yuan.
    pub amount: Cny,
    /// Null for PLATFORM records.
    pub status: Option<PayoutStatus>,
    /// The payout's createdAt, or the compensation's time.
    pub at: DateTime<Utc>,
}

/// What the rules say before creating a payout on an order.
#[derive(SimpleObject)]
pub struct PayoutPreview {
    /// The order judged.
    pub order_sn: String,
    /// The order was refunded; earlier payouts are not returned (seed §6 Q2).
    pub order_refunded: bool,
    /// No payout blocker applies: a payout may be created (by some funding).
    pub allowed: bool,
    /// Every payout blocker that applies, in rules.md's order; empty when allowed.
    pub blockers: Vec<PayoutBlocker>,
    /// Allowed, and it may be paid from the balance.
    pub balance_allowed: bool,
    /// Every rule against paying from the balance, in order; scan or a request for approval
    /// is still possible.
    pub balance_blockers: Vec<BalanceBlocker>,
    /// The smallest payout: 1.00.
    pub min_amount: Cny,
    /// The largest payout on this order: maxAmountActivity for activity goods, else
    /// maxAmountRegular.
    pub max_amount: Cny,
    /// Applications left on the order (3 minus those not REJECTED or RECHARGE_FAILED; never
    /// negative).
    pub remaining_attempts: i32,
    /// Null: the operator has no quota (ADMIN, and CS_ADMIN without one, need none; CS and
    /// STAFF then cannot use the balance).
    pub per_payout_limit: Option<Cny>,
    /// What is left of the operator's daily limit today (never negative); null when no quota
    /// applies.
    pub remaining_quota_today: Option<Cny>,
    /// REQUEST_APPROVAL is possible: the operator is not ADMIN and no payout blocker applies.
    pub can_request_approval: bool,
    /// Earlier payouts on the order and the platform's compensations, newest first.
    pub duplicates: Vec<DuplicateRecord>,
}

impl From<Preview> for PayoutPreview {
    fn from(p: Preview) -> Self {
        let payouts = p.payouts.iter().map(|payout| DuplicateRecord {
            source: vocab::DuplicateSource::Payout.into(),
            payout_id: Some(ID(payout.id.to_string())),
            kind: payout.r#type.into(),
            amount: Cny::from(payout.amount_fen),
            status: Some(payout.status.into()),
            at: payout.created_at,
        });
        let compensations = p.compensations.iter().map(|c| DuplicateRecord {
            source: vocab::DuplicateSource::Platform.into(),
            payout_id: None,
            kind: c.r#type.into(),
            amount: Cny::from(c.amount_fen),
            status: None,
            at: c.at,
        });
        let mut duplicates: Vec<DuplicateRecord> = payouts.chain(compensations).collect();
        duplicates.sort_by_key(|d| std::cmp::Reverse(d.at));
        let d = p.decision;
        PayoutPreview {
            order_sn: p.order.order_sn,
            order_refunded: p.order.refunded,
            allowed: d.allowed(),
            balance_allowed: d.balance_allowed(),
            blockers: d.blockers.into_iter().map(Into::into).collect(),
            balance_blockers: d.balance_blockers.into_iter().map(Into::into).collect(),
            min_amount: d.min_amount,
            max_amount: d.max_amount,
            remaining_attempts: i32::try_from(d.remaining_attempts).unwrap_or(0),
            per_payout_limit: d.per_payout_limit,
            remaining_quota_today: d.remaining_quota_today,
            can_request_approval: d.can_request_approval,
            duplicates,
        }
    }
}
