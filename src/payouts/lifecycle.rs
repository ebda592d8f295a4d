//! What happens to a payout after its creation (rules.md "Statuses"): the one transition
//! function, transfer results, and the durable deadlines (recharge window, close after 7
//! days, refund after 3 business days). Handing transfers to the channel is
//! [`super::delivery`]'s; scan-to-pay is [`super::recharge`]'s.
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::{payout, scheduled_job};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseTransaction};

use super::repo::{self, NewTransition};
use crate::{
    cards,
    db::{self, Deps},
    domain::{
        actor::Actor,
        payout as rules,
        vocab::{EntryKind, JobKind, PayoutStatus, RefundStatus, TransferFailureKind},
    },
    error::{AppError, AppResult},
    jobs,
    ledger::repo::{self as ledger, NewEntry},
};

/// A status change: who, when, why.
pub struct Change<'a> {
    pub to: PayoutStatus,
    pub at: DateTime<Utc>,
    pub actor: Actor<'a>,
    pub note: Option<&'a str>,
}

/// Moves `payout` to `change.to` if the state machine allows it (`INVALID_STATE` otherwise,
/// nothing changed), applying `edit` to the row, and records the transition — all in `tx`.
/// The update is a compare-and-set on the status, so a concurrent change cannot be lost.
pub async fn transition(
    tx: &DatabaseTransaction,
    payout: &payout::Model,
    change: Change<'_>,
    edit: impl FnOnce(&mut payout::ActiveModel),
) -> AppResult<payout::Model> {
    let from = payout.status;
    if !rules::may_transition(from, change.to) {
        return Err(AppError::InvalidState(format!("a {} payout cannot become {}", from.as_str(), change.to.as_str())));
    }
    let mut model = payout::ActiveModel { status: Set(change.to), updated_at: Set(change.at), ..Default::default() };
    if change.to == PayoutStatus::Paying {
        model.transfer_key = Set(Some(new_transfer_key()));
    }
    edit(&mut model);
    let Some(saved) = repo::update_if_status(tx, payout.id, from, model).await? else {
        return Err(AppError::Contention);
    };
    super::totals::record(tx, Some(payout), &saved).await?;
    repo::publish_transition(
        tx,
        NewTransition {
            payout: &saved,
            from: Some(from),
            to: change.to,
            at: change.at,
            actor: change.actor,
            note: change.note,
        },
    )
    .await?;
    if change.to == PayoutStatus::Paying {
        schedule_delivery(tx, saved.id, change.at).await?;
    }
    Ok(saved)
}

/// A fresh idempotency key for one delivery attempt (stored on the payout as it enters
/// `PAYING`).
pub fn new_transfer_key() -> String {
    format!("tk-{}", uuid::Uuid::new_v4().simple())
}

/// The `DELIVER` job of a payout that just entered `PAYING`, in the same transaction: the
/// guarantee that its transfer is handed to the channel (see `payouts::delivery`).
pub async fn schedule_delivery(tx: &impl ConnectionTrait, payout_id: i64, now: DateTime<Utc>) -> AppResult<()> {
    jobs::schedule(tx, JobKind::Deliver, payout_id, now, now).await
}

/// Loads a payout for a change, locked (PostgreSQL) inside `tx`.
pub(crate) async fn locked(tx: &DatabaseTransaction, id: i64) -> AppResult<payout::Model> {
    repo::find_for_update_any_shop(tx, id).await?.ok_or_else(|| AppError::not_found(format!("payout {id}")))
}

/// [`locked`] with its shop's name, for [`settle`]'s notices: one statement.
pub(crate) async fn locked_named(tx: &DatabaseTransaction, id: i64) -> AppResult<(payout::Model, String)> {
    repo::find_for_update_with_shop_name(tx, id).await?.ok_or_else(|| AppError::not_found(format!("payout {id}")))
}

/// Schedules the deadlines of a payout that has just been created or committed: a request's
/// 7-day expiry, a scan payout's recharge window, and the close 7 days after commit.
pub async fn schedule_deadlines(tx: &impl ConnectionTrait, p: &payout::Model, now: DateTime<Utc>) -> AppResult<()> {
    jobs::repo::schedule_all(tx, deadline_jobs(p, now)).await?;
    Ok(())
}

/// The jobs [`schedule_deadlines`] writes for `p`, to write with others in one statement.
pub fn deadline_jobs(p: &payout::Model, now: DateTime<Utc>) -> Vec<scheduled_job::ActiveModel> {
    if p.status == PayoutStatus::PendingApproval {
        return vec![jobs::repo::of_payout(
            JobKind::ApprovalExpiry,
            p.id,
            p.created_at + rules::APPROVAL_EXPIRES_AFTER,
            now,
        )];
    }
    let Some(committed) = p.committed_at else {
        return Vec::new();
    };
    let mut due = Vec::with_capacity(2);
    if let Some(deadline) = p.recharge_deadline {
        due.push(jobs::repo::of_payout(JobKind::RechargeDeadline, p.id, deadline, now));
    }
    due.push(jobs::repo::of_payout(JobKind::Close, p.id, committed + rules::CLOSE_AFTER, now));
    due
}

/// A transfer's outcome, as the channel or the platform reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferResult {
    Succeeded,
    Failed { kind: TransferFailureKind, reason: Option<String> },
}

/// Records a transfer's result in `tx`: `PAYING` → `SUCCEEDED` or `FAILED`, with the buyer's
/// notice (and account card), which name the shop (`shop_name`, read with the payout by
/// [`locked_named`]). Anything but `PAYING` is `INVALID_STATE`.
pub async fn settle(
    tx: &DatabaseTransaction,
    (p, shop_name): (&payout::Model, &str),
    result: &TransferResult,
    now: DateTime<Utc>,
) -> AppResult<payout::Model> {
    if p.status != PayoutStatus::Paying {
        return Err(AppError::InvalidState(format!("a {} payout has no transfer under way", p.status)));
    }
    let saved = match result {
        TransferResult::Succeeded => {
            let change = Change { to: PayoutStatus::Succeeded, at: now, actor: Actor::Platform, note: None };
            transition(tx, p, change, |m| m.succeeded_at = Set(Some(now))).await?
        }
        TransferResult::Failed { kind, reason } => {
            let change = Change { to: PayoutStatus::Failed, at: now, actor: Actor::Platform, note: reason.as_deref() };
            transition(tx, p, change, |m| {
                m.failure_kind = Set(Some(*kind));
                m.failure_reason = Set(reason.clone());
            })
            .await?
        }
    };
    cards::dispatch::on_transfer_result(tx, &saved, shop_name, now).await?;
    Ok(saved)
}

/// The platform reports a transfer's result (`reportTransferResult`, the manual channel):
/// `PAYING` → `SUCCEEDED` or `FAILED`. Anything else is `INVALID_STATE` and changes nothing.
pub async fn report_transfer(deps: Deps<'_>, id: i64, result: TransferResult) -> AppResult<payout::Model> {
    deps.write_batched(db::ShopOf::Payout(id), (id, result), |tx, (now, _), (id, result)| {
        Box::pin(async move {
            let (p, shop_name) = locked_named(tx, *id).await?;
            settle(tx, (&p, &shop_name), result, now).await
        })
    })
    .await
}

/// `RECHARGE_DEADLINE`: a scan payout not recharged within 1 h fails.
pub async fn expire_recharge(tx: &DatabaseTransaction, id: i64, now: DateTime<Utc>) -> AppResult<()> {
    let p = locked(tx, id).await?;
    if p.status == PayoutStatus::PendingRecharge {
        let change = Change {
            to: PayoutStatus::RechargeFailed,
            at: now,
            actor: Actor::System,
            note: Some("not recharged within 1 h"),
        };
        transition(tx, &p, change, |_| {}).await?;
    }
    Ok(())
}

/// `CLOSE`: a payout still `PAYING` or `FAILED` 7 days after its commit closes; its open card
/// expires and its refund is scheduled 3 business days later. A `PAYING` payout's transfer was
/// cancelled at the channel first (`delivery::before_close`): only what was never paid closes.
pub async fn close(tx: &DatabaseTransaction, id: i64, now: DateTime<Utc>, default_tz: Tz) -> AppResult<()> {
    let p = locked(tx, id).await?;
    if !matches!(p.status, PayoutStatus::Paying | PayoutStatus::Failed) {
        return Ok(());
    }
    let shop = crate::shops::repo::find_any_shop(tx, &p.shop_id).await?;
    let tz = shop.map_or(default_tz, |s| crate::domain::shop::zone_of(&s.time_zone, default_tz));
    let refund_due = rules::add_business_days(now, tz, rules::REFUND_BUSINESS_DAYS);
    let change =
        Change { to: PayoutStatus::Closed, at: now, actor: Actor::System, note: Some("closed 7 days after commit") };
    transition(tx, &p, change, |m| {
        m.closed_at = Set(Some(now));
        m.refund_status = Set(RefundStatus::Pending);
        m.refund_due_at = Set(Some(refund_due));
    })
    .await?;
    cards::repo::expire_open(tx, id).await?;
    jobs::schedule(tx, JobKind::Refund, id, refund_due, now).await?;
    Ok(())
}

/// `REFUND`: a closed payout's amount returns to the shop's balance, once.
pub async fn refund(tx: &DatabaseTransaction, id: i64, now: DateTime<Utc>) -> AppResult<()> {
    let p = locked(tx, id).await?;
    if p.refund_status != RefundStatus::Pending {
        return Ok(());
    }
    let credit = NewEntry {
        shop_id: &p.shop_id,
        kind: EntryKind::RefundCredit,
        amount_fen: p.amount_fen,
        payout_id: Some(p.id),
        reference: None,
        at: now,
    };
    ledger::append(tx, credit).await?.ok_or_else(|| AppError::Internal("a credit cannot overdraw".into()))?;
    let refunded = payout::ActiveModel {
        refund_status: Set(RefundStatus::Refunded),
        refunded_at: Set(Some(now)),
        updated_at: Set(now),
        ..Default::default()
    };
    if !repo::update_if_refund(tx, id, RefundStatus::Pending, refunded).await? {
        return Err(AppError::Contention);
    }
    Ok(())
}
