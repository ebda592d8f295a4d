//! Account cards: sent on a buyer-account failure, submitted by the buyer (which retries the
//! transfer at once), resent by the merchant while the payout is FAILED, expired after 72 h or
//! when the payout closes. At most one card of a payout is OPEN. Sending a card on a
//! transfer result is [`super::dispatch`]'s.
use entity::{account_card, payout};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, QueryFilter, QuerySelect};

use super::{dispatch, repo};
use crate::{
    auth::Viewer,
    db::{self, Deps},
    domain::{
        actor::Actor,
        card::{self as rules, ReceivingAccount},
        vocab::{AccountCardStatus, PayoutStatus, TransferFailureKind},
    },
    error::{AppError, AppResult},
    gateway::Payments,
    payouts::{
        delivery,
        lifecycle::{self, Change},
        repo as payouts_repo,
    },
};

/// The buyer submits a receiving account on its own open card: the card is submitted and the
/// transfer retried at once (`FAILED` → `PAYING`).
pub async fn submit(
    deps: Deps<'_>,
    payments: Payments<'_>,
    buyer: &Viewer,
    card_id: i64,
    account: ReceivingAccount,
) -> AppResult<account_card::Model> {
    let sealed = payments.sealer.seal(&account.number)?;
    let masked = rules::mask(account.kind, &account.number);
    let (card, payout) = deps
        .write(|| async {
            let now = deps.clock.now();
            let tx = db::begin_shop_write(deps.db, db::ShopOf::Card(card_id)).await?;
            let card = repo::of_buyer_for_update(&tx, &buyer.sub, card_id)
                .await?
                .ok_or_else(|| AppError::not_found(format!("account card {card_id}")))?;
            if card.status != AccountCardStatus::Open || now >= card.expires_at {
                let status =
                    if card.status == AccountCardStatus::Open { AccountCardStatus::Expired } else { card.status };
                return Err(AppError::InvalidState(format!("this card is {status}")));
            }
            let p = payouts_repo::find_for_update_any_shop(&tx, card.payout_id)
                .await?
                .ok_or_else(|| AppError::Internal(format!("payout of card {card_id} missing")))?;
            let change = Change {
                to: PayoutStatus::Paying,
                at: now,
                actor: Actor::Buyer(&buyer.sub),
                note: Some("receiving account submitted"),
            };
            let retried = lifecycle::transition(&tx, &p, change, |m| {
                m.failure_kind = Set(None);
                m.failure_reason = Set(None);
            })
            .await?;
            let submitted = account_card::ActiveModel {
                id: Set(card.id),
                status: Set(AccountCardStatus::Submitted),
                account_kind: Set(Some(account.kind)),
                account_masked: Set(Some(masked.clone())),
                account_sealed: Set(Some(sealed.clone())),
                holder_name: Set(Some(account.holder.clone())),
                submitted_at: Set(Some(now)),
                ..Default::default()
            }
            .update(&tx)
            .await?;
            tx.commit().await?;
            Ok((submitted, retried))
        })
        .await?;
    delivery::start(deps, payments, payout.id).await;
    Ok(card)
}

/// The merchant sends a new card while the payout is `FAILED` for the buyer's account; the
/// old open card, if any, expires.
pub async fn resend(deps: Deps<'_>, viewer: &Viewer, payout_id: i64) -> AppResult<account_card::Model> {
    let scope = viewer.shop_scope()?;
    deps.write(|| async {
        let now = deps.clock.now();
        let tx = db::begin_shop_write(deps.db, db::ShopOf::Shop(scope.id())).await?;
        let p = payouts_repo::in_shop(&scope)
            .filter(payout::Column::Id.eq(payout_id))
            .lock_exclusive()
            .one(&tx)
            .await?
            .ok_or_else(|| AppError::not_found(format!("payout {payout_id}")))?;
        let buyer_account = p.failure_kind == Some(TransferFailureKind::BuyerAccount);
        if p.status != PayoutStatus::Failed || !buyer_account {
            return Err(AppError::InvalidState(format!(
                "a card is sent only while a payout is FAILED for the buyer's account (this one is {})",
                p.status
            )));
        }
        let last_sent = repo::of_payouts(&tx, &[p.id]).await?.last().map(|c| c.sent_at);
        if !rules::may_resend(last_sent, now) {
            return Err(AppError::RateLimited(format!(
                "a card was sent for this payout less than {} s ago",
                rules::RESEND_INTERVAL.num_seconds()
            )));
        }
        let name = repo::shop_name(&tx, &p.shop_id).await?;
        let card = dispatch::send(&tx, &p, &name, now).await?;
        tx.commit().await?;
        Ok(card)
    })
    .await
}

/// The buyer's cards, newest first.
pub async fn of_buyer(deps: Deps<'_>, buyer: &str) -> AppResult<Vec<account_card::Model>> {
    repo::of_buyer(deps.db, buyer).await
}
