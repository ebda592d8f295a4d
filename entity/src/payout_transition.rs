//! One status change of a payout: its history and the subscription outbox.
use sea_orm::entity::prelude::*;

use crate::vocab::PayoutStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payout_transitions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub payout_id: i64,
    pub shop_id: String,
    pub order_sn: String,
    pub applicant_id: String,
    pub from_status: Option<PayoutStatus>,
    pub to_status: PayoutStatus,
    pub at: DateTimeUtc,
    pub actor: String,
    pub note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
