//! Per-account rate limits on mutations: a token bucket per account (`burst` tokens, refilled
//! at `per_second`). Held per instance: with several instances behind a balancer an account
//! gets at most (instances × the limit); the limit is a guard against floods, not a rule.
//!
//! The mutation limit is keyed by the token's account, never by an address: behind a balancer
//! every client would share the balancer's. What is counted per client address is open
//! connections ([`ClientCounts`]): by the TCP peer at the accept, and by the address a trusted
//! proxy forwards for subscription sockets (see `http.rs`).
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
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
