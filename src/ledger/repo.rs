//! Appending ledger entries. The balance update is a single conditional statement, so even
//! without a prior lock the balance cannot go below zero.
use chrono::{DateTime, Utc};
use entity::{ledger_entry, shop};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, QueryFilter, prelude::Expr, sea_query::ExprTrait};

use crate::domain::vocab::{EntryKind, Fen};
use crate::error::AppResult;

pub struct NewEntry<'a> {
    pub shop_id: &'a str,
    pub kind: EntryKind,
    /// Signed: a debit is negative.
    pub amount_fen: Fen,
    pub payout_id: Option<i64>,
    pub reference: Option<&'a str>,
    pub at: DateTime<Utc>,
}

/// Applies `entry` to the shop's balance and records it. `Ok(None)` when the balance would
/// go below zero (nothing is written).
pub async fn append(db: &impl ConnectionTrait, entry: NewEntry<'_>) -> AppResult<Option<ledger_entry::Model>> {
    apply(db, entry, false).await
}

/// [`append`] for the debit of a payout created in this transaction: the same balance statement
/// also counts the payout in the shop's `payout_count` (one round trip for both).
pub async fn append_for_new_payout(
    db: &impl ConnectionTrait,
    entry: NewEntry<'_>,
) -> AppResult<Option<ledger_entry::Model>> {
    apply(db, entry, true).await
}

async fn apply(
    db: &impl ConnectionTrait,
    entry: NewEntry<'_>,
    counts_new_payout: bool,
) -> AppResult<Option<ledger_entry::Model>> {
    // One statement: the conditional update returns the balance it left (RETURNING).
    let mut update = shop::Entity::update_many()
        .col_expr(shop::Column::BalanceFen, Expr::col(shop::Column::BalanceFen).add(entry.amount_fen.0))
        .col_expr(shop::Column::UpdatedAt, Expr::value(entry.at));
    if counts_new_payout {
        update = update.col_expr(shop::Column::PayoutCount, Expr::col(shop::Column::PayoutCount).add(1));
    }
    let updated = update
        .filter(Expr::col(shop::Column::Id).eq(entry.shop_id))
        .filter(Expr::col(shop::Column::BalanceFen).add(entry.amount_fen.0).gte(0))
        .exec_with_returning(db)
        .await?;
    let Some(balance) = updated.into_iter().next().map(|shop| shop.balance_fen) else {
        return Ok(None);
    };
    let model = ledger_entry::ActiveModel {
        shop_id: Set(entry.shop_id.to_owned()),
        kind: Set(entry.kind),
        amount_fen: Set(entry.amount_fen),
        balance_after_fen: Set(balance),
        payout_id: Set(entry.payout_id),
        reference: Set(entry.reference.map(str::to_owned)),
        at: Set(entry.at),
        ..Default::default()
    };
    Ok(Some(ledger_entry::Entity::insert(model).exec_with_returning(db).await?))
}

/// The entry the platform recorded under `reference`, if any.
pub async fn find_by_reference(
    db: &impl ConnectionTrait,
    shop_id: &str,
    reference: &str,
) -> AppResult<Option<ledger_entry::Model>> {
    Ok(ledger_entry::Entity::find()
        .filter(Expr::col(ledger_entry::Column::ShopId).eq(shop_id))
        .filter(Expr::col(ledger_entry::Column::Reference).eq(reference))
        .one(db)
        .await?)
}

/// The sum of a shop's entries (equal to its balance; checked by tests and `smallpay`'s own
/// consistency checks).
pub async fn sum(db: &impl ConnectionTrait, shop_id: &str) -> AppResult<i64> {
    use sea_orm::{QuerySelect, sea_query::Expr as E};
    let total: Option<i64> = ledger_entry::Entity::find()
        .select_only()
        .expr(E::cust("CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT)"))
        .filter(Expr::col(ledger_entry::Column::ShopId).eq(shop_id))
        .into_tuple()
        .one(db)
        .await?;
    Ok(total.unwrap_or(0))
}
