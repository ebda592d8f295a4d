//! The payout rules of rules.md ("Creating a payout", "Quotas", "Counting", "Statuses") as
//! pure functions over a snapshot: no database, no GraphQL, no system time.
use chrono::{DateTime, Months, TimeDelta, Utc};
use chrono_tz::Tz;

use super::{
    money::Cny,
    shop::{Policy, resolve_local},
    vocab::{BalanceBlocker, FundingChoice, FundingMethod, PayoutBlocker, PayoutStatus, Role},
};

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
    use chrono::{Datelike, Weekday};
    let local = from.with_timezone(&tz);
    let (mut date, time) = (local.date_naive(), local.time());
    let mut left = days;
    while left > 0 {
        date = date.succ_opt().unwrap_or(date);
        if !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    // A repeated local time is its earlier instant; a skipped one the first valid instant after.
    resolve_local(tz, date.and_time(time))
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

/// `now` minus whole calendar months in `tz` ("the same date and time N months earlier",
/// rules.md "Time"): the local date and time N months earlier, its day clamped to that
/// month's last day, then resolved as [`resolve_local`] says (a repeated local time is its
/// earlier instant, a skipped one the first valid instant after it).
pub fn months_before(now: DateTime<Utc>, tz: Tz, months: u32) -> DateTime<Utc> {
    let local = now.with_timezone(&tz).naive_local();
    // `NaiveDateTime::checked_sub_months` clamps the day; it fails only before chrono's first
    // representable date, which no order is older than.
    local.checked_sub_months(Months::new(months)).map_or(DateTime::<Utc>::MIN_UTC, |earlier| resolve_local(tz, earlier))
}

/// Decides on a payout of `amount` (`None`: judged at the minimum, without `AMOUNT_*` codes).
pub fn decide(s: &Snapshot, amount: Option<Cny>) -> Decision {
    decide_with_age_at(s, amount, s.now)
}

/// [`decide`], with the order's age (`ORDER_TOO_OLD`, `ORDER_GROUPED_3_TO_12_MONTHS`) taken at
/// `age_at` instead of at the snapshot's `now`: an approval judges the order as it was when
/// the request was made (rules.md "Approvals").
fn decide_with_age_at(s: &Snapshot, amount: Option<Cny>, age_at: DateTime<Utc>) -> Decision {
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
    let too_old = s.grouped_at.is_some_and(|grouped| grouped < months_before(age_at, s.tz, 12));
    match s.grouped_at {
        None => blockers.push(PayoutBlocker::OrderNotGrouped),
        Some(_) if too_old => blockers.push(PayoutBlocker::OrderTooOld),
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
    // Between 3 and 12 months: an order grouped more than a year ago is ORDER_TOO_OLD alone.
    if !too_old && s.grouped_at.is_some_and(|g| g < months_before(age_at, s.tz, 3)) {
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
/// sum; the 60 s rule and the attempts are not re-judged, and the order is judged as it was
/// when the request was made (`requested_at`): a request made while the order was under 3
/// months old may be approved from the balance after it turns 3 months; one made while it was
/// 3–12 months old stays scan-only (`ORDER_GROUPED_3_TO_12_MONTHS`) even after the order passes
/// a year; `ORDER_TOO_OLD` itself is not re-judged. Returns the first broken rule and all of
/// them.
pub fn approval_refusal(
    s: &Snapshot,
    amount: Cny,
    funding: FundingMethod,
    requested_at: DateTime<Utc>,
) -> Option<(&'static str, Vec<&'static str>)> {
    let admin = Snapshot { operator_role: Role::Admin, operator_quota: None, ..s.clone() };
    let d = decide_with_age_at(&admin, Some(amount), requested_at);
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

/// May a payout's history begin with `status` (its creation: a request, a scan payout
/// waiting for its recharge, or a balance payout debited at once)?
pub fn may_start(status: PayoutStatus) -> bool {
    matches!(status, PayoutStatus::PendingApproval | PayoutStatus::PendingRecharge | PayoutStatus::Paying)
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
mod tests;
