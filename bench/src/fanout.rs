//! Subscription fan-out: many `payoutStatusChanged` subscribers (graphql-transport-ws, one
//! socket each, spread over one or more instances) on one shop while payouts are created at a
//! steady rate: delivered/expected, latency from the mutation's answer to each receipt, and
//! the servers' memory per idle subscriber.
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use smallpay::auth::Role;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

use crate::{
    fill::{FAN, Pool, Tokens},
    load::{self, Outcome, Req, micros},
};

/// Where subscribers connect: an instance's base URL and, when the bench started it, its pid.
pub struct Target {
    pub base: String,
    pub pid: Option<u32>,
}

pub struct FanOut {
    pub subscribers: usize,
    pub created: u64,
    pub expected: u64,
    pub delivered: u64,
    pub duplicates: u64,
    /// Delivery latencies (µs), sorted; and the mutations' own outcome.
    pub outcome: Outcome,
    /// Delivery latencies (µs) from when the mutation was sent, sorted: an event may arrive
    /// before the mutation's answer (then its latency from the answer is 0).
    pub from_request: Vec<u32>,
    /// Server memory per idle subscriber, KiB (when the bench knows the servers' pids).
    pub kib_per_subscriber: Option<f64>,
    /// The latencies from the answer (µs, sorted) of the subscribers of each target, in
    /// `targets` order: where a tail comes from when there are several instances.
    pub by_target: Vec<Vec<u32>>,
    /// The servers' CPU time (ms, all targets) from the first mutation until every event was
    /// received (when the bench knows the servers' pids): the mutations' own cost plus the
    /// fan-out's. Divided by the payouts and by the subscribers it shows whether the cost
    /// of a delivery stays the same as subscribers are added (linear) or grows.
    pub cpu_ms: Option<u64>,
    /// Every event every subscriber received, also those of creations whose answer was lost
    /// (a timeout): what the servers' CPU was spent delivering.
    pub received_all: u64,
}

const SUBSCRIBE: &str = "subscription { payoutStatusChanged { id payoutId from to } }";

struct Received {
    /// (payout id, when) of each creation event (`from: null`).
    created: Vec<(i64, Instant)>,
    other: u64,
    error: Option<String>,
}

#[expect(clippy::too_many_arguments, reason = "one scenario's knobs, named at the call")]
pub async fn run(
    targets: &[Target],
    mutate_base: &str,
    tokens: &Tokens,
    pool: Arc<Pool>,
    per_target: usize,
    rate: f64,
    duration: Duration,
    tag: &str,
) -> FanOut {
    let before: Vec<Option<u64>> = targets.iter().map(|t| t.pid.and_then(crate::server::rss_kib)).collect();
    let received_total = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<Result<(), String>>(64);
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = Vec::new();
    for (t, target) in targets.iter().enumerate() {
        for i in 0..per_target {
            let ws = format!("{}/graphql/ws", target.base.replacen("http", "ws", 1));
            let token = tokens.token(Role::Cs, Some(FAN), &format!("fan-{tag}-{t}-{i}"));
            let (stop_rx, ready_tx, gate, total) =
                (stop_rx.clone(), ready_tx.clone(), gate.clone(), received_total.clone());
            tasks.push((t, tokio::spawn(async move { subscriber(ws, token, stop_rx, ready_tx, gate, total).await })));
        }
    }
    drop(ready_tx);
    let subscribers = tasks.len();
    let mut failed_to_open = Vec::new();
    for _ in 0..subscribers {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => failed_to_open.push(e),
            None => break,
        }
    }
    // Let the server register the last subscriptions and settle.
    tokio::time::sleep(Duration::from_millis(if subscribers > 100 { 2000 } else { 500 })).await;
    let after: Vec<Option<u64>> = targets.iter().map(|t| t.pid.and_then(crate::server::rss_kib)).collect();
    let kib_per_subscriber = before
        .iter()
        .zip(&after)
        .map(|(b, a)| Some(a.as_ref()?.saturating_sub(*b.as_ref()?)))
        .sum::<Option<u64>>()
        .map(|kib| kib as f64 / subscribers.max(1) as f64);

    // Payouts at `rate` per second, each answered time recorded by payout id.
    let answered: Arc<Mutex<HashMap<i64, (Instant, Instant)>>> = Arc::default();
    let token = tokens.admin(FAN);
    let url = format!("{mutate_base}/graphql");
    let cpu = || targets.iter().map(|t| crate::server::cpu_ms(t.pid?)).sum::<Option<u64>>();
    let cpu_before = cpu();
    let started = Instant::now();
    let count = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let mut mutations = Vec::new();
    let clients: Arc<Vec<reqwest::Client>> = Arc::new((0..8).map(|_| load::client()).collect());
    for n in 0..count {
        let Some(sn) = pool.take() else { break };
        let body = json!({ "query": crate::CREATE, "variables": { "i": crate::create_input(sn) } }).to_string();
        let at = started + Duration::from_secs_f64(n as f64 / rate);
        let (answered, url, token, clients) = (answered.clone(), url.clone(), token.clone(), clients.clone());
        mutations.push(tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let t = Instant::now();
            let client = &clients[usize::try_from(n).unwrap_or(0) % clients.len()];
            let result = load::send(client, &url, &Req { token: Some(token), body }).await;
            let done = Instant::now();
            let id = result.as_ref().ok().and_then(|b| {
                let v: Value = serde_json::from_slice(b).ok()?;
                v["data"]["createPayout"]["id"].as_str()?.parse::<i64>().ok()
            });
            if let Some(id) = id {
                answered.lock().unwrap_or_else(|p| p.into_inner()).insert(id, (t, done));
            }
            (micros(done - t), result.err())
        }));
    }
    let mut outcome = Outcome::default();
    for m in mutations {
        if let Ok((lat, err)) = m.await {
            outcome.requests += 1;
            outcome.lat.push(lat);
            if let Some(e) = err {
                outcome.error(e);
            }
        }
    }
    outcome.wall = started.elapsed();
    let created = answered.lock().unwrap_or_else(|p| p.into_inner()).len() as u64;
    let open = subscribers - failed_to_open.len();
    let expected = created * open as u64;
    // Wait for the stragglers (at most 15 s).
    let wait_until = Instant::now() + Duration::from_secs(15);
    while received_total.load(Ordering::Relaxed) < expected && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cpu_ms = cpu().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    let _ = stop_tx.send(true);
    let answered = answered.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut delivered = 0;
    let mut duplicates = 0;
    let mut latencies = Vec::new();
    let mut from_request = Vec::new();
    let mut by_target: Vec<Vec<u32>> = vec![Vec::new(); targets.len()];
    let mut received_all = 0;
    for (target, task) in tasks {
        let Ok(received) = task.await else { continue };
        if let Some(e) = received.error {
            outcome.error(e);
        }
        received_all += received.other + received.created.len() as u64;
        let mut seen = HashSet::new();
        for (id, at) in received.created {
            let Some((sent, done)) = answered.get(&id) else { continue };
            if !seen.insert(id) {
                duplicates += 1;
                continue;
            }
            delivered += 1;
            let latency = micros(at.saturating_duration_since(*done));
            latencies.push(latency);
            by_target[target].push(latency);
            from_request.push(micros(at.saturating_duration_since(*sent)));
        }
    }
    for e in failed_to_open {
        outcome.error(e);
    }
    latencies.sort_unstable();
    from_request.sort_unstable();
    by_target.iter_mut().for_each(|l| l.sort_unstable());
    // The row's latencies are the deliveries'; the mutations' own are not reported.
    outcome.lat = latencies;
    FanOut {
        subscribers,
        created,
        expected,
        delivered,
        duplicates,
        outcome,
        from_request,
        kib_per_subscriber,
        by_target,
        cpu_ms,
        received_all,
    }
}

async fn subscriber(
    url: String,
    token: Arc<str>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    ready: tokio::sync::mpsc::Sender<Result<(), String>>,
    gate: Arc<tokio::sync::Semaphore>,
    total: Arc<AtomicU64>,
) -> Received {
    let mut received = Received { created: Vec::new(), other: 0, error: None };
    // Event ids must rise: every subscriber gets the events in order.
    let mut last_event = 0_i64;
    let opened = {
        let _permit = gate.acquire().await;
        open(&url, &token).await
    };
    let mut socket = match opened {
        Ok(socket) => {
            let _ = ready.send(Ok(())).await;
            socket
        }
        Err(e) => {
            let _ = ready.send(Err(e)).await;
            return received;
        }
    };
    drop(ready);
    loop {
        let message = tokio::select! {
            _ = stop.changed() => break,
            m = socket.next() => m,
        };
        match message {
            Some(Ok(Message::Text(text))) => {
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match v["type"].as_str() {
                    Some("next") => {
                        let event = &v["payload"]["data"]["payoutStatusChanged"];
                        let event_id = event["id"].as_str().and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
                        if v["payload"].get("errors").is_some() || event.is_null() {
                            received.error.get_or_insert_with(|| format!("subscription error: {text}"));
                        } else if event_id <= last_event {
                            received
                                .error
                                .get_or_insert_with(|| format!("event {event_id} arrived after event {last_event}"));
                        } else if event["from"].is_null() {
                            last_event = event_id;
                            let id = event["payoutId"].as_str().and_then(|s| s.parse().ok()).unwrap_or(-1);
                            received.created.push((id, Instant::now()));
                            total.fetch_add(1, Ordering::Relaxed);
                        } else {
                            last_event = event_id;
                            received.other += 1;
                        }
                    }
                    Some("ping") => {
                        let _ = socket.send(Message::Text(json!({ "type": "pong" }).to_string().into())).await;
                    }
                    Some("pong") => {}
                    _ => {
                        received.error.get_or_insert_with(|| format!("subscription ended: {text}"));
                        break;
                    }
                }
            }
            Some(Ok(Message::Close(frame))) => {
                received.error.get_or_insert_with(|| format!("socket closed by the server: {frame:?}"));
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                received.error.get_or_insert_with(|| format!("socket error: {e}"));
                break;
            }
            None => {
                received.error.get_or_insert_with(|| "socket ended".to_owned());
                break;
            }
        }
    }
    let _ = socket.close(None).await;
    received
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects, `connection_init` with the token, waits for the ack, subscribes.
async fn open(url: &str, token: &str) -> Result<Socket, String> {
    let mut request = url.into_client_request().map_err(|e| format!("ws request: {e}"))?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.map_err(|e| format!("ws connect: {e}"))?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await.map_err(|e| format!("ws send: {e}"))?;
    let acked = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Text(text)) => {
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    return if v["type"] == "connection_ack" {
                        Ok(())
                    } else {
                        Err(format!("instead of an ack: {text}"))
                    };
                }
                Ok(Message::Close(frame)) => return Err(format!("closed at init: {frame:?}")),
                Ok(_) => {}
                Err(e) => return Err(format!("ws read: {e}")),
            }
        }
        Err("socket ended at init".to_owned())
    })
    .await
    .map_err(|_| "no connection_ack within 30 s".to_owned())?;
    acked?;
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIBE } });
    socket.send(Message::Text(subscribe.to_string().into())).await.map_err(|e| format!("ws send: {e}"))?;
    Ok(socket)
}
