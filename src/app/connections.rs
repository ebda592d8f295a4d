//! The accept loop: connections admitted under the caps (in all and per client address),
//! closed when idle, and drained at shutdown.
use std::{
    net::IpAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpListener,
};

use crate::{
    config::Config,
    ratelimit::{ClientCounts, ClientHold},
    state::AppState,
};

/// Serves connections until `shutdown` turns true. Each connection is closed once it has been
/// idle for the header timeout — from its first byte on (a socket that sends nothing is idle
/// from the start), between keep-alive requests, and on HTTP/2 however many pings it answers —
/// and hyper's header-read timeout also bounds a request's headers. At most `max_connections`
/// are open at once and `connections_per_client` from one address (more are closed as they
/// arrive); a subscription socket counts until it closes. Then a graceful drain, bounded by
/// `shutdown_grace`.
pub(super) async fn accept_loop(
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
