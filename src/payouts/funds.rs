//! Where a payout's money goes at commit: the commitment written on the row (funding, times,
//! a scan payout's fresh QR code) and the balance debit in the ledger.
use chrono::{DateTime, Utc};
use entity::{ledger_entry, payout};
use sea_orm::{ActiveValue::Set, ConnectionTrait};

use crate::{
    domain::{
        create::{Commitment, qr_payload},
        money::Cny,
        vocab::EntryKind,
    },
    error::{AppError, AppResult},
    ledger::repo::{self as ledger, NewEntry},
};

/// Sets what `commitment` decides on a payout row (a scan payout gets a fresh QR code).
pub fn set_commitment(m: &mut payout::ActiveModel, commitment: &Commitment, amount: Cny) {
    m.status = Set(commitment.status);
    m.funding = Set(Some(commitment.funding));
    m.committed_at = Set(Some(commitment.committed_at));
    m.deducted_at = Set(commitment.deducted_at);
    m.recharge_deadline = Set(commitment.recharge_deadline);
    m.qr_payload = Set(commitment
        .recharge_deadline
        .map(|_| qr_payload(commitment.funding, amount, &uuid::Uuid::new_v4().simple().to_string())));
}

/// Debits the payout's amount from its shop's balance; refused with `INSUFFICIENT_BALANCE` when
/// the balance cannot pay it (the rules judged the balance under the shop's lock, so this is the
/// ledger's own guard).
pub async fn debit(db: &impl ConnectionTrait, payout: &payout::Model, at: DateTime<Utc>) -> AppResult<()> {
    paid(ledger::append(db, entry(payout, at)).await?, payout)
}

/// [`debit`] of a payout created in this transaction: the shop's payout counter counts it in
/// the same statement (`shops::repo::count_new_payout` counts the other creations).
pub async fn debit_new(db: &impl ConnectionTrait, payout: &payout::Model, at: DateTime<Utc>) -> AppResult<()> {
    paid(ledger::append_for_new_payout(db, entry(payout, at)).await?, payout)
}

fn entry(payout: &payout::Model, at: DateTime<Utc>) -> NewEntry<'_> {
    NewEntry {
        shop_id: &payout.shop_id,
        kind: EntryKind::PayoutDebit,
        amount_fen: -payout.amount_fen,
        payout_id: Some(payout.id),
        reference: None,
        at,
    }
}

fn paid(written: Option<ledger_entry::Model>, payout: &payout::Model) -> AppResult<()> {
    match written {
        Some(_) => Ok(()),
        None => Err(AppError::insufficient_balance(format!(
            "the shop's balance cannot pay payout {} ({})",
            payout.id,
            Cny::from(payout.amount_fen)
        ))),
    }
}
