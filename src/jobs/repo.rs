//! Queries on `scheduled_jobs`: scheduling, finding due jobs, claiming, counting failures.
use chrono::{DateTime, Utc};
use entity::scheduled_job;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::{
    domain::vocab::{JobKind, JobStatus},
    error::AppResult,
};

/// Schedules `kind` for a payout at `due_at`.
pub async fn schedule(
    db: &impl ConnectionTrait,
    kind: JobKind,
    payout_id: i64,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    insert(db, kind, Some(payout_id), None, due_at, now).await
}

/// A job of `kind` for a payout, already leased to the caller until `until` with one attempt
/// counted (as [`lease`] would leave it), for [`schedule_all`]: the caller runs it right after
/// the commit, and if it never does, the lease runs out and a runner takes the job as a
/// repeated attempt.
pub fn leased(kind: JobKind, payout_id: i64, until: DateTime<Utc>, now: DateTime<Utc>) -> scheduled_job::ActiveModel {
    pending(kind, Some(payout_id), None, until, 1, now)
}

/// The row [`schedule`] writes, for [`schedule_all`].
pub fn of_payout(
    kind: JobKind,
    payout_id: i64,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> scheduled_job::ActiveModel {
    pending(kind, Some(payout_id), None, due_at, 0, now)
}

/// Writes several job rows in one statement, and returns them as stored (in no given order).
pub async fn schedule_all(
    db: &impl ConnectionTrait,
    rows: Vec<scheduled_job::ActiveModel>,
) -> AppResult<Vec<scheduled_job::Model>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    Ok(scheduled_job::Entity::insert_many(rows).exec_with_returning(db).await?)
}

/// Schedules the expiry of an account card at `due_at`.
pub async fn schedule_card(
    db: &impl ConnectionTrait,
    card_id: i64,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    insert(db, JobKind::CardExpiry, None, Some(card_id), due_at, now).await
}

/// A pending job's row, due at `due_at` with `attempts` counted.
fn pending(
    kind: JobKind,
    payout_id: Option<i64>,
    card_id: Option<i64>,
    due_at: DateTime<Utc>,
    attempts: i32,
    now: DateTime<Utc>,
) -> scheduled_job::ActiveModel {
    scheduled_job::ActiveModel {
        kind: Set(kind),
        payout_id: Set(payout_id),
        card_id: Set(card_id),
        due_at: Set(due_at),
        status: Set(JobStatus::Pending),
        attempts: Set(attempts),
        created_at: Set(now),
        ..Default::default()
    }
}

async fn insert(
    db: &impl ConnectionTrait,
    kind: JobKind,
    payout_id: Option<i64>,
    card_id: Option<i64>,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let job = pending(kind, payout_id, card_id, due_at, 0, now);
    scheduled_job::Entity::insert(job).exec_without_returning(db).await?;
    Ok(())
}

/// Up to `limit` pending jobs due by `now`, the earliest first.
pub async fn due(db: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> AppResult<Vec<scheduled_job::Model>> {
    Ok(scheduled_job::Entity::find()
        .filter(scheduled_job::Column::Status.eq(JobStatus::Pending))
        .filter(scheduled_job::Column::DueAt.lte(now))
        .order_by_asc(scheduled_job::Column::DueAt)
        .order_by_asc(scheduled_job::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Claims a pending job (`PENDING` → `DONE` at `at`, compare-and-set): `false` if another
/// runner had it.
pub async fn claim(db: &impl ConnectionTrait, job: &scheduled_job::Model, at: DateTime<Utc>) -> AppResult<bool> {
    let claimed = scheduled_job::Entity::update_many()
        .set(scheduled_job::ActiveModel {
            status: Set(JobStatus::Done),
            attempts: Set(job.attempts + 1),
            done_at: Set(Some(at)),
            ..Default::default()
        })
        .filter(scheduled_job::Column::Id.eq(job.id))
        .filter(scheduled_job::Column::Status.eq(JobStatus::Pending))
        .exec(db)
        .await?;
    Ok(claimed.rows_affected > 0)
}

/// Records a failed attempt of a pending job: still `PENDING` (due again at `retry_at`), or
/// parked as `FAILED`.
pub async fn record_failure(
    db: &impl ConnectionTrait,
    job_id: i64,
    attempts: i32,
    status: JobStatus,
    retry_at: DateTime<Utc>,
    error: String,
) -> AppResult<()> {
    scheduled_job::Entity::update_many()
        .set(scheduled_job::ActiveModel {
            status: Set(status),
            attempts: Set(attempts),
            due_at: Set(retry_at),
            last_error: Set(Some(error)),
            ..Default::default()
        })
        .filter(scheduled_job::Column::Id.eq(job_id))
        .filter(scheduled_job::Column::Status.eq(JobStatus::Pending))
        .exec(db)
        .await?;
    Ok(())
}

/// The pending job of `kind` for a payout, if any.
pub async fn pending_of(
    db: &impl ConnectionTrait,
    kind: JobKind,
    payout_id: i64,
) -> AppResult<Option<scheduled_job::Model>> {
    Ok(scheduled_job::Entity::find()
        .filter(scheduled_job::Column::Kind.eq(kind))
        .filter(scheduled_job::Column::PayoutId.eq(payout_id))
        .filter(scheduled_job::Column::Status.eq(JobStatus::Pending))
        .order_by_asc(scheduled_job::Column::Id)
        .one(db)
        .await?)
}

/// Leases a pending job that is due by `now` until `until` and counts the attempt
/// (compare-and-set on its attempts): `false` if another runner leased it first.
pub async fn lease(
    db: &impl ConnectionTrait,
    job: &scheduled_job::Model,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> AppResult<bool> {
    let leased = scheduled_job::Entity::update_many()
        .set(scheduled_job::ActiveModel { due_at: Set(until), attempts: Set(job.attempts + 1), ..Default::default() })
        .filter(scheduled_job::Column::Id.eq(job.id))
        .filter(scheduled_job::Column::Status.eq(JobStatus::Pending))
        .filter(scheduled_job::Column::Attempts.eq(job.attempts))
        .filter(scheduled_job::Column::DueAt.lte(now))
        .exec(db)
        .await?;
    Ok(leased.rows_affected == 1)
}

/// Marks a job done at `at`.
pub async fn mark_done(db: &impl ConnectionTrait, job_id: i64, at: DateTime<Utc>) -> AppResult<()> {
    scheduled_job::Entity::update_many()
        .set(scheduled_job::ActiveModel { status: Set(JobStatus::Done), done_at: Set(Some(at)), ..Default::default() })
        .filter(scheduled_job::Column::Id.eq(job_id))
        .filter(scheduled_job::Column::Status.eq(JobStatus::Pending))
        .exec(db)
        .await?;
    Ok(())
}
