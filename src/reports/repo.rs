//! Report queries, always within a shop.
use chrono::{DateTime, Utc};
use entity::{commit_bucket, payout};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Select, Value,
    sea_query::{Alias, CaseStatement, Expr},
};

use super::rules::{CommittedRow, DayAmount, RequestRow, SummaryRow};
use crate::{
    auth::ShopScope,
    domain::vocab::{FundingMethod, PayoutStatus, PayoutType},
    error::AppResult,
    payouts::{
        repo::{HistoryFilter, history},
        totals,
    },
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

/// The index of the report day `column` falls in: `CASE WHEN column < end₀ THEN 0 WHEN column
/// < end₁ THEN 1 … END` over the days' ends (`starts[1..]`), so one statement groups by the
/// shop's calendar days, daylight-saving days included, on both databases.
fn day_index<V: Into<Value> + Copy>(column: impl ColumnTrait, ends: &[V]) -> Expr {
    let mut case = CaseStatement::new();
    for (i, end) in ends.iter().enumerate() {
        case = case.case(column.lt(*end), i32::try_from(i).unwrap_or(i32::MAX));
    }
    case.finally(i32::try_from(ends.len()).unwrap_or(i32::MAX)).into()
}

const DAY: &str = "day_index";

fn by_day() -> Expr {
    Expr::col(Alias::new(DAY))
}

fn sum_fen(sql: &str) -> Expr {
    Expr::cust(format!("CAST(COALESCE(SUM({sql}), 0) AS BIGINT)"))
}

/// The shop's payouts whose `column` lies in the report's days, of `account` if given.
fn payouts_in(
    scope: &ShopScope,
    account: Option<&str>,
    column: payout::Column,
    starts: &[DateTime<Utc>],
) -> Select<payout::Entity> {
    let (first, last) = (starts.first().copied().unwrap_or_default(), starts.last().copied().unwrap_or_default());
    payout::Entity::find()
        .select_only()
        .column(payout::Column::ApplicantId)
        .expr_as(day_index(column, &starts[1.min(starts.len())..]), DAY)
        .filter(payout::Column::ShopId.eq(scope.id()))
        .filter(column.gte(first))
        .filter(column.lt(last))
        .apply_if(account, |q, a| q.filter(payout::Column::ApplicantId.eq(a)))
        .group_by(payout::Column::ApplicantId)
        .group_by(by_day())
}

/// Committed payouts per applicant, commit day, funding and type (as the limits count them: not
/// RECHARGE_FAILED).
pub async fn committed(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    account: Option<&str>,
    starts: &[DateTime<Utc>],
) -> AppResult<Vec<CommittedRow>> {
    let rows: Vec<(String, i32, Option<FundingMethod>, PayoutType, i64, i64)> =
        payouts_in(scope, account, payout::Column::CommittedAt, starts)
            .column(payout::Column::Funding)
            .column(payout::Column::Type)
            .expr(Expr::cust("CAST(COUNT(*) AS BIGINT)"))
            .expr(sum_fen("amount_fen"))
            .filter(payout::Column::Status.ne(PayoutStatus::RechargeFailed.as_str()))
            .group_by(payout::Column::Funding)
            .group_by(payout::Column::Type)
            .into_tuple()
            .all(db)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(account, day, funding, kind, count, amount_fen)| CommittedRow {
            account,
            day,
            funding,
            kind,
            count,
            amount_fen,
        })
        .collect())
}

/// Approval requests per applicant and day made, with how they ended: approved (an approver
/// and not rejected), rejected by the admin (an approver), or expired (rejected by nobody).
pub async fn requests(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    account: Option<&str>,
    starts: &[DateTime<Utc>],
) -> AppResult<Vec<RequestRow>> {
    // Only a request is ever PENDING_APPROVAL or REJECTED, or has an approver.
    let is_request = Condition::any()
        .add(payout::Column::Status.is_in([PayoutStatus::PendingApproval.as_str(), PayoutStatus::Rejected.as_str()]))
        .add(payout::Column::ApproverId.is_not_null());
    let rows: Vec<(String, i32, i64, i64, i64, i64)> = payouts_in(scope, account, payout::Column::CreatedAt, starts)
        .expr(Expr::cust("CAST(COUNT(*) AS BIGINT)"))
        .expr(sum_fen("CASE WHEN approver_id IS NOT NULL AND status <> 'REJECTED' THEN 1 ELSE 0 END"))
        .expr(sum_fen("CASE WHEN approver_id IS NOT NULL AND status = 'REJECTED' THEN 1 ELSE 0 END"))
        .expr(sum_fen("CASE WHEN approver_id IS NULL AND status = 'REJECTED' THEN 1 ELSE 0 END"))
        .filter(is_request)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(account, day, requested, approved, rejected, expired)| RequestRow {
            account,
            day,
            requested,
            approved,
            rejected,
            expired,
        })
        .collect())
}

/// Refunds credited per applicant and day (a refund credits the payout's whole amount at its
/// `refunded_at`, the ledger entry's time).
pub async fn refunds(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    account: Option<&str>,
    starts: &[DateTime<Utc>],
) -> AppResult<Vec<DayAmount>> {
    let rows: Vec<(String, i32, i64)> = payouts_in(scope, account, payout::Column::RefundedAt, starts)
        .expr(sum_fen("amount_fen"))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|(account, day, amount_fen)| DayAmount { account, day, amount_fen }).collect())
}

/// What each account used of its quota per day, read from the kept day sums (`commit_buckets`,
/// as `usedToday` reads them) when every day bound is a quarter hour (every zone in use);
/// otherwise from the payouts, as `totals::exact` does.
pub async fn quota_used(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    account: Option<&str>,
    starts: &[DateTime<Utc>],
) -> AppResult<Vec<DayAmount>> {
    let aligned = starts.iter().all(|t| t.timestamp_subsec_nanos() == 0 && t.timestamp() % totals::BUCKET_SECONDS == 0);
    let rows: Vec<(String, i32, i64)> = if aligned {
        let seconds: Vec<i64> = starts.iter().map(DateTime::timestamp).collect();
        let (first, last) = (seconds.first().copied().unwrap_or_default(), seconds.last().copied().unwrap_or_default());
        commit_bucket::Entity::find()
            .select_only()
            .column(commit_bucket::Column::AccountId)
            .expr_as(day_index(commit_bucket::Column::Bucket, &seconds[1.min(seconds.len())..]), DAY)
            .expr(sum_fen("quota_fen"))
            .filter(commit_bucket::Column::ShopId.eq(scope.id()))
            .filter(commit_bucket::Column::AccountId.ne(""))
            .apply_if(account, |q, a| q.filter(commit_bucket::Column::AccountId.eq(a)))
            .filter(commit_bucket::Column::Bucket.gte(first))
            .filter(commit_bucket::Column::Bucket.lt(last))
            .group_by(commit_bucket::Column::AccountId)
            .group_by(by_day())
            .into_tuple()
            .all(db)
            .await?
    } else {
        payouts_in(scope, account, payout::Column::CommittedAt, starts)
            .expr(sum_fen("amount_fen"))
            .filter(payout::Column::UsesQuota.eq(true))
            .filter(payout::Column::Status.ne(PayoutStatus::RechargeFailed.as_str()))
            .into_tuple()
            .all(db)
            .await?
    };
    Ok(rows.into_iter().map(|(account, day, amount_fen)| DayAmount { account, day, amount_fen }).collect())
}
