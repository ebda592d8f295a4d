//! Account cards: sent on a buyer-account failure, submitted by the buyer (which retries the
//! transfer at once), resent by the merchant while the payout is FAILED, expired after 72 h or
//! when the payout closes. At most one card of a payout is OPEN.
use chrono::{DateTime, Utc};
use entity::{account_card, payout, shop};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};

use super::{
    notify,
    rules::{self, AccountKind},
};
use crate::{
    auth::Viewer,
    cards::seal::Sealer,
    db::{self, Ctx},
    error::{AppError, AppResult},
    gateway::PaymentChannel,
    jobs,
    payouts::{
        lifecycle::{self, Change},
        repo as payouts_repo,
        types::{AccountCardStatus, NotificationKind, PayoutStatus, TransferFailureKind},
    },
};

async fn shop_name(db: &impl ConnectionTrait, shop_id: &str) -> AppResult<String> {
    Ok(shop::Entity::find_by_id(shop_id.to_owned()).one(db).await?.map_or_else(|| shop_id.to_owned(), |s| s.name))
}

/// Notices (and a card) for a transfer result just recorded in `tx`.
pub async fn on_transfer_result(tx: &DatabaseTransaction, p: &payout::Model, at: DateTime<Utc>) -> AppResult<()> {
    let name = shop_name(tx, &p.shop_id).await?;
    if p.status == PayoutStatus::Succeeded.as_str() {
        notify::record(tx, p, &name, NotificationKind::PayoutSucceeded, at).await?;
    } else if p.status == PayoutStatus::Failed.as_str() {
        notify::record(tx, p, &name, NotificationKind::PayoutFailed, at).await?;
        if p.failure_kind.as_deref() == Some(TransferFailureKind::BuyerAccount.as_str()) {
            send(tx, p, &name, at).await?;
        }
    }
    Ok(())
}

/// Sends a new card for `p`: any open one expires; the new one is open for 72 h.
async fn send(
    tx: &DatabaseTransaction,
    p: &payout::Model,
    shop_name: &str,
    at: DateTime<Utc>,
) -> AppResult<account_card::Model> {
    expire_open(tx, p.id).await?;
    let card = account_card::ActiveModel {
        payout_id: Set(p.id),
        shop_id: Set(p.shop_id.clone()),
        buyer_id: Set(p.buyer_id.clone()),
        status: Set(AccountCardStatus::Open.as_str().to_owned()),
        sent_at: Set(at),
        expires_at: Set(at + rules::CARD_LIFETIME),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    jobs::schedule_card(tx, card.id, card.expires_at, at).await?;
    notify::record(tx, p, shop_name, NotificationKind::AccountCardSent, at).await?;
    Ok(card)
}

/// Expires the payout's open card, if any.
pub async fn expire_open(db: &impl ConnectionTrait, payout_id: i64) -> AppResult<()> {
    account_card::Entity::update_many()
        .col_expr(account_card::Column::Status, Expr::value(AccountCardStatus::Expired.as_str()))
        .filter(account_card::Column::PayoutId.eq(payout_id))
        .filter(account_card::Column::Status.eq(AccountCardStatus::Open.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// `CARD_EXPIRY`: a card still open 72 h after it was sent expires.
pub async fn expire(tx: &DatabaseTransaction, card_id: i64) -> AppResult<lifecycle::AfterCommit> {
    account_card::Entity::update_many()
        .col_expr(account_card::Column::Status, Expr::value(AccountCardStatus::Expired.as_str()))
        .filter(account_card::Column::Id.eq(card_id))
        .filter(account_card::Column::Status.eq(AccountCardStatus::Open.as_str()))
        .exec(tx)
        .await?;
    Ok(lifecycle::AfterCommit::default())
}

/// A validated receiving account.
pub struct ReceivingAccount {
    pub kind: AccountKind,
    pub number: String,
    pub holder: String,
}

/// The buyer submits a receiving account on its own open card: the card is submitted and the
/// transfer retried at once (`FAILED` → `PAYING`).
pub async fn submit(
    cx: Ctx<'_>,
    channel: &dyn PaymentChannel,
    sealer: &Sealer,
    buyer: &Viewer,
    card_id: i64,
    account: ReceivingAccount,
) -> AppResult<account_card::Model> {
    let sealed = sealer.seal(&account.number)?;
    let masked = rules::mask(account.kind, &account.number);
    let (card, payout) = cx
        .write(|| async {
            let now = cx.clock.now();
            let tx = db::begin_write(cx.db).await?;
            let card = account_card::Entity::find()
                .filter(account_card::Column::Id.eq(card_id))
                .filter(account_card::Column::BuyerId.eq(buyer.sub.as_str()))
                .lock_exclusive()
                .one(&tx)
                .await?
                .ok_or_else(|| AppError::not_found(format!("account card {card_id}")))?;
            if card.status != AccountCardStatus::Open.as_str() || now >= card.expires_at {
                let status =
                    if card.status == AccountCardStatus::Open.as_str() { "EXPIRED" } else { card.status.as_str() };
                return Err(AppError::InvalidState(format!("this card is {status}")));
            }
            let p = payouts_repo::find_for_update(&tx, card.payout_id)
                .await?
                .ok_or_else(|| AppError::Internal(format!("payout of card {card_id} missing")))?;
            let actor = format!("buyer:{}", buyer.sub);
            let change =
                Change { to: PayoutStatus::Paying, at: now, actor: &actor, note: Some("receiving account submitted") };
            let retried = lifecycle::transition(&tx, &p, change, |m| {
                m.failure_kind = Set(None);
                m.failure_reason = Set(None);
            })
            .await?;
            let submitted = account_card::ActiveModel {
                id: Set(card.id),
                status: Set(AccountCardStatus::Submitted.as_str().to_owned()),
                account_kind: Set(Some(account.kind.as_str().to_owned())),
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
    crate::payouts::service::deliver(cx, channel, &payout, Some(account.number)).await;
    Ok(card)
}

/// The merchant sends a new card while the payout is `FAILED` for the buyer's account; the
/// old open card, if any, expires.
pub async fn resend(cx: Ctx<'_>, viewer: &Viewer, payout_id: i64) -> AppResult<account_card::Model> {
    let scope = viewer.shop_scope()?;
    cx.write(|| async {
        let now = cx.clock.now();
        let tx = db::begin_write(cx.db).await?;
        let p = payouts_repo::in_shop(&scope)
            .filter(payout::Column::Id.eq(payout_id))
            .lock_exclusive()
            .one(&tx)
            .await?
            .ok_or_else(|| AppError::not_found(format!("payout {payout_id}")))?;
        let buyer_account = p.failure_kind.as_deref() == Some(TransferFailureKind::BuyerAccount.as_str());
        if p.status != PayoutStatus::Failed.as_str() || !buyer_account {
            return Err(AppError::InvalidState(format!(
                "a card is sent only while a payout is FAILED for the buyer's account (this one is {})",
                p.status
            )));
        }
        let name = shop_name(&tx, &p.shop_id).await?;
        let card = send(&tx, &p, &name, now).await?;
        tx.commit().await?;
        Ok(card)
    })
    .await
}

/// The buyer's cards, newest first.
pub async fn of_buyer(cx: Ctx<'_>, buyer: &str) -> AppResult<Vec<account_card::Model>> {
    Ok(account_card::Entity::find()
        .filter(account_card::Column::BuyerId.eq(buyer))
        .order_by_desc(account_card::Column::Id)
        .all(cx.db)
        .await?)
}
