//! The refresh policy: how long a fetched set is kept (its `Cache-Control: max-age`, bounded)
//! before it is fetched again.
use std::time::Duration;

/// The longest a set is kept before it is fetched again, whatever its `max-age` says.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// How often the set is fetched.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// When the answer carries no `max-age`.
    pub refresh: Duration,
    /// The least time between two fetches: the floor of `max-age` and of `refresh`, and how
    /// soon an unknown key id can cause a fetch.
    pub min_interval: Duration,
}

impl Timing {
    /// The time until the next regular fetch, from an answer's `Cache-Control`.
    pub fn interval(&self, cache_control: Option<&str>) -> Duration {
        let max_age = cache_control.and_then(max_age);
        max_age.unwrap_or(self.refresh).clamp(self.min_interval, MAX_INTERVAL.max(self.min_interval))
    }
}

/// `max-age` of a `Cache-Control` value; `None` when absent, or when the answer must not be
/// stored (`no-store`, `no-cache`: the configured interval applies then).
fn max_age(value: &str) -> Option<Duration> {
    let directives: Vec<String> = value.split(',').map(|d| d.trim().to_ascii_lowercase()).collect();
    if directives.iter().any(|d| d == "no-store" || d == "no-cache") {
        return None;
    }
    directives
        .iter()
        .find_map(|d| d.strip_prefix("max-age="))
        .and_then(|seconds| seconds.trim_matches('"').parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_honoured_within_bounds() {
        let timing = Timing { refresh: Duration::from_secs(600), min_interval: Duration::from_secs(30) };
        assert_eq!(timing.interval(None), Duration::from_secs(600));
        assert_eq!(timing.interval(Some("public, max-age=3600")), Duration::from_secs(3600));
        assert_eq!(timing.interval(Some("max-age=5")), Duration::from_secs(30));
        assert_eq!(timing.interval(Some("max-age=999999999")), MAX_INTERVAL);
        assert_eq!(timing.interval(Some("no-cache, max-age=5")), Duration::from_secs(600));
        assert_eq!(timing.interval(Some("max-age=soon")), Duration::from_secs(600));
    }
}
