//! Report queries, always within a shop.
use entity::payout;
use sea_orm::{ConnectionTrait, QuerySelect, sea_query::Expr};

use super::rules::SummaryRow;
use crate::{
    auth::ShopScope,
    domain::vocab::{FundingMethod, PayoutStatus},
    error::AppResult,
    payouts::repo::{HistoryFilter, history},
};

/// The totals of every payout `filter` selects, per (status, funding): one statement, grouped
/// in the database, over the history's own filter.
pub async fn summary(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    filter: &HistoryFilter,
) -> AppResult<Vec<SummaryRow>> {
    let rows: Vec<(PayoutStatus, Option<FundingMethod>, i64, i64)> = history(scope, filter)
        .select_only()
        .column(payout::Column::Status)
        .column(payout::Column::Funding)
        .expr(Expr::cust("CAST(COUNT(*) AS BIGINT)"))
        .expr(Expr::cust("CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT)"))
        .group_by(payout::Column::Status)
        .group_by(payout::Column::Funding)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(status, funding, count, amount_fen)| SummaryRow { status, funding, count, amount_fen })
        .collect())
}
