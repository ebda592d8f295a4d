//! An identity provider's key set (`SMALLPAY_JWT_JWKS_URL`), fetched over HTTP(S) and kept in
//! memory: verification reads the current snapshot synchronously; a background task fetches
//! it again on an interval (the answer's `Cache-Control: max-age`, bounded) and early when a
//! token names a key id the set does not hold — at most once per `SMALLPAY_JWT_JWKS_MIN_INTERVAL`,
//! so made-up key ids cannot make the service hammer the identity provider. A failed fetch
//! keeps the last good set.
//!
//! This file is the cache and its refresher task; `keys` says which keys of a set are usable,
//! `fetch` gets the set over HTTP(S), `timing` says when to fetch it again.
use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex, PoisonError, RwLock, Weak,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
};

use hyper::Uri;
use tokio::{sync::Notify, task::JoinHandle, time::Instant};

mod fetch;
mod keys;
mod timing;

pub use fetch::{FETCH_TIMEOUT, FetchError, MAX_BODY_BYTES};
use fetch::{HttpClient, http_client};
pub use keys::{KeySet, Lookup, SetKey};
pub use timing::{MAX_INTERVAL, Timing};

/// The key set of `SMALLPAY_JWT_JWKS_URL` and what fetches it.
pub struct JwksCache {
    url: Uri,
    client: HttpClient,
    timing: Timing,
    current: RwLock<Arc<KeySet>>,
    /// Fetches take turns (the refresher and `refresh_now`).
    fetching: tokio::sync::Mutex<()>,
    /// When the last fetch ended and when the next regular one is due.
    schedule: Mutex<(Instant, Instant)>,
    /// Failed fetches in a row (the retry backs off).
    failures: AtomicU32,
    /// Set by a token with an unknown key id; cleared by the fetch that serves it.
    wanted: AtomicBool,
    wake: Arc<Notify>,
    /// Skipped keys already logged (each reason once).
    logged: Mutex<HashSet<String>>,
    refresher: Mutex<Option<tokio::task::AbortHandle>>,
}

impl JwksCache {
    /// A cache with an empty set (every token refused until the first fetch).
    pub fn new(url: &str, timing: Timing) -> Result<JwksCache, String> {
        let url: Uri = url.parse().map_err(|e| format!("`{url}` is not a URL ({e})"))?;
        if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
            return Err(format!("`{url}` is not an http(s) URL"));
        }
        let client = http_client()?;
        let now = Instant::now();
        Ok(JwksCache {
            url,
            client,
            timing,
            current: RwLock::new(Arc::new(KeySet::default())),
            fetching: tokio::sync::Mutex::new(()),
            schedule: Mutex::new((now, now)),
            failures: AtomicU32::new(0),
            wanted: AtomicBool::new(false),
            wake: Arc::new(Notify::new()),
            logged: Mutex::new(HashSet::new()),
            refresher: Mutex::new(None),
        })
    }

    pub fn url(&self) -> String {
        self.url.to_string()
    }

    /// The set in use.
    pub fn current(&self) -> Arc<KeySet> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The key for a token's `kid`. An unknown `kid` asks the refresher for an early fetch.
    pub fn find(&self, kid: Option<&str>) -> Result<Arc<SetKey>, Lookup> {
        let found = self.current().find(kid);
        if matches!(found, Err(Lookup::Unknown)) {
            self.wanted.store(true, Ordering::SeqCst);
            self.wake.notify_one();
        }
        found
    }

    /// Fetches the set now and, when it holds a usable key, uses it; a failed fetch keeps
    /// the set in use. Answers how many keys the new set holds. Start-up (the first set) and
    /// tests call it; the refresher calls it on its schedule.
    pub async fn refresh_now(&self) -> Result<usize, FetchError> {
        let _turn = self.fetching.lock().await;
        let fetched = fetch::fetch(&self.client, &self.url).await;
        let now = Instant::now();
        match fetched {
            Ok((set, reasons, cache_control)) => {
                self.log_skipped(&reasons);
                let count = set.len();
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
                self.failures.store(0, Ordering::SeqCst);
                *self.schedule.lock().unwrap_or_else(PoisonError::into_inner) =
                    (now, now + self.timing.interval(cache_control.as_deref()));
                metrics::counter!("jwks_fetches_total", "outcome" => "ok").increment(1);
                metrics::gauge!("jwks_keys").set(count as f64);
                Ok(count)
            }
            Err(reason) => {
                let failures = self.failures.fetch_add(1, Ordering::SeqCst).saturating_add(1);
                // Retry sooner than the regular interval, backing off: min_interval, twice
                // that, … up to the regular interval.
                let backoff = self
                    .timing
                    .min_interval
                    .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
                    .min(self.timing.interval(None));
                *self.schedule.lock().unwrap_or_else(PoisonError::into_inner) = (now, now + backoff);
                metrics::counter!("jwks_fetches_total", "outcome" => "failed").increment(1);
                Err(FetchError { url: self.url.to_string(), reason })
            }
        }
    }

    fn log_skipped(&self, reasons: &[String]) {
        let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
        // Bounded: over years of rotations, old reasons are forgotten (and logged again if
        // they come back).
        if logged.len() > 1000 {
            logged.clear();
        }
        for reason in reasons {
            if logged.insert(reason.clone()) {
                tracing::warn!(url = %self.url, "JWKS: skipping {reason}");
            }
        }
    }

    /// Starts the background task that keeps the set fresh. It ends when aborted (the server
    /// stops) or when the cache is dropped.
    pub fn spawn_refresher(self: &Arc<Self>) -> JoinHandle<()> {
        let task = tokio::spawn(refresher(Arc::downgrade(self), self.wake.clone()));
        if let Some(previous) =
            self.refresher.lock().unwrap_or_else(PoisonError::into_inner).replace(task.abort_handle())
        {
            previous.abort();
        }
        task
    }
}

impl Drop for JwksCache {
    fn drop(&mut self) {
        if let Some(task) = self.refresher.lock().unwrap_or_else(PoisonError::into_inner).take() {
            task.abort();
        }
    }
}

/// Fetches the set when it is due, or early (not sooner than `min_interval` after the last
/// fetch) when a token named an unknown key id. Holds the cache only while fetching.
async fn refresher(cache: Weak<JwksCache>, wake: Arc<Notify>) {
    loop {
        let Some(due) = cache.upgrade().map(|c| c.schedule.lock().unwrap_or_else(PoisonError::into_inner).1) else {
            return;
        };
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            () = wake.notified() => {
                let Some(earliest) = cache.upgrade().map(|c| {
                    let last = c.schedule.lock().unwrap_or_else(PoisonError::into_inner).0;
                    c.wanted.load(Ordering::SeqCst).then_some(last + c.timing.min_interval)
                }) else {
                    return;
                };
                // None: a wake-up left over from requests that the last fetch already served.
                let Some(earliest) = earliest else {
                    continue;
                };
                tokio::time::sleep_until(earliest).await;
            }
        }
        let Some(cache) = cache.upgrade() else {
            return;
        };
        cache.wanted.store(false, Ordering::SeqCst);
        match cache.refresh_now().await {
            Ok(count) => tracing::debug!(url = %cache.url, keys = count, "JWKS refreshed"),
            Err(e) => tracing::warn!("{e}; the last good key set stays in use"),
        }
    }
}
