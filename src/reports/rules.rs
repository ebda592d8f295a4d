//! Pure report arithmetic: the days a report covers, and folding grouped rows into totals. No
//! database, no GraphQL.
use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::{
    domain::{
        shop::resolve_local,
        vocab::{FundingMethod, PayoutStatus, PayoutType},
    },
    error::{AppError, AppResult},
};

/// The most days one `accountDailyReport` covers (a quarter and a bit: any three calendar
/// months fit).
pub const MAX_REPORT_DAYS: u64 = 93;

/// The UTC instants that bound the shop's days `from..=to` in `tz`: one more than there are
/// days, day `i` being `[starts[i], starts[i + 1])`. A midnight that a daylight-saving change
/// skips starts its day at the change; one it repeats, at the first of the two.
pub fn day_starts(tz: Tz, from: NaiveDate, to: NaiveDate) -> AppResult<Vec<DateTime<Utc>>> {
    if from > to {
        return Err(AppError::bad_input("from", "`from` must not be after `to`"));
    }
    let days = u64::try_from((to - from).num_days()).unwrap_or(u64::MAX).saturating_add(1);
    if days > MAX_REPORT_DAYS {
        return Err(AppError::bad_input(
            "to",
            format!("a report covers at most {MAX_REPORT_DAYS} days; this asks for {days}"),
        ));
    }
    (0..=days)
        .map(|i| {
            let day =
                from.checked_add_days(Days::new(i)).ok_or_else(|| AppError::bad_input("to", "`to` is out of range"))?;
            Ok(resolve_local(tz, day.and_time(NaiveTime::MIN)))
        })
        .collect()
}

/// Payouts of one applicant, day, funding and type (committed, not RECHARGE_FAILED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedRow {
    pub account: String,
    pub day: i32,
    pub funding: Option<FundingMethod>,
    pub kind: PayoutType,
    pub count: i64,
    pub amount_fen: i64,
}

/// The approval requests one account made on one day, and how they ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRow {
    pub account: String,
    pub day: i32,
    pub requested: i64,
    pub approved: i64,
    pub rejected: i64,
    pub expired: i64,
}

/// An amount of one account on one day (its quota used, its refunds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayAmount {
    pub account: String,
    pub day: i32,
    pub amount_fen: i64,
}

/// A quota change: the limits `(per payout, daily)` in fen from `at` on, `None` once cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsChange {
    pub account: String,
    pub at: DateTime<Utc>,
    pub limits: Option<(i64, i64)>,
}

/// One account's day, in fen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayReport {
    pub payouts: i64,
    pub amount: i64,
    pub from_balance: i64,
    pub by_scan: i64,
    /// Per type, in declaration order, only types with payouts.
    pub by_type: Vec<(PayoutType, Total)>,
    pub requested: i64,
    pub approved: i64,
    pub rejected: i64,
    pub expired: i64,
    pub quota_used: i64,
    pub refunded: i64,
    /// The quota limits in force at the day's end.
    pub limits: Option<(i64, i64)>,
}

/// What the report's queries found over its days.
#[derive(Debug, Clone, Copy)]
pub struct Found<'a> {
    pub committed: &'a [CommittedRow],
    pub requests: &'a [RequestRow],
    pub quota_used: &'a [DayAmount],
    pub refunds: &'a [DayAmount],
}

/// One line of the report: an account's day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDay {
    pub account: String,
    pub day: NaiveDate,
    pub report: DayReport,
}

/// What the report's queries found, folded into one line per account and day with anything
/// to show (payouts, requests, quota used or refunds), by day then account. `starts` are the
/// days' bounds ([`day_starts`]); `changes` the quota changes before the last day's end,
/// oldest first; `current` the limits each account has now (used for a day before the first
/// recorded change).
pub fn account_days(
    from: NaiveDate,
    starts: &[DateTime<Utc>],
    found: Found<'_>,
    changes: &[LimitsChange],
    current: &BTreeMap<String, (i64, i64)>,
) -> Vec<AccountDay> {
    let mut days: BTreeMap<(i32, &str), DayReport> = BTreeMap::new();
    let mut types: BTreeMap<(i32, &str, PayoutType), Total> = BTreeMap::new();
    let Found { committed, requests, quota_used, refunds } = found;
    for r in committed {
        let d = days.entry((r.day, &r.account)).or_default();
        d.payouts += r.count;
        d.amount += r.amount_fen;
        match r.funding {
            Some(FundingMethod::Balance) => d.from_balance += r.amount_fen,
            Some(FundingMethod::WechatScan | FundingMethod::AlipayScan) => d.by_scan += r.amount_fen,
            None => {}
        }
        types.entry((r.day, &r.account, r.kind)).or_default().add(r.count, r.amount_fen);
    }
    for r in requests {
        let d = days.entry((r.day, &r.account)).or_default();
        (d.requested, d.approved, d.rejected, d.expired) = (r.requested, r.approved, r.rejected, r.expired);
    }
    for r in quota_used.iter().filter(|r| r.amount_fen != 0) {
        days.entry((r.day, &r.account)).or_default().quota_used = r.amount_fen;
    }
    for r in refunds.iter().filter(|r| r.amount_fen != 0) {
        days.entry((r.day, &r.account)).or_default().refunded = r.amount_fen;
    }
    days.into_iter()
        .filter_map(|((day, account), mut report)| {
            let index = usize::try_from(day).ok()?;
            let end = *starts.get(index + 1)?;
            report.by_type = PayoutType::ALL
                .iter()
                .filter_map(|&kind| types.get(&(day, account, kind)).map(|t| (kind, *t)))
                .collect();
            report.limits = limits_at(changes, account, end).unwrap_or_else(|| current.get(account).copied());
            let day = from.checked_add_days(Days::new(u64::try_from(day).ok()?))?;
            Some(AccountDay { account: account.to_owned(), day, report })
        })
        .collect()
}

/// The account's limits as the last change before `end` left them; `None` when no change of
/// it was recorded before `end`.
fn limits_at(changes: &[LimitsChange], account: &str, end: DateTime<Utc>) -> Option<Option<(i64, i64)>> {
    changes.iter().rev().find(|c| c.account == account && c.at < end).map(|c| c.limits)
}

/// The payouts of one (status, funding) pair the filter selects: how many, and their amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryRow {
    pub status: PayoutStatus,
    pub funding: Option<FundingMethod>,
    pub count: i64,
    pub amount_fen: i64,
}

/// A count and an amount in fen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Total {
    pub count: i64,
    pub amount_fen: i64,
}

impl Total {
    pub fn add(&mut self, count: i64, amount_fen: i64) {
        self.count = self.count.saturating_add(count);
        self.amount_fen = self.amount_fen.saturating_add(amount_fen);
    }
}

/// The filter's totals: overall, per status and per funding method (each in declaration
/// order, only those with payouts; a payout without funding counts in no funding group).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub all: Total,
    pub by_status: Vec<(PayoutStatus, Total)>,
    pub by_funding: Vec<(FundingMethod, Total)>,
}

pub fn summarise(rows: &[SummaryRow]) -> Summary {
    let mut summary = Summary::default();
    for row in rows {
        summary.all.add(row.count, row.amount_fen);
    }
    summary.by_status = PayoutStatus::ALL
        .iter()
        .filter_map(|&status| {
            let mut total = Total::default();
            rows.iter().filter(|r| r.status == status).for_each(|r| total.add(r.count, r.amount_fen));
            (total.count > 0).then_some((status, total))
        })
        .collect();
    summary.by_funding = FundingMethod::ALL
        .iter()
        .filter_map(|&funding| {
            let mut total = Total::default();
            rows.iter().filter(|r| r.funding == Some(funding)).for_each(|r| total.add(r.count, r.amount_fen));
            (total.count > 0).then_some((funding, total))
        })
        .collect();
    summary
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn days_are_the_zones_calendar_days_at_most_93() {
        let ny = chrono_tz::America::New_York;
        // 2026-03-08: New York skips 02:00–03:00, a 23-hour day.
        let starts = day_starts(ny, date(2026, 3, 7), date(2026, 3, 9)).unwrap();
        let hours: Vec<i64> = starts.windows(2).map(|w| (w[1] - w[0]).num_hours()).collect();
        assert_eq!(hours, [24, 23, 24]);
        assert_eq!(starts[0], Utc.with_ymd_and_hms(2026, 3, 7, 5, 0, 0).unwrap());
        let sh = day_starts(chrono_tz::Asia::Shanghai, date(2026, 11, 24), date(2026, 11, 24)).unwrap();
        assert_eq!(
            sh,
            [
                Utc.with_ymd_and_hms(2026, 11, 23, 16, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 11, 24, 16, 0, 0).unwrap()
            ]
        );
        assert_eq!(day_starts(ny, date(2026, 1, 1), date(2026, 4, 3)).unwrap().len(), 94, "93 days");
        assert!(day_starts(ny, date(2026, 1, 1), date(2026, 4, 4)).is_err(), "94 days");
        assert!(day_starts(ny, date(2026, 1, 2), date(2026, 1, 1)).is_err(), "from after to");
    }

    #[test]
    fn a_day_shows_its_payouts_requests_quota_and_the_limits_at_its_end() {
        let starts = day_starts(chrono_tz::Asia::Shanghai, date(2026, 11, 24), date(2026, 11, 26)).unwrap();
        let committed = |day, funding, kind, count, amount_fen| CommittedRow {
            account: "cs".into(),
            day,
            funding: Some(funding),
            kind,
            count,
            amount_fen,
        };
        let rows = [
            committed(0, FundingMethod::Balance, PayoutType::Other, 2, 300),
            committed(0, FundingMethod::WechatScan, PayoutType::ShippingFee, 1, 100),
            committed(0, FundingMethod::AlipayScan, PayoutType::Other, 1, 50),
        ];
        let requests =
            [RequestRow { account: "cs".into(), day: 2, requested: 3, approved: 1, rejected: 1, expired: 0 }];
        let used = [DayAmount { account: "cs".into(), day: 0, amount_fen: 300 }];
        let set = |at: DateTime<Utc>, limits| LimitsChange { account: "cs".into(), at, limits };
        // Set during day 1, cleared during day 2.
        let changes = [
            set(starts[1] + chrono::TimeDelta::hours(1), Some((100, 500))),
            set(starts[2] + chrono::TimeDelta::hours(1), None),
        ];
        let current = BTreeMap::from([("cs".to_owned(), (7, 9))]);
        let days = account_days(
            date(2026, 11, 24),
            &starts,
            Found { committed: &rows, requests: &requests, quota_used: &used, refunds: &[] },
            &changes,
            &current,
        );
        assert_eq!(days.len(), 2, "day 1 has nothing to show");
        let first = &days[0].report;
        assert_eq!(days[0].day, date(2026, 11, 24));
        assert_eq!((first.payouts, first.amount, first.from_balance, first.by_scan), (4, 450, 300, 150));
        assert_eq!(
            first.by_type,
            vec![
                (PayoutType::ShippingFee, Total { count: 1, amount_fen: 100 }),
                (PayoutType::Other, Total { count: 3, amount_fen: 350 })
            ]
        );
        assert_eq!(first.quota_used, 300);
        assert_eq!(first.limits, Some((7, 9)), "before the first recorded change: the current limits");
        let third = &days[1].report;
        assert_eq!(days[1].day, date(2026, 11, 26));
        assert_eq!((third.requested, third.approved, third.rejected, third.expired), (3, 1, 1, 0));
        assert_eq!(third.limits, None, "cleared that day");
    }

    fn row(status: PayoutStatus, funding: Option<FundingMethod>, count: i64, amount_fen: i64) -> SummaryRow {
        SummaryRow { status, funding, count, amount_fen }
    }

    #[test]
    fn groups_add_up_per_status_and_per_funding() {
        use FundingMethod::*;
        use PayoutStatus::*;
        let rows = [
            row(Succeeded, Some(Balance), 2, 300),
            row(Succeeded, Some(WechatScan), 1, 150),
            row(PendingApproval, None, 1, 99),
            row(Paying, Some(Balance), 3, 1),
        ];
        let s = summarise(&rows);
        assert_eq!(s.all, Total { count: 7, amount_fen: 550 });
        assert_eq!(
            s.by_status,
            vec![
                (PendingApproval, Total { count: 1, amount_fen: 99 }),
                (Paying, Total { count: 3, amount_fen: 1 }),
                (Succeeded, Total { count: 3, amount_fen: 450 }),
            ]
        );
        assert_eq!(
            s.by_funding,
            vec![(Balance, Total { count: 5, amount_fen: 301 }), (WechatScan, Total { count: 1, amount_fen: 150 })],
            "the request without funding is in no funding group"
        );
        assert_eq!(summarise(&[]), Summary::default());
    }
}
