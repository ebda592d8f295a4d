//! An account's balance quota, set by the shop admin.
use sea_orm::entity::prelude::*;

use crate::vocab::Fen;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quotas")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub shop_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: String,
    pub per_payout_limit_fen: Fen,
    pub daily_limit_fen: Fen,
    pub set_by: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
