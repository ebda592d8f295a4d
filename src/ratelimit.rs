//! Per-account rate limits on mutations: a token bucket per account (`burst` tokens, refilled
//! at `per_second`). Held per instance: with several instances behind a balancer an account
//! gets at most (instances × the limit); the limit is a guard against floods, not a rule.
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_second: f64, burst: u32) -> Self {
        RateLimiter { per_second: per_second.max(0.001), burst: f64::from(burst.max(1)), buckets: Mutex::default() }
    }

    /// Takes one token for `key`: `Err(wait)` when the bucket is empty, with how long until a
    /// token is back.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Forget the idle (full) buckets rather than grow without bound.
            let (burst, rate) = (self.burst, self.per_second);
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        let refilled = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            Err(Duration::from_secs_f64((1.0 - refilled) / self.per_second))
        }
    }
}

/// Subscription sockets open per account (held per instance).
#[derive(Default)]
pub struct SocketCounts(Mutex<HashMap<String, usize>>);

impl SocketCounts {
    /// Counts one more socket for `key` unless it already holds `max`: `false` then.
    pub fn open(&self, key: &str, max: usize) -> bool {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(key.to_owned()).or_insert(0);
        if *count >= max {
            return false;
        }
        *count += 1;
        true
    }

    pub fn close(&self, key: &str) {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let limiter = RateLimiter::new(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take("a", t0).is_ok());
        }
        let wait = limiter.take("a", t0).unwrap_err();
        assert!(wait <= Duration::from_millis(500) && wait > Duration::ZERO);
        assert!(limiter.take("b", t0).is_ok(), "per account");
        assert!(limiter.take("a", t0 + Duration::from_millis(500)).is_ok(), "refilled at 2/s");
        assert!(limiter.take("a", t0 + Duration::from_millis(500)).is_err());
    }
}
