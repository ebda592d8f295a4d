//! An identity provider's key set (`SMALLPAY_JWT_JWKS_URL`), fetched over HTTP(S) and kept in
//! memory: verification reads the current snapshot synchronously; a background task fetches
//! it again on an interval (the answer's `Cache-Control: max-age`, bounded) and early when a
//! token names a key id the set does not hold — at most once per `SMALLPAY_JWT_JWKS_MIN_INTERVAL`,
//! so made-up key ids cannot make the service hammer the identity provider. A failed fetch
//! keeps the last good set.
//!
//! A key is usable when it is a signature key (`use` absent or `sig`, `key_ops` absent or with
//! `verify`) of one of these kinds: RSA of 2048 to 4096 bits (RS256/RS384/RS512 when the key
//! names no `alg`, else its `alg`, PS256/384/512 included), EC on P-256 (ES256) or P-384
//! (ES384). Symmetric (`oct`) keys are never taken from a key set (a public URL must not be a
//! source of shared secrets), nor are other kinds. Unusable keys are skipped, and logged once.
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, PoisonError, RwLock, Weak,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use base64::Engine as _;
use http_body_util::{BodyExt as _, Empty, LengthLimitError, Limited};
use hyper::{
    Uri,
    body::Bytes,
    header::{ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, USER_AGENT},
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse},
};
use tokio::{sync::Notify, task::JoinHandle, time::Instant};

/// The longest a fetch may take, connection and body included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest key set accepted, in bytes (a real one is a few KiB).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// The longest a set is kept before it is fetched again, whatever its `max-age` says.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// RSA keys smaller than this are skipped.
const MIN_RSA_BITS: usize = 2048;
/// ... and larger than this (the RSA implementation's own limit).
const MAX_RSA_BITS: usize = 4096;

/// A verification key of the set.
pub struct SetKey {
    pub kid: Option<String>,
    /// The algorithms a token signed with this key may name.
    pub algorithms: Vec<Algorithm>,
    pub decoding: DecodingKey,
}

/// One fetched set: its usable keys, and why the others were skipped.
#[derive(Default)]
pub struct KeySet {
    by_kid: HashMap<String, Arc<SetKey>>,
    /// Usable keys without a `kid`.
    unnamed: Vec<Arc<SetKey>>,
    /// `kid` → why that key is not used.
    skipped: HashMap<String, String>,
}

impl KeySet {
    pub fn len(&self) -> usize {
        self.by_kid.len() + self.unnamed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads a JWKS document: a JSON object with a `keys` array. Each key that cannot be used
    /// is skipped with its reason (`skipped`, and in the answer's second part, unnamed ones
    /// included, for the log).
    pub fn parse(body: &[u8]) -> Result<(KeySet, Vec<String>), String> {
        let document: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON ({e})"))?;
        let keys = document
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| "the answer is not a key set (no `keys` array)".to_owned())?;
        let mut set = KeySet::default();
        let mut reasons = Vec::new();
        for raw in keys {
            let kid = raw.get("kid").and_then(serde_json::Value::as_str).map(str::to_owned);
            let usable = serde_json::from_value::<Jwk>(raw.clone())
                .map_err(|e| format!("not a JWK ({e})"))
                .and_then(|jwk| usable_key(&jwk));
            match (usable, kid) {
                (Ok(key), Some(kid)) => {
                    if let std::collections::hash_map::Entry::Vacant(entry) = set.by_kid.entry(kid.clone()) {
                        entry.insert(Arc::new(key));
                    } else {
                        reasons.push(format!("key `{kid}`: a second key with the same kid (the first is used)"));
                    }
                }
                (Ok(key), None) => set.unnamed.push(Arc::new(key)),
                (Err(why), kid) => {
                    reasons.push(format!("key `{}`: {why}", kid.as_deref().unwrap_or("(no kid)")));
                    if let Some(kid) = kid {
                        set.skipped.entry(kid).or_insert(why);
                    }
                }
            }
        }
        // A kid held by a usable key is not reported as skipped.
        set.skipped.retain(|kid, _| !set.by_kid.contains_key(kid));
        Ok((set, reasons))
    }

    /// The key a token's header names.
    pub fn find(&self, kid: Option<&str>) -> Result<Arc<SetKey>, Lookup> {
        match kid {
            Some(kid) => {
                if let Some(key) = self.by_kid.get(kid) {
                    Ok(key.clone())
                } else if let Some(why) = self.skipped.get(kid) {
                    Err(Lookup::Unusable(format!("its signing key `{kid}` is not accepted: {why}")))
                } else {
                    Err(Lookup::Unknown)
                }
            }
            None if self.len() == 1 => {
                self.by_kid.values().chain(self.unnamed.iter()).next().cloned().ok_or(Lookup::Unknown)
            }
            None => Err(Lookup::Unusable(format!(
                "its header names no key id (kid), and the identity provider's key set holds {} keys",
                self.len()
            ))),
        }
    }
}

/// Why no key was found for a token.
#[derive(Debug)]
pub enum Lookup {
    /// The `kid` is not in the set (it may be new: an early fetch is asked for).
    Unknown,
    /// The set cannot verify this token, and fetching it again will not change that.
    Unusable(String),
}

/// What the JWK says it verifies, checked against its kind and size.
fn usable_key(jwk: &Jwk) -> Result<SetKey, String> {
    if let Some(usage) = &jwk.common.public_key_use
        && *usage != PublicKeyUse::Signature
    {
        return Err("not a signature key (`use` is not `sig`)".to_owned());
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err("its `key_ops` do not include `verify`".to_owned());
    }
    let named = match jwk.common.key_algorithm {
        None => None,
        Some(alg) => {
            Some(signature_algorithm(alg).ok_or_else(|| format!("`alg` {alg:?} is not a signature algorithm"))?)
        }
    };
    let algorithms = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let bits = rsa_bits(&rsa.n, &rsa.e)?;
            if bits < MIN_RSA_BITS {
                return Err(format!("a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required"));
            }
            if bits > MAX_RSA_BITS {
                return Err(format!("a {bits}-bit RSA key; at most {MAX_RSA_BITS} bits are supported"));
            }
            match named {
                None => vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
                Some(
                    alg @ (Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512),
                ) => vec![alg],
                Some(alg) => return Err(format!("`alg` {alg:?} does not fit an RSA key")),
            }
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            let algorithm = match ec.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                ref other => return Err(format!("an EC key on {other:?}; P-256 (ES256) or P-384 (ES384) only")),
            };
            if named.is_some_and(|alg| alg != algorithm) {
                return Err(format!("`alg` {named:?} does not fit an EC key on {:?}", ec.curve));
            }
            ec_point_is_valid(&ec.curve, &ec.x, &ec.y)?;
            vec![algorithm]
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err("a symmetric (oct) key: never accepted from a key set".to_owned());
        }
        AlgorithmParameters::OctetKeyPair(_) => return Err("an OKP (EdDSA) key: not supported".to_owned()),
        _ => return Err("an unknown key type (kty)".to_owned()),
    };
    let decoding = DecodingKey::from_jwk(jwk).map_err(|e| format!("malformed ({e})"))?;
    Ok(SetKey { kid: jwk.common.key_id.clone(), algorithms, decoding })
}

/// The asymmetric signature algorithm a JWK's `alg` names, if it names one.
fn signature_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        _ => return None,
    })
}

fn b64(field: &str, value: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| format!("`{field}` is not base64url"))
}

/// The size of an RSA modulus, checked to be a valid public key.
fn rsa_bits(n: &str, e: &str) -> Result<usize, String> {
    use rsa::traits::PublicKeyParts as _;
    let n = rsa::BigUint::from_bytes_be(&b64("n", n)?);
    let e = rsa::BigUint::from_bytes_be(&b64("e", e)?);
    let bits = n.bits();
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Ok(bits);
    }
    let key = rsa::RsaPublicKey::new(n, e).map_err(|e| format!("not a valid RSA public key ({e})"))?;
    Ok(key.n().bits())
}

fn ec_point_is_valid(curve: &EllipticCurve, x: &str, y: &str) -> Result<(), String> {
    let mut point = vec![0x04];
    point.extend(b64("x", x)?);
    point.extend(b64("y", y)?);
    let valid = match curve {
        EllipticCurve::P256 => p256::PublicKey::from_sec1_bytes(&point).is_ok(),
        EllipticCurve::P384 => p384::PublicKey::from_sec1_bytes(&point).is_ok(),
        _ => false,
    };
    if valid { Ok(()) } else { Err("its x/y are not a point of its curve".to_owned()) }
}

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

#[derive(Debug, thiserror::Error)]
#[error("fetching the key set from {url}: {reason}")]
pub struct FetchError {
    pub url: String,
    pub reason: String,
}

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// An HTTP(S) client: rustls with ring, the system's trust roots (Mozilla's when the system
/// has none, e.g. in a bare container). No redirects are followed, no proxy is used.
fn http_client() -> Result<HttpClient, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = match hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider.clone()) {
        Ok(tls) => tls,
        Err(e) => {
            tracing::warn!("JWKS: no system trust roots ({e}); using the Mozilla roots built in");
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_webpki_roots(provider)
                .map_err(|e| format!("cannot set up TLS ({e})"))?
        }
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(FETCH_TIMEOUT));
    let connector = tls.https_or_http().enable_http1().wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

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
        let fetched = self.fetch().await;
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

    /// One GET, bounded in time and size.
    async fn fetch(&self) -> Result<(KeySet, Vec<String>, Option<String>), String> {
        tokio::time::timeout(FETCH_TIMEOUT, self.fetch_unbounded())
            .await
            .map_err(|_| format!("no complete answer within {} s", FETCH_TIMEOUT.as_secs()))?
    }

    async fn fetch_unbounded(&self) -> Result<(KeySet, Vec<String>, Option<String>), String> {
        let too_large = || format!("the answer is larger than {MAX_BODY_BYTES} bytes");
        let request = hyper::Request::get(self.url.clone())
            .header(ACCEPT, "application/jwk-set+json, application/json")
            .header(USER_AGENT, concat!("smallpay/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = self.client.request(request).await.map_err(|e| error_chain(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("it answered HTTP {status}"));
        }
        let header = |name| response.headers().get(name).and_then(|v: &hyper::header::HeaderValue| v.to_str().ok());
        if header(CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok()).is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        let cache_control = header(CACHE_CONTROL).map(str::to_owned);
        let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| if e.downcast_ref::<LengthLimitError>().is_some() { too_large() } else { error_chain(&*e) })?;
        let (set, reasons) = KeySet::parse(&body.to_bytes())?;
        if set.is_empty() {
            return Err(format!("the key set holds no usable key ({})", reasons.join("; ")));
        }
        Ok((set, reasons, cache_control))
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

/// An error with its causes ("client error (Connect)" alone says little).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rsa_jwk(kid: &str, pem: &str) -> serde_json::Value {
        let key = DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let mut jwk = serde_json::to_value(Jwk::from_decoding_key(&key, Some(Algorithm::RS256)).unwrap()).unwrap();
        jwk["kid"] = json!(kid);
        jwk
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn unusable_keys_are_skipped_with_their_reason() {
        let good = rsa_jwk("good", &fixture("rsa_public.pem"));
        let short = rsa_jwk("short", &fixture("rsa1024_public.pem"));
        let mut enc = good.clone();
        enc["kid"] = json!("enc");
        enc["use"] = json!("enc");
        let mut confused = good.clone();
        confused["kid"] = json!("confused");
        confused["alg"] = json!("HS256");
        let body = json!({ "keys": [
            good, short, enc, confused,
            { "kty": "oct", "kid": "secret", "k": "c2VjcmV0" },
            { "kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA" },
            { "kty": "whatever", "kid": "odd" },
        ]});
        let (set, reasons) = KeySet::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 1, "{reasons:?}");
        assert!(set.find(Some("good")).is_ok());
        assert!(set.find(None).is_ok(), "a token without kid: the only key");
        for (kid, says) in [
            ("short", "1024-bit"),
            ("enc", "signature"),
            ("confused", "signature algorithm"),
            ("secret", "symmetric"),
            ("p521", "P-256"),
            ("odd", "kty"),
        ] {
            match set.find(Some(kid)) {
                Err(Lookup::Unusable(why)) => assert!(why.contains(says), "{kid}: {why}"),
                other => panic!("{kid}: {:?}", other.map(|_| ())),
            }
        }
        assert!(matches!(set.find(Some("new")), Err(Lookup::Unknown)));
        assert!(KeySet::parse(b"{\"keys\": 3}").is_err());
        assert!(KeySet::parse(b"<html>").is_err());
    }

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
