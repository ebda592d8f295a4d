//! Shop policy defaults and the shop's "today". Pure: no database, no GraphQL.
use chrono::{DateTime, Days, LocalResult, NaiveTime, TimeZone, Utc};
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
    fn defaults_fill_only_what_is_missing() {
        let p = Policy::with_defaults(Some(Cny::from_fen(100)), None, None, None);
        assert_eq!(p.daily_cap, Cny::from_fen(100));
        assert_eq!(p.daily_balance_cap.to_string(), "2000.00");
        assert_eq!(p.max_amount_regular.to_string(), "200.00");
        assert_eq!(p.max_amount_activity.to_string(), "50.00");
    }
}
