//! A notice to a buyer about a payout, recorded with the transition that caused it.
use sea_orm::entity::prelude::*;

use crate::vocab::{Channels, NotificationKind};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "buyer_notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub buyer_id: String,
    pub payout_id: i64,
    pub shop_id: String,
    pub kind: NotificationKind,
    pub channels: Channels,
    pub title: String,
    pub body: String,
    pub at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
