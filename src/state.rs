//! The state every request and background task shares: the low-level parts only (database
//! handle, clock, configuration, keys, payment channel, notifier, sealer, event bus, write
//! gate). The wiring that builds it — schema, router, job runner, publisher — is in
//! [`crate::app`]; nothing here imports it.
use std::{
    ops::Deref,
    sync::{Arc, atomic::AtomicU64},
};

use sea_orm::DatabaseConnection;

use crate::{
    auth::jwt::JwtKeys,
    cards::{notifier::Notifier, seal::Sealer},
    clock::Clock,
    config::Config,
    db::{Deps, WriteGate, replica::Replica},
    events::bus::Bus,
    gateway::{PaymentChannel, Payments},
    ratelimit::{RateLimiter, SocketCounts},
};

pub struct Inner {
    /// The primary: every write, and every read not routed to the standby.
    pub db: DatabaseConnection,
    /// A hot standby that serves queries while it keeps up (`SMALLPAY_DATABASE_REPLICA_URL`).
    pub replica: Option<Arc<Replica>>,
    /// SQL statements executed so far by this application (tests count them; `/metrics`
    /// exports them as `db_statements_total`).
    pub statements: Arc<AtomicU64>,
    pub clock: Clock,
    pub config: Config,
    pub keys: JwtKeys,
    /// The payment channel transfers are handed to (`SMALLPAY_GATEWAY` chooses it).
    pub channel: Arc<dyn PaymentChannel>,
    pub notifier: Arc<dyn Notifier>,
    pub sealer: Sealer,
    pub bus: Bus,
    /// Shared with the simulated channel, whose books live in the same database.
    pub write_gate: Arc<WriteGate>,
    /// Per-account rate limits on mutations.
    pub limiter: RateLimiter,
    /// Per-account rate limits on CSV exports.
    pub exports: RateLimiter,
    /// Subscription sockets open per account.
    pub sockets: SocketCounts,
    /// Accounts known to match their tokens (no query per request).
    pub provisioned: crate::auth::provisioned::Provisioned,
}

/// Cheap to clone. Use cases do not take it: they take the [`Deps`] (database, clock, write
/// gate) and whichever other part they use, so that a signature says what it touches.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState(Arc::new(inner))
    }

    /// What a use case depends on: database, clock, write gate, default zone.
    pub fn deps(&self) -> Deps<'_> {
        Deps { db: &self.db, clock: &self.clock, gate: &self.write_gate, default_zone: self.config.timezone }
    }

    /// [`AppState::deps`] with reads on `db` (the request's read database: primary or standby).
    pub fn deps_on<'a>(&'a self, db: &'a DatabaseConnection) -> Deps<'a> {
        Deps { db, ..self.deps() }
    }

    /// The database a read by `account` (its `Viewer::account_key`; none: anonymous) goes to
    /// now: the standby when there is one that serves it, else the primary.
    pub fn reads_for(&self, account: Option<&str>) -> &DatabaseConnection {
        match &self.replica {
            Some(replica) if replica.serves(account) => replica.db(),
            _ => &self.db,
        }
    }

    /// The payment side, for use cases that hand transfers to the channel.
    pub fn payments(&self) -> Payments<'_> {
        Payments { channel: &*self.channel, sealer: &self.sealer }
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
