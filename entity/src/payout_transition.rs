//! One status change of a payout: its history and the subscription outbox.
use sea_orm::entity::prelude::*;

use crate::vocab::{ActorKind, PayoutStatus};

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
    /// The name: an account id, `buyer:<buyer id>`, `system` or `platform`.
    pub actor: String,
    /// What kind of actor `actor` names: a name alone cannot tell a merchant account called
    /// `system` from the system.
    pub actor_kind: ActorKind,
    pub note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
