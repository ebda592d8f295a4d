//! Payout and transition queries. Merchant reads start from [`in_shop`].
use chrono::{DateTime, Utc};
use entity::{idempotency_key, payout, payout_transition};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

use super::types::PayoutStatus;
use crate::{auth::ShopScope, error::AppResult};

pub fn in_shop(scope: &ShopScope) -> Select<payout::Entity> {
    payout::Entity::find().filter(payout::Column::ShopId.eq(scope.id()))
}

pub async fn find(db: &impl ConnectionTrait, scope: &ShopScope, id: i64) -> AppResult<Option<payout::Model>> {
    Ok(in_shop(scope).filter(payout::Column::Id.eq(id)).one(db).await?)
}

/// The payout, locked until the transaction ends (PostgreSQL).
pub async fn find_for_update(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<payout::Model>> {
    Ok(payout::Entity::find_by_id(id).lock_exclusive().one(db).await?)
}

/// Payouts of these ids (any shop: callers pass ids they reached through a scope).
pub async fn find_many(db: &impl ConnectionTrait, ids: &[i64]) -> AppResult<Vec<payout::Model>> {
    Ok(payout::Entity::find().filter(payout::Column::Id.is_in(ids.iter().copied())).all(db).await?)
}

/// The payouts of these orders, newest first.
pub async fn of_orders(db: &impl ConnectionTrait, order_sns: &[String]) -> AppResult<Vec<payout::Model>> {
    Ok(payout::Entity::find()
        .filter(payout::Column::OrderSn.is_in(order_sns.iter().map(String::as_str)))
        .order_by_desc(payout::Column::Id)
        .all(db)
        .await?)
}

pub async fn insert(db: &impl ConnectionTrait, model: payout::ActiveModel) -> AppResult<payout::Model> {
    Ok(model.insert(db).await?)
}

/// A transition (history entry and event) of `payout` into `to`.
pub struct NewTransition<'a> {
    pub payout: &'a payout::Model,
    pub from: Option<PayoutStatus>,
    pub to: PayoutStatus,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub note: Option<&'a str>,
}

pub async fn record_transition(db: &impl ConnectionTrait, t: NewTransition<'_>) -> AppResult<payout_transition::Model> {
    let model = payout_transition::ActiveModel {
        payout_id: Set(t.payout.id),
        shop_id: Set(t.payout.shop_id.clone()),
        order_sn: Set(t.payout.order_sn.clone()),
        applicant_id: Set(t.payout.applicant_id.clone()),
        from_status: Set(t.from.map(|s| s.as_str().to_owned())),
        to_status: Set(t.to.as_str().to_owned()),
        at: Set(t.at),
        actor: Set(t.actor.to_owned()),
        note: Set(t.note.map(str::to_owned)),
        ..Default::default()
    };
    Ok(model.insert(db).await?)
}

/// The transitions of these payouts, oldest first.
pub async fn transitions_of(db: &impl ConnectionTrait, payout_ids: &[i64]) -> AppResult<Vec<payout_transition::Model>> {
    Ok(payout_transition::Entity::find()
        .filter(payout_transition::Column::PayoutId.is_in(payout_ids.iter().copied()))
        .order_by_asc(payout_transition::Column::Id)
        .all(db)
        .await?)
}

pub async fn find_key(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    account_id: &str,
    key: &str,
) -> AppResult<Option<idempotency_key::Model>> {
    Ok(idempotency_key::Entity::find()
        .filter(idempotency_key::Column::ShopId.eq(scope.id()))
        .filter(idempotency_key::Column::AccountId.eq(account_id))
        .filter(idempotency_key::Column::Key.eq(key))
        .one(db)
        .await?)
}

pub async fn delete_key(db: &impl ConnectionTrait, key: &idempotency_key::Model) -> AppResult<()> {
    idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::ShopId.eq(key.shop_id.as_str()))
        .filter(idempotency_key::Column::AccountId.eq(key.account_id.as_str()))
        .filter(idempotency_key::Column::Key.eq(key.key.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn insert_key(db: &impl ConnectionTrait, key: idempotency_key::Model) -> AppResult<()> {
    let active = idempotency_key::ActiveModel {
        shop_id: Set(key.shop_id),
        account_id: Set(key.account_id),
        key: Set(key.key),
        request_hash: Set(key.request_hash),
        payout_id: Set(key.payout_id),
        created_at: Set(key.created_at),
        expires_at: Set(key.expires_at),
    };
    idempotency_key::Entity::insert(active).exec_without_returning(db).await?;
    Ok(())
}
