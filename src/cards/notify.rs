//! Buyer notifications: recorded in the transaction of the transition that causes them, then
//! handed to a [`Notifier`] by the job runner (at least once; logged by default).
use chrono::{DateTime, Utc};
use entity::{buyer_notification, payout, vocab::Channels};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};

use super::{notifier::Notifier, repo};
use crate::{
    db::Deps,
    domain::{
        money::Cny,
        vocab::{NotificationChannel, NotificationKind, PayoutType},
    },
    error::AppResult,
};

/// The title of a success notice (§3.3).
pub const SUCCEEDED_TITLE: &str = "商家补偿转账通知";

fn kind_name(kind: PayoutType) -> &'static str {
    match kind {
        PayoutType::ShippingFee => "退运费",
        PayoutType::PriceDifference => "补差价",
        PayoutType::Other => "其他补偿",
    }
}

/// Records a notice about `p` for its buyer.
pub async fn record(
    db: &impl ConnectionTrait,
    p: &payout::Model,
    shop_name: &str,
    kind: NotificationKind,
    at: DateTime<Utc>,
) -> AppResult<buyer_notification::Model> {
    let amount = Cny::from(p.amount_fen);
    let what = kind_name(p.r#type);
    let (channels, title, body) = match kind {
        NotificationKind::PayoutSucceeded => (
            vec![NotificationChannel::InApp, NotificationChannel::Wechat],
            SUCCEEDED_TITLE.to_owned(),
            format!("{shop_name} 向您转账 {amount} 元（{what}，订单 {}）：{}", p.order_sn, p.message),
        ),
        NotificationKind::PayoutFailed => (
            vec![NotificationChannel::InApp],
            "商家补偿转账失败".to_owned(),
            format!("{shop_name} 给您的 {amount} 元{what}（订单 {}）转账失败，请联系平台客服。", p.order_sn),
        ),
        NotificationKind::AccountCardSent => (
            vec![NotificationChannel::InApp],
            "请填写收款账户".to_owned(),
            format!(
                "{shop_name} 给您的 {amount} 元{what}（订单 {}）未能到账，请在 72 小时内填写收款账户。",
                p.order_sn
            ),
        ),
    };
    let channels = Channels::of(&channels);
    Ok(buyer_notification::ActiveModel {
        buyer_id: Set(p.buyer_id.clone()),
        payout_id: Set(p.id),
        shop_id: Set(p.shop_id.clone()),
        kind: Set(kind),
        channels: Set(channels),
        title: Set(title),
        body: Set(body),
        at: Set(at),
        delivered_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Hands undelivered notices to the notifier and marks them delivered; returns how many. The
/// batch is marked in one write through the write gate once the notifier has them: a crash in
/// between delivers them again (at least once), never loses one.
pub async fn deliver_pending(deps: Deps<'_>, notifier: &dyn Notifier) -> AppResult<usize> {
    let pending = repo::undelivered_notices(deps.db, 500).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    for notice in &pending {
        notifier.deliver(notice).await;
    }
    let ids: Vec<i64> = pending.iter().map(|n| n.id).collect();
    deps.write(|| repo::mark_delivered(deps.db, &ids, deps.clock.now())).await?;
    Ok(pending.len())
}
