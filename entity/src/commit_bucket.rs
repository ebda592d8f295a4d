//! The day's sums the limits compare against, kept as payouts are committed (rules.md
//! "Counting"): per shop and quarter hour of UTC time, what its committed payouts add up to.
//! The shop's own row has `account_id` `""` (an account's id, a token's `sub`, is never
//! empty) and holds every committed amount and the balance-funded part; an applicant's row
//! holds what its own balance payouts took of its quota.
use sea_orm::entity::prelude::*;

use crate::vocab::Fen;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "commit_buckets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub shop_id: String,
    /// `""` for the shop's totals, else the applicant whose quota the amounts used.
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: String,
    /// The quarter hour's start, in seconds since the Unix epoch (a multiple of 900).
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket: i64,
    pub paid_fen: Fen,
    pub balance_fen: Fen,
    pub quota_fen: Fen,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
