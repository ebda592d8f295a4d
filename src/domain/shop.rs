//! Shop policy defaults and the shop's "today". Pure: no database, no GraphQL.
use chrono::{DateTime, Days, LocalResult, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::money::Cny;

/// Policy defaults (rules.md, "Creating a payout"); each is a per-shop setting.
pub const DEFAULT_DAILY_CAP_FEN: i64 = 5000_00;
pub const DEFAULT_DAILY_BALANCE_CAP_FEN: i64 = 2000_00;
pub const DEFAULT_MAX_AMOUNT_REGULAR_FEN: i64 = 200_00;
pub const DEFAULT_MAX_AMOUNT_ACTIVITY_FEN: i64 = 50_00;

/// A shop's policy, with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub daily_cap: Cny,
    pub daily_balance_cap: Cny,
    pub max_amount_regular: Cny,
    pub max_amount_activity: Cny,
}

impl Policy {
    pub fn with_defaults(
        daily_cap: Option<Cny>,
        daily_balance_cap: Option<Cny>,
        max_amount_regular: Option<Cny>,
        max_amount_activity: Option<Cny>,
    ) -> Self {
        Policy {
            daily_cap: daily_cap.unwrap_or(Cny::from_fen(DEFAULT_DAILY_CAP_FEN)),
            daily_balance_cap: daily_balance_cap.unwrap_or(Cny::from_fen(DEFAULT_DAILY_BALANCE_CAP_FEN)),
            max_amount_regular: max_amount_regular.unwrap_or(Cny::from_fen(DEFAULT_MAX_AMOUNT_REGULAR_FEN)),
            max_amount_activity: max_amount_activity.unwrap_or(Cny::from_fen(DEFAULT_MAX_AMOUNT_ACTIVITY_FEN)),
        }
    }
}

/// A shop's stored time zone (validated when stored); `default` should it ever not parse.
pub fn zone_of(stored: &str, default: Tz) -> Tz {
    stored.parse().unwrap_or(default)
}

/// The instant a local date and time names in `tz` (rules.md "Time"): a local time that a
/// daylight-saving change repeats is its earlier instant; one that a change skips is the first
/// valid instant after it — the moment of the change (Berlin's skipped 02:30 is 03:00 CEST).
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => first_instant_showing_at_least(tz, local),
    }
}

/// The earliest instant whose local time in `tz` is `local` or later, for a `local` inside a
/// skipped stretch: the change itself. Offsets lie between −12 h and +14 h, so that instant
/// lies within 26 h of `local` read as UTC; local time only moves forward around a skipped
/// stretch, so a bisection down to the nanosecond finds it.
fn first_instant_showing_at_least(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let shows_at_least = |t: DateTime<Utc>| t.with_timezone(&tz).naive_local() >= local;
    let as_utc = local.and_utc();
    // Invariant: `lo` shows an earlier local time, `hi` one at least as late.
    let (mut lo, mut hi) = (as_utc - TimeDelta::hours(26), as_utc + TimeDelta::hours(26));
    while hi - lo > TimeDelta::nanoseconds(1) {
        let mid = lo + (hi - lo) / 2;
        if shows_at_least(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The UTC instants `[start, end)` of the calendar day containing `now` in `tz`.
pub fn day_bounds(tz: Tz, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let local_day = now.with_timezone(&tz).date_naive();
    let start_of = |day: chrono::NaiveDate| -> DateTime<Utc> {
        match tz.from_local_datetime(&day.and_time(NaiveTime::MIN)) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            // Midnight skipped by a DST change: the day starts at the first instant after it.
            LocalResult::None => tz
                .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(1, 0, 0).unwrap_or(NaiveTime::MIN)))
                .earliest()
                .map_or(now, |t| t.with_timezone(&Utc)),
        }
    };
    let next = local_day.checked_add_days(Days::new(1)).unwrap_or(local_day);
    (start_of(local_day), start_of(next))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_stored_zone_is_the_shops_and_only_an_unreadable_one_the_default() {
        let shanghai = chrono_tz::Asia::Shanghai;
        assert_eq!(zone_of("America/New_York", shanghai), chrono_tz::America::New_York);
        assert_eq!(zone_of("Europe/Berlin", chrono_tz::UTC), chrono_tz::Europe::Berlin);
        assert_eq!(zone_of("Mars/Olympus_Mons", shanghai), shanghai);
    }

    #[test]
    fn shanghai_day_starts_at_16_utc() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        // 2026-11-26 15:59:59 UTC is 23:59:59 in Shanghai: still the 26th.
        let late = Utc.with_ymd_and_hms(2026, 11, 26, 15, 59, 59).unwrap();
        let (start, end) = day_bounds(tz, late);
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 11, 25, 16, 0, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 11, 26, 16, 0, 0).unwrap());
        // One second later it is the 27th.
        let (start, _) = day_bounds(tz, late + chrono::TimeDelta::seconds(1));
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 11, 26, 16, 0, 0).unwrap());
    }

    #[test]
    fn dst_days_have_their_real_length() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let (start, end) = day_bounds(tz, Utc.with_ymd_and_hms(2026, 3, 29, 12, 0, 0).unwrap());
        assert_eq!(end - start, chrono::TimeDelta::hours(23));
    }

    #[test]
    fn local_times_resolve_as_rules_md_says() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let local = |mo, d, h, mi| chrono::NaiveDate::from_ymd_opt(2026, mo, d).unwrap().and_hms_opt(h, mi, 0).unwrap();
        let utc = |mo, d, h, mi| Utc.with_ymd_and_hms(2026, mo, d, h, mi, 0).unwrap();
        assert_eq!(resolve_local(berlin, local(7, 1, 12, 0)), utc(7, 1, 10, 0), "an ordinary time");
        // Skipped (02:00 CET → 03:00 CEST on 2026-03-29): the change, 03:00 CEST.
        assert_eq!(resolve_local(berlin, local(3, 29, 2, 0)), utc(3, 29, 1, 0));
        assert_eq!(resolve_local(berlin, local(3, 29, 2, 59)), utc(3, 29, 1, 0));
        assert_eq!(resolve_local(berlin, local(3, 29, 3, 0)), utc(3, 29, 1, 0));
        // Repeated (03:00 CEST → 02:00 CET on 2026-10-25): the first, CEST.
        assert_eq!(resolve_local(berlin, local(10, 25, 2, 0)), utc(10, 25, 0, 0));
        assert_eq!(resolve_local(berlin, local(10, 25, 2, 59)), utc(10, 25, 0, 59));
        assert_eq!(resolve_local(berlin, local(10, 25, 3, 0)), utc(10, 25, 2, 0));
        // A zone east of UTC by more than 12 h, skipping a day-long stretch: Samoa went from
        // 2011-12-29 23:59:59 (−10:00) to 2011-12-31 00:00 (+14:00).
        let apia: Tz = "Pacific/Apia".parse().unwrap();
        let skipped = chrono::NaiveDate::from_ymd_opt(2011, 12, 30).unwrap().and_hms_opt(12, 0, 0).unwrap();
        assert_eq!(resolve_local(apia, skipped), Utc.with_ymd_and_hms(2011, 12, 30, 10, 0, 0).unwrap());
    }

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let p = Policy::with_defaults(Some(Cny::from_fen(100)), None, None, None);
        assert_eq!(p.daily_cap, Cny::from_fen(100));
        assert_eq!(p.daily_balance_cap.to_string(), "2000.00");
        assert_eq!(p.max_amount_regular.to_string(), "200.00");
        assert_eq!(p.max_amount_activity.to_string(), "50.00");
    }
}
