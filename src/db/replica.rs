//! Reads from a PostgreSQL hot standby (`SMALLPAY_DATABASE_REPLICA_URL`).
//!
//! **What goes there.** A request whose operation is a query, on `POST` or `GET /graphql`, and
//! a CSV export, read from the standby as a whole (every resolver and loader of the request, so
//! that one answer never mixes the two databases); mutations, subscriptions and everything
//! else a socket runs, the job runner and the publisher use the primary. A query that fails on
//! the standby with an internal error runs again on the primary, so a standby that goes away
//! mid-request costs time, not an error.
//!
//! **When it is skipped.** [`Replica::watch`] samples, every [`CHECK_EVERY`], the primary's WAL
//! insert position (`pg_current_wal_insert_lsn()`) and then the standby's replay position
//! (`pg_last_wal_replay_lsn()`). Everything the primary had written when a sample was taken is
//! visible on the standby once its replay position has passed that sample's: the newest such
//! sample's time is how current the standby is (`visible_as_of`), and `now − visible_as_of` its
//! lag (`replica_lag_seconds`; at most about one interval on a standby that keeps up). The
//! standby serves nobody while its lag is over `SMALLPAY_REPLICA_MAX_LAG`, it does not answer,
//! or it is not in recovery (promoted: it is no longer this primary's copy).
//!
//! **Reading one's own writes.** When an account's mutation has been answered (over HTTP or
//! on a socket), its commit is
//! in the primary's WAL before the next sample is taken; the account's reads go to the primary
//! until the standby is visible as of a sample taken after that mutation — no extra statement
//! on the write path. This knowledge is the instance's own: with several instances, the
//! balancer keeps an account on one instance (`scripts/cluster.sh` hashes the
//! `Authorization` header), and an account moved to another instance (its own went away) may
//! read, for at most the standby's lag, a state before its last mutation.
use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio::sync::Notify;

/// How often the standby's position is compared with the primary's.
pub const CHECK_EVERY: Duration = Duration::from_millis(200);
/// How long a position query may take before the database counts as not answering.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// The most primary positions kept while the standby has not replayed them (an hour of checks).
const MAX_SAMPLES: usize = 18_000;

/// The database a request reads from, as the request's data (absent: the primary).
#[derive(Clone)]
pub struct ReadDb(pub DatabaseConnection);

/// A hot standby and what is known of its progress.
pub struct Replica {
    db: DatabaseConnection,
    max_lag: Duration,
    watch: Mutex<Watch>,
    check_now: Notify,
}

#[derive(Default)]
struct Watch {
    /// The primary's WAL insert positions not yet known replayed, oldest first, each with the
    /// time it was read (the newest replayed one is kept as well).
    samples: VecDeque<(Instant, u64)>,
    /// Everything the primary had written at this time is visible on the standby.
    visible_as_of: Option<Instant>,
    /// The last check reached the standby, and it was in recovery.
    up: bool,
    /// When each account's last mutation was answered, until the standby shows it.
    writers: HashMap<String, Instant>,
}

impl Replica {
    /// A pool on the standby; it serves nobody until the first check has passed.
    pub async fn connect(url: &str, max_lag: Duration) -> Result<Replica, DbErr> {
        let mut opts = sea_orm::ConnectOptions::new(url.to_owned());
        // A standby that went away must not hold a read for the primary's 10 s acquire timeout.
        opts.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(2))
            .acquire_timeout(Duration::from_secs(2))
            .max_connections(16)
            .min_connections(0)
            .connect_lazy(true);
        let db = sea_orm::Database::connect(opts).await?;
        Ok(Replica { db, max_lag, watch: Mutex::new(Watch::default()), check_now: Notify::new() })
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Whether a read by `account` (none: anonymous) may go to the standby now.
    pub fn serves(&self, account: Option<&str>) -> bool {
        let watch = self.lock();
        let Some(as_of) = watch.visible_as_of.filter(|_| watch.up) else {
            return false;
        };
        if as_of.elapsed() > self.max_lag {
            return false;
        }
        account.and_then(|a| watch.writers.get(a)).is_none_or(|wrote| *wrote <= as_of)
    }

    /// `account`'s mutation has been answered: its reads go to the primary until the standby
    /// has replayed it.
    pub fn wrote(&self, account: &str) {
        self.lock().writers.insert(account.to_owned(), Instant::now());
    }

    /// A read on the standby failed: nobody reads there until a check passes again, which
    /// is made at once.
    pub fn failed(&self) {
        self.lock().up = false;
        metrics::gauge!("replica_up").set(0.0);
        self.check_now.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Watch> {
        self.watch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Compares the standby's progress with the primary's for as long as the server runs.
    pub async fn watch(&self, primary: &DatabaseConnection) {
        let mut warned = false;
        loop {
            match self.check(primary).await {
                Ok(()) => warned = false,
                Err(why) => {
                    self.lock().up = false;
                    metrics::gauge!("replica_up").set(0.0);
                    if !warned {
                        tracing::warn!(%why, "the standby serves no reads until it answers and keeps up again");
                        warned = true;
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(CHECK_EVERY) => {}
                () = self.check_now.notified() => {}
            }
        }
    }

    async fn check(&self, primary: &DatabaseConnection) -> Result<(), String> {
        let taken = Instant::now();
        let written = position(primary, "SELECT pg_current_wal_insert_lsn()::text, true").await?;
        let replayed = position(&self.db, "SELECT pg_last_wal_replay_lsn()::text, pg_is_in_recovery()").await;
        let mut watch = self.lock();
        if let Some(written) = written {
            // A standby stopped or paused for long keeps at most MAX_SAMPLES: the oldest
            // after the front go, so its progress is then known more coarsely, never wrongly.
            if watch.samples.len() >= MAX_SAMPLES {
                watch.samples.remove(1);
            }
            watch.samples.push_back((taken, written));
        }
        let replayed = replayed?.ok_or("the standby is not in recovery (promoted?)")?;
        // The newest sample the standby has replayed past; older ones are no longer needed.
        while watch.samples.get(1).is_some_and(|(_, lsn)| *lsn <= replayed) {
            watch.samples.pop_front();
        }
        if let Some((at, _)) = watch.samples.front().filter(|(_, lsn)| *lsn <= replayed) {
            watch.visible_as_of = Some(*at);
        }
        watch.up = true;
        if let Some(as_of) = watch.visible_as_of {
            watch.writers.retain(|_, wrote| *wrote > as_of);
            metrics::gauge!("replica_lag_seconds").set(as_of.elapsed().as_secs_f64());
        }
        metrics::gauge!("replica_up").set(1.0);
        Ok(())
    }
}

/// A WAL position read by `sql` (`None` when the second column says it does not apply).
async fn position(db: &DatabaseConnection, sql: &str) -> Result<Option<u64>, String> {
    let query = db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql));
    let row = tokio::time::timeout(CHECK_TIMEOUT, query)
        .await
        .map_err(|_| "no answer within 1 s".to_owned())?
        .map_err(|e| format!("{e}"))?
        .ok_or("no row")?;
    let applies: bool = row.try_get_by_index(1).map_err(|e| format!("{e}"))?;
    let lsn: Option<String> = row.try_get_by_index(0).map_err(|e| format!("{e}"))?;
    match (applies, lsn) {
        (true, Some(lsn)) => parse_lsn(&lsn).map(Some).ok_or_else(|| format!("unreadable WAL position {lsn}")),
        _ => Ok(None),
    }
}

/// `16/B374D848` → its 64-bit position.
fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    Some((u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_positions_compare_as_numbers() {
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("16/B374D848"), Some((0x16 << 32) | 0xB374_D848));
        assert!(parse_lsn("1/FFFFFFFF") < parse_lsn("2/0"));
        assert_eq!(parse_lsn("nonsense"), None);
    }
}
