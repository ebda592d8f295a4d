//! The payout rules of rules.md ("Creating a payout", "Quotas", "Counting", "Statuses") as
//! pure functions over a snapshot: no database, no GraphQL, no system time.
use chrono::{DateTime, Months, TimeDelta, Utc};
use chrono_tz::Tz;

use super::types::{BalanceBlocker, FundingChoice, FundingMethod, PayoutBlocker, PayoutStatus};
use crate::{auth::Role, money::Cny, shops::rules::Policy};

/// Every payout is at least this much (§6 Q1).
pub const MIN_AMOUNT_FEN: i64 = 1_00;
/// Applications per order (§6 Q3).
pub const MAX_APPLICATIONS: u32 = 3;
/// Seconds between two payouts created on one order.
pub const RATE_LIMIT_SECONDS: i64 = 60;
/// A scan payout may be recharged for this long after its commit.
pub const RECHARGE_WINDOW: TimeDelta = TimeDelta::hours(1);
/// A payout still PAYING or FAILED this long after its commit closes (§4.2).
pub const CLOSE_AFTER: TimeDelta = TimeDelta::days(7);
/// A request undecided this long is rejected by the system.
pub const APPROVAL_EXPIRES_AFTER: TimeDelta = TimeDelta::days(7);
/// A closed payout's amount returns to the balance after this many business days.
pub const REFUND_BUSINESS_DAYS: u32 = 3;

/// `from` plus `days` business days (Monday–Friday in `tz`), at the same local time of day.
/// Holidays are not modelled. A start on a weekend counts from the next Monday.
pub fn add_business_days(from: DateTime<Utc>, tz: Tz, days: u32) -> DateTime<Utc> {
    use chrono::{Datelike, TimeZone, Weekday};
    let local = from.with_timezone(&tz);
    let (mut date, time) = (local.date_naive(), local.time());
    let mut left = days;
    while left > 0 {
        date = date.succ_opt().unwrap_or(date);
        if !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    // A local time skipped by a DST change falls to the next valid instant.
    tz.from_local_datetime(&date.and_time(time))
        .earliest()
        .or_else(|| tz.from_local_datetime(&(date.and_time(time) + TimeDelta::hours(1))).earliest())
        .map_or(from + TimeDelta::days(i64::from(days)), |t| t.with_timezone(&Utc))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimits {
    pub per_payout: Cny,
    pub daily: Cny,
}

/// Everything the decision reads, loaded in one transaction.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub now: DateTime<Utc>,
    /// The shop's time zone: months and years are calendar ones there.
    pub tz: Tz,
    pub has_unpaid_bills: bool,
    pub zero_entry: bool,
    pub deposit_paid: bool,
    pub balance: Cny,
    pub policy: Policy,
    /// Committed payouts of the shop today, every funding kind / balance-funded only.
    pub shop_paid_today: Cny,
    pub shop_paid_from_balance_today: Cny,
    pub grouped_at: Option<DateTime<Utc>>,
    pub activity_goods: bool,
    /// The order's payouts that count as applications (all but REJECTED, RECHARGE_FAILED).
    pub order_applications: u32,
    /// When the newest payout on the order was created.
    pub last_payout_created_at: Option<DateTime<Utc>>,
    pub operator_role: Role,
    pub operator_quota: Option<QuotaLimits>,
    /// Balance payouts the operator paid itself today.
    pub operator_used_today: Cny,
}

/// What the rules say about a payout of some amount on the snapshot's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub blockers: Vec<PayoutBlocker>,
    pub balance_blockers: Vec<BalanceBlocker>,
    pub min_amount: Cny,
    pub max_amount: Cny,
    pub remaining_attempts: u32,
    pub per_payout_limit: Option<Cny>,
    pub remaining_quota_today: Option<Cny>,
    pub can_request_approval: bool,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.blockers.is_empty()
    }

    pub fn balance_allowed(&self) -> bool {
        self.blockers.is_empty() && self.balance_blockers.is_empty()
    }

    /// The refusal of a payout with `funding`: the first broken rule's code and every code
    /// (payout blockers before balance blockers), or `None` when it may go ahead.
    pub fn refusal(&self, funding: FundingChoice) -> Option<(&'static str, Vec<&'static str>)> {
        let mut all: Vec<&'static str> = self.blockers.iter().map(|b| b.code()).collect();
        all.extend(self.balance_blockers.iter().map(|b| b.code()));
        let refused =
            !self.blockers.is_empty() || (funding == FundingChoice::Balance && !self.balance_blockers.is_empty());
        refused.then(|| (all[0], all))
    }
}

/// The largest payout allowed on the order.
pub fn max_amount(policy: &Policy, activity_goods: bool) -> Cny {
    if activity_goods { policy.max_amount_activity } else { policy.max_amount_regular }
}

/// `now` minus whole calendar months in `tz` ("the same date and time N months earlier").
pub fn months_before(now: DateTime<Utc>, tz: Tz, months: u32) -> DateTime<Utc> {
    let local = now.with_timezone(&tz);
    local.checked_sub_months(Months::new(months)).map_or(now, |t| t.with_timezone(&Utc))
}

/// Decides on a payout of `amount` (`None`: judged at the minimum, without `AMOUNT_*` codes).
pub fn decide(s: &Snapshot, amount: Option<Cny>) -> Decision {
    let min_amount = Cny::from_fen(MIN_AMOUNT_FEN);
    let max_amount = max_amount(&s.policy, s.activity_goods);
    let judged = amount.unwrap_or(min_amount);

    let mut blockers = Vec::new();
    if s.has_unpaid_bills {
        blockers.push(PayoutBlocker::ShopUnpaidBills);
    }
    if s.shop_paid_today + judged > s.policy.daily_cap {
        blockers.push(PayoutBlocker::ShopDailyCapReached);
    }
    match s.grouped_at {
        None => blockers.push(PayoutBlocker::OrderNotGrouped),
        Some(grouped) if grouped < months_before(s.now, s.tz, 12) => blockers.push(PayoutBlocker::OrderTooOld),
        Some(_) => {}
    }
    if s.last_payout_created_at.is_some_and(|t| s.now - t < TimeDelta::seconds(RATE_LIMIT_SECONDS)) {
        blockers.push(PayoutBlocker::OrderRateLimited);
    }
    if s.order_applications >= MAX_APPLICATIONS {
        blockers.push(PayoutBlocker::OrderAttemptsExhausted);
    }
    if let Some(amount) = amount {
        if amount < min_amount {
            blockers.push(PayoutBlocker::AmountBelowMinimum);
        }
        if amount > max_amount {
            blockers.push(PayoutBlocker::AmountAboveMaximum);
        }
    }

    let quota = if s.operator_role == Role::Admin { None } else { s.operator_quota };
    let mut balance_blockers = Vec::new();
    if s.zero_entry && !s.deposit_paid {
        balance_blockers.push(BalanceBlocker::ZeroEntryNoDeposit);
    }
    if matches!(s.operator_role, Role::Cs | Role::Staff) && quota.is_none() {
        balance_blockers.push(BalanceBlocker::NoQuotaConfigured);
    }
    if let Some(q) = quota {
        if judged > q.per_payout {
            balance_blockers.push(BalanceBlocker::PerPayoutQuotaExceeded);
        }
        if s.operator_used_today + judged > q.daily {
            balance_blockers.push(BalanceBlocker::DailyQuotaExceeded);
        }
    }
    if s.shop_paid_from_balance_today + judged > s.policy.daily_balance_cap {
        balance_blockers.push(BalanceBlocker::ShopDailyBalanceCapReached);
    }
    if s.grouped_at.is_some_and(|g| g < months_before(s.now, s.tz, 3)) {
        balance_blockers.push(BalanceBlocker::OrderGrouped3To12Months);
    }
    if s.balance < judged {
        balance_blockers.push(BalanceBlocker::InsufficientBalance);
    }

    let can_request_approval = s.operator_role != Role::Admin && blockers.is_empty();
    Decision {
        blockers,
        balance_blockers,
        min_amount,
        max_amount,
        remaining_attempts: MAX_APPLICATIONS.saturating_sub(s.order_applications),
        per_payout_limit: quota.map(|q| q.per_payout),
        remaining_quota_today: quota.map(|q| {
            let left = q.daily - s.operator_used_today;
            if left.is_negative() { Cny::ZERO } else { left }
        }),
        can_request_approval,
    }
}

/// The re-check when the admin approves a request (rules.md "Approvals"): the shop's unpaid
/// bills and daily cap, and for a balance approval every balance blocker but the three quota
/// ones — judged with the admin as operator. The request is not committed, so it is in no
/// sum; the 60 s rule, the attempts and the order's age are not re-judged. Returns the first
/// broken rule and all of them.
pub fn approval_refusal(
    s: &Snapshot,
    amount: Cny,
    funding: FundingMethod,
) -> Option<(&'static str, Vec<&'static str>)> {
    let admin = Snapshot { operator_role: Role::Admin, operator_quota: None, ..s.clone() };
    let d = decide(&admin, Some(amount));
    let mut all: Vec<&'static str> = d
        .blockers
        .iter()
        .filter(|b| matches!(b, PayoutBlocker::ShopUnpaidBills | PayoutBlocker::ShopDailyCapReached))
        .map(|b| b.code())
        .collect();
    if funding == FundingMethod::Balance {
        all.extend(
            d.balance_blockers
                .iter()
                .filter(|b| {
                    !matches!(
                        b,
                        BalanceBlocker::NoQuotaConfigured
                            | BalanceBlocker::PerPayoutQuotaExceeded
                            | BalanceBlocker::DailyQuotaExceeded
                    )
                })
                .map(|b| b.code()),
        );
    }
    all.first().copied().map(|first| (first, all))
}

/// Does this status count as an application on its order (the 3-limit)?
pub fn counts_as_application(status: PayoutStatus) -> bool {
    !matches!(status, PayoutStatus::Rejected | PayoutStatus::RechargeFailed)
}

/// The state machine of rules.md "Statuses": may a payout go from `from` to `to`?
pub fn may_transition(from: PayoutStatus, to: PayoutStatus) -> bool {
    use PayoutStatus::*;
    matches!(
        (from, to),
        (PendingApproval, Paying | PendingRecharge | Rejected)
            | (PendingRecharge, Paying | RechargeFailed)
            | (Paying, Succeeded | Failed | Closed)
            | (Failed, Paying | Closed)
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn cny(s: &str) -> Cny {
        s.parse().unwrap()
    }

    fn now() -> DateTime<Utc> {
        // 2026-11-26 12:00 in Shanghai.
        Utc.with_ymd_and_hms(2026, 11, 26, 4, 0, 0).unwrap()
    }

    /// A snapshot where every rule passes for a CS agent with a quota of 100 / 300.
    fn ok() -> Snapshot {
        Snapshot {
            now: now(),
            tz: "Asia/Shanghai".parse().unwrap(),
            has_unpaid_bills: false,
            zero_entry: false,
            deposit_paid: true,
            balance: cny("1000"),
            policy: Policy::with_defaults(None, None, None, None),
            shop_paid_today: Cny::ZERO,
            shop_paid_from_balance_today: Cny::ZERO,
            grouped_at: Some(now() - TimeDelta::days(1)),
            activity_goods: false,
            order_applications: 0,
            last_payout_created_at: None,
            operator_role: Role::Cs,
            operator_quota: Some(QuotaLimits { per_payout: cny("100"), daily: cny("300") }),
            operator_used_today: Cny::ZERO,
        }
    }

    fn blockers(s: &Snapshot, amount: &str) -> Vec<&'static str> {
        let d = decide(s, Some(cny(amount)));
        d.blockers.iter().map(|b| b.code()).chain(d.balance_blockers.iter().map(|b| b.code())).collect()
    }

    #[test]
    fn a_clean_snapshot_passes() {
        let d = decide(&ok(), Some(cny("10")));
        assert!(d.allowed() && d.balance_allowed(), "{d:?}");
        assert_eq!(d.remaining_attempts, 3);
        assert_eq!(d.remaining_quota_today, Some(cny("300")));
        assert!(d.can_request_approval);
    }

    #[test]
    fn each_rule_at_its_boundary() {
        type Case = (&'static str, fn(&mut Snapshot), &'static str, Vec<&'static str>);
        let cases: Vec<Case> = vec![
            ("unpaid bills", |s| s.has_unpaid_bills = true, "10", vec!["SHOP_UNPAID_BILLS"]),
            ("daily cap exactly reached", |s| s.shop_paid_today = cny("4990"), "10", vec![]),
            ("daily cap passed by a fen", |s| s.shop_paid_today = cny("4990.01"), "10", vec!["SHOP_DAILY_CAP_REACHED"]),
            ("not grouped", |s| s.grouped_at = None, "10", vec!["ORDER_NOT_GROUPED"]),
            (
                "grouped exactly one year ago",
                |s| s.grouped_at = Some(Utc.with_ymd_and_hms(2025, 11, 26, 4, 0, 0).unwrap()),
                "10",
                vec!["ORDER_GROUPED_3_TO_12_MONTHS"],
            ),
            (
                "grouped a year and a second ago",
                |s| s.grouped_at = Some(Utc.with_ymd_and_hms(2025, 11, 26, 3, 59, 59).unwrap()),
                "10",
                vec!["ORDER_TOO_OLD", "ORDER_GROUPED_3_TO_12_MONTHS"],
            ),
            (
                "grouped exactly three months ago",
                |s| s.grouped_at = Some(Utc.with_ymd_and_hms(2026, 8, 26, 4, 0, 0).unwrap()),
                "10",
                vec![],
            ),
            (
                "grouped three months and a second ago",
                |s| s.grouped_at = Some(Utc.with_ymd_and_hms(2026, 8, 26, 3, 59, 59).unwrap()),
                "10",
                vec!["ORDER_GROUPED_3_TO_12_MONTHS"],
            ),
            (
                "created 59 s ago",
                |s| s.last_payout_created_at = Some(now() - TimeDelta::seconds(59)),
                "10",
                vec!["ORDER_RATE_LIMITED"],
            ),
            (
                "created exactly 60 s ago",
                |s| s.last_payout_created_at = Some(now() - TimeDelta::seconds(60)),
                "10",
                vec![],
            ),
            ("two applications", |s| s.order_applications = 2, "10", vec![]),
            ("three applications", |s| s.order_applications = 3, "10", vec!["ORDER_ATTEMPTS_EXHAUSTED"]),
            ("exactly the minimum", |_| {}, "1.00", vec![]),
            ("below the minimum", |_| {}, "0.99", vec!["AMOUNT_BELOW_MINIMUM"]),
            ("exactly the regular maximum", |s| s.operator_quota = None, "200.00", vec!["NO_QUOTA_CONFIGURED"]),
            ("above the regular maximum", |s| s.operator_role = Role::Admin, "200.01", vec!["AMOUNT_ABOVE_MAXIMUM"]),
            ("exactly the activity maximum", |s| s.activity_goods = true, "50.00", vec![]),
            ("above the activity maximum", |s| s.activity_goods = true, "50.01", vec!["AMOUNT_ABOVE_MAXIMUM"]),
            (
                "zero entry without deposit",
                |s| {
                    s.zero_entry = true;
                    s.deposit_paid = false
                },
                "10",
                vec!["ZERO_ENTRY_NO_DEPOSIT"],
            ),
            ("zero entry with deposit", |s| s.zero_entry = true, "10", vec![]),
            (
                "staff without quota",
                |s| {
                    s.operator_role = Role::Staff;
                    s.operator_quota = None
                },
                "10",
                vec!["NO_QUOTA_CONFIGURED"],
            ),
            (
                "cs admin without quota",
                |s| {
                    s.operator_role = Role::CsAdmin;
                    s.operator_quota = None
                },
                "10",
                vec![],
            ),
            ("cs admin with a quota", |s| s.operator_role = Role::CsAdmin, "100.01", vec!["PER_PAYOUT_QUOTA_EXCEEDED"]),
            (
                "admin ignores any quota",
                |s| {
                    s.operator_role = Role::Admin;
                    s.operator_used_today = cny("1000")
                },
                "150",
                vec![],
            ),
            ("exactly the per-payout limit", |_| {}, "100.00", vec![]),
            ("daily quota exactly used", |s| s.operator_used_today = cny("290"), "10", vec![]),
            ("daily quota passed", |s| s.operator_used_today = cny("290.01"), "10", vec!["DAILY_QUOTA_EXCEEDED"]),
            ("balance cap exactly", |s| s.shop_paid_from_balance_today = cny("1990"), "10", vec![]),
            (
                "balance cap passed",
                |s| s.shop_paid_from_balance_today = cny("1990.01"),
                "10",
                vec!["SHOP_DAILY_BALANCE_CAP_REACHED"],
            ),
            ("balance exactly enough", |s| s.balance = cny("10"), "10", vec![]),
            ("balance a fen short", |s| s.balance = cny("9.99"), "10", vec!["INSUFFICIENT_BALANCE"]),
        ];
        for (name, change, amount, expected) in cases {
            let mut s = ok();
            change(&mut s);
            assert_eq!(blockers(&s, amount), expected, "{name}");
        }
    }

    #[test]
    fn the_day_boundary_is_the_shops() {
        // paid_today is summed by the caller over the shop's day; here: months are calendar
        // months in the shop's zone. 2026-05-31 23:30 in Shanghai minus 3 months is
        // 2026-02-28 23:30 there (clamped to the month's end).
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 5, 31, 15, 30, 0).unwrap();
        assert_eq!(months_before(now, tz, 3), Utc.with_ymd_and_hms(2026, 2, 28, 15, 30, 0).unwrap());
        // In UTC the same instant is still May 31, 15:30 → Feb 28 15:30 as well, but a UTC
        // shop one hour later sees June 1 → March 1.
        let utc: Tz = "UTC".parse().unwrap();
        let later = Utc.with_ymd_and_hms(2026, 6, 1, 0, 30, 0).unwrap();
        assert_eq!(months_before(later, utc, 3), Utc.with_ymd_and_hms(2026, 3, 1, 0, 30, 0).unwrap());
    }

    #[test]
    fn several_rules_break_together_in_table_order() {
        let mut s = ok();
        s.has_unpaid_bills = true;
        s.order_applications = 3;
        s.balance = Cny::ZERO;
        s.operator_quota = None;
        let d = decide(&s, Some(cny("0.50")));
        let (code, all) = d.refusal(FundingChoice::WechatScan).unwrap();
        assert_eq!(code, "SHOP_UNPAID_BILLS");
        assert_eq!(
            all,
            [
                "SHOP_UNPAID_BILLS",
                "ORDER_ATTEMPTS_EXHAUSTED",
                "AMOUNT_BELOW_MINIMUM",
                "NO_QUOTA_CONFIGURED",
                "INSUFFICIENT_BALANCE"
            ]
        );
        assert!(!d.can_request_approval);
    }

    #[test]
    fn balance_blockers_refuse_only_balance_funding() {
        let mut s = ok();
        s.balance = Cny::ZERO;
        let d = decide(&s, Some(cny("10")));
        assert_eq!(d.refusal(FundingChoice::Balance).map(|r| r.0), Some("INSUFFICIENT_BALANCE"));
        assert_eq!(d.refusal(FundingChoice::WechatScan), None);
        assert_eq!(d.refusal(FundingChoice::AlipayScan), None);
        assert_eq!(d.refusal(FundingChoice::RequestApproval), None);
    }

    #[test]
    fn without_an_amount_the_minimum_is_judged_and_no_amount_codes() {
        let mut s = ok();
        s.shop_paid_today = cny("4999.50");
        s.activity_goods = true;
        let d = decide(&s, None);
        assert_eq!(d.blockers, vec![PayoutBlocker::ShopDailyCapReached]);
        assert_eq!(d.max_amount, cny("50"));
        assert_eq!(d.min_amount, cny("1"));
    }

    #[test]
    fn remaining_quota_never_goes_negative() {
        let mut s = ok();
        s.operator_used_today = cny("350");
        assert_eq!(decide(&s, None).remaining_quota_today, Some(Cny::ZERO));
        s.operator_role = Role::Admin;
        assert_eq!(decide(&s, None).remaining_quota_today, None);
        assert!(!decide(&s, None).can_request_approval);
    }

    #[test]
    fn three_business_days_skip_the_weekend_at_the_same_time_of_day() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let at = |d: u32, h: u32, m: u32| tz.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap().with_timezone(&Utc);
        // Friday 2026-11-27 09:30 → Wednesday 2026-12-02 09:30.
        let wed = tz.with_ymd_and_hms(2026, 12, 2, 9, 30, 0).unwrap().with_timezone(&Utc);
        assert_eq!(add_business_days(at(27, 9, 30), tz, 3), wed);
        // Monday → Thursday; Saturday and Sunday → Wednesday.
        assert_eq!(add_business_days(at(23, 23, 59), tz, 3), at(26, 23, 59));
        assert_eq!(
            add_business_days(at(28, 8, 0), tz, 3),
            tz.with_ymd_and_hms(2026, 12, 2, 8, 0, 0).unwrap().with_timezone(&Utc)
        );
        assert_eq!(
            add_business_days(at(29, 8, 0), tz, 3),
            tz.with_ymd_and_hms(2026, 12, 2, 8, 0, 0).unwrap().with_timezone(&Utc)
        );
        // Friday 23:30 in Shanghai is still Friday there although it is Friday 15:30 UTC.
        assert_eq!(
            add_business_days(at(27, 23, 30), tz, 3),
            tz.with_ymd_and_hms(2026, 12, 2, 23, 30, 0).unwrap().with_timezone(&Utc)
        );
    }

    #[test]
    fn approval_rechecks_only_the_shop_rules_and_non_quota_balance_rules() {
        let mut s = ok();
        // Not re-judged: the 60 s rule, the attempts, the order's age, the amount bounds, quotas.
        s.last_payout_created_at = Some(now());
        s.order_applications = 3;
        s.grouped_at = Some(now() - TimeDelta::days(400));
        s.operator_quota = Some(QuotaLimits { per_payout: cny("1"), daily: cny("1") });
        assert_eq!(approval_refusal(&s, cny("10"), FundingMethod::WechatScan), None);
        // Re-judged for a balance approval: the 3–12 months rule and the balance.
        let balance = approval_refusal(&s, cny("10"), FundingMethod::Balance).unwrap();
        assert_eq!(balance.1, ["ORDER_GROUPED_3_TO_12_MONTHS"]);
        s.grouped_at = Some(now() - TimeDelta::days(1));
        s.balance = cny("9.99");
        s.shop_paid_from_balance_today = cny("1995");
        assert_eq!(
            approval_refusal(&s, cny("10"), FundingMethod::Balance).unwrap().1,
            ["SHOP_DAILY_BALANCE_CAP_REACHED", "INSUFFICIENT_BALANCE"]
        );
        assert_eq!(approval_refusal(&s, cny("10"), FundingMethod::AlipayScan), None);
        // Always re-judged: unpaid bills and the daily cap.
        s.has_unpaid_bills = true;
        s.shop_paid_today = cny("4995");
        assert_eq!(
            approval_refusal(&s, cny("10"), FundingMethod::AlipayScan).unwrap(),
            ("SHOP_UNPAID_BILLS", vec!["SHOP_UNPAID_BILLS", "SHOP_DAILY_CAP_REACHED"])
        );
    }

    #[test]
    fn applications_and_transitions() {
        use PayoutStatus::*;
        assert!(!counts_as_application(Rejected) && !counts_as_application(RechargeFailed));
        for s in [PendingApproval, PendingRecharge, Paying, Succeeded, Failed, Closed] {
            assert!(counts_as_application(s), "{s:?}");
        }
        assert!(may_transition(PendingApproval, Paying));
        assert!(may_transition(Failed, Paying));
        assert!(!may_transition(Succeeded, Failed));
        assert!(!may_transition(RechargeFailed, Paying));
        assert!(!may_transition(Rejected, PendingApproval));
        assert!(!may_transition(Closed, Paying));
    }
}
