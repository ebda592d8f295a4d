//! Durable deadlines: rows of `scheduled_jobs`, run once when due. A job is claimed with a
//! compare-and-set on its status, so several instances never run one twice. The job kinds
//! (recharge deadline, close, refund, card expiry, approval expiry) arrive with the payout
//! lifecycle; until then a due job of an unknown kind is marked `FAILED`, never lost.
use std::time::Duration;

use entity::scheduled_job;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::{app::AppState, error::AppResult};

/// Runs every job due by the clock's now; returns how many ran.
pub async fn run_due(state: &AppState) -> AppResult<usize> {
    let now = state.clock.now();
    let due = scheduled_job::Entity::find()
        .filter(scheduled_job::Column::Status.eq("PENDING"))
        .filter(scheduled_job::Column::DueAt.lte(now))
        .order_by_asc(scheduled_job::Column::DueAt)
        .order_by_asc(scheduled_job::Column::Id)
        .limit(500)
        .all(&state.db)
        .await?;
    let mut ran = 0;
    for job in due {
        let claimed = scheduled_job::Entity::update_many()
            .set(scheduled_job::ActiveModel {
                status: Set("RUNNING".to_owned()),
                attempts: Set(job.attempts + 1),
                ..Default::default()
            })
            .filter(scheduled_job::Column::Id.eq(job.id))
            .filter(scheduled_job::Column::Status.eq("PENDING"))
            .exec(&state.db)
            .await?;
        if claimed.rows_affected == 0 {
            continue;
        }
        let (status, error) = ("FAILED", Some(format!("unknown job kind {}", job.kind)));
        tracing::warn!(job = job.id, kind = %job.kind, "job finished as {status}");
        scheduled_job::Entity::update_many()
            .set(scheduled_job::ActiveModel {
                status: Set(status.to_owned()),
                last_error: Set(error),
                done_at: Set(Some(now)),
                ..Default::default()
            })
            .filter(scheduled_job::Column::Id.eq(job.id))
            .exec(&state.db)
            .await?;
        ran += 1;
    }
    Ok(ran)
}

/// The worker of `serve`: runs due jobs every second (not with the test clock, whose jobs
/// run when it is advanced).
pub async fn worker(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = run_due(&state).await {
            tracing::warn!(error = ?e, "job run failed");
        }
    }
}
