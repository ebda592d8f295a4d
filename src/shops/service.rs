//! Shop use cases: the platform's sync and balance adjustments, one transaction each.
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::shop;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};

use super::repo;
use crate::{
    auth::ShopScope,
    db::{self, Deps},
    domain::{
        money::Cny,
        shop::Policy,
        vocab::{EntryKind, Fen},
    },
    error::{AppError, AppResult},
    ledger::repo::{self as ledger, NewEntry},
};

/// A validated `ShopInput`.
#[derive(Debug, Clone)]
pub struct ShopSpec {
    pub id: String,
    pub name: String,
    pub opening_balance: Cny,
    pub zero_entry: bool,
    pub deposit_paid: bool,
    pub has_unpaid_bills: bool,
    pub time_zone: Tz,
    pub policy: Policy,
}

/// Creates or updates a shop. The opening balance is used only when the shop is created.
pub async fn sync(deps: Deps<'_>, spec: ShopSpec) -> AppResult<shop::Model> {
    deps.write(|| sync_once(deps, &spec)).await
}

async fn sync_once(deps: Deps<'_>, spec: &ShopSpec) -> AppResult<shop::Model> {
    let now = deps.clock.now();
    let scope = ShopScope::platform(&spec.id);
    let tx = db::begin_write(deps.db).await?;
    let existing = repo::find_for_update(&tx, &scope).await?;
    let mut model = match &existing {
        Some(shop) => shop.clone().into_active_model(),
        None => shop::ActiveModel {
            id: Set(spec.id.clone()),
            balance_fen: Set(Fen(0)),
            payout_count: Set(0),
            created_at: Set(now),
            ..Default::default()
        },
    };
    model.name = Set(spec.name.clone());
    model.zero_entry = Set(spec.zero_entry);
    model.deposit_paid = Set(spec.deposit_paid);
    model.has_unpaid_bills = Set(spec.has_unpaid_bills);
    model.time_zone = Set(spec.time_zone.name().to_owned());
    model.daily_cap_fen = Set(spec.policy.daily_cap.into());
    model.daily_balance_cap_fen = Set(spec.policy.daily_balance_cap.into());
    model.max_amount_regular_fen = Set(spec.policy.max_amount_regular.into());
    model.max_amount_activity_fen = Set(spec.policy.max_amount_activity.into());
    model.updated_at = Set(now);
    if existing.is_some() {
        model.update(&tx).await?;
    } else {
        shop::Entity::insert(model).exec_without_returning(&tx).await?;
        let opening = NewEntry {
            shop_id: &spec.id,
            kind: EntryKind::Opening,
            amount_fen: spec.opening_balance.into(),
            payout_id: None,
            reference: None,
            at: now,
        };
        ledger::append(&tx, opening)
            .await?
            .ok_or_else(|| AppError::bad_input("openingBalance", "`openingBalance` must not be negative"))?;
    }
    let saved = repo::find(&tx, &scope).await?.ok_or_else(|| AppError::Internal("synced shop not found".into()))?;
    tx.commit().await?;
    Ok(saved)
}

/// Moves a shop's balance by a signed amount, once per `reference`. Refused with
/// The largest balance a shop may hold, in fen (the largest amount accepted anywhere).
pub const MAX_BALANCE_FEN: i64 = crate::domain::money::MAX_ABS_FEN;

/// `INSUFFICIENT_BALANCE` if the balance would go below zero; `BAD_USER_INPUT` if it would
/// exceed [`MAX_BALANCE_FEN`]; the same reference with
/// another amount is `IDEMPOTENCY_KEY_REUSED`.
pub async fn adjust_balance(deps: Deps<'_>, shop_id: &str, amount: Cny, reference: &str) -> AppResult<shop::Model> {
    deps.write(|| adjust_once(deps, shop_id, amount, reference)).await
}

async fn adjust_once(deps: Deps<'_>, shop_id: &str, amount: Cny, reference: &str) -> AppResult<shop::Model> {
    let scope = ShopScope::platform(shop_id);
    let tx = db::begin_write(deps.db).await?;
    let shop =
        repo::find_for_update(&tx, &scope).await?.ok_or_else(|| AppError::not_found(format!("shop {shop_id}")))?;
    if let Some(previous) = ledger::find_by_reference(&tx, shop_id, reference).await? {
        if previous.amount_fen != amount.into() {
            return Err(AppError::IdempotencyKeyReused);
        }
        return Ok(shop);
    }
    // The balance stays within what any amount may be (and far from i64's edge).
    let after = shop.balance_fen.0.checked_add(amount.fen());
    if after.is_none_or(|b| b > MAX_BALANCE_FEN) {
        return Err(AppError::bad_input(
            "amount",
            format!("the balance would exceed {}", Cny::from_fen(MAX_BALANCE_FEN)),
        ));
    }
    let entry = NewEntry {
        shop_id,
        kind: EntryKind::Adjustment,
        amount_fen: amount.into(),
        payout_id: None,
        reference: Some(reference),
        at: deps.clock.now(),
    };
    if ledger::append(&tx, entry).await?.is_none() {
        return Err(AppError::insufficient_balance(format!(
            "the balance {} cannot go below zero",
            Cny::from(shop.balance_fen)
        )));
    }
    let saved = repo::find(&tx, &scope).await?.ok_or_else(|| AppError::Internal("adjusted shop not found".into()))?;
    tx.commit().await?;
    Ok(saved)
}

/// The shop's time zone (stored validated; the server's default should it ever not parse).
pub fn zone(deps: Deps<'_>, shop: &shop::Model) -> Tz {
    crate::domain::shop::zone_of(&shop.time_zone, deps.default_zone)
}

/// The UTC bounds `[from, to)` of the shop's today.
pub fn today(deps: Deps<'_>, shop: &shop::Model) -> (DateTime<Utc>, DateTime<Utc>) {
    crate::domain::shop::day_bounds(zone(deps, shop), deps.clock.now())
}

/// The shop's committed payouts today: every funding kind, or balance-funded only.
pub async fn paid_today(deps: Deps<'_>, shop: &shop::Model, balance_only: bool) -> AppResult<Cny> {
    let (from, to) = today(deps, shop);
    let scope = ShopScope::platform(&shop.id);
    let totals = crate::payouts::totals::of_shop(deps.db, &scope, from, to, None).await?;
    Ok(Cny::from_fen(if balance_only { totals.from_balance } else { totals.paid }))
}
