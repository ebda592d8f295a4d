//! Reading the outbox (the transitions table) by event id.
use chrono::{DateTime, Utc};
use entity::payout_transition;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement};

use crate::{auth::ShopScope, error::AppResult};

pub async fn last_id(db: &impl ConnectionTrait) -> AppResult<i64> {
    let last = payout_transition::Entity::find().order_by_desc(payout_transition::Column::Id).limit(1).one(db).await?;
    Ok(last.map_or(0, |t| t.id))
}

/// Every event after `id`, in order.
pub async fn after(db: &impl ConnectionTrait, id: i64, limit: u64) -> AppResult<Vec<payout_transition::Model>> {
    Ok(payout_transition::Entity::find()
        .filter(payout_transition::Column::Id.gt(id))
        .order_by_asc(payout_transition::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Up to `limit` of a shop's events after `id`, in order: one page of a replay.
pub async fn replay_page(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    id: i64,
    limit: u64,
) -> AppResult<Vec<payout_transition::Model>> {
    Ok(payout_transition::Entity::find()
        .filter(payout_transition::Column::ShopId.eq(scope.id()))
        .filter(payout_transition::Column::Id.gt(id))
        .order_by_asc(payout_transition::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// The newest of a shop's events after `id` that is older than `since` (outside the replay
/// window), if any: a replay from `id` would have to reach back past the window.
pub async fn newest_beyond_window(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    id: i64,
    since: DateTime<Utc>,
) -> AppResult<Option<i64>> {
    let found = payout_transition::Entity::find()
        .filter(payout_transition::Column::ShopId.eq(scope.id()))
        .filter(payout_transition::Column::Id.gt(id))
        .filter(payout_transition::Column::At.lt(since))
        .order_by_desc(payout_transition::Column::Id)
        .limit(1)
        .one(db)
        .await?;
    Ok(found.map(|e| e.id))
}

/// Called by the transaction that is about to insert a transition. On PostgreSQL: takes the
/// outbox's advisory lock until the commit (event ids in commit order) and queues the
/// notification that is sent at the commit.
pub async fn before_insert(db: &impl ConnectionTrait) -> AppResult<()> {
    if db.get_database_backend() == DbBackend::Postgres {
        let sql = format!("SELECT pg_advisory_xact_lock(7270414), pg_notify('{}', '')", super::CHANNEL);
        db.execute_raw(Statement::from_string(DbBackend::Postgres, sql)).await?;
    }
    Ok(())
}
