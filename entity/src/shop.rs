//! A shop synced from the marketplace, with its payout policy and cached balance.
use sea_orm::entity::prelude::*;

use crate::vocab::Fen;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "shops")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub zero_entry: bool,
    pub deposit_paid: bool,
    pub has_unpaid_bills: bool,
    pub time_zone: String,
    pub daily_cap_fen: Fen,
    pub daily_balance_cap_fen: Fen,
    pub max_amount_regular_fen: Fen,
    pub max_amount_activity_fen: Fen,
    /// Always equal to the sum of the shop's ledger entries; written in the same
    /// transaction as each entry.
    pub balance_fen: Fen,
    /// How many payouts the shop has (every status): incremented in the transaction that
    /// creates each one; an unfiltered history's `totalCount`.
    pub payout_count: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
