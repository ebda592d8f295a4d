//! Per-account rate limits on mutations: governor's keyed limiter (GCRA, the token bucket's
//! exact equivalent: `burst` at once, refilled at `per_second`). Held per instance: with several instances behind a balancer an account
//! gets at most (instances × the limit); the limit is a guard against floods, not a rule.
//!
//! The mutation limit is keyed by the token's account, never by an address: behind a balancer
//! every client would share the balancer's. What is counted per client address is open
//! connections ([`ClientCounts`]): by the TCP peer at the accept, and by the address a trusted
//! proxy forwards for subscription sockets (see `http.rs`).
use std::{
    collections::HashMap,
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use governor::{
    Quota,
    clock::{Clock, DefaultClock},
    middleware::NoOpMiddleware,
    state::keyed::DefaultKeyedStateStore,
};

/// A keyed GCRA limiter (governor's): `burst` requests at once per key, then one every
/// `1 / per_second`. The clock is governor's monotonic one (a fake one in tests).
pub struct RateLimiter<C: Clock + Clone = DefaultClock> {
    keys: governor::RateLimiter<String, DefaultKeyedStateStore<String>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
}

/// Keys held before the idle ones (indistinguishable from a fresh key) are forgotten.
const MAX_KEYS: usize = 100_000;

impl RateLimiter {
    pub fn new(per_second: f64, burst: u32) -> Self {
        RateLimiter::with_clock(per_second, burst, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    pub fn with_clock(per_second: f64, burst: u32, clock: C) -> Self {
        let period = Duration::from_secs_f64(1.0 / per_second.max(0.001)).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX)).allow_burst(burst);
        let keys = governor::RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone());
        RateLimiter { keys, clock }
    }

    /// Takes one request for `key`: `Err(wait)` when it has none left, with how long until it
    /// has one again.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        if self.keys.len() > MAX_KEYS {
            self.keys.retain_recent();
            self.keys.shrink_to_fit();
        }
        self.keys.check_key(&key.to_owned()).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
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

/// The key a client address is counted under: an IPv4 address itself, an IPv6 address's /64
/// (one host or home network is given a whole /64: counted per address it would have 2^64
/// places). An IPv4 address mapped into IPv6 counts as the IPv4 address.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

/// Open connections per client address, each held by a [`ClientHold`] that gives its place
/// back when dropped.
#[derive(Default)]
pub struct ClientCounts(Mutex<HashMap<IpAddr, usize>>);

impl ClientCounts {
    /// One more connection for `ip` unless its key already holds `max`: `None` then.
    pub fn hold(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<ClientHold> {
        let key = client_key(ip);
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(key).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ClientHold { counts: self.clone(), key })
    }

    /// Connections `ip`'s key holds now.
    pub fn held(&self, ip: IpAddr) -> usize {
        let counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(&client_key(ip)).copied().unwrap_or(0)
    }
}

/// One connection's place in [`ClientCounts`], given back on drop.
pub struct ClientHold {
    counts: Arc<ClientCounts>,
    key: IpAddr,
}

impl Drop for ClientHold {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let clock = governor::clock::FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(2.0, 3, clock.clone());
        for _ in 0..3 {
            assert!(limiter.take("a").is_ok());
        }
        let wait = limiter.take("a").unwrap_err();
        assert!(wait <= Duration::from_millis(500) && wait > Duration::ZERO, "{wait:?}");
        assert!(limiter.take("b").is_ok(), "per account");
        clock.advance(Duration::from_millis(500));
        assert!(limiter.take("a").is_ok(), "refilled at 2/s");
        assert!(limiter.take("a").is_err());
        clock.advance(Duration::from_secs(10));
        for _ in 0..3 {
            assert!(limiter.take("a").is_ok(), "a full burst again after a rest, no more");
        }
        assert!(limiter.take("a").is_err());
    }

    #[test]
    fn a_slow_rate_says_how_long_to_wait() {
        let clock = governor::clock::FakeRelativeClock::default();
        let exports = RateLimiter::with_clock(1.0 / 12.0, 5, clock.clone());
        for _ in 0..5 {
            assert!(exports.take("s1/admin").is_ok());
        }
        let wait = exports.take("s1/admin").unwrap_err();
        assert!(wait > Duration::from_secs(11) && wait <= Duration::from_secs(12), "{wait:?}");
        clock.advance(Duration::from_secs(12));
        assert!(exports.take("s1/admin").is_ok());
    }

    #[test]
    fn clients_are_capped_per_address_and_ipv6_per_64() {
        let counts = Arc::new(ClientCounts::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let first = counts.hold(a, 2).unwrap();
        let _second = counts.hold(a, 2).unwrap();
        assert!(counts.hold(a, 2).is_none(), "the third is refused");
        assert!(counts.hold("192.0.2.2".parse().unwrap(), 2).is_some(), "another address has its own");
        drop(first);
        assert_eq!(counts.held(a), 1, "a dropped hold gives its place back");
        assert!(counts.hold(a, 2).is_some());
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(client_key(mapped), a, "IPv4 mapped into IPv6 is the IPv4 address");
        let (x, y): (IpAddr, IpAddr) = ("2001:db8:1:2::1".parse().unwrap(), "2001:db8:1:2:ffff::9".parse().unwrap());
        assert_eq!(client_key(x), client_key(y), "one /64");
        assert_ne!(client_key(x), client_key("2001:db8:1:3::1".parse().unwrap()));
    }
}
