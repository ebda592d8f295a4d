//! Reading the outbox (the transitions table) by event id.
use chrono::{DateTime, Utc};
use entity::payout_transition;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};

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

/// Called by the transaction that is about to insert a transition of `shop`. On PostgreSQL:
/// queues the `pg_notify` that wakes the publishers of every instance at the commit. The transaction must have
/// begun with [`crate::db::begin_shop_write`] for that shop (its events' order depends on
/// it); debug builds check that it holds the shop's lock, so a test that reaches a
/// transition through another kind of transaction fails.
pub async fn wake_publishers_at_commit(db: &impl ConnectionTrait, shop: &str) -> AppResult<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let notify = format!("SELECT pg_notify('{}', '')", super::CHANNEL);
    if !cfg!(debug_assertions) {
        db.execute_raw(Statement::from_string(DbBackend::Postgres, notify)).await?;
        return Ok(());
    }
    let sql = format!(
        "{notify}, EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() \
         AND granted AND objsubid = 1 AND (classid::bigint << 32 | objid::bigint) = hashtextextended($1, $2)) AS locked"
    );
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [shop.into(), crate::db::SHOP_LOCK_SEED.into()],
        ))
        .await?;
    let locked = row.map(|r| r.try_get::<bool>("", "locked")).transpose()?.unwrap_or(false);
    if !locked {
        return Err(crate::error::AppError::Internal(format!(
            "a transition of shop {shop} recorded outside db::begin_shop_write"
        )));
    }
    Ok(())
}

/// Where a publisher is in the outbox. On SQLite an event id: ids are in commit order there
/// (one writer at a time). On PostgreSQL the writing transaction's id and the event id: the
/// publisher reads in that order, and only events of transactions older than the oldest one
/// still running, so no event can later appear behind the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    Id(i64),
    Tx { txid: i64, id: i64 },
}

/// Where a publisher starting now begins: after the newest event (SQLite), or at the oldest
/// running transaction (PostgreSQL; events of older transactions are all committed).
pub async fn start(db: &impl ConnectionTrait) -> AppResult<Cursor> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Cursor::Id(last_id(db).await?));
    }
    let sql = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin";
    let row = db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await?;
    let xmin = row.map(|r| r.try_get::<i64>("", "xmin")).transpose()?.unwrap_or(0);
    Ok(Cursor::Tx { txid: xmin, id: 0 })
}

/// Up to `limit` events after `cursor`, in publishing order, with the cursor after them, and
/// whether committed events wait beyond the horizon (a transaction older than theirs is still
/// running: ask again soon).
pub async fn next(
    db: &impl ConnectionTrait,
    cursor: Cursor,
    limit: u64,
) -> AppResult<(Vec<payout_transition::Model>, Cursor, bool)> {
    let (txid, id) = match cursor {
        Cursor::Id(id) => {
            let events = after(db, id, limit).await?;
            let last = events.last().map_or(id, |e| e.id);
            return Ok((events, Cursor::Id(last), false));
        }
        Cursor::Tx { txid, id } => (txid, id),
    };
    let sql = "SELECT t.*, t.txid::text::bigint AS txid_n, \
               t.txid >= pg_snapshot_xmin(pg_current_snapshot()) AS beyond \
               FROM payout_transitions t WHERE (t.txid, t.id) > ($1::text::xid8, $2) \
               ORDER BY t.txid, t.id LIMIT $3";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [txid.to_string().into(), id.into(), limit.into()],
        ))
        .await?;
    let mut events = Vec::with_capacity(rows.len());
    let mut cursor = Cursor::Tx { txid, id };
    let mut waiting = false;
    for row in rows {
        if row.try_get::<bool>("", "beyond")? {
            waiting = true;
            break;
        }
        let event = payout_transition::Model::from_query_result(&row, "")?;
        cursor = Cursor::Tx { txid: row.try_get::<i64>("", "txid_n")?, id: event.id };
        events.push(event);
    }
    Ok((events, cursor, waiting))
}
