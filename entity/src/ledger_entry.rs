//! Append-only entries of a shop's balance; the balance is their sum.
use sea_orm::entity::prelude::*;

use crate::vocab::{EntryKind, Fen};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub shop_id: String,
    /// `OPENING`, `PAYOUT_DEBIT`, `REFUND_CREDIT` or `ADJUSTMENT`.
    pub kind: EntryKind,
    /// Signed: debits are negative.
    pub amount_fen: Fen,
    pub balance_after_fen: Fen,
    pub payout_id: Option<i64>,
    /// The platform's reference for adjustments (unique per shop).
    pub reference: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
