//! An order synced from the marketplace. `id` is an internal, increasing key used for
//! stable cursors; `order_sn` is the marketplace's number.
use sea_orm::entity::prelude::*;

use crate::vocab::Fen;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub order_sn: String,
    pub shop_id: String,
    pub buyer_id: String,
    pub goods_id: String,
    pub goods_name: String,
    pub activity_goods: bool,
    pub paid_amount_fen: Fen,
    pub grouped_at: Option<DateTimeUtc>,
    pub refunded: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
