//! The wiring: one `build` (used by `serve` and by the tests alike) makes the shared
//! [`AppState`], the schema and the router; `serve` runs them with the job runner and the
//! event publisher. Nothing but `main.rs` imports this module.
use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

pub use crate::state::AppState;
use crate::{
    auth::JwtKeys,
    cards::{
        notifier::{LogNotifier, Notifier},
        seal::Sealer,
    },
    clock::Clock,
    config::Config,
    config::Gateway,
    db,
    events::{self, bus::Bus},
    gateway::{self, PaymentChannel},
    graphql::service::GraphqlService,
    http, jobs,
    ratelimit::RateLimiter,
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
        let mut db = db::connect(&config.database_url, config.sqlite_synchronous).await?;
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
        let gateway = payment_channel(config.gateway, db.clone(), write_gate.clone());
        if config.seal_key.is_none() {
            tracing::warn!("SMALLPAY_SEAL_KEY is not set: account numbers are sealed with the public development key");
        }
        // Values sealed before key ids were keyed from the HS256 secret: they still open.
        let legacy = config.verifies_with_shared_secret().then(|| config.jwt_secret_or_dev());
        let sealer = Sealer::new(config.seal_key_or_dev(), &config.seal_old_keys, legacy);
        let notifier: Arc<dyn Notifier> = Arc::new(LogNotifier);
        let bus = Bus::new(config.subscriber_buffer);
        let limiter = RateLimiter::new(config.mutation_rate, config.mutation_burst);
        let state = AppState::new(Inner {
            db,
            statements,
            clock,
            config,
            keys,
            gateway,
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
    /// `listening on http://HOST:PORT` once connections are accepted.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let addr = listener.local_addr()?;
        let router = self.router();
        let worker = (!self.state.clock.is_test()).then(|| tokio::spawn(jobs::runner::worker(self.state.clone())));
        let publisher = tokio::spawn(events::publisher::run(self.state.clone(), self.first_event));
        let jwks = self.state.keys.jwks().map(|cache| cache.spawn_refresher());
        println!("listening on http://{addr}");
        accept_loop(listener, router, &self.state.config, shutdown).await;
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

/// Serves connections until `shutdown`: each with a header-read timeout (which also bounds a
/// keep-alive connection's idle time), at most `max_connections` at once (more are closed as
/// they arrive), and a graceful drain bounded by `shutdown_grace`.
async fn accept_loop(
    listener: TcpListener,
    router: axum::Router,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    use hyper_util::{
        rt::{TokioExecutor, TokioIo, TokioTimer},
        server::{conn::auto::Builder, graceful::GracefulShutdown},
        service::TowerToHyperService,
    };
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(config.header_timeout);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(config.header_timeout));
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors and the like: give the system a moment.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics::counter!("connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(config.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("shutdown: connections still open after the grace period were closed");
    }
}
