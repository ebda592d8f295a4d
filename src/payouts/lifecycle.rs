//! What happens to a payout after its creation (rules.md "Statuses"): the one transition
//! function, scan-to-pay, transfer results, and the durable deadlines (recharge window,
//! close after 7 days, refund after 3 business days).
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::payout;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseTransaction};

use super::repo::{self, NewTransition};
use crate::{
    auth::Viewer,
    cards,
    db::{self, Ctx},
    domain::{
        money::Cny,
        payout as rules,
        vocab::{EntryKind, JobKind, PayoutStatus, RefundStatus, Role, TransferFailureKind},
    },
    error::{AppError, AppResult},
    gateway::{PaymentChannel, Transfer, TransferOutcome},
    jobs,
    ledger::repo::{self as ledger, NewEntry},
};

/// A status change: who, when, why.
pub struct Change<'a> {
    pub to: PayoutStatus,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
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
    edit(&mut model);
    if !repo::update_if_status(tx, payout.id, from, model).await? {
        return Err(AppError::Contention);
    }
    let saved = repo::find_by_id(tx, payout.id)
        .await?
        .ok_or_else(|| AppError::Internal(format!("payout {} vanished", payout.id)))?;
    repo::record_transition(
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
    Ok(saved)
}

/// Loads a payout for a change, locked (PostgreSQL) inside `tx`.
async fn locked(tx: &DatabaseTransaction, id: i64) -> AppResult<payout::Model> {
    repo::find_for_update(tx, id).await?.ok_or_else(|| AppError::not_found(format!("payout {id}")))
}

/// Schedules the deadlines of a payout that has just been created or committed: a request's
/// 7-day expiry, a scan payout's recharge window, and the close 7 days after commit.
pub async fn schedule_deadlines(tx: &impl ConnectionTrait, p: &payout::Model, now: DateTime<Utc>) -> AppResult<()> {
    if p.status == PayoutStatus::PendingApproval {
        return jobs::schedule(tx, JobKind::ApprovalExpiry, p.id, p.created_at + rules::APPROVAL_EXPIRES_AFTER, now)
            .await;
    }
    let Some(committed) = p.committed_at else {
        return Ok(());
    };
    if let Some(deadline) = p.recharge_deadline {
        jobs::schedule(tx, JobKind::RechargeDeadline, p.id, deadline, now).await?;
    }
    jobs::schedule(tx, JobKind::Close, p.id, committed + rules::CLOSE_AFTER, now).await
}

/// The QR code of a scan payout again, until its deadline. The applicant, or the admin.
pub async fn continue_recharge(cx: Ctx<'_>, viewer: &Viewer, id: i64) -> AppResult<payout::Model> {
    let scope = viewer.shop_scope()?;
    let p = repo::find(cx.db, &scope, id).await?.ok_or_else(|| AppError::not_found(format!("payout {id}")))?;
    if viewer.role != Role::Admin && viewer.sub != p.applicant_id {
        return Err(AppError::Forbidden("only the applicant or the admin continues a recharge".into()));
    }
    let open = p.status == PayoutStatus::PendingRecharge && p.recharge_deadline.is_some_and(|d| cx.clock.now() < d);
    if !open {
        return Err(AppError::InvalidState(format!(
            "a {} payout cannot be recharged",
            recharge_state(&p, cx.clock.now())
        )));
    }
    Ok(p)
}

/// The status a client would see: a recharge window that ended is `RECHARGE_FAILED` even
/// before its job has run.
fn recharge_state(p: &payout::Model, now: DateTime<Utc>) -> PayoutStatus {
    if p.status == PayoutStatus::PendingRecharge && p.recharge_deadline.is_some_and(|d| now >= d) {
        PayoutStatus::RechargeFailed
    } else {
        p.status
    }
}

/// The channel's callback for a scan recharge: `PENDING_RECHARGE` → `PAYING`, then the
/// transfer. Idempotent on `channel_txn_id`.
pub async fn confirm_recharge(
    cx: Ctx<'_>,
    channel: &dyn PaymentChannel,
    id: i64,
    channel_txn_id: &str,
) -> AppResult<payout::Model> {
    let (payout, fresh) = cx
        .write(|| async {
            let now = cx.clock.now();
            let tx = db::begin_write(cx.db).await?;
            let p = locked(&tx, id).await?;
            if p.channel_txn_id.as_deref() == Some(channel_txn_id) {
                return Ok((p, false));
            }
            let taken = repo::by_channel_txn(&tx, channel_txn_id).await?;
            if taken.is_some() {
                return Err(AppError::bad_input("channelTxnId", "this channel transaction confirmed another payout"));
            }
            if p.status != PayoutStatus::PendingRecharge || p.recharge_deadline.is_none_or(|d| now >= d) {
                return Err(AppError::InvalidState(format!("a {} payout takes no recharge", recharge_state(&p, now))));
            }
            let change =
                Change { to: PayoutStatus::Paying, at: now, actor: "platform", note: Some("recharge received") };
            let saved = transition(&tx, &p, change, |m| {
                m.deducted_at = Set(Some(now));
                m.channel_txn_id = Set(Some(channel_txn_id.to_owned()));
            })
            .await?;
            tx.commit().await?;
            Ok((saved, true))
        })
        .await?;
    if fresh {
        deliver(cx, channel, &payout, None).await;
    }
    Ok(payout)
}

/// Records a transfer's result: `PAYING` → `SUCCEEDED` or `FAILED`. Anything else is
/// `INVALID_STATE` and changes nothing.
pub async fn settle_transfer(
    cx: Ctx<'_>,
    id: i64,
    succeeded: bool,
    failure_kind: TransferFailureKind,
    failure_reason: Option<String>,
) -> AppResult<payout::Model> {
    cx.write(|| async {
        let now = cx.clock.now();
        let tx = db::begin_write(cx.db).await?;
        let p = locked(&tx, id).await?;
        if p.status != PayoutStatus::Paying {
            return Err(AppError::InvalidState(format!("a {} payout has no transfer under way", p.status)));
        }
        let saved = if succeeded {
            let change = Change { to: PayoutStatus::Succeeded, at: now, actor: "platform", note: None };
            transition(&tx, &p, change, |m| m.succeeded_at = Set(Some(now))).await?
        } else {
            let note = failure_reason.as_deref();
            let change = Change { to: PayoutStatus::Failed, at: now, actor: "platform", note };
            transition(&tx, &p, change, |m| {
                m.failure_kind = Set(Some(failure_kind));
                m.failure_reason = Set(failure_reason.clone());
            })
            .await?
        };
        cards::dispatch::on_transfer_result(&tx, &saved, now).await?;
        tx.commit().await?;
        Ok(saved)
    })
    .await
}

/// What a job asks to do once its transaction has committed.
#[derive(Debug, Default)]
pub struct AfterCommit {
    pub cancel_transfer: Option<i64>,
}

/// `RECHARGE_DEADLINE`: a scan payout not recharged within 1 h fails.
pub async fn expire_recharge(tx: &DatabaseTransaction, id: i64, now: DateTime<Utc>) -> AppResult<AfterCommit> {
    let p = locked(tx, id).await?;
    if p.status == PayoutStatus::PendingRecharge {
        let change = Change {
            to: PayoutStatus::RechargeFailed,
            at: now,
            actor: "system",
            note: Some("not recharged within 1 h"),
        };
        transition(tx, &p, change, |_| {}).await?;
    }
    Ok(AfterCommit::default())
}

/// `CLOSE`: a payout still `PAYING` or `FAILED` 7 days after its commit closes; its open card
/// expires, its transfer is cancelled, and its refund is scheduled 3 business days later.
pub async fn close(tx: &DatabaseTransaction, id: i64, now: DateTime<Utc>, default_tz: Tz) -> AppResult<AfterCommit> {
    let p = locked(tx, id).await?;
    if !matches!(p.status, PayoutStatus::Paying | PayoutStatus::Failed) {
        return Ok(AfterCommit::default());
    }
    let shop = crate::shops::repo::find_by_id(tx, &p.shop_id).await?;
    let tz = shop.map_or(default_tz, |s| crate::domain::shop::zone_of(&s.time_zone, default_tz));
    let refund_due = rules::add_business_days(now, tz, rules::REFUND_BUSINESS_DAYS);
    let change =
        Change { to: PayoutStatus::Closed, at: now, actor: "system", note: Some("closed 7 days after commit") };
    transition(tx, &p, change, |m| {
        m.closed_at = Set(Some(now));
        m.refund_status = Set(RefundStatus::Pending);
        m.refund_due_at = Set(Some(refund_due));
    })
    .await?;
    cards::repo::expire_open(tx, id).await?;
    jobs::schedule(tx, JobKind::Refund, id, refund_due, now).await?;
    Ok(AfterCommit { cancel_transfer: Some(id) })
}

/// `REFUND`: a closed payout's amount returns to the shop's balance, once.
pub async fn refund(tx: &DatabaseTransaction, id: i64, now: DateTime<Utc>) -> AppResult<AfterCommit> {
    let p = locked(tx, id).await?;
    if p.refund_status != RefundStatus::Pending {
        return Ok(AfterCommit::default());
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
    Ok(AfterCommit::default())
}

/// Hands a `PAYING` payout to the payment channel and applies an immediate result. Errors
/// are logged: the payout stays `PAYING` until a result arrives or it closes.
pub async fn deliver(
    cx: Ctx<'_>,
    channel: &dyn PaymentChannel,
    payout: &payout::Model,
    submitted_account: Option<String>,
) {
    let transfer = Transfer {
        payout_id: payout.id,
        buyer_id: payout.buyer_id.clone(),
        amount: Cny::from(payout.amount_fen),
        submitted_account,
    };
    let Some(outcome) = channel.transfer(&transfer).await else {
        return;
    };
    let (succeeded, kind, reason) = match outcome {
        TransferOutcome::Succeeded => (true, TransferFailureKind::Other, None),
        TransferOutcome::Failed { kind, reason } => (false, kind, Some(reason)),
    };
    if let Err(e) = settle_transfer(cx, payout.id, succeeded, kind, reason).await {
        tracing::warn!(payout = payout.id, error = ?e, "could not record the channel's result");
    }
}
