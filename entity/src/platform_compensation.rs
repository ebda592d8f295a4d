//! A compensation the platform itself paid the buyer of an order (a duplicate to warn about).
use sea_orm::entity::prelude::*;

use crate::vocab::{Fen, PayoutType};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "platform_compensations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub shop_id: String,
    pub order_sn: String,
    pub r#type: PayoutType,
    pub amount_fen: Fen,
    pub at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    /// The platform's own id for it; a repeated reference returns this record.
    pub reference: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
