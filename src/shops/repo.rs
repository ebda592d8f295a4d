//! Shop queries. A merchant reaches its shop only through its [`ShopScope`].

use entity::shop;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait as _},
};

use crate::{auth::ShopScope, error::AppResult};

pub async fn find(db: &impl ConnectionTrait, scope: &ShopScope) -> AppResult<Option<shop::Model>> {
    Ok(shop::Entity::find_by_id(scope.id().to_owned()).one(db).await?)
}

/// The shop row, locked until the transaction ends (PostgreSQL; SQLite's write lock is
/// taken by `BEGIN IMMEDIATE`).
pub async fn find_for_update(db: &impl ConnectionTrait, scope: &ShopScope) -> AppResult<Option<shop::Model>> {
    Ok(shop::Entity::find_by_id(scope.id().to_owned()).lock_exclusive().one(db).await?)
}

/// Counts a new payout of the shop (in the transaction that creates it).
pub async fn count_new_payout(db: &impl ConnectionTrait, shop_id: &str) -> AppResult<()> {
    shop::Entity::update_many()
        .col_expr(shop::Column::PayoutCount, Expr::col(shop::Column::PayoutCount).add(1))
        .filter(shop::Column::Id.eq(shop_id))
        .exec(db)
        .await?;
    Ok(())
}

/// How many payouts the shop has (0 for a shop not synced).
pub async fn payout_count(db: &impl ConnectionTrait, scope: &ShopScope) -> AppResult<u64> {
    let count: Option<i64> = shop::Entity::find_by_id(scope.id().to_owned())
        .select_only()
        .column(shop::Column::PayoutCount)
        .into_tuple()
        .one(db)
        .await?;
    Ok(count.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}

/// Any shop by id: for the platform's calls and for objects already confined to a shop.
pub async fn find_any_shop(db: &impl ConnectionTrait, id: &str) -> AppResult<Option<shop::Model>> {
    Ok(shop::Entity::find_by_id(id.to_owned()).one(db).await?)
}

/// The shops of these ids.
pub async fn find_many_any_shop(db: &impl ConnectionTrait, ids: &[String]) -> AppResult<Vec<shop::Model>> {
    Ok(shop::Entity::find().filter(shop::Column::Id.is_in(ids.iter().map(String::as_str))).all(db).await?)
}

/// How many shops there are.
pub async fn count_all(db: &impl ConnectionTrait) -> AppResult<u64> {
    Ok(shop::Entity::find().count(db).await?)
}
