//! The job runner: claims due jobs and runs each in one transaction (see [`super`]).
use std::{collections::HashSet, time::Duration};

use entity::scheduled_job;

use super::repo;
use crate::{
    approvals, cards, db,
    domain::vocab::{JobKind, JobStatus},
    error::{AppError, AppResult},
    payouts::{delivery, lifecycle},
    state::AppState,
};

/// A job (other than one that moves money) failing this many times is parked as `FAILED`.
const MAX_ATTEMPTS: i32 = 8;

/// Runs every job due by the clock's now — including jobs that running others made due —
/// and returns how many ran.
pub async fn run_due(state: &AppState) -> AppResult<usize> {
    let mut ran = 0;
    let mut tried: HashSet<i64> = HashSet::new();
    loop {
        let now = state.clock.now();
        let due: Vec<scheduled_job::Model> =
            repo::due(&state.db, now, 200).await?.into_iter().filter(|j| !tried.contains(&j.id)).collect();
        if due.is_empty() {
            cards::notify::deliver_pending(state.deps(), &*state.notifier).await?;
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
/// a close or a refund when it was due, not when it happened to run. `DELIVER` jobs call the
/// payment channel, outside any transaction ([`delivery::run`]); a `CLOSE` asks the channel to
/// cancel first ([`delivery::before_close`]).
async fn run_one(state: &AppState, job: &scheduled_job::Model) -> AppResult<bool> {
    let missing = |what: &str| AppError::Internal(format!("job {} has no {what}", job.id));
    let payout = || job.payout_id.ok_or_else(|| missing("payout"));
    match job.kind {
        JobKind::Deliver => return delivery::run(state.deps(), state.payments(), job).await,
        JobKind::Close => delivery::before_close(state.deps(), state.payments(), payout()?).await?,
        _ => {}
    }
    let now = job.due_at.min(state.clock.now());
    let shop = match (job.payout_id, job.card_id) {
        (Some(payout), _) => db::ShopOf::Payout(payout),
        (None, Some(card)) => db::ShopOf::Card(card),
        (None, None) => db::ShopOf::Shop(""),
    };
    let turn = state.write_gate.enter().await;
    let tx = db::begin_shop_write(&state.db, shop).await?;
    if !repo::claim(&tx, job, now).await? {
        return Ok(false);
    }
    match job.kind {
        JobKind::RechargeDeadline => lifecycle::expire_recharge(&tx, payout()?, now).await?,
        JobKind::Close => lifecycle::close(&tx, payout()?, now, state.config.timezone).await?,
        JobKind::Refund => lifecycle::refund(&tx, payout()?, now).await?,
        JobKind::ApprovalExpiry => approvals::service::expire(&tx, payout()?, now).await?,
        JobKind::CardExpiry => cards::repo::expire(&tx, job.card_id.ok_or_else(|| missing("card"))?).await?,
        JobKind::Deliver => {}
    }
    tx.commit().await?;
    drop(turn);
    state.write_gate.committed();
    metrics::counter!("jobs_run_total", "kind" => job.kind.as_str()).increment(1);
    Ok(true)
}

/// Counts a failed attempt and backs off (1 s, 2 s, 4 s… up to 5 min). A job that moves money
/// (`DELIVER`, `CLOSE`, `REFUND`) is never given up; any other is parked as `FAILED` (and
/// logged) after [`MAX_ATTEMPTS`].
async fn record_failure(state: &AppState, job: &scheduled_job::Model, error: &AppError) -> AppResult<()> {
    let attempts = job.attempts + 1;
    let money = matches!(job.kind, JobKind::Deliver | JobKind::Close | JobKind::Refund);
    let status = if attempts >= MAX_ATTEMPTS && !money { JobStatus::Failed } else { JobStatus::Pending };
    let backoff = chrono::TimeDelta::seconds(1 << attempts.clamp(0, 8)).min(chrono::TimeDelta::minutes(5));
    tracing::warn!(job = job.id, kind = %job.kind, attempts, error = ?error, "job failed");
    let retry_at = state.clock.now() + backoff;
    repo::record_failure(&state.db, job.id, attempts, status, retry_at, format!("{error:?}")).await
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
