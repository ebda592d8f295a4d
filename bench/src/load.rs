//! The load generator: N workers, each with one keep-alive connection, sending requests back
//! to back for a fixed time (or until the scenario runs out of work), checking every answer.
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

/// One request: its bearer token (if any) and its JSON body.
pub struct Req {
    pub token: Option<Arc<str>>,
    pub body: String,
}

/// What a scenario measured.
#[derive(Default)]
pub struct Outcome {
    pub requests: u64,
    pub wall: Duration,
    /// Latencies in microseconds, sorted.
    pub lat: Vec<u32>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub bytes: u64,
    /// The scenario stopped before its time: its work (e.g. an order pool) ran out.
    pub exhausted: bool,
    /// CPU time the server, the database and the bench used meanwhile.
    pub cpu: Option<crate::cpu::Used>,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        if self.wall.is_zero() { 0.0 } else { self.requests as f64 / self.wall.as_secs_f64() }
    }

    pub fn mean_body(&self) -> usize {
        self.bytes.checked_div(self.requests).and_then(|b| usize::try_from(b).ok()).unwrap_or(0)
    }

    pub fn error(&mut self, message: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }

    /// The workers' outcomes together, timed from `started` (a worker that panicked counts
    /// nothing), latencies sorted.
    pub async fn gather(workers: Vec<tokio::task::JoinHandle<Outcome>>, started: Instant) -> Outcome {
        let mut total = Outcome::default();
        for w in workers {
            if let Ok(out) = w.await {
                total.merge(out);
            }
        }
        total.wall = started.elapsed();
        total.lat.sort_unstable();
        total
    }

    pub fn merge(&mut self, other: Outcome) {
        self.requests += other.requests;
        self.lat.extend(other.lat);
        self.errors += other.errors;
        self.bytes += other.bytes;
        self.exhausted |= other.exhausted;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// The `q` quantile of sorted microsecond samples.
pub fn quantile(sorted: &[u32], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    Some(Duration::from_micros(u64::from(sorted[at.min(sorted.len() - 1)])))
}

pub fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// A GraphQL answer is good when it has `data` that is not null and no `errors`. Checked on
/// the bytes (cheap: the bench shares the machine with the server); parsed only to report.
pub fn graphql_error(status: reqwest::StatusCode, body: &[u8]) -> Option<String> {
    let good = status.is_success()
        && body.starts_with(b"{\"data\":")
        && !body.starts_with(b"{\"data\":null")
        && !contains(body, b"\"errors\":");
    if good {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    let short: String = text.chars().take(400).collect();
    Some(format!("HTTP {}: {short}", status.as_u16()))
}

/// Whether `hay` holds `needle`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// One client with one connection (a worker sends one request at a time).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

/// Sends one GraphQL request; the answer's bytes, or why it failed.
pub async fn send(client: &reqwest::Client, url: &str, req: &Req) -> Result<Vec<u8>, String> {
    let mut r = client.post(url).header(CONTENT_TYPE, "application/json").body(req.body.clone());
    if let Some(token) = &req.token {
        r = r.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = r.send().await.map_err(|e| format!("send: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("read: {e}"))?;
    match graphql_error(status, &body) {
        None => Ok(body.to_vec()),
        Some(e) => Err(e),
    }
}

/// Runs `conns` workers against `url` for `duration` (or until `make` returns `None`, or
/// `max_requests` were sent). `make(worker, n)` builds the worker's `n`-th request.
pub async fn drive<F>(url: &str, conns: usize, duration: Duration, max_requests: u64, make: F) -> Outcome
where
    F: Fn(usize, u64) -> Option<Req> + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let sent = Arc::new(AtomicU64::new(0));
    let cpu = crate::cpu::Sample::now();
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for w in 0..conns {
        let (make, sent, url) = (make.clone(), sent.clone(), url.to_owned());
        workers.push(tokio::spawn(async move {
            let client = client();
            let mut out = Outcome::default();
            let mut n = 0;
            while Instant::now() < deadline {
                if sent.fetch_add(1, Ordering::Relaxed) >= max_requests {
                    break;
                }
                let Some(req) = make(w, n) else {
                    out.exhausted = true;
                    break;
                };
                n += 1;
                let t = Instant::now();
                let answer = send(&client, &url, &req).await;
                out.lat.push(micros(t.elapsed()));
                out.requests += 1;
                match answer {
                    Ok(body) => out.bytes += body.len() as u64,
                    Err(e) => out.error(e),
                }
            }
            out
        }));
    }
    let mut outcome = Outcome::gather(workers, started).await;
    outcome.cpu = Some(cpu.until(&crate::cpu::Sample::now()));
    outcome
}
