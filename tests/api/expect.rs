//! Expectations written out from rules.md, never imported from the server: a wrong constant,
//! table or date rule in the server fails the tests that use these.
use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;

/// rules.md "Statuses": a scan payout waits 1 h for its recharge.
pub const RECHARGE_WINDOW: TimeDelta = TimeDelta::hours(1);
/// A payout still PAYING or FAILED 7 days after its commit closes.
pub const CLOSE_AFTER: TimeDelta = TimeDelta::days(7);
/// An account card stays open 72 h.
pub const CARD_OPEN: TimeDelta = TimeDelta::hours(72);

/// The refund of a closed payout: 3 business days (Monday–Friday in the shop's zone).
pub const REFUND_BUSINESS_DAYS: u32 = 3;

/// Every edge of rules.md's status diagram (`None`: the creation).
pub const EDGES: &[(Option<&str>, &str)] = &[
    (None, "PENDING_APPROVAL"),
    (None, "PAYING"),
    (None, "PENDING_RECHARGE"),
    (Some("PENDING_APPROVAL"), "PAYING"),
    (Some("PENDING_APPROVAL"), "PENDING_RECHARGE"),
    (Some("PENDING_APPROVAL"), "REJECTED"),
    (Some("PENDING_RECHARGE"), "PAYING"),
    (Some("PENDING_RECHARGE"), "RECHARGE_FAILED"),
    (Some("PAYING"), "SUCCEEDED"),
    (Some("PAYING"), "FAILED"),
    (Some("FAILED"), "PAYING"),
    (Some("PAYING"), "CLOSED"),
    (Some("FAILED"), "CLOSED"),
];

pub fn may_transition(from: Option<&str>, to: &str) -> bool {
    EDGES.contains(&(from, to))
}

/// A local wall time in `tz` as an instant: a repeated time is its earlier instant, a skipped
/// one the first valid instant after the gap (rules.md "Time").
pub fn local(tz: Tz, t: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&t) {
        LocalResult::Single(x) => x.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => {
            // Gaps end on a whole minute: the first valid minute after `t` is the gap's end.
            let mut probe = t.with_second(0).and_then(|p| p.with_nanosecond(0)).expect("a time");
            loop {
                probe += TimeDelta::minutes(1);
                if let Some(x) = tz.from_local_datetime(&probe).earliest() {
                    break x.with_timezone(&Utc);
                }
            }
        }
    }
}

/// `n` business days (Monday–Friday in `tz`) after `t`, at the same local time of day.
pub fn add_business_days(t: DateTime<Utc>, tz: Tz, n: u32) -> DateTime<Utc> {
    let start = t.with_timezone(&tz).naive_local();
    let mut date = start.date();
    let mut counted = 0;
    while counted < n {
        date = date.checked_add_days(Days::new(1)).expect("a date");
        if !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            counted += 1;
        }
    }
    local(tz, date.and_time(start.time()))
}

/// The same local date and time `months` calendar months before `t` in `tz` (rules.md "Time":
/// a day that month lacks is its last day; the wall time resolved as [`local`] says).
pub fn months_before(t: DateTime<Utc>, tz: Tz, months: u32) -> DateTime<Utc> {
    let wall = t.with_timezone(&tz).naive_local();
    let earlier = wall.checked_sub_months(chrono::Months::new(months)).expect("a date");
    local(tz, earlier)
}

/// The next local midnight in `tz` after `t`: when "today" ends.
pub fn next_midnight(t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let tomorrow = t.with_timezone(&tz).date_naive().checked_add_days(Days::new(1)).expect("a date");
    local(tz, tomorrow.and_hms_opt(0, 0, 0).expect("midnight"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_expectations_agree_with_rules_md_examples() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let sh = chrono_tz::Asia::Shanghai;
        // Friday 10:00 Shanghai + 3 business days = Wednesday 10:00.
        assert_eq!(add_business_days(at("2026-11-27T02:00:00Z"), sh, 3), at("2026-12-02T02:00:00Z"));
        // Saturday → Wednesday; Tuesday → Friday.
        assert_eq!(add_business_days(at("2026-11-28T02:00:00Z"), sh, 3), at("2026-12-02T02:00:00Z"));
        assert_eq!(add_business_days(at("2026-11-24T02:00:00Z"), sh, 3), at("2026-11-27T02:00:00Z"));
        // New York: Friday 2026-10-30 01:30 EDT + 3 = Wednesday 2026-11-04 01:30 EST (after the
        // fall-back on Sunday 1 November).
        let ny = chrono_tz::America::New_York;
        assert_eq!(add_business_days(at("2026-10-30T05:30:00Z"), ny, 3), at("2026-11-04T06:30:00Z"));
        // A repeated 01:30 is its earlier instant (EDT), a skipped 02:30 the gap's end, 03:00.
        let naive = |s: &str| s.parse::<NaiveDateTime>().unwrap();
        assert_eq!(local(ny, naive("2026-11-01T01:30:00")), at("2026-11-01T05:30:00Z"));
        assert_eq!(local(ny, naive("2026-03-08T02:30:00")), at("2026-03-08T07:00:00Z"));
        assert_eq!(next_midnight(at("2026-11-24T02:00:00Z"), sh), at("2026-11-24T16:00:00Z"));
        // 31 May minus 3 months is the last day of February.
        assert_eq!(months_before(at("2026-05-31T04:00:00Z"), sh, 3), at("2026-02-28T04:00:00Z"));
        assert!(may_transition(Some("FAILED"), "PAYING") && !may_transition(Some("SUCCEEDED"), "CLOSED"));
    }
}
