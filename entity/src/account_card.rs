//! A card sent to a buyer whose transfer failed for its account, to collect a new one.
use sea_orm::entity::prelude::*;

use crate::vocab::{AccountCardStatus, ReceivingAccountKind};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_cards")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub payout_id: i64,
    pub shop_id: String,
    pub buyer_id: String,
    pub status: AccountCardStatus,
    pub sent_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub account_kind: Option<ReceivingAccountKind>,
    pub account_masked: Option<String>,
    /// The submitted account number, sealed; read only to retry the transfer.
    pub account_sealed: Option<String>,
    pub holder_name: Option<String>,
    pub submitted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
