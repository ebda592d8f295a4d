//! Where a payout's money goes: the commitment's fields on the row, the balance debit, a
//! new QR code, and the hand-over to the payment channel.
use chrono::{DateTime, Utc};
use entity::payout;
use sea_orm::{ActiveValue::Set, ConnectionTrait};

use crate::{
    db::Ctx,
    domain::{
        create::{Commitment, qr_payload},
        money::Cny,
        vocab::{EntryKind, TransferFailureKind},
    },
    error::{AppError, AppResult},
    gateway::{PaymentChannel, Transfer, TransferOutcome},
    ledger::repo::{self as ledger, NewEntry},
};

/// Sets what `commitment` decides on a payout row (a scan payout gets a fresh QR code).
pub fn apply(m: &mut payout::ActiveModel, commitment: &Commitment, amount: Cny) {
    m.status = Set(commitment.status);
    m.funding = Set(Some(commitment.funding));
    m.committed_at = Set(Some(commitment.committed_at));
    m.deducted_at = Set(commitment.deducted_at);
    m.recharge_deadline = Set(commitment.recharge_deadline);
    m.qr_payload = Set(commitment
        .recharge_deadline
        .map(|_| qr_payload(commitment.funding, amount, &uuid::Uuid::new_v4().simple().to_string())));
}

/// Debits the payout's amount from its shop's balance; refused with `INSUFFICIENT_BALANCE`
/// (told as "`what`: INSUFFICIENT_BALANCE") when the balance cannot pay it.
pub async fn debit(db: &impl ConnectionTrait, payout: &payout::Model, at: DateTime<Utc>, what: &str) -> AppResult<()> {
    let entry = NewEntry {
        shop_id: &payout.shop_id,
        kind: EntryKind::PayoutDebit,
        amount_fen: -payout.amount_fen,
        payout_id: Some(payout.id),
        reference: None,
        at,
    };
    match ledger::append(db, entry).await? {
        Some(_) => Ok(()),
        None => Err(AppError::insufficient_balance(format!("{what}: INSUFFICIENT_BALANCE"))),
    }
}

/// Hands a `PAYING` payout to the payment channel and applies an immediate result. Errors
/// are logged: the payout stays `PAYING` until a result arrives or it closes.
pub async fn deliver(
    cx: Ctx<'_>,
    channel: &dyn PaymentChannel,
    payout: &payout::Model,
    submitted_account: Option<String>,
) {
    let transfer = Transfer {
        payout_id: payout.id,
        buyer_id: payout.buyer_id.clone(),
        amount: Cny::from_fen(payout.amount_fen),
        submitted_account,
    };
    let Some(outcome) = channel.transfer(&transfer).await else {
        return;
    };
    let (succeeded, kind, reason) = match outcome {
        TransferOutcome::Succeeded => (true, TransferFailureKind::Other, None),
        TransferOutcome::Failed { kind, reason } => (false, kind, Some(reason)),
    };
    if let Err(e) = super::lifecycle::settle_transfer(cx, payout.id, succeeded, kind, reason).await {
        tracing::warn!(payout = payout.id, error = ?e, "could not record the channel's result");
    }
}
