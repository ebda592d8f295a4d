//! A payout (小额打款) on one order, with every lifecycle timestamp.
use sea_orm::entity::prelude::*;

use crate::vocab::{Fen, FundingMethod, PayoutStatus, PayoutType, RefundStatus, TransferFailureKind};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payouts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub shop_id: String,
    pub order_sn: String,
    pub goods_id: String,
    pub buyer_id: String,
    pub r#type: PayoutType,
    pub amount_fen: Fen,
    pub reason: String,
    pub message: String,
    pub approval_note: Option<String>,
    pub status: PayoutStatus,
    /// Null while pending approval or rejected.
    pub funding: Option<FundingMethod>,
    pub applicant_id: String,
    pub approver_id: Option<String>,
    /// True when the applicant paid it from the balance itself: counts against its quota.
    pub uses_quota: bool,
    pub reject_reason: Option<String>,
    pub created_at: DateTimeUtc,
    /// When it first entered `PENDING_RECHARGE` or `PAYING`; its day is the commit day.
    pub committed_at: Option<DateTimeUtc>,
    pub deducted_at: Option<DateTimeUtc>,
    pub succeeded_at: Option<DateTimeUtc>,
    pub failure_kind: Option<TransferFailureKind>,
    pub failure_reason: Option<String>,
    pub qr_payload: Option<String>,
    pub recharge_deadline: Option<DateTimeUtc>,
    pub channel_txn_id: Option<String>,
    pub closed_at: Option<DateTimeUtc>,
    pub refund_status: RefundStatus,
    pub refund_due_at: Option<DateTimeUtc>,
    pub refunded_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
    /// The idempotency key the payment channel got for the current attempt (set each time the
    /// payout enters `PAYING`); the channel never pays one key twice.
    pub transfer_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
