//! The simulated channel's books (`channel_transfers`): one row per transfer key, written once.
use chrono::{DateTime, Utc};
use entity::{
    channel_transfer,
    vocab::{ChannelOutcome, Fen, ReceivingAccountKind, TransferFailureKind},
};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, TryInsertResult};

/// What the books record for a key.
pub struct Entry {
    pub key: String,
    pub payout_id: i64,
    pub amount: Fen,
    pub outcome: ChannelOutcome,
    pub failure_kind: Option<TransferFailureKind>,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    /// Where it went, if not to the buyer's own account.
    pub payee: Option<Payee>,
}

/// The receiving account a transfer went to, as the books keep it: the number masked.
pub struct Payee {
    pub kind: ReceivingAccountKind,
    pub account_masked: String,
    pub holder: String,
}

/// Records `entry` unless its key is already in the books; returns what the books hold for
/// the key and whether this call wrote it. Concurrent first calls for one key: one row wins.
pub async fn record_once(db: &impl ConnectionTrait, entry: Entry) -> Result<(channel_transfer::Model, bool), DbErr> {
    let row = channel_transfer::ActiveModel {
        key: Set(entry.key.clone()),
        payout_id: Set(entry.payout_id),
        amount_fen: Set(entry.amount),
        outcome: Set(entry.outcome),
        failure_kind: Set(entry.failure_kind),
        reason: Set(entry.reason),
        at: Set(entry.at),
        payee_kind: Set(entry.payee.as_ref().map(|p| p.kind)),
        payee_account_masked: Set(entry.payee.as_ref().map(|p| p.account_masked.clone())),
        payee_holder: Set(entry.payee.map(|p| p.holder)),
    };
    // One statement when the key is new (the usual case); the stored row is read only when
    // the key was there already. A conflict returns no row, which SeaORM reports as
    // `RecordNotFound` (with `RETURNING`) or `RecordNotInserted` (without).
    match channel_transfer::Entity::insert(row).on_conflict_do_nothing().exec_with_returning(db).await {
        Ok(TryInsertResult::Inserted(stored)) => return Ok((stored, true)),
        Ok(_) | Err(DbErr::RecordNotFound(_)) => {}
        Err(e) => return Err(e),
    }
    let stored = find(db, &entry.key).await?.ok_or_else(|| DbErr::RecordNotFound(entry.key))?;
    Ok((stored, false))
}

pub async fn find(db: &impl ConnectionTrait, key: &str) -> Result<Option<channel_transfer::Model>, DbErr> {
    channel_transfer::Entity::find_by_id(key.to_owned()).one(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key's first record writes it (one statement); a second returns the first's row.
    #[tokio::test]
    async fn a_key_is_recorded_once() {
        let db = crate::db::connect_small("sqlite::memory:").await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        let entry = |outcome| Entry {
            key: "k-1".to_owned(),
            payout_id: 1,
            amount: Fen(100),
            outcome,
            failure_kind: None,
            reason: None,
            at: Utc::now(),
            payee: None,
        };
        let (first, wrote) = record_once(&db, entry(ChannelOutcome::Delivered)).await.unwrap();
        assert!(wrote);
        assert_eq!(first.outcome, ChannelOutcome::Delivered);
        let (again, wrote) = record_once(&db, entry(ChannelOutcome::Cancelled)).await.unwrap();
        assert!(!wrote);
        assert_eq!(again, first);
    }
}
