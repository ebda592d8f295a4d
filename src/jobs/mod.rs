//! Durable deadlines: rows of `scheduled_jobs`, each run once when due. A job is claimed and
//! run in one transaction: the claim is a compare-and-set of its status (`PENDING` → `DONE`),
//! so several instances never run one twice (on PostgreSQL the second claimer waits for the
//! first's commit, then finds nothing to claim), and a crash before the commit leaves the job
//! pending for the next run. A restart loses nothing: the deadlines live in the database.
use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, Utc};
use entity::scheduled_job;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::{
    app::AppState,
    approvals, cards, db,
    error::{AppError, AppResult},
    payouts::lifecycle::{self, AfterCommit},
};

/// A job failing this many times is parked as `FAILED` (and logged) instead of retried.
const MAX_ATTEMPTS: i32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// A scan payout's recharge window ends.
    RechargeDeadline,
    /// 7 days after commit: close a payout still PAYING or FAILED.
    Close,
    /// 3 business days after closing: credit the amount back.
    Refund,
    /// 7 days after an approval request: reject it if still undecided.
    ApprovalExpiry,
    /// 72 h after an account card was sent: expire it if still open.
    CardExpiry,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::RechargeDeadline => "RECHARGE_DEADLINE",
            JobKind::Close => "CLOSE",
            JobKind::Refund => "REFUND",
            JobKind::ApprovalExpiry => "APPROVAL_EXPIRY",
            JobKind::CardExpiry => "CARD_EXPIRY",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "RECHARGE_DEADLINE" => JobKind::RechargeDeadline,
            "CLOSE" => JobKind::Close,
            "REFUND" => JobKind::Refund,
            "APPROVAL_EXPIRY" => JobKind::ApprovalExpiry,
            "CARD_EXPIRY" => JobKind::CardExpiry,
            _ => return None,
        })
    }
}

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

/// Schedules the expiry of an account card at `due_at`.
pub async fn schedule_card(
    db: &impl ConnectionTrait,
    card_id: i64,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    insert(db, JobKind::CardExpiry, None, Some(card_id), due_at, now).await
}

async fn insert(
    db: &impl ConnectionTrait,
    kind: JobKind,
    payout_id: Option<i64>,
    card_id: Option<i64>,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let job = scheduled_job::ActiveModel {
        kind: Set(kind.as_str().to_owned()),
        payout_id: Set(payout_id),
        card_id: Set(card_id),
        due_at: Set(due_at),
        status: Set("PENDING".to_owned()),
        attempts: Set(0),
        created_at: Set(now),
        ..Default::default()
    };
    scheduled_job::Entity::insert(job).exec_without_returning(db).await?;
    Ok(())
}

/// Runs every job due by the clock's now — including jobs that running others made due —
/// and returns how many ran.
pub async fn run_due(state: &AppState) -> AppResult<usize> {
    let mut ran = 0;
    let mut tried: HashSet<i64> = HashSet::new();
    loop {
        let now = state.clock.now();
        let due: Vec<scheduled_job::Model> = scheduled_job::Entity::find()
            .filter(scheduled_job::Column::Status.eq("PENDING"))
            .filter(scheduled_job::Column::DueAt.lte(now))
            .order_by_asc(scheduled_job::Column::DueAt)
            .order_by_asc(scheduled_job::Column::Id)
            .limit(200)
            .all(&state.db)
            .await?
            .into_iter()
            .filter(|j| !tried.contains(&j.id))
            .collect();
        if due.is_empty() {
            cards::notify::deliver_pending(state).await?;
            return Ok(ran);
        }
        for job in due {
            tried.insert(job.id);
            match run_one(state, &job).await {
                Ok(true) => ran += 1,
                Ok(false) => {}
                Err(e) => record_failure(state, &job, &e).await?,
            }
        }
    }
}

/// Claims and runs one job in one transaction; `false` if another runner had it. The job's
/// effects are dated at its due time, so a late run (a restart, a clock moved in tests) dates
/// a close or a refund when it was due, not when it happened to run.
async fn run_one(state: &AppState, job: &scheduled_job::Model) -> AppResult<bool> {
    let now = job.due_at.min(state.clock.now());
    let turn = state.write_gate.enter().await;
    let tx = db::begin_write(&state.db).await?;
    let claimed = scheduled_job::Entity::update_many()
        .set(scheduled_job::ActiveModel {
            status: Set("DONE".to_owned()),
            attempts: Set(job.attempts + 1),
            done_at: Set(Some(now)),
            ..Default::default()
        })
        .filter(scheduled_job::Column::Id.eq(job.id))
        .filter(scheduled_job::Column::Status.eq("PENDING"))
        .exec(&tx)
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(false);
    }
    let missing = |what: &str| AppError::Internal(format!("job {} has no {what}", job.id));
    let payout = || job.payout_id.ok_or_else(|| missing("payout"));
    let after = match JobKind::parse(&job.kind) {
        Some(JobKind::RechargeDeadline) => lifecycle::expire_recharge(&tx, payout()?, now).await?,
        Some(JobKind::Close) => lifecycle::close(&tx, payout()?, now, state.config.timezone).await?,
        Some(JobKind::Refund) => lifecycle::refund(&tx, payout()?, now).await?,
        Some(JobKind::ApprovalExpiry) => approvals::service::expire(&tx, payout()?, now).await?,
        Some(JobKind::CardExpiry) => cards::service::expire(&tx, job.card_id.ok_or_else(|| missing("card"))?).await?,
        None => return Err(AppError::Internal(format!("unknown job kind {}", job.kind))),
    };
    tx.commit().await?;
    drop(turn);
    metrics::counter!("jobs_run_total", "kind" => job.kind.clone()).increment(1);
    apply(state, after).await;
    Ok(true)
}

async fn apply(state: &AppState, after: AfterCommit) {
    if let Some(payout) = after.cancel_transfer {
        state.gateway.cancel(payout).await;
    }
}

/// Counts a failed attempt; parks the job as `FAILED` after [`MAX_ATTEMPTS`].
async fn record_failure(state: &AppState, job: &scheduled_job::Model, error: &AppError) -> AppResult<()> {
    let attempts = job.attempts + 1;
    let status = if attempts >= MAX_ATTEMPTS { "FAILED" } else { "PENDING" };
    tracing::warn!(job = job.id, kind = %job.kind, attempts, error = ?error, "job failed");
    scheduled_job::Entity::update_many()
        .set(scheduled_job::ActiveModel {
            status: Set(status.to_owned()),
            attempts: Set(attempts),
            last_error: Set(Some(format!("{error:?}"))),
            ..Default::default()
        })
        .filter(scheduled_job::Column::Id.eq(job.id))
        .filter(scheduled_job::Column::Status.eq("PENDING"))
        .exec(&state.db)
        .await?;
    Ok(())
}

/// The worker of `serve`: runs due jobs every second (not with the test clock, whose jobs run
/// when it is advanced).
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
