//! Deciding approval requests, one transaction each, under the shop lock like a creation.
use chrono::{DateTime, Utc};
use entity::payout;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseTransaction, PaginatorTrait, QueryFilter, QuerySelect};

use crate::{
    auth::{ShopScope, Viewer},
    db::{self, Deps},
    domain::{
        actor::Actor,
        create::commit,
        money::Cny,
        payout as rules,
        vocab::{FundingMethod, PayoutStatus},
    },
    error::{AppError, AppResult},
    gateway::Payments,
    keyset::{Keyset, ListOrder, Page, PageRequest},
    orders,
    payouts::{
        delivery, funds,
        lifecycle::{self, Change},
        repo, service as payouts,
    },
    shops,
};

/// The pending list as a history filter (for its `summary`).
pub fn pending_filter() -> repo::HistoryFilter {
    repo::HistoryFilter { statuses: vec![PayoutStatus::PendingApproval], ..Default::default() }
}

/// Requests waiting for the admin, oldest first (by id), either way, and how many there are
/// (counted only when `count`: a `COUNT(*)` nobody reads is not run).
pub async fn pending(
    deps: Deps<'_>,
    scope: &ShopScope,
    page: PageRequest,
    probe: bool,
    count: bool,
) -> AppResult<(Page<payout::Model>, u64)> {
    let query = repo::in_shop(scope).filter(payout::Column::Status.eq(PayoutStatus::PendingApproval));
    let total = if count { query.clone().count(deps.db).await? } else { 0 };
    let page = Keyset::new(payout::Column::Id, ListOrder::Ascending).page(deps.db, query, page, probe).await?;
    Ok((page, total))
}

/// The request, locked, if it is in the admin's shop.
async fn request(tx: &DatabaseTransaction, scope: &ShopScope, id: i64) -> AppResult<payout::Model> {
    repo::in_shop(scope)
        .filter(payout::Column::Id.eq(id))
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(|| AppError::not_found(format!("payout {id}")))
}

fn must_be_pending(p: &payout::Model) -> AppResult<()> {
    if p.status == PayoutStatus::PendingApproval {
        Ok(())
    } else {
        Err(AppError::InvalidState(format!("a {} payout is not waiting for approval", p.status)))
    }
}

/// Approves a request with `funding`: re-checks the shop's rules (rules.md "Approvals"), then
/// settles it under the admin's authority like the admin's own payout. A refusal leaves the
/// request pending.
pub async fn approve(
    deps: Deps<'_>,
    payments: Payments<'_>,
    admin: &Viewer,
    id: i64,
    funding: FundingMethod,
) -> AppResult<payout::Model> {
    let scope = admin.shop_scope()?;
    let saved = deps
        .write_batched(db::ShopOf::Shop(scope.id()), (admin.clone(), scope.clone(), id, funding), |tx, now, state| {
            let (admin, scope, id, funding) = state;
            Box::pin(approve_in(tx, now, admin, scope, *id, *funding))
        })
        .await?;
    if saved.status == PayoutStatus::Paying {
        delivery::start(deps, payments, saved.id).await;
    }
    Ok(saved)
}

/// The approval's transaction (a savepoint of a batch's on SQLite); its caller commits.
async fn approve_in(
    tx: &DatabaseTransaction,
    (now, default_zone): db::Now,
    admin: &Viewer,
    scope: &ShopScope,
    id: i64,
    funding: FundingMethod,
) -> AppResult<payout::Model> {
    let shop = shops::repo::find_for_update(tx, scope)
        .await?
        .ok_or_else(|| AppError::not_found(format!("shop {}", scope.id())))?;
    let p = request(tx, scope, id).await?;
    must_be_pending(&p)?;
    let order = orders::repo::find_in_shop(tx, scope, &p.order_sn)
        .await?
        .ok_or_else(|| AppError::Internal(format!("order of payout {id} missing")))?;
    let tz = crate::domain::shop::zone_of(&shop.time_zone, default_zone);
    let (snapshot, _) = payouts::snapshot(tx, now, tz, scope, &shop, &order, admin).await?;
    let amount = Cny::from(p.amount_fen);
    if let Some(refusal) = rules::approval_refusal(&snapshot, amount, funding, p.created_at) {
        return Err(AppError::refused("approval refused", refusal));
    }
    let commitment = commit(funding, amount, now);
    let change = Change { to: commitment.status, at: now, actor: Actor::Merchant(&admin.sub), note: Some("approved") };
    let saved = lifecycle::transition(tx, &p, change, |m| {
        funds::set_commitment(m, &commitment, amount);
        m.approver_id = Set(Some(admin.sub.clone()));
        m.uses_quota = Set(false);
    })
    .await?;
    if commitment.debit.is_some() {
        funds::debit(tx, &saved, now).await?;
    }
    lifecycle::schedule_deadlines(tx, &saved, now).await?;
    Ok(saved)
}

/// Rejects a request with a reason; the order's application count gives the attempt back.
pub async fn reject(deps: Deps<'_>, admin: &Viewer, id: i64, reason: &str) -> AppResult<payout::Model> {
    let scope = admin.shop_scope()?;
    let state = (admin.clone(), scope.clone(), id, reason.to_owned());
    deps.write_batched(db::ShopOf::Shop(scope.id()), state, |tx, (now, _), (admin, scope, id, reason)| {
        Box::pin(async move {
            shops::repo::find_for_update(tx, scope).await?;
            let p = request(tx, scope, *id).await?;
            must_be_pending(&p)?;
            let change = Change {
                to: PayoutStatus::Rejected,
                at: now,
                actor: Actor::Merchant(&admin.sub),
                note: Some(reason.as_str()),
            };
            lifecycle::transition(tx, &p, change, |m| {
                m.approver_id = Set(Some(admin.sub.clone()));
                m.reject_reason = Set(Some(reason.clone()));
            })
            .await
        })
    })
    .await
}

/// `APPROVAL_EXPIRY`: a request undecided for 7 days is rejected by the system.
pub async fn expire(tx: &DatabaseTransaction, id: i64, now: DateTime<Utc>) -> AppResult<()> {
    let p = repo::find_for_update_any_shop(tx, id).await?.ok_or_else(|| AppError::not_found(format!("payout {id}")))?;
    if p.status == PayoutStatus::PendingApproval {
        let change = Change { to: PayoutStatus::Rejected, at: now, actor: Actor::System, note: Some("expired") };
        lifecycle::transition(tx, &p, change, |m| m.reject_reason = Set(Some("expired".to_owned()))).await?;
    }
    Ok(())
}
