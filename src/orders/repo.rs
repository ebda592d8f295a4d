//! Order and platform-compensation queries; merchant reads go through [`ShopScope`].
use entity::{order, platform_compensation};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::{
    auth::ShopScope,
    error::AppResult,
    keyset::{Keyset, ListOrder, Page, PageRequest},
};

/// Every order query a merchant can make starts here.
pub fn in_shop(scope: &ShopScope) -> Select<order::Entity> {
    order::Entity::find().filter(order::Column::ShopId.eq(scope.id()))
}

#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub order_sn: Option<String>,
    pub goods_id: Option<String>,
    pub grouped_only: bool,
}

fn filtered(scope: &ShopScope, filter: &OrderFilter) -> Select<order::Entity> {
    let mut q = in_shop(scope);
    if let Some(sn) = &filter.order_sn {
        q = q.filter(order::Column::OrderSn.eq(sn.as_str()));
    }
    if let Some(goods) = &filter.goods_id {
        q = q.filter(order::Column::GoodsId.eq(goods.as_str()));
    }
    if filter.grouped_only {
        q = q.filter(order::Column::GroupedAt.is_not_null());
    }
    q
}

pub async fn find_in_shop(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    order_sn: &str,
) -> AppResult<Option<order::Model>> {
    Ok(in_shop(scope).filter(order::Column::OrderSn.eq(order_sn)).one(db).await?)
}

/// A page of the shop's orders, newest synced first (by id), either way.
pub async fn page(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    filter: &OrderFilter,
    page: PageRequest,
    probe: bool,
) -> AppResult<Page<order::Model>> {
    Keyset::new(order::Column::Id, ListOrder::Descending).page(db, filtered(scope, filter), page, probe).await
}

pub async fn count(db: &impl ConnectionTrait, scope: &ShopScope, filter: &OrderFilter) -> AppResult<u64> {
    Ok(filtered(scope, filter).count(db).await?)
}

/// Any shop's order: for the platform's service calls only.
pub async fn find_any_shop(db: &impl ConnectionTrait, order_sn: &str) -> AppResult<Option<order::Model>> {
    Ok(order::Entity::find().filter(order::Column::OrderSn.eq(order_sn)).lock_exclusive().one(db).await?)
}

/// The platform's compensations on these orders, oldest first.
pub async fn compensations_of(
    db: &impl ConnectionTrait,
    order_sns: &[String],
) -> AppResult<Vec<platform_compensation::Model>> {
    Ok(platform_compensation::Entity::find()
        .filter(platform_compensation::Column::OrderSn.is_in(order_sns.iter().map(String::as_str)))
        .order_by_asc(platform_compensation::Column::At)
        .order_by_asc(platform_compensation::Column::Id)
        .all(db)
        .await?)
}

/// The orders of these numbers (any shop: callers pass numbers reached through a scope).
pub async fn find_many_any_shop(db: &impl ConnectionTrait, order_sns: &[String]) -> AppResult<Vec<order::Model>> {
    Ok(order::Entity::find().filter(order::Column::OrderSn.is_in(order_sns.iter().map(String::as_str))).all(db).await?)
}

/// The compensation the platform recorded under `reference`.
pub async fn compensation_by_reference(
    db: &impl ConnectionTrait,
    reference: &str,
) -> AppResult<Option<platform_compensation::Model>> {
    Ok(platform_compensation::Entity::find()
        .filter(platform_compensation::Column::Reference.eq(reference))
        .one(db)
        .await?)
}
