//! The wiring: one `build` (used by `serve` and by the tests alike) makes the shared
//! [`AppState`], the schema and the router; `serve` runs them with the job runner and the
//! event publisher. Nothing but `main.rs` imports this module.
use std::{
    future::Future,
    net::IpAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use sea_orm::DatabaseConnection;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpListener,
};

pub use crate::state::AppState;
use crate::{
    auth::JwtKeys,
    cards::{
        notifier::{LogNotifier, Notifier},
        seal::Sealer,
    },
    clock::Clock,
    config::Config,
    config::ExposeSecret as _,
    config::Gateway,
    db,
    events::{self, bus::Bus},
    gateway::{self, PaymentChannel},
    graphql::service::GraphqlService,
    http, jobs,
    ratelimit::{ClientCounts, ClientHold, RateLimiter},
    state::Inner,
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("JWT keys: {0}")]
    Keys(#[from] crate::auth::jwt::KeyError),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error("reading the event outbox: {0}")]
    Outbox(String),
}

/// A built application: state, GraphQL service and router, ready to serve.
pub struct App {
    pub state: AppState,
    pub graphql: GraphqlService,
    /// The newest event when the app was built: live events start after it, so none caused
    /// by a request can be missed.
    first_event: events::repo::Cursor,
    /// Development: mints the demo accounts' tokens for the GraphiQL page (set by `main.rs`).
    pub demo_tokens: Option<http::graphiql::DemoTokens>,
}

impl App {
    /// Validates the configuration, connects, migrates and wires everything.
    pub async fn build(config: Config) -> Result<App, StartError> {
        config.validate()?;
        let keys = JwtKeys::from_config(&config)?;
        keys.fetch_key_set().await?;
        let mut db = db::connect(config.database_url.expose_secret(), config.sqlite_synchronous).await?;
        db::migrate(&db).await?;
        let statements = Arc::new(AtomicU64::new(0));
        let counter = statements.clone();
        db.set_metric_callback(move |info| {
            counter.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("db_statements_total", "failed" => if info.failed { "true" } else { "false" })
                .increment(1);
            metrics::histogram!("db_statement_duration_seconds").record(info.elapsed.as_secs_f64());
        });
        let clock = if config.test_clock { Clock::test(config.test_clock_start) } else { Clock::System };
        let write_gate = Arc::new(db::WriteGate::for_backend(db.get_database_backend()));
        let channel = payment_channel(config.gateway, db.clone(), write_gate.clone());
        if config.seal_key.is_none() {
            tracing::warn!("SMALLPAY_SEAL_KEY is not set: account numbers are sealed with the public development key");
        }
        // Values sealed before key ids were keyed from the HS256 secret: they still open.
        let legacy = config.verifies_with_shared_secret().then(|| config.jwt_secret_or_dev());
        let sealer = Sealer::new(config.seal_key_or_dev(), &config.seal_old_keys_exposed(), legacy);
        let notifier: Arc<dyn Notifier> = Arc::new(LogNotifier);
        let bus = Bus::new(config.subscriber_buffer);
        let limiter = RateLimiter::new(config.mutation_rate, config.mutation_burst);
        let state = AppState::new(Inner {
            db,
            statements,
            clock,
            config,
            keys,
            channel,
            notifier,
            sealer,
            bus,
            write_gate,
            limiter,
            exports: crate::reports::export::limiter(),
            sockets: Default::default(),
            provisioned: Default::default(),
        });
        let graphql = GraphqlService::build(state.clone());
        let first_event = events::repo::start(&state.db).await.map_err(|e| StartError::Outbox(format!("{e:?}")))?;
        Ok(App { state, graphql, first_event, demo_tokens: None })
    }

    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone(), self.graphql.clone(), self.demo_tokens.clone())
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests. Prints
    /// `listening on http://HOST:PORT` once connections are accepted (and
    /// `metrics on http://HOST:PORT/metrics` when `/metrics` has a listener of its own).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let addr = listener.local_addr()?;
        let metrics_listener = match self.state.config.metrics_bind {
            Some(bind) => Some(TcpListener::bind(bind).await?),
            None => None,
        };
        let router = self.router();
        let worker = (!self.state.clock.is_test()).then(|| tokio::spawn(jobs::runner::worker(self.state.clone())));
        let publisher = tokio::spawn(events::publisher::run(self.state.clone(), self.first_event));
        let jwks = self.state.keys.jwks().map(|cache| cache.spawn_refresher());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stop = tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let metrics = match metrics_listener {
            Some(listener) => {
                println!("metrics on http://{}/metrics", listener.local_addr()?);
                let router = http::metrics_router(self.state.clone());
                Some(tokio::spawn(accept_loop(listener, router, self.state.clone(), stop_rx.clone())))
            }
            None if !self.state.config.metrics_on_public_port() => {
                tracing::warn!(
                    "/metrics is off: production serves it only with SMALLPAY_METRICS_TOKEN or on SMALLPAY_METRICS_BIND"
                );
                None
            }
            None => None,
        };
        println!("listening on http://{addr}");
        accept_loop(listener, router, self.state.clone(), stop_rx).await;
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        stop.abort();
        if let Some(worker) = worker {
            worker.abort();
        }
        publisher.abort();
        if let Some(jwks) = jwks {
            jwks.abort();
        }
        self.state.db.clone().close().await?;
        Ok(())
    }
}

/// The configured channel; the simulated one keeps its books in `db`.
fn payment_channel(gateway: Gateway, db: DatabaseConnection, gate: Arc<db::WriteGate>) -> Arc<dyn PaymentChannel> {
    match gateway {
        Gateway::Simulated => Arc::new(gateway::simulated::Simulated::new(db, gate)),
        Gateway::Manual => Arc::new(gateway::Manual),
    }
}

/// Serves connections until `shutdown` turns true. Each connection is closed once it has been
/// idle for the header timeout — from its first byte on (a socket that sends nothing is idle
/// from the start), between keep-alive requests, and on HTTP/2 however many pings it answers —
/// and hyper's header-read timeout also bounds a request's headers. At most `max_connections`
/// are open at once and `connections_per_client` from one address (more are closed as they
/// arrive); a subscription socket counts until it closes. Then a graceful drain, bounded by
/// `shutdown_grace`.
async fn accept_loop(
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use hyper_util::{
        rt::{TokioExecutor, TokioIo, TokioTimer},
        server::conn::auto::Builder,
    };
    let config = &state.config;
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(config.header_timeout);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(config.header_timeout));
    let idle_limit = config.header_timeout;
    let admission = Admission::new(config);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next() => continue,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of file descriptors and the like: give the system a moment.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let Some(places) = admission.admit(peer.ip()) else {
            metrics::counter!("connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let activity = Arc::new(Activity::new());
        let service = {
            let (router, activity) = (router.clone(), activity.clone());
            hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                let busy = activity.busy();
                let router = router.clone();
                async move {
                    let response = tower::ServiceExt::oneshot(router, request).await;
                    drop(busy);
                    response
                }
            })
        };
        let io = TokioIo::new(Counted { stream, _places: places });
        let connection = builder.serve_connection_with_upgrades(io, service).into_owned();
        let mut shutdown = shutdown.clone();
        connections.spawn(async move {
            tokio::pin!(connection);
            let (mut idle_closed, mut draining) = (false, false);
            loop {
                tokio::select! {
                    _ = connection.as_mut() => break,
                    () = activity.idle_for(idle_limit), if !idle_closed && !draining => {
                        connection.as_mut().graceful_shutdown();
                        idle_closed = true;
                    }
                    // An idle connection closes at once; one that does not is dropped.
                    () = tokio::time::sleep(idle_limit), if idle_closed => break,
                    _ = shutdown.wait_for(|stop| *stop), if !draining => {
                        connection.as_mut().graceful_shutdown();
                        draining = true;
                    }
                }
            }
        });
    }
    drop(listener);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(config.shutdown_grace, drained).await.is_err() {
        tracing::warn!("shutdown: connections still open after the grace period were closed");
        connections.shutdown().await;
    }
}

/// Who may open a connection: one of `max_connections` places, and one of its address's
/// `connections_per_client` — unless the peer is a trusted proxy, whose connections carry many
/// clients (behind it, subscription sockets are counted by the forwarded address instead).
/// The TCP peer is the only address known here: a forwarded header comes with the request.
struct Admission {
    permits: Arc<tokio::sync::Semaphore>,
    clients: Arc<ClientCounts>,
    per_client: usize,
    trusted: Vec<ipnet::IpNet>,
}

impl Admission {
    fn new(config: &Config) -> Self {
        Admission {
            permits: Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1))),
            clients: Arc::default(),
            per_client: config.connections_per_client(),
            trusted: config.trusted_proxies.clone(),
        }
    }

    fn admit(&self, peer: IpAddr) -> Option<Places> {
        let client = if self.trusted.iter().any(|net| net.contains(&peer.to_canonical())) {
            None
        } else {
            Some(self.clients.hold(peer, self.per_client)?)
        };
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        Some(Places { _permit: permit, _client: client })
    }
}

/// A connection's places under the caps, given back when its socket is dropped: for a
/// subscription socket that is when the socket closes, not when the upgrade request ends.
struct Places {
    _permit: tokio::sync::OwnedSemaphorePermit,
    _client: Option<ClientHold>,
}

/// An accepted stream that holds its [`Places`].
struct Counted {
    stream: tokio::net::TcpStream,
    _places: Places,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, deps: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(deps, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, deps: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(deps, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        deps: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(deps, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, deps: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(deps)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, deps: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(deps)
    }
}

/// What a connection is doing, as far as idleness goes: how many requests it is answering, and
/// when it last finished one (or was accepted).
struct Activity {
    started: Instant,
    busy: AtomicUsize,
    /// Milliseconds after `started`.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity { started: Instant::now(), busy: AtomicUsize::new(0), last: AtomicU64::new(0) }
    }

    /// A request being answered, until the guard is dropped.
    fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Resolves once no request has been answered for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let wait = if self.busy.load(Ordering::SeqCst) > 0 {
                limit
            } else {
                let idle = Duration::from_millis(self.now_ms().saturating_sub(self.last.load(Ordering::SeqCst)));
                match limit.checked_sub(idle) {
                    Some(left) if !left.is_zero() => left,
                    _ => return,
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.last.store(self.0.now_ms(), Ordering::SeqCst);
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}
