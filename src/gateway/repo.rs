//! The simulated channel's books (`channel_transfers`): one row per transfer key, written once.
use chrono::{DateTime, Utc};
use entity::{
    channel_transfer,
    vocab::{ChannelOutcome, Fen, TransferFailureKind},
};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

/// What the books record for a key.
pub struct Entry<'a> {
    pub key: &'a str,
    pub payout_id: i64,
    pub amount: Fen,
    pub outcome: ChannelOutcome,
    pub failure_kind: Option<TransferFailureKind>,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// Records `entry` unless its key is already in the books; returns what the books hold for
/// the key and whether this call wrote it. Concurrent first calls for one key: one row wins.
pub async fn record_once(
    db: &impl ConnectionTrait,
    entry: Entry<'_>,
) -> Result<(channel_transfer::Model, bool), DbErr> {
    let row = channel_transfer::ActiveModel {
        key: Set(entry.key.to_owned()),
        payout_id: Set(entry.payout_id),
        amount_fen: Set(entry.amount),
        outcome: Set(entry.outcome),
        failure_kind: Set(entry.failure_kind),
        reason: Set(entry.reason),
        at: Set(entry.at),
    };
    let inserted = channel_transfer::Entity::insert(row)
        .on_conflict(OnConflict::column(channel_transfer::Column::Key).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    let stored = find(db, entry.key).await?.ok_or_else(|| DbErr::RecordNotFound(entry.key.to_owned()))?;
    Ok((stored, inserted > 0))
}

pub async fn find(db: &impl ConnectionTrait, key: &str) -> Result<Option<channel_transfer::Model>, DbErr> {
    channel_transfer::Entity::find_by_id(key.to_owned()).one(db).await
}
