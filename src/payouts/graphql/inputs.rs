//! The payout inputs and their validation into service types.
use async_graphql::{ID, InputObject};
use chrono::{DateTime, Utc};

use crate::{
    clock::to_millis,
    domain::{contact::off_platform_contact, money::Cny, vocab},
    error::AppError,
    graphql::enums::{FundingChoice, PayoutStatus, PayoutType},
    payouts::{repo::HistoryFilter, service::NewPayout},
    validate,
};

/// A payout to create on an order of the caller's shop.
#[derive(InputObject)]
pub struct CreatePayoutInput {
    /// An order of the caller's shop (else NOT_FOUND).
    pub order_sn: String,
    /// What the payout compensates.
    #[graphql(name = "type")]
    pub kind: PayoutType,
    /// At least 1.00, at most the shop's maximum for the goods.
    pub amount: Cny,
    /// Why the shop pays; non-blank, at most 200 characters.
    pub reason: String,
    /// What the buyer is told; non-blank, at most 500 characters; no off-platform contact.
    pub message: String,
    /// Where the money comes from; BALANCE is refused with the first balance blocker's code
    /// while one applies.
    pub funding: FundingChoice,
    /// With REQUEST_APPROVAL: why the applicant asks (at most 500 characters).
    pub approval_note: Option<String>,
    /// Repeating a request with the same key (same account, within 24 h) returns the same
    /// payout; the same key with another payload is IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: Option<String>,
}

impl CreatePayoutInput {
    pub fn validate(self) -> Result<NewPayout, AppError> {
        let reason = validate::text("reason", &self.reason, 200)?;
        let message = validate::text("message", &self.message, 500)?;
        for (field, text) in [("reason", &reason), ("message", &message)] {
            if let Some(why) = off_platform_contact(text) {
                return Err(AppError::bad_input(
                    field,
                    format!("`{field}` must not solicit off-platform contact: it {why}"),
                ));
            }
        }
        Ok(NewPayout {
            order_sn: validate::id("orderSn", &self.order_sn)?,
            kind: self.kind.into(),
            amount: validate::positive("amount", self.amount)?,
            reason,
            message,
            funding: self.funding.into(),
            approval_note: validate::optional_text("approvalNote", self.approval_note.as_deref(), 500)?,
            idempotency_key: validate::optional_text("idempotencyKey", self.idempotency_key.as_deref(), 128)?,
        })
    }
}

/// Narrows the history; every given field must match.
#[derive(InputObject, Default)]
pub struct PayoutFilter {
    /// Only payouts on exactly this order.
    pub order_sn: Option<String>,
    /// Only payouts on this goods id.
    pub goods_id: Option<String>,
    /// Only payouts this account applied for.
    pub applicant_id: Option<ID>,
    /// Deducted at or after (inclusive).
    pub deducted_from: Option<DateTime<Utc>>,
    /// Deducted before (exclusive).
    pub deducted_to: Option<DateTime<Utc>>,
    /// Any of these statuses.
    pub status: Option<Vec<PayoutStatus>>,
    /// Only payouts of this type.
    #[graphql(name = "type")]
    pub kind: Option<PayoutType>,
}

impl PayoutFilter {
    pub fn validate(self) -> Result<HistoryFilter, AppError> {
        Ok(HistoryFilter {
            order_sn: self.order_sn.as_deref().map(|s| validate::id("orderSn", s)).transpose()?,
            goods_id: self.goods_id.as_deref().map(|s| validate::id("goodsId", s)).transpose()?,
            applicant_id: self.applicant_id.as_deref().map(|s| validate::text("applicantId", s, 128)).transpose()?,
            deducted_from: self.deducted_from.map(to_millis),
            deducted_to: self.deducted_to.map(to_millis),
            statuses: {
                // Any of the statuses, each once: never more values than there are statuses.
                let mut statuses: Vec<vocab::PayoutStatus> =
                    self.status.unwrap_or_default().into_iter().map(Into::into).collect();
                statuses.sort_unstable();
                statuses.dedup();
                statuses
            },
            kind: self.kind.map(Into::into),
        })
    }
}
