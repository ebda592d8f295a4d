//! Connecting to SQLite or PostgreSQL, migrations, and write transactions that cannot race.
use std::time::Duration;

use chrono_tz::Tz;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    AccessMode, ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, IsolationLevel,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

use crate::{
    clock::Clock,
    config,
    error::{AppError, AppResult},
};

/// What a use case touches besides its arguments: the database, the clock, the write gate
/// (and the zone a shop without a valid one falls back to). `Copy`; `AppState::ctx` makes it.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub db: &'a DatabaseConnection,
    pub clock: &'a Clock,
    pub gate: &'a WriteGate,
    pub default_zone: Tz,
}

impl Ctx<'_> {
    /// Runs one write transaction through [`retrying`] with this context's gate.
    pub async fn write<T, F, Fut>(self, attempt: F) -> AppResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = AppResult<T>>,
    {
        retrying(self.gate, attempt).await
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
    db.ping().await.is_ok() && Migrator::get_pending_migrations(db).await.is_ok_and(|p| p.is_empty())
}

/// Begins a transaction for a read-then-write use case. On SQLite it takes the write lock
/// first (`BEGIN IMMEDIATE`), so no other writer can change what it reads; on PostgreSQL the
/// use case locks the rows its decision reads (`SELECT … FOR UPDATE`).
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let options = match db.get_database_backend() {
        DbBackend::Sqlite => {
            TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() }
        }
        _ => TransactionOptions::default(),
    };
    db.begin_with_options(options).await
}

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
/// everyone through (row locks order them).
pub struct WriteGate(Option<tokio::sync::Mutex<()>>);

impl WriteGate {
    pub fn for_backend(backend: DbBackend) -> Self {
        WriteGate((backend == DbBackend::Sqlite).then(|| tokio::sync::Mutex::new(())))
    }

    pub async fn enter(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.0 {
            Some(gate) => Some(gate.lock().await),
            None => None,
        }
    }
}

/// Runs `attempt` (one write transaction) through the write gate until it succeeds, fails
/// with something other than contention, or has been tried [`MAX_ATTEMPTS`] times.
pub async fn retrying<T, F, Fut>(gate: &WriteGate, mut attempt: F) -> AppResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AppResult<T>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        let outcome = {
            let _turn = gate.enter().await;
            attempt().await
        };
        match outcome {
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
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    u8::try_from(nanos % 10).unwrap_or(0)
}
