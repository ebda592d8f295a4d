//! Payout and transition queries. Merchant reads start from [`in_shop`].
use chrono::{DateTime, Utc};
use entity::{idempotency_key, payout, payout_transition, shop};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
    sea_query::{Expr, ExprTrait as _, SimpleExpr},
};

use crate::{
    auth::ShopScope,
    domain::{
        actor::Actor,
        vocab::{PayoutStatus, RefundStatus},
    },
    error::AppResult,
    keyset::{Keyset, ListOrder, Page, PageRequest},
};

pub fn in_shop(scope: &ShopScope) -> Select<payout::Entity> {
    payout::Entity::find().filter(payout::Column::ShopId.eq(scope.id()))
}

/// The history filters (rules.md "History"); every given field must match.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub order_sn: Option<String>,
    pub goods_id: Option<String>,
    pub applicant_id: Option<String>,
    /// Deducted at or after.
    pub deducted_from: Option<DateTime<Utc>>,
    /// Deducted before.
    pub deducted_to: Option<DateTime<Utc>>,
    pub statuses: Vec<PayoutStatus>,
    pub kind: Option<crate::domain::vocab::PayoutType>,
}

impl HistoryFilter {
    /// No condition: the shop's whole history.
    pub fn is_empty(&self) -> bool {
        let HistoryFilter { order_sn, goods_id, applicant_id, deducted_from, deducted_to, statuses, kind } = self;
        order_sn.is_none()
            && goods_id.is_none()
            && applicant_id.is_none()
            && deducted_from.is_none()
            && deducted_to.is_none()
            && statuses.is_empty()
            && kind.is_none()
    }
}

/// The shop's payouts the filter selects, unordered: the page, its count, its totals
/// (`reports::repo::summary`) and the CSV export all start here, so they never disagree.
pub fn history(scope: &ShopScope, f: &HistoryFilter) -> Select<payout::Entity> {
    let mut q = in_shop(scope);
    if let Some(sn) = &f.order_sn {
        q = q.filter(payout::Column::OrderSn.eq(sn.as_str()));
    }
    if let Some(goods) = &f.goods_id {
        q = q.filter(payout::Column::GoodsId.eq(goods.as_str()));
    }
    if let Some(applicant) = &f.applicant_id {
        q = q.filter(payout::Column::ApplicantId.eq(applicant.as_str()));
    }
    if let Some(from) = f.deducted_from {
        q = q.filter(payout::Column::DeductedAt.gte(from));
    }
    if let Some(to) = f.deducted_to {
        q = q.filter(payout::Column::DeductedAt.lt(to));
    }
    if !f.statuses.is_empty() {
        q = q.filter(payout::Column::Status.is_in(f.statuses.iter().map(|s| s.as_str())));
    }
    if let Some(kind) = f.kind {
        q = q.filter(payout::Column::Type.eq(kind.as_str()));
    }
    q
}

/// The history's order: newest first, by id.
pub fn history_keyset() -> Keyset<payout::Column> {
    Keyset::new(payout::Column::Id, ListOrder::Descending)
}

/// A page of the shop's history, newest first, either way (see [`crate::keyset`]); `probe`
/// also tells whether the history goes on past the cursor on the other side.
pub async fn history_page(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    filter: &HistoryFilter,
    page: PageRequest,
    probe: bool,
) -> AppResult<Page<payout::Model>> {
    let range = filter.deducted_from.is_some() || filter.deducted_to.is_some();
    history_keyset().sorting_matches(range).page(db, history(scope, filter), page, probe).await
}

pub async fn history_count(db: &impl ConnectionTrait, scope: &ShopScope, filter: &HistoryFilter) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(history(scope, filter).count(db).await?)
}

pub async fn find(db: &impl ConnectionTrait, scope: &ShopScope, id: i64) -> AppResult<Option<payout::Model>> {
    Ok(in_shop(scope).filter(payout::Column::Id.eq(id)).one(db).await?)
}

/// The payout, locked until the transaction ends (PostgreSQL).
pub async fn find_for_update_any_shop(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<payout::Model>> {
    Ok(payout::Entity::find_by_id(id).lock_exclusive().one(db).await?)
}

/// [`find_for_update_any_shop`] with its shop's name (the shop's id should it be gone), in the
/// same statement: what the buyer's notices of a transfer's result name.
pub async fn find_for_update_with_shop_name(
    db: &impl ConnectionTrait,
    id: i64,
) -> AppResult<Option<(payout::Model, String)>> {
    use sea_orm::{FromQueryResult, QueryTrait, sea_query::Query};
    let name = Query::select()
        .column((shop::Entity, shop::Column::Name))
        .from(shop::Entity)
        .and_where(Expr::col((shop::Entity, shop::Column::Id)).equals((payout::Entity, payout::Column::ShopId)))
        .to_owned();
    let select = payout::Entity::find_by_id(id)
        .lock_exclusive()
        .expr_as(Expr::SubQuery(None, Box::new(name.into())), "shop_name")
        .build(db.get_database_backend());
    let Some(row) = db.query_one_raw(select).await? else { return Ok(None) };
    let p = payout::Model::from_query_result(&row, "")?;
    let name = row.try_get::<Option<String>>("", "shop_name")?.unwrap_or_else(|| p.shop_id.clone());
    Ok(Some((p, name)))
}

/// Payouts of these ids (any shop: callers pass ids they reached through a scope).
pub async fn find_many_any_shop(db: &impl ConnectionTrait, ids: &[i64]) -> AppResult<Vec<payout::Model>> {
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
    pub actor: Actor<'a>,
    pub note: Option<&'a str>,
}

/// Records a transition in the payout's history, which is also its event: subscribers see it
/// once the transaction commits (on PostgreSQL this wakes every instance's publisher at the
/// commit; see [`crate::events`]).
pub async fn publish_transition(
    db: &impl ConnectionTrait,
    t: NewTransition<'_>,
) -> AppResult<payout_transition::Model> {
    crate::events::repo::wake_publishers_at_commit(db, &t.payout.shop_id).await?;
    let model = payout_transition::ActiveModel {
        payout_id: Set(t.payout.id),
        shop_id: Set(t.payout.shop_id.clone()),
        order_sn: Set(t.payout.order_sn.clone()),
        applicant_id: Set(t.payout.applicant_id.clone()),
        from_status: Set(t.from),
        to_status: Set(t.to),
        at: Set(t.at),
        actor: Set(t.actor.name()),
        actor_kind: Set(t.actor.kind()),
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

/// Applies `model` to the payout if it is still `from` (compare-and-set) and returns the row
/// as written; `None` when a concurrent change got there first.
pub async fn update_if_status(
    db: &impl ConnectionTrait,
    id: i64,
    from: PayoutStatus,
    model: payout::ActiveModel,
) -> AppResult<Option<payout::Model>> {
    update_if(db, id, payout::Column::Status.eq(from), model).await
}

/// Applies `model` to the payout if its refund is still `from` (compare-and-set).
pub async fn update_if_refund(
    db: &impl ConnectionTrait,
    id: i64,
    from: RefundStatus,
    model: payout::ActiveModel,
) -> AppResult<bool> {
    Ok(update_if(db, id, payout::Column::RefundStatus.eq(from), model).await?.is_some())
}

/// The compare-and-set both use: one statement, the row as written returned (`RETURNING`).
async fn update_if(
    db: &impl ConnectionTrait,
    id: i64,
    condition: SimpleExpr,
    model: payout::ActiveModel,
) -> AppResult<Option<payout::Model>> {
    let updated = payout::Entity::update_many()
        .set(model)
        .filter(payout::Column::Id.eq(id))
        .filter(condition)
        .exec_with_returning(db)
        .await?;
    Ok(updated.into_iter().next())
}

/// Any shop's payout by id (after a compare-and-set on a row the caller holds).
pub async fn find_any_shop(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<payout::Model>> {
    Ok(payout::Entity::find_by_id(id).one(db).await?)
}

/// The payout a channel transaction confirmed, if any.
pub async fn by_channel_txn(db: &impl ConnectionTrait, channel_txn_id: &str) -> AppResult<Option<payout::Model>> {
    Ok(payout::Entity::find().filter(payout::Column::ChannelTxnId.eq(channel_txn_id)).one(db).await?)
}

/// How many payouts the shop has.
pub async fn count_in_shop(db: &impl ConnectionTrait, scope: &ShopScope) -> AppResult<u64> {
    Ok(in_shop(scope).count(db).await?)
}
