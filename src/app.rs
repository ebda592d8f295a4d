//! The wiring: one `build` (used by `serve` and by the tests alike) makes the shared
//! [`AppState`], the schema and the router; `serve` runs them with the job runner and the
//! event publisher. Nothing but `main.rs` imports this module.
//!
//! The accept loop `serve` runs, with its connection caps and idle timeouts, is in
//! `connections`.
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
    config::ExposeSecret as _,
    config::Gateway,
    db,
    events::{self, bus::Bus},
    gateway::{self, PaymentChannel},
    graphql::service::GraphqlService,
    http, jobs,
    ratelimit::RateLimiter,
    state::Inner,
};

mod connections;

use connections::accept_loop;

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
        let replica = match &config.database_replica_url {
            Some(url) => {
                Some(Arc::new(db::replica::Replica::connect(url.expose_secret(), config.replica_max_lag).await?))
            }
            None => None,
        };
        let statements = Arc::new(AtomicU64::new(0));
        let counter = statements.clone();
        db.set_metric_callback(move |info| {
            counter.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("db_statements_total", "failed" => if info.failed { "true" } else { "false" })
                .increment(1);
            metrics::histogram!("db_statement_duration_seconds").record(info.elapsed.as_secs_f64());
        });
        let clock = if config.test_clock { Clock::test(config.test_clock_start) } else { Clock::System };
        let write_gate = Arc::new(db::WriteGate::new(&db));
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
            replica,
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
        let standby = self.state.replica.clone().map(|replica| {
            let primary = self.state.db.clone();
            tokio::spawn(async move { replica.watch(&primary).await })
        });
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
        if let Some(standby) = standby {
            standby.abort();
        }
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
