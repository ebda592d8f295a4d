//! Order use cases: the platform's order sync and its compensation records.
use chrono::{DateTime, Utc};
use entity::{order, platform_compensation};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};

use super::repo;
use crate::{
    db::{self, Deps},
    domain::money::Cny,
    domain::vocab::PayoutType,
    error::{AppError, AppResult},
};

/// A validated `OrderInput`.
#[derive(Debug, Clone)]
pub struct OrderSpec {
    pub order_sn: String,
    pub shop_id: String,
    pub buyer_id: String,
    pub goods_id: String,
    pub goods_name: String,
    pub activity_goods: bool,
    pub paid_amount: Cny,
    pub grouped_at: Option<DateTime<Utc>>,
    /// `None`: unchanged (false for a new order).
    pub refunded: Option<bool>,
}

/// Creates or updates an order. An order never moves to another shop.
pub async fn sync(deps: Deps<'_>, spec: OrderSpec) -> AppResult<order::Model> {
    deps.write(|| sync_once(deps, &spec)).await
}

async fn sync_once(deps: Deps<'_>, spec: &OrderSpec) -> AppResult<order::Model> {
    let now = deps.clock.now();
    let tx = db::begin_write(deps.db).await?;
    if crate::shops::repo::find_any_shop(&tx, &spec.shop_id).await?.is_none() {
        return Err(AppError::not_found(format!("shop {}", spec.shop_id)));
    }
    let existing = repo::find_any_shop(&tx, &spec.order_sn).await?;
    let mut model = match &existing {
        Some(o) if o.shop_id != spec.shop_id => {
            return Err(AppError::bad_input("shopId", "an order cannot move to another shop"));
        }
        Some(o) => o.clone().into_active_model(),
        None => order::ActiveModel {
            order_sn: Set(spec.order_sn.clone()),
            shop_id: Set(spec.shop_id.clone()),
            refunded: Set(false),
            created_at: Set(now),
            ..Default::default()
        },
    };
    model.buyer_id = Set(spec.buyer_id.clone());
    model.goods_id = Set(spec.goods_id.clone());
    model.goods_name = Set(spec.goods_name.clone());
    model.activity_goods = Set(spec.activity_goods);
    model.paid_amount_fen = Set(spec.paid_amount.into());
    model.grouped_at = Set(spec.grouped_at);
    if let Some(refunded) = spec.refunded {
        model.refunded = Set(refunded);
    }
    model.updated_at = Set(now);
    let saved = if existing.is_some() { model.update(&tx).await? } else { model.insert(&tx).await? };
    tx.commit().await?;
    Ok(saved)
}

/// A validated `PlatformCompensationInput`.
#[derive(Debug, Clone)]
pub struct CompensationSpec {
    pub order_sn: String,
    pub kind: PayoutType,
    pub amount: Cny,
    pub at: Option<DateTime<Utc>>,
    /// The platform's own id for the compensation.
    pub reference: Option<String>,
}

impl CompensationSpec {
    /// True when `existing` records this request (a repeat of the same reference).
    fn matches(&self, existing: &platform_compensation::Model) -> bool {
        existing.order_sn == self.order_sn
            && existing.r#type == self.kind
            && existing.amount_fen == self.amount.into()
            && self.at.is_none_or(|at| existing.at == at)
    }
}

/// Records a compensation the platform paid (rules.md): with a `reference`, a repeated call
/// returns the record made by the first (the same reference with another order, type, amount
/// or time is `IDEMPOTENCY_KEY_REUSED`); without one, every call is a new compensation.
pub async fn record_compensation(deps: Deps<'_>, spec: CompensationSpec) -> AppResult<platform_compensation::Model> {
    deps.write(|| record_once(deps, &spec)).await
}

async fn record_once(deps: Deps<'_>, spec: &CompensationSpec) -> AppResult<platform_compensation::Model> {
    let tx = db::begin_write(deps.db).await?;
    let order = repo::find_any_shop(&tx, &spec.order_sn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("order {}", spec.order_sn)))?;
    if let Some(reference) = &spec.reference {
        let existing = repo::compensation_by_reference(&tx, reference).await?;
        if let Some(existing) = existing {
            return if spec.matches(&existing) { Ok(existing) } else { Err(AppError::IdempotencyKeyReused) };
        }
    }
    let now = deps.clock.now();
    // A concurrent first use of the same reference loses on the unique index and is retried,
    // then finds the winner's record above.
    let saved = platform_compensation::ActiveModel {
        shop_id: Set(order.shop_id),
        order_sn: Set(spec.order_sn.clone()),
        r#type: Set(spec.kind),
        amount_fen: Set(spec.amount.into()),
        at: Set(spec.at.unwrap_or(now)),
        created_at: Set(now),
        reference: Set(spec.reference.clone()),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    tx.commit().await?;
    Ok(saved)
}
