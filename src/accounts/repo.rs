//! Account queries, always within a shop.
use chrono::{DateTime, Utc};
use entity::account;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
    sea_query::OnConflict,
};

use crate::{
    auth::{Role, ShopScope},
    error::AppResult,
};

pub fn in_shop(scope: &ShopScope) -> Select<account::Entity> {
    account::Entity::find().filter(account::Column::ShopId.eq(scope.id()))
}

pub async fn find(db: &impl ConnectionTrait, scope: &ShopScope, id: &str) -> AppResult<Option<account::Model>> {
    Ok(in_shop(scope).filter(account::Column::Id.eq(id)).one(db).await?)
}

/// The account, its row locked until the transaction ends (PostgreSQL; SQLite's write
/// transaction already excludes other writers).
pub async fn find_for_update(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    id: &str,
) -> AppResult<Option<account::Model>> {
    Ok(in_shop(scope).filter(account::Column::Id.eq(id)).lock_exclusive().one(db).await?)
}

pub async fn list(db: &impl ConnectionTrait, scope: &ShopScope) -> AppResult<Vec<account::Model>> {
    Ok(in_shop(scope).order_by_asc(account::Column::Id).all(db).await?)
}

/// Accounts of the shop with these ids.
pub async fn find_many(db: &impl ConnectionTrait, scope: &ShopScope, ids: &[String]) -> AppResult<Vec<account::Model>> {
    Ok(in_shop(scope).filter(account::Column::Id.is_in(ids.iter().map(String::as_str))).all(db).await?)
}

/// Creates the account or brings its name and role up to date.
pub async fn upsert(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    id: &str,
    name: &str,
    role: Role,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let model = account::ActiveModel {
        shop_id: Set(scope.id().to_owned()),
        id: Set(id.to_owned()),
        name: Set(name.to_owned()),
        role: Set(role),
        created_at: Set(now),
        updated_at: Set(now),
    };
    account::Entity::insert(model)
        .on_conflict(
            OnConflict::columns([account::Column::ShopId, account::Column::Id])
                .update_columns([account::Column::Name, account::Column::Role, account::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Accounts by (shop, id) across shops: for objects already confined to their shop.
pub async fn find_by_keys(db: &impl ConnectionTrait, keys: &[(String, String)]) -> AppResult<Vec<account::Model>> {
    let shops = keys.iter().map(|(shop, _)| shop.as_str());
    let ids = keys.iter().map(|(_, id)| id.as_str());
    let rows = account::Entity::find()
        .filter(account::Column::ShopId.is_in(shops))
        .filter(account::Column::Id.is_in(ids))
        .all(db)
        .await?;
    Ok(rows.into_iter().filter(|a| keys.iter().any(|(shop, id)| *shop == a.shop_id && *id == a.id)).collect())
}
