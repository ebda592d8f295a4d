//! The simulated payment channel's own books: one row per transfer key, written once. A
//! stand-in for the real channel's ledger (it lives in smallpay's database only because the
//! channel is simulated), so "was this key paid?" has a true answer across restarts.
use sea_orm::entity::prelude::*;

use crate::vocab::{ChannelOutcome, Fen, ReceivingAccountKind, TransferFailureKind};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_transfers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub payout_id: i64,
    pub amount_fen: Fen,
    pub outcome: ChannelOutcome,
    pub failure_kind: Option<TransferFailureKind>,
    pub reason: Option<String>,
    pub at: DateTimeUtc,
    /// Where the transfer went when the buyer submitted an account on a card (none: the
    /// buyer's own account on the platform): its kind, its number masked (the full number stays
    /// sealed on the card; a real channel keeps it in its own books) and its holder's name.
    pub payee_kind: Option<ReceivingAccountKind>,
    pub payee_account_masked: Option<String>,
    pub payee_holder: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
