//! Quota queries, always within a shop.

use entity::quota;
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

pub async fn delete(db: &impl ConnectionTrait, scope: &ShopScope, account_id: &str) -> AppResult<()> {
    quota::Entity::delete_many()
        .filter(quota::Column::ShopId.eq(scope.id()))
        .filter(quota::Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    Ok(())
}
