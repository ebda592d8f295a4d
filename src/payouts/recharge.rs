//! Scan-to-pay: the QR code again while the window is open, and the channel's confirmation
//! that the merchant paid (`PENDING_RECHARGE` → `PAYING`, then the transfer).
use chrono::{DateTime, Utc};
use entity::payout;
use sea_orm::{ActiveValue::Set, DatabaseTransaction};

use super::{
    delivery,
    lifecycle::{Change, locked, transition},
    repo,
};
use crate::{
    auth::Viewer,
    db::{self, Deps},
    domain::{actor::Actor, vocab::PayoutStatus},
    error::{AppError, AppResult},
    gateway::Payments,
};

/// The QR code of a scan payout again, until its deadline. The applicant, or the admin.
pub async fn continue_recharge(deps: Deps<'_>, viewer: &Viewer, id: i64) -> AppResult<payout::Model> {
    let scope = viewer.shop_scope()?;
    let p = repo::find(deps.db, &scope, id).await?.ok_or_else(|| AppError::not_found(format!("payout {id}")))?;
    if !viewer.is_applicant_or_admin(&p.applicant_id) {
        return Err(AppError::Forbidden("only the applicant or the admin continues a recharge".into()));
    }
    let open = p.status == PayoutStatus::PendingRecharge && p.recharge_deadline.is_some_and(|d| deps.clock.now() < d);
    if !open {
        return Err(AppError::InvalidState(format!(
            "a {} payout cannot be recharged",
            recharge_state(&p, deps.clock.now())
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
    deps: Deps<'_>,
    payments: Payments<'_>,
    id: i64,
    channel_txn_id: &str,
) -> AppResult<payout::Model> {
    let (payout, fresh) = deps
        .write_batched(db::ShopOf::Payout(id), (id, channel_txn_id.to_owned()), |tx, (now, _), (id, txn)| {
            Box::pin(confirm_in(tx, now, *id, txn))
        })
        .await?;
    if fresh {
        delivery::start(deps, payments, payout.id).await;
    }
    Ok(payout)
}

/// The confirmation's transaction (a savepoint of a batch's on SQLite); its caller commits.
/// The payout, and whether this call confirmed it.
async fn confirm_in(
    tx: &DatabaseTransaction,
    now: DateTime<Utc>,
    id: i64,
    channel_txn_id: &str,
) -> AppResult<(payout::Model, bool)> {
    let p = locked(tx, id).await?;
    if p.channel_txn_id.as_deref() == Some(channel_txn_id) {
        return Ok((p, false));
    }
    let taken = repo::by_channel_txn(tx, channel_txn_id).await?;
    if taken.is_some() {
        return Err(AppError::bad_input("channelTxnId", "this channel transaction confirmed another payout"));
    }
    if p.status != PayoutStatus::PendingRecharge || p.recharge_deadline.is_none_or(|d| now >= d) {
        return Err(AppError::InvalidState(format!("a {} payout takes no recharge", recharge_state(&p, now))));
    }
    let change = Change { to: PayoutStatus::Paying, at: now, actor: Actor::Platform, note: Some("recharge received") };
    let saved = transition(tx, &p, change, |m| {
        m.deducted_at = Set(Some(now));
        m.channel_txn_id = Set(Some(channel_txn_id.to_owned()));
    })
    .await?;
    Ok((saved, true))
}
