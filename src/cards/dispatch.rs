//! What a transfer result does on the buyer's side, in the transaction that records it: a
//! notice, and on a failure for the buyer's account a new card (any open one expires).
use chrono::{DateTime, Utc};
use entity::{account_card, payout};
use sea_orm::ConnectionTrait;

use super::{notify, repo};
use crate::{
    domain::vocab::{NotificationKind, PayoutStatus, TransferFailureKind},
    error::AppResult,
    jobs,
};

/// Notices (and a card) for a transfer result just recorded.
pub async fn on_transfer_result(
    db: &impl ConnectionTrait,
    p: &payout::Model,
    name: &str,
    at: DateTime<Utc>,
) -> AppResult<()> {
    match p.status {
        PayoutStatus::Succeeded => {
            notify::record(db, p, name, NotificationKind::PayoutSucceeded, at).await?;
        }
        PayoutStatus::Failed => {
            notify::record(db, p, name, NotificationKind::PayoutFailed, at).await?;
            if p.failure_kind == Some(TransferFailureKind::BuyerAccount) {
                send(db, p, name, at).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Sends a new card for `p`: any open one expires; the new one is open for 72 h.
pub async fn send(
    db: &impl ConnectionTrait,
    p: &payout::Model,
    shop_name: &str,
    at: DateTime<Utc>,
) -> AppResult<account_card::Model> {
    repo::expire_open(db, p.id).await?;
    let card = repo::insert_open(db, p.id, &p.shop_id, &p.buyer_id, at).await?;
    jobs::schedule_card(db, card.id, card.expires_at, at).await?;
    notify::record(db, p, shop_name, NotificationKind::AccountCardSent, at).await?;
    Ok(card)
}
