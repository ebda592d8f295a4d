//! The day's sums the limits compare against (rules.md "Counting"), kept as they change.
//!
//! A payout counts from its commit until, if ever, it becomes `RECHARGE_FAILED`: its amount in
//! the shop's total, in the shop's balance total when funded from the balance, and in its
//! applicant's quota usage when it used the quota. Every write that can change that — the
//! creation, and each status change ([`super::lifecycle::transition`]) — calls [`record`] in
//! its transaction, which adds the difference to `commit_buckets`: per shop (and per applicant,
//! for the quota) and quarter hour of UTC time of the commit.
//!
//! A day in any zone whose offset from UTC is a whole number of quarter hours (every zone in
//! use today) is a whole number of quarter hours, so a day's sums read at most 100 bucket rows
//! (a 25-hour day) whatever the number of payouts: one statement, in constant time. A window
//! that is not whole quarter hours (a historical offset such as a zone's local mean time) is
//! summed from the payouts themselves, as every sum was before the buckets.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{commit_bucket, payout, vocab::Fen};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Alias, Expr, ExprTrait as _, OnConflict},
};

use crate::{
    auth::ShopScope,
    domain::vocab::{FundingMethod, PayoutStatus},
    error::AppResult,
};

/// The length of a bucket, in seconds.
pub const BUCKET_SECONDS: i64 = 900;

/// The bucket of an instant: the start of its quarter hour, in seconds since the epoch.
pub fn bucket_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(BUCKET_SECONDS) * BUCKET_SECONDS
}

/// `[from, to)` as whole buckets, when both ends are bucket boundaries.
pub fn whole_buckets(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<(i64, i64)> {
    let aligned = |t: DateTime<Utc>| t.timestamp_subsec_nanos() == 0 && t.timestamp() % BUCKET_SECONDS == 0;
    (aligned(from) && aligned(to)).then(|| (from.timestamp(), to.timestamp()))
}

/// What one payout adds to the sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Share<'a> {
    shop_id: &'a str,
    applicant_id: &'a str,
    bucket: i64,
    paid: i64,
    balance: i64,
    quota: i64,
}

impl<'a> Share<'a> {
    /// The rows it adds to, with (paid, balance, quota): the shop's (`""`), and its applicant's
    /// when it used the quota.
    fn entries(self) -> impl Iterator<Item = (&'a str, [i64; 3])> {
        let shop = ("", [self.paid, self.balance, 0]);
        let quota = (self.quota != 0).then_some((self.applicant_id, [0, 0, self.quota]));
        std::iter::once(shop).chain(quota)
    }
}

/// Nothing unless the payout is committed and not `RECHARGE_FAILED`.
fn share(p: &payout::Model) -> Option<Share<'_>> {
    let committed_at = p.committed_at?;
    if p.status == PayoutStatus::RechargeFailed {
        return None;
    }
    let amount = p.amount_fen.0;
    Some(Share {
        shop_id: &p.shop_id,
        applicant_id: &p.applicant_id,
        bucket: bucket_of(committed_at),
        paid: amount,
        balance: if p.funding == Some(FundingMethod::Balance) { amount } else { 0 },
        quota: if p.uses_quota { amount } else { 0 },
    })
}

/// Keeps the sums in step with a payout written in this transaction: `before` is the row as it
/// was (`None` for a new payout), `after` as written. Writes nothing when its share is the same.
pub async fn record(db: &impl ConnectionTrait, before: Option<&payout::Model>, after: &payout::Model) -> AppResult<()> {
    let (old, new) = (before.and_then(share), share(after));
    if old == new {
        return Ok(());
    }
    let signed = [(old, -1), (new, 1)].into_iter().filter_map(|(share, sign)| Some((share?, sign)));
    let rows: Vec<_> = signed
        .flat_map(|(s, sign)| {
            s.entries().map(move |(account, amounts)| row(s.shop_id, account, s.bucket, amounts.map(|a| sign * a)))
        })
        .collect();
    let add = |column: commit_bucket::Column| {
        Expr::col((commit_bucket::Entity, column)).add(Expr::col((Alias::new("excluded"), column)))
    };
    let on_conflict = OnConflict::columns([
        commit_bucket::Column::ShopId,
        commit_bucket::Column::AccountId,
        commit_bucket::Column::Bucket,
    ])
    .value(commit_bucket::Column::PaidFen, add(commit_bucket::Column::PaidFen))
    .value(commit_bucket::Column::BalanceFen, add(commit_bucket::Column::BalanceFen))
    .value(commit_bucket::Column::QuotaFen, add(commit_bucket::Column::QuotaFen))
    .to_owned();
    commit_bucket::Entity::insert_many(rows).on_conflict(on_conflict).exec_without_returning(db).await?;
    Ok(())
}

fn row(shop: &str, account: &str, bucket: i64, [paid, balance, quota]: [i64; 3]) -> commit_bucket::ActiveModel {
    use sea_orm::ActiveValue::Set;
    commit_bucket::ActiveModel {
        shop_id: Set(shop.to_owned()),
        account_id: Set(account.to_owned()),
        bucket: Set(bucket),
        paid_fen: Set(Fen(paid)),
        balance_fen: Set(Fen(balance)),
        quota_fen: Set(Fen(quota)),
    }
}

/// What one shop's `payouts` add to its buckets: (paid, from the balance, quota) per (account —
/// `""` for the shop —, bucket), with no entry where they add nothing. [`rebuild`] writes it;
/// the audit compares the stored rows with it.
pub fn expected(payouts: &[payout::Model]) -> HashMap<(&str, i64), [i64; 3]> {
    let mut sums: HashMap<(&str, i64), [i64; 3]> = HashMap::new();
    for s in payouts.iter().filter_map(share) {
        for (account, amounts) in s.entries() {
            let sum = sums.entry((account, s.bucket)).or_default();
            sum.iter_mut().zip(amounts).for_each(|(total, amount)| *total += amount);
        }
    }
    sums.retain(|_, amounts| *amounts != [0; 3]);
    sums
}

/// Recomputes a shop's buckets from its payouts (for payouts written around the use cases,
/// e.g. a bulk load): the same shares [`record`] adds one by one.
pub async fn rebuild(db: &impl ConnectionTrait, shop_id: &str) -> AppResult<()> {
    let payouts = payout::Entity::find()
        .filter(payout::Column::ShopId.eq(shop_id))
        .filter(payout::Column::CommittedAt.is_not_null())
        .all(db)
        .await?;
    let sums = expected(&payouts);
    commit_bucket::Entity::delete_many().filter(commit_bucket::Column::ShopId.eq(shop_id)).exec(db).await?;
    let rows: Vec<_> =
        sums.into_iter().map(|((account, bucket), amounts)| row(shop_id, account, bucket, amounts)).collect();
    for chunk in rows.chunks(500) {
        commit_bucket::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    Ok(())
}

/// A shop's sums over `[from, to)`, in fen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Every committed payout (`paidToday` for a day).
    pub paid: i64,
    /// Those funded from the balance (`paidFromBalanceToday`).
    pub from_balance: i64,
    /// What the `account` asked about used of its quota (0 without one).
    pub quota_used: i64,
}

/// `SUM(column)` as a 64-bit integer (0 over no rows) on both databases.
fn sum(column: &str) -> sea_orm::sea_query::SimpleExpr {
    Expr::cust(format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)"))
}

/// The sum of `column` (`paid_fen`, `balance_fen` or `quota_fen`) over the buckets
/// `[from_bucket, to_bucket)` of the shop `shop` names (a column of the enclosing statement) and
/// `account` (`""` for the shop's own): a scalar subquery, for a statement that reads it with
/// more ([`super::inputs`]); the same sum [`of_shop`] reads.
pub fn bucket_sum(
    shop: impl sea_orm::sea_query::IntoColumnRef,
    account: &str,
    (from_bucket, to_bucket): (i64, i64),
    column: &str,
) -> Expr {
    use sea_orm::sea_query::Query;
    let t = |c: commit_bucket::Column| Expr::col((commit_bucket::Entity, c));
    let select = Query::select()
        .expr(sum(&format!("commit_buckets.{column}")))
        .from(commit_bucket::Entity)
        .and_where(t(commit_bucket::Column::ShopId).equals(shop))
        .and_where(t(commit_bucket::Column::AccountId).eq(account))
        .and_where(t(commit_bucket::Column::Bucket).gte(from_bucket))
        .and_where(t(commit_bucket::Column::Bucket).lt(to_bucket))
        .to_owned();
    Expr::SubQuery(None, Box::new(select.into()))
}

/// The shop's buckets in `[from_bucket, to_bucket)` of these accounts, one row per account: add
/// the sums to select.
fn per_account<'a>(
    scope: &ShopScope,
    from_bucket: i64,
    to_bucket: i64,
    accounts: impl IntoIterator<Item = &'a str>,
) -> sea_orm::Select<commit_bucket::Entity> {
    commit_bucket::Entity::find()
        .select_only()
        .column(commit_bucket::Column::AccountId)
        .filter(commit_bucket::Column::ShopId.eq(scope.id()))
        .filter(commit_bucket::Column::AccountId.is_in(accounts))
        .filter(commit_bucket::Column::Bucket.gte(from_bucket))
        .filter(commit_bucket::Column::Bucket.lt(to_bucket))
        .group_by(commit_bucket::Column::AccountId)
}

/// The shop's sums over `[from, to)`, and `account`'s quota usage: one statement.
pub async fn of_shop(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    account: Option<&str>,
) -> AppResult<Totals> {
    let Some((from_bucket, to_bucket)) = whole_buckets(from, to) else {
        return exact::of_shop(db, scope, from, to, account).await;
    };
    let account = account.unwrap_or("");
    // At most two rows: the shop's (`""`) and the account's.
    let rows: Vec<(String, i64, i64, i64)> = per_account(scope, from_bucket, to_bucket, ["", account])
        .expr(sum("paid_fen"))
        .expr(sum("balance_fen"))
        .expr(sum("quota_fen"))
        .into_tuple()
        .all(db)
        .await?;
    let mut totals = Totals::default();
    for (id, paid, balance, quota) in rows {
        if id.is_empty() {
            (totals.paid, totals.from_balance) = (paid, balance);
        } else {
            totals.quota_used = quota;
        }
    }
    Ok(totals)
}

/// What each of `accounts` used of its quota over `[from, to)` (absent: nothing).
pub async fn quota_used(
    db: &impl ConnectionTrait,
    scope: &ShopScope,
    accounts: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<HashMap<String, i64>> {
    if accounts.is_empty() {
        return Ok(HashMap::new());
    }
    let Some((from_bucket, to_bucket)) = whole_buckets(from, to) else {
        return exact::quota_used(db, scope, accounts, from, to).await;
    };
    let rows: Vec<(String, i64)> = per_account(scope, from_bucket, to_bucket, accounts.iter().map(String::as_str))
        .expr(sum("quota_fen"))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// The same sums from the payouts themselves (each a scan of the window's payouts): for a window
/// that is not whole buckets.
pub mod exact {
    use super::*;

    fn committed(scope: &ShopScope, from: DateTime<Utc>, to: DateTime<Utc>) -> sea_orm::Select<payout::Entity> {
        payout::Entity::find()
            .select_only()
            .filter(payout::Column::ShopId.eq(scope.id()))
            .filter(payout::Column::CommittedAt.gte(from))
            .filter(payout::Column::CommittedAt.lt(to))
            .filter(payout::Column::Status.ne(PayoutStatus::RechargeFailed.as_str()))
    }

    pub async fn of_shop(
        db: &impl ConnectionTrait,
        scope: &ShopScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        account: Option<&str>,
    ) -> AppResult<Totals> {
        let sums: Option<(i64, i64)> = committed(scope, from, to)
            .expr(sum("amount_fen"))
            .expr(Expr::cust(
                "CAST(COALESCE(SUM(CASE WHEN funding = 'BALANCE' THEN amount_fen ELSE 0 END), 0) AS BIGINT)",
            ))
            .into_tuple()
            .one(db)
            .await?;
        let (paid, from_balance) = sums.unwrap_or_default();
        let quota_used = match account {
            Some(account) => {
                let accounts = [account.to_owned()];
                quota_used(db, scope, &accounts, from, to).await?.get(account).copied().unwrap_or(0)
            }
            None => 0,
        };
        Ok(Totals { paid, from_balance, quota_used })
    }

    pub async fn quota_used(
        db: &impl ConnectionTrait,
        scope: &ShopScope,
        accounts: &[String],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> AppResult<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = committed(scope, from, to)
            .column(payout::Column::ApplicantId)
            .expr(sum("amount_fen"))
            .filter(payout::Column::ApplicantId.is_in(accounts.iter().map(String::as_str)))
            .filter(payout::Column::UsesQuota.eq(true))
            .group_by(payout::Column::ApplicantId)
            .into_tuple()
            .all(db)
            .await?;
        Ok(rows.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn an_instant_falls_in_its_quarter_hour() {
        let at = |h, m, s| Utc.with_ymd_and_hms(2026, 12, 3, h, m, s).single().unwrap_or_default();
        assert_eq!(bucket_of(at(10, 14, 59)), at(10, 0, 0).timestamp());
        assert_eq!(bucket_of(at(10, 15, 0)), at(10, 15, 0).timestamp());
        assert_eq!(bucket_of(at(23, 59, 59)), at(23, 45, 0).timestamp());
        let before_epoch = Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).single().unwrap_or_default();
        assert_eq!(bucket_of(before_epoch), -900);
    }

    #[test]
    fn a_day_in_a_zone_of_quarter_hours_is_whole_buckets_and_any_other_window_is_not() {
        use crate::domain::shop::day_bounds;
        let now = Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).single().unwrap_or_default();
        for zone in [chrono_tz::Asia::Shanghai, chrono_tz::Asia::Kathmandu, chrono_tz::Europe::Berlin] {
            let (from, to) = day_bounds(zone, now);
            assert!(whole_buckets(from, to).is_some(), "{zone}");
        }
        let (from, to) = day_bounds(chrono_tz::Asia::Shanghai, now);
        assert_eq!(whole_buckets(from + chrono::TimeDelta::seconds(1), to), None);
        assert_eq!(whole_buckets(from, to - chrono::TimeDelta::milliseconds(1)), None);
        // Local mean time: Shanghai was UTC+8:05:43 before 1901.
        let old = Utc.with_ymd_and_hms(1890, 6, 1, 12, 0, 0).single().unwrap_or_default();
        let (from, to) = day_bounds(chrono_tz::Asia::Shanghai, old);
        assert_eq!(whole_buckets(from, to), None);
    }
}
