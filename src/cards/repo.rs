//! Account card queries.
use chrono::{DateTime, Utc};
use entity::{account_card, buyer_notification, shop, vocab::AccountCardStatus};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, SimpleExpr},
};

use crate::{domain::card::CARD_LIFETIME, error::AppResult};

/// The shop's name as a buyer sees it (its id, should the shop row be missing).
pub async fn shop_name(db: &impl ConnectionTrait, shop_id: &str) -> AppResult<String> {
    Ok(shop::Entity::find_by_id(shop_id.to_owned()).one(db).await?.map_or_else(|| shop_id.to_owned(), |s| s.name))
}

/// A new open card for a payout's buyer, open for [`CARD_LIFETIME`] from `at`.
pub async fn insert_open(
    db: &impl ConnectionTrait,
    payout_id: i64,
    shop_id: &str,
    buyer_id: &str,
    at: DateTime<Utc>,
) -> AppResult<account_card::Model> {
    Ok(account_card::ActiveModel {
        payout_id: Set(payout_id),
        shop_id: Set(shop_id.to_owned()),
        buyer_id: Set(buyer_id.to_owned()),
        status: Set(AccountCardStatus::Open),
        sent_at: Set(at),
        expires_at: Set(at + CARD_LIFETIME),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Expires the payout's open card, if any.
pub async fn expire_open(db: &impl ConnectionTrait, payout_id: i64) -> AppResult<()> {
    expire_open_where(db, account_card::Column::PayoutId.eq(payout_id)).await
}

/// Expires the card if it is still open.
pub async fn expire(db: &impl ConnectionTrait, card_id: i64) -> AppResult<()> {
    expire_open_where(db, account_card::Column::Id.eq(card_id)).await
}

async fn expire_open_where(db: &impl ConnectionTrait, which: SimpleExpr) -> AppResult<()> {
    account_card::Entity::update_many()
        .col_expr(account_card::Column::Status, Expr::value(AccountCardStatus::Expired))
        .filter(which)
        .filter(account_card::Column::Status.eq(AccountCardStatus::Open))
        .exec(db)
        .await?;
    Ok(())
}

/// The buyer's card, locked for the rest of the transaction.
pub async fn of_buyer_for_update(
    db: &impl ConnectionTrait,
    buyer_id: &str,
    card_id: i64,
) -> AppResult<Option<account_card::Model>> {
    Ok(account_card::Entity::find()
        .filter(account_card::Column::Id.eq(card_id))
        .filter(account_card::Column::BuyerId.eq(buyer_id))
        .lock_exclusive()
        .one(db)
        .await?)
}

/// The buyer's cards, newest first.
pub async fn of_buyer(db: &impl ConnectionTrait, buyer_id: &str) -> AppResult<Vec<account_card::Model>> {
    Ok(account_card::Entity::find()
        .filter(account_card::Column::BuyerId.eq(buyer_id))
        .order_by_desc(account_card::Column::Id)
        .all(db)
        .await?)
}

/// Up to `limit` notices not handed to the notifier yet, oldest first.
pub async fn undelivered_notices(db: &impl ConnectionTrait, limit: u64) -> AppResult<Vec<buyer_notification::Model>> {
    Ok(buyer_notification::Entity::find()
        .filter(buyer_notification::Column::DeliveredAt.is_null())
        .order_by_asc(buyer_notification::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Marks these notices delivered at `at` (one statement).
pub async fn mark_delivered(db: &impl ConnectionTrait, notice_ids: &[i64], at: DateTime<Utc>) -> AppResult<()> {
    buyer_notification::Entity::update_many()
        .set(buyer_notification::ActiveModel { delivered_at: Set(Some(at)), ..Default::default() })
        .filter(buyer_notification::Column::Id.is_in(notice_ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// A buyer's notices, newest first.
pub async fn notices_of_buyer(db: &impl ConnectionTrait, buyer: &str) -> AppResult<Vec<buyer_notification::Model>> {
    Ok(buyer_notification::Entity::find()
        .filter(buyer_notification::Column::BuyerId.eq(buyer))
        .order_by_desc(buyer_notification::Column::Id)
        .all(db)
        .await?)
}

/// The cards of these payouts, oldest first.
pub async fn of_payouts(db: &impl ConnectionTrait, payout_ids: &[i64]) -> AppResult<Vec<account_card::Model>> {
    Ok(account_card::Entity::find()
        .filter(account_card::Column::PayoutId.is_in(payout_ids.iter().copied()))
        .order_by_asc(account_card::Column::Id)
        .all(db)
        .await?)
}

/// The payout's newest card the buyer submitted an account on.
pub async fn latest_submitted(db: &impl ConnectionTrait, payout_id: i64) -> AppResult<Option<account_card::Model>> {
    Ok(account_card::Entity::find()
        .filter(account_card::Column::PayoutId.eq(payout_id))
        .filter(account_card::Column::Status.eq(AccountCardStatus::Submitted))
        .order_by_desc(account_card::Column::Id)
        .one(db)
        .await?)
}
