//! Durable deadlines: rows of `scheduled_jobs`, each run once when due. A job is claimed and
//! run in one transaction: the claim is a compare-and-set of its status (`PENDING` → `DONE`),
//! so several instances never run one twice (on PostgreSQL the second claimer waits for the
//! first's commit, then finds nothing to claim), and a crash before the commit leaves the job
//! pending for the next run. A restart loses nothing: the deadlines live in the database.
//!
//! This module is what use cases call to schedule a deadline; [`runner`] runs them (wiring).
pub mod runner;

use chrono::{DateTime, Utc};
use entity::scheduled_job;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::error::AppResult;

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
