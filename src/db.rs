//! Connecting to SQLite or PostgreSQL, migrations, and write transactions that cannot race.
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures_util::future::BoxFuture;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    IsolationLevel, Statement, TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

mod begin;
#[cfg(test)]
mod driver_tests;
pub mod pipeline;
#[cfg(test)]
mod pipeline_tests;
pub mod replica;

pub use begin::begin_write;

use crate::{
    clock::Clock,
    config,
    error::{AppError, AppResult},
};

/// A use case's dependencies besides its arguments: the database, the clock, the write gate
/// (and the zone a shop without a valid one falls back to). `Copy`; `AppState::deps` makes it.
#[derive(Clone, Copy)]
pub struct Deps<'a> {
    pub db: &'a DatabaseConnection,
    pub clock: &'a Clock,
    pub gate: &'a WriteGate,
    pub default_zone: Tz,
}

/// What a batched write reads when it runs: the clock, and the deployment's default time zone
/// (a shop's zone when it has none of its own).
pub type Now = (DateTime<Utc>, Tz);

/// A write transaction's work for [`Deps::write_batched`]: given the transaction (on SQLite a
/// savepoint of a batch's), [`Now`] and the request's state, it reads, decides and writes, and
/// does not commit.
pub type BatchedWork<S, T> = for<'t> fn(&'t DatabaseTransaction, Now, &'t S) -> BoxFuture<'t, AppResult<T>>;

impl Deps<'_> {
    /// Runs one write transaction through [`retrying`] behind the write gate.
    pub async fn write<T, F, Fut>(self, attempt: F) -> AppResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = AppResult<T>>,
    {
        retrying(self.gate, attempt).await
    }

    /// Runs one write transaction of `shop`'s, retried like [`Deps::write`]: `work` given the
    /// transaction, the clock's reading and the default zone when it runs ([`Now`]), and
    /// `state` (what it needs of the request, owned: on SQLite another task runs it). On SQLite
    /// it runs in the commit pipeline (group commit: [`pipeline`]): in a savepoint of a
    /// transaction shared with the other writes that arrive with it, and answered once that
    /// transaction is durable. On PostgreSQL it runs in a transaction of its own, begun by
    /// [`begin_shop_write`] and committed after the work. `work` is a plain function (a closure
    /// that captures nothing) so that it can be run again on a retry.
    pub async fn write_batched<S, T>(self, shop: ShopOf<'_>, state: S, work: BatchedWork<S, T>) -> AppResult<T>
    where
        S: Send + Sync + 'static,
        T: Send + 'static,
    {
        let state = Arc::new(state);
        let zone = self.default_zone;
        match &self.gate.pipeline {
            Some(pipeline) => {
                with_retries(|| {
                    let (state, clock) = (state.clone(), self.clock.clone());
                    pipeline.submit(Box::new(move |tx| {
                        Box::pin(async move { work(tx, (clock.now(), zone), &state).await })
                    }))
                })
                .await
            }
            None => {
                let state = &state;
                retrying(self.gate, || async move {
                    let tx = begin_shop_write(self.db, shop).await?;
                    let value = work(&tx, (self.clock.now(), zone), state).await?;
                    tx.commit().await?;
                    Ok(value)
                })
                .await
            }
        }
    }
}

/// The application's pool. On SQLite, `synchronous` says whether a commit waits for the disk
/// (`FULL`, the default: an acknowledged payout survives a power loss) or not (`NORMAL`).
pub async fn connect(url: &str, synchronous: config::SqliteSynchronous) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, 8, 16, synchronous).await
}

/// A two-connection pool for a background task that only reads.
pub async fn connect_small(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, 2, 2, config::SqliteSynchronous::Full).await
}

async fn connect_with(
    url: &str,
    sqlite_max: u32,
    postgres_max: u32,
    synchronous: config::SqliteSynchronous,
) -> Result<DatabaseConnection, DbErr> {
    let synchronous = match synchronous {
        config::SqliteSynchronous::Full => SqliteSynchronous::Full,
        config::SqliteSynchronous::Normal => SqliteSynchronous::Normal,
    };
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false).connect_timeout(Duration::from_secs(5)).acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        opts.max_connections(sqlite_max).map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    } else {
        opts.max_connections(postgres_max);
    }
    Database::connect(opts).await
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Migrations are current when none is pending.
pub async fn is_ready(db: &DatabaseConnection) -> bool {
    let check =
        async { db.ping().await.is_ok() && Migrator::get_pending_migrations(db).await.is_ok_and(|p| p.is_empty()) };
    // A balancer's health check gives up after a few seconds: answer before it does, rather
    // than after the pool's acquire timeout (10 s) when the database is gone.
    tokio::time::timeout(READY_TIMEOUT, check).await.unwrap_or(false)
}

/// How long `/readyz` waits for the database before it answers 503: a database that cannot
/// answer a ping within it (gone, or the pool busy that long) is not ready to serve.
pub const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// The shop whose events a write transaction may record, as the caller knows it: by id, or
/// as the shop of a payout or of an account card (read only where the lock needs it).
#[derive(Debug, Clone, Copy)]
pub enum ShopOf<'a> {
    Shop(&'a str),
    Payout(i64),
    Card(i64),
}

/// Begins a write transaction that may record a payout transition of a shop (an event). On
/// PostgreSQL its first statement takes the shop's transaction-level advisory lock (finding a
/// payout's or card's shop in the same statement), before the transaction has written
/// anything — so before it has a transaction id. Two such transactions of one shop therefore
/// get their transaction ids, their event ids and their commits in one order, and the
/// publisher, which reads events in transaction-id order up to the oldest running transaction
/// (`events::repo`), delivers each shop's events in commit order. Transactions of different
/// shops do not wait for each other. On SQLite (one writer at a time) it is [`begin_write`].
/// A payout or card that does not exist locks the shop `""`; the use case then finds nothing.
pub async fn begin_shop_write(db: &DatabaseConnection, shop: ShopOf<'_>) -> Result<DatabaseTransaction, DbErr> {
    let tx = begin_write(db).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        let lock = "SELECT pg_advisory_xact_lock(hashtextextended(COALESCE(";
        let (sql, key): (String, sea_orm::Value) = match shop {
            ShopOf::Shop(id) => (format!("{lock}$1, ''), $2))"), id.into()),
            ShopOf::Payout(id) => (format!("{lock}(SELECT shop_id FROM payouts WHERE id = $1), ''), $2))"), id.into()),
            ShopOf::Card(id) => (
                format!(
                    "{lock}(SELECT p.shop_id FROM account_cards c JOIN payouts p ON p.id = c.payout_id \
                     WHERE c.id = $1), ''), $2))"
                ),
                id.into(),
            ),
        };
        tx.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, [key, SHOP_LOCK_SEED.into()])).await?;
    }
    Ok(tx)
}

/// The seed of the shop advisory locks' hash (any constant; it keeps them apart from other
/// applications' advisory locks on a shared database).
pub const SHOP_LOCK_SEED: i64 = 7_270_414;

/// Begins a read-only transaction that sees one snapshot of the database throughout, for a
/// read that must be consistent across many queries (the audit). On PostgreSQL it is
/// `REPEATABLE READ, READ ONLY`; on SQLite (WAL) a deferred transaction reads one snapshot
/// from its first query to its end, and takes no write lock.
pub async fn begin_read(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await
        }
        _ => db.begin().await,
    }
}

/// How many times a use case that lost a race is tried before `UNAVAILABLE`.
pub const MAX_ATTEMPTS: u32 = 8;

/// On SQLite, the process's writers queue here (first come, first served) before they begin
/// their transaction, instead of spinning in SQLite's busy handler; on PostgreSQL it lets
/// everyone through (row locks order them). On SQLite it also holds the commit pipeline
/// ([`pipeline`]), whose batches take the same turn.
/// Writers also ring it after they commit, which wakes the process's event publisher at once
/// (instead of at its next poll).
pub struct WriteGate {
    lock: Option<Arc<tokio::sync::Mutex<()>>>,
    committed: Arc<tokio::sync::Notify>,
    pipeline: Option<pipeline::Pipeline>,
}

impl WriteGate {
    /// The gate of `db`'s writers; on SQLite it starts the commit pipeline (call it within the
    /// runtime).
    pub fn new(db: &DatabaseConnection) -> Self {
        let committed = Arc::new(tokio::sync::Notify::new());
        if db.get_database_backend() != DbBackend::Sqlite {
            return WriteGate { lock: None, committed, pipeline: None };
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        let pipeline = pipeline::Pipeline::start(db.clone(), lock.clone(), committed.clone());
        WriteGate { lock: Some(lock), committed, pipeline: Some(pipeline) }
    }

    /// The commit pipeline (SQLite only).
    pub fn pipeline(&self) -> Option<&pipeline::Pipeline> {
        self.pipeline.as_ref()
    }

    pub async fn enter(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.lock {
            Some(gate) => Some(gate.lock().await),
            None => None,
        }
    }

    /// Says that a write transaction committed (it may have recorded events).
    pub fn committed(&self) {
        self.committed.notify_one();
    }

    /// Resolves after the next [`WriteGate::committed`] (or at once if one came since the
    /// last call).
    pub async fn next_commit(&self) {
        self.committed.notified().await;
    }
}

/// Runs `attempt` (one write transaction) through the write gate until it succeeds, fails
/// with something other than contention, or has been tried [`MAX_ATTEMPTS`] times.
pub async fn retrying<T, F, Fut>(gate: &WriteGate, mut attempt: F) -> AppResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AppResult<T>>,
{
    let value = with_retries(|| {
        let attempt = attempt();
        async move {
            let _turn = gate.enter().await;
            attempt.await
        }
    })
    .await?;
    gate.committed();
    Ok(value)
}

/// Tries `attempt` until it succeeds, fails with something other than contention, or has
/// been tried [`MAX_ATTEMPTS`] times (then `UNAVAILABLE`), with a growing, jittered pause.
async fn with_retries<T, F, Fut>(mut attempt: F) -> AppResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AppResult<T>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(AppError::Contention) if tries < MAX_ATTEMPTS => {
                let backoff = 5u64 * u64::from(tries) + u64::from(rand_jitter());
                tokio::time::sleep(Duration::from_millis(backoff)).await;
            }
            Err(AppError::Contention) => return Err(AppError::Unavailable),
            other => return other,
        }
    }
}

/// A few milliseconds of jitter, so that racing retries spread out.
fn rand_jitter() -> u8 {
    rand::random_range(0..10)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `.cargo/config.toml` builds the bundled SQLite with two options the server's speed on
    /// SQLite depends on (no allocation mutex; plans that do not depend on bound values, so
    /// that `LIMIT ?` statements stay prepared). A build without them still works — slowly —
    /// so this is where their absence shows.
    #[tokio::test]
    async fn the_bundled_sqlite_has_its_options() {
        let db = connect_small("sqlite::memory:").await.unwrap();
        let rows = db.query_all_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA compile_options")).await.unwrap();
        let options: Vec<String> = rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect();
        for wanted in ["DEFAULT_MEMSTATUS=0", "ENABLE_QPSG"] {
            assert!(options.iter().any(|o| o == wanted), "SQLite was built without {wanted}: {options:?}");
        }
    }
}
