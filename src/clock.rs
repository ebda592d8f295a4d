//! The service's one clock. Domain code asks it for "now"; tests replace it with a clock
//! that stands still and moves only when told (`SMALLPAY_TEST_CLOCK=1`).
use std::sync::{Arc, Mutex};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// Times are kept to the millisecond, so that they compare the same in SQLite's text
/// columns and PostgreSQL's timestamps.
pub fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
}

#[derive(Clone)]
pub enum Clock {
    System,
    Test(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    /// A test clock that starts at `start` (to the millisecond), or at the current second.
    pub fn test(start: Option<DateTime<Utc>>) -> Self {
        let start = start
            .map(to_millis)
            .unwrap_or_else(|| Utc::now().duration_trunc(TimeDelta::seconds(1)).unwrap_or_else(|_| Utc::now()));
        Clock::Test(Arc::new(Mutex::new(start)))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => to_millis(Utc::now()),
            Clock::Test(t) => *t.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }

    pub fn is_test(&self) -> bool {
        matches!(self, Clock::Test(_))
    }

    /// Moves a test clock forward; the system clock cannot be moved.
    pub fn advance(&self, by: TimeDelta) -> Option<DateTime<Utc>> {
        match self {
            Clock::System => None,
            Clock::Test(t) => {
                let mut now = t.lock().unwrap_or_else(|p| p.into_inner());
                *now += by;
                Some(*now)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_clock_stands_still_until_advanced() {
        let clock = Clock::test(None);
        let start = clock.now();
        assert_eq!(clock.now(), start);
        assert_eq!(clock.advance(TimeDelta::seconds(3600)), Some(start + TimeDelta::hours(1)));
        assert_eq!(clock.now(), start + TimeDelta::hours(1));
        assert_eq!(Clock::System.advance(TimeDelta::seconds(1)), None);
        let fixed = "2026-11-24T02:00:00Z".parse().unwrap();
        assert_eq!(Clock::test(Some(fixed)).now(), fixed);
    }
}
