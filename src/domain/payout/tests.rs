//! Unit tests of the payout rules.
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
            "grouped a year and a second ago: too old, and nothing else",
            |s| s.grouped_at = Some(Utc.with_ymd_and_hms(2025, 11, 26, 3, 59, 59).unwrap()),
            "10",
            vec!["ORDER_TOO_OLD"],
        ),
        ("grouped two years ago", |s| s.grouped_at = Some(now() - TimeDelta::days(730)), "10", vec!["ORDER_TOO_OLD"]),
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
        ("created exactly 60 s ago", |s| s.last_payout_created_at = Some(now() - TimeDelta::seconds(60)), "10", vec![]),
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

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

#[test]
fn a_day_that_month_lacks_is_its_last_day() {
    let tz: Tz = "Asia/Shanghai".parse().unwrap();
    let local = |y, mo, d| tz.with_ymd_and_hms(y, mo, d, 12, 0, 0).unwrap().with_timezone(&Utc);
    assert_eq!(months_before(local(2026, 3, 31), tz, 1), local(2026, 2, 28));
    assert_eq!(months_before(local(2028, 5, 31), tz, 3), local(2028, 2, 29), "a leap year");
    assert_eq!(months_before(local(2028, 2, 29), tz, 12), local(2027, 2, 28));
    assert_eq!(months_before(local(2026, 12, 31), tz, 3), local(2026, 9, 30));
}

#[test]
fn a_local_time_a_daylight_saving_change_skips_is_the_first_valid_instant_after_it() {
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    // 2026-06-29 02:30 CEST − 3 months = 2026-03-29 02:30, which the spring change skips
    // (02:00 CET → 03:00 CEST): 03:00 CEST, 01:00 UTC.
    assert_eq!(months_before(utc(2026, 6, 29, 0, 30), berlin, 3), utc(2026, 3, 29, 1, 0));
    // 2027-03-29 02:30 CEST − 12 months: the same skipped time.
    assert_eq!(months_before(utc(2027, 3, 29, 0, 30), berlin, 12), utc(2026, 3, 29, 1, 0));
    // The whole skipped hour maps to the same instant; the minute after it is itself.
    assert_eq!(months_before(utc(2026, 6, 29, 0, 0), berlin, 3), utc(2026, 3, 29, 1, 0), "02:00 is skipped too");
    assert_eq!(months_before(utc(2026, 6, 29, 0, 59), berlin, 3), utc(2026, 3, 29, 1, 0));
    assert_eq!(months_before(utc(2026, 6, 29, 1, 0), berlin, 3), utc(2026, 3, 29, 1, 0), "03:00 exists");
    assert_eq!(months_before(utc(2026, 6, 29, 1, 1), berlin, 3), utc(2026, 3, 29, 1, 1));
    // Below the second, too: 02:30:00.25 falls on 03:00:00.000 CEST exactly.
    let fraction = utc(2026, 6, 29, 0, 30) + TimeDelta::milliseconds(250);
    assert_eq!(months_before(fraction, berlin, 3), utc(2026, 3, 29, 1, 0));
    // A half-hour change: Lord Howe Island goes from 02:00 (+10:30) to 02:30 (+11:00) on
    // 2026-10-04. 2027-01-04 02:15 (+11:00) − 3 months is skipped: 02:30 (+11:00).
    let lord_howe: Tz = "Australia/Lord_Howe".parse().unwrap();
    assert_eq!(months_before(utc(2027, 1, 3, 15, 15), lord_howe, 3), utc(2026, 10, 3, 15, 30));
}

#[test]
fn a_local_time_a_daylight_saving_change_repeats_is_its_earlier_instant() {
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    // 2027-01-25 02:30 CET − 3 months = 2026-10-25 02:30, which the autumn change repeats
    // (03:00 CEST → 02:00 CET): the first one, CEST, 00:30 UTC (not 01:30 UTC).
    assert_eq!(months_before(utc(2027, 1, 25, 1, 30), berlin, 3), utc(2026, 10, 25, 0, 30));
    // 2027-10-25 02:30 CEST − 12 months: the same.
    assert_eq!(months_before(utc(2027, 10, 25, 0, 30), berlin, 12), utc(2026, 10, 25, 0, 30));
}

#[test]
fn the_age_rules_hold_across_a_daylight_saving_change() {
    // A Berlin shop at 2026-06-29 02:30 CEST: three months back is 03:00 CEST on March 29.
    let mut s = ok();
    s.tz = "Europe/Berlin".parse().unwrap();
    s.now = utc(2026, 6, 29, 0, 30);
    for (grouped, expected) in [
        (s.now - TimeDelta::days(30), vec![]),
        (utc(2026, 3, 29, 1, 0), vec![]),
        (utc(2026, 3, 29, 0, 59) + TimeDelta::seconds(59), vec!["ORDER_GROUPED_3_TO_12_MONTHS"]),
    ] {
        s.grouped_at = Some(grouped);
        assert_eq!(blockers(&s, "10"), expected, "grouped at {grouped}");
    }
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
fn business_days_that_land_in_a_daylight_saving_change() {
    // Cairo changes on weekdays: Friday 2024-04-26 00:00 → 01:00 (skipped), Thursday
    // 2024-10-31 24:00 → 23:00 (repeated).
    let tz: Tz = "Africa/Cairo".parse().unwrap();
    let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    // Tuesday 00:30 EET + 3 = Friday 00:30, skipped: the change itself, 01:00 EEST.
    assert_eq!(add_business_days(utc("2024-04-22T22:30:00Z"), tz, 3), utc("2024-04-25T22:00:00Z"));
    // Monday 23:30 EEST + 3 = Thursday 23:30, repeated: the earlier one, EEST.
    assert_eq!(add_business_days(utc("2024-10-28T20:30:00Z"), tz, 3), utc("2024-10-31T20:30:00Z"));
    // New York's fall-back Sunday lies between: Friday 2026-10-30 01:30 EDT + 3 = Wednesday
    // 2026-11-04 01:30 EST, 25 hours more than 5 × 24.
    let ny: Tz = "America/New_York".parse().unwrap();
    assert_eq!(add_business_days(utc("2026-10-30T05:30:00Z"), ny, 3), utc("2026-11-04T06:30:00Z"));
}

#[test]
fn allowed_means_no_payout_blocker_and_balance_allowed_no_blocker_at_all() {
    let base = decide(&ok(), Some(cny("10")));
    let with = |blockers: Vec<PayoutBlocker>, balance_blockers: Vec<BalanceBlocker>| Decision {
        blockers,
        balance_blockers,
        ..base.clone()
    };
    let d = with(vec![], vec![BalanceBlocker::InsufficientBalance]);
    assert_eq!((d.allowed(), d.balance_allowed()), (true, false));
    let d = with(vec![PayoutBlocker::OrderNotGrouped], vec![]);
    assert_eq!((d.allowed(), d.balance_allowed()), (false, false));
    let d = with(vec![], vec![]);
    assert_eq!((d.allowed(), d.balance_allowed()), (true, true));
}

#[test]
fn approval_rechecks_only_the_shop_rules_and_non_quota_balance_rules() {
    let mut s = ok();
    let asked = now() - TimeDelta::days(6);
    // Not re-judged: the 60 s rule, the attempts, the amount bounds, quotas.
    s.last_payout_created_at = Some(now());
    s.order_applications = 3;
    s.operator_quota = Some(QuotaLimits { per_payout: cny("1"), daily: cny("1") });
    assert_eq!(approval_refusal(&s, cny("10"), FundingMethod::Balance, asked), None);
    // Re-judged for a balance approval: the balance and the shop's balance cap.
    s.balance = cny("9.99");
    s.shop_paid_from_balance_today = cny("1995");
    assert_eq!(
        approval_refusal(&s, cny("10"), FundingMethod::Balance, asked).unwrap().1,
        ["SHOP_DAILY_BALANCE_CAP_REACHED", "INSUFFICIENT_BALANCE"]
    );
    assert_eq!(approval_refusal(&s, cny("10"), FundingMethod::AlipayScan, asked), None);
    s.zero_entry = true;
    s.deposit_paid = false;
    assert_eq!(approval_refusal(&s, cny("10"), FundingMethod::Balance, asked).unwrap().0, "ZERO_ENTRY_NO_DEPOSIT");
    // Always re-judged: unpaid bills and the daily cap.
    s.has_unpaid_bills = true;
    s.shop_paid_today = cny("4995");
    assert_eq!(
        approval_refusal(&s, cny("10"), FundingMethod::AlipayScan, asked).unwrap(),
        ("SHOP_UNPAID_BILLS", vec!["SHOP_UNPAID_BILLS", "SHOP_DAILY_CAP_REACHED"])
    );
}

/// rules.md "Approvals": the order is judged as it was when the request was made.
#[test]
fn approval_judges_the_order_age_at_the_request() {
    let tz = ok().tz;
    let mut s = ok();
    let asked = now() - TimeDelta::days(6);
    // Under 3 months old at the request, past 3 months now: approvable from the balance.
    s.grouped_at = Some(months_before(asked, tz, 3) + TimeDelta::seconds(1));
    assert!(s.grouped_at.is_some_and(|g| g < months_before(now(), tz, 3)), "past 3 months now");
    assert_eq!(approval_refusal(&s, cny("10"), FundingMethod::Balance, asked), None);
    // Exactly 3 months old at the request is not more than 3 months: still the balance.
    s.grouped_at = Some(months_before(asked, tz, 3));
    assert_eq!(approval_refusal(&s, cny("10"), FundingMethod::Balance, asked), None);
    // 3–12 months old at the request: scan only, whatever the order's age now.
    s.grouped_at = Some(months_before(asked, tz, 3) - TimeDelta::seconds(1));
    let refused = approval_refusal(&s, cny("10"), FundingMethod::Balance, asked).unwrap();
    assert_eq!(refused.1, ["ORDER_GROUPED_3_TO_12_MONTHS"]);
    assert_eq!(approval_refusal(&s, cny("10"), FundingMethod::WechatScan, asked), None);
    // Under a year at the request, past a year now: still scan-only (not dropped by the year
    // rule), and the year limit itself is not re-judged (a scan approval goes ahead).
    s.grouped_at = Some(months_before(asked, tz, 12) + TimeDelta::seconds(1));
    assert!(s.grouped_at.is_some_and(|g| g < months_before(now(), tz, 12)), "past a year now");
    assert_eq!(
        approval_refusal(&s, cny("10"), FundingMethod::Balance, asked).unwrap().1,
        ["ORDER_GROUPED_3_TO_12_MONTHS"]
    );
    assert_eq!(approval_refusal(&s, cny("10"), FundingMethod::AlipayScan, asked), None);
    // Judged at the request, not now: the same order with the request made today is too old.
    assert_eq!(decide(&s, Some(cny("10"))).blockers, [PayoutBlocker::OrderTooOld]);
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

#[test]
fn a_history_starts_where_a_creation_can_put_a_payout() {
    use PayoutStatus::*;
    for s in [PendingApproval, PendingRecharge, Paying] {
        assert!(may_start(s), "{s:?}");
    }
    for s in [RechargeFailed, Rejected, Succeeded, Failed, Closed] {
        assert!(!may_start(s), "{s:?}");
    }
}
