//! Quota queries, always within a shop.

use chrono::{DateTime, Utc};
use entity::{quota, quota_change, vocab::Fen};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Select, sea_query::OnConflict,
};

use crate::{auth::ShopScope, error::AppResult};

pub fn in_shop(scope: &ShopScope) -> Select<quota::Entity> {
    quota::Entity::find().filter(quota::Column::ShopId.eq(scope.id()))
}

pub async fn find(db: &impl ConnectionTrait, scope: &ShopScope, account_id: &str) -> AppResult<Option<quota::Model>> {
    Ok(in_shop(scope).filter(quota::Column::AccountId.eq(account_id)).one(db).await?)
}

pub async fn list(db: &impl ConnectionTrait, scope: &ShopScope) -> AppResult<Vec<quota::Model>> {
    Ok(in_shop(scope).order_by_asc(quota::Column::AccountId).all(db).await?)
}

pub async fn upsert(db: &impl ConnectionTrait, model: quota::Model) -> AppResult<()> {
    let active = quota::ActiveModel {
        shop_id: Set(model.shop_id),
        account_id: Set(model.account_id),
        per_payout_limit_fen: Set(model.per_payout_limit_fen),
        daily_limit_fen: Set(model.daily_limit_fen),
        set_by: Set(model.set_by),
        updated_at: Set(model.updated_at),
    };
    quota::Entity::insert(active)
        .on_conflict(
            OnConflict::columns([quota::Column::ShopId, quota::Column::AccountId])
                .update_columns([
                    quota::Column::PerPayoutLimitFen,
                    quota::Column::DailyLimitFen,
                    quota::Column::SetBy,
                    quota::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Deletes the account's quota; `true` when it had one.
pub async fn delete(db: &impl ConnectionTrait, scope: &ShopScope, account_id: &str) -> AppResult<bool> {
    let deleted = quota::Entity::delete_many()
        .filter(quota::Column::ShopId.eq(scope.id()))
        .filter(quota::Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected > 0)
}

/// Records, in the transaction that changed it, the account's limits from `at` on
/// (`(per payout, daily)`, or `None` once cleared): the daily report's quota history.
pub async fn record_change(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    account_id: &str,
    at: DateTime<Utc>,
    limits: Option<(Fen, Fen)>,
    by: &str,
) -> AppResult<()> {
    let change = quota_change::ActiveModel {
        shop_id: Set(scope.id().to_owned()),
        account_id: Set(account_id.to_owned()),
        at: Set(at),
        per_payout_limit_fen: Set(limits.map(|l| l.0)),
        daily_limit_fen: Set(limits.map(|l| l.1)),
        set_by: Set(by.to_owned()),
        ..Default::default()
    };
    quota_change::Entity::insert(change).exec_without_returning(db).await?;
    Ok(())
}

/// The quota changes of these accounts made before `before`, oldest first.
pub async fn changes_before(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    accounts: &[String],
    before: DateTime<Utc>,
) -> AppResult<Vec<quota_change::Model>> {
    Ok(quota_change::Entity::find()
        .filter(quota_change::Column::ShopId.eq(scope.id()))
        .filter(quota_change::Column::AccountId.is_in(accounts.iter().map(String::as_str)))
        .filter(quota_change::Column::At.lt(before))
        .order_by_asc(quota_change::Column::Id)
        .all(db)
        .await?)
}
