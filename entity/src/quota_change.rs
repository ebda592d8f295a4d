//! A change of an account's quota: the limits from `at` on, or none (cleared). The daily
//! report reads the limits in force at a day's end from these rows.
use sea_orm::entity::prelude::*;

use crate::vocab::Fen;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quota_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub shop_id: String,
    pub account_id: String,
    pub at: DateTimeUtc,
    /// Null when the quota was cleared.
    pub per_payout_limit_fen: Option<Fen>,
    /// Null when the quota was cleared.
    pub daily_limit_fen: Option<Fen>,
    /// The admin who set or cleared it.
    pub set_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
