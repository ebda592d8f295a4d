//! The patched SQLite driver (`vendor/sqlx-sqlite`, vendor/README.md): a connection's
//! statements run on the calling thread when its worker thread is idle. These tests hold it to
//! what the unpatched driver guarantees, on a real database file through SeaORM — the order of
//! commands, waiting for a lock held elsewhere, the busy timeout — and the whole suite runs over
//! it besides. (The patch is SQLite's driver: PostgreSQL has nothing to run these against.)
use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

use super::{begin_write, connect_with};
use crate::config::SqliteSynchronous;

/// A database file of its own, in a directory removed when the test ends.
pub(super) struct File(std::path::PathBuf);

impl File {
    pub(super) fn new(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "smallpay-driver-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        File(dir)
    }

    pub(super) fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.0.join("d.db").display())
    }

    /// A pool of one connection (so that every statement meets the last one's connection).
    async fn pool(&self) -> DatabaseConnection {
        connect_with(&self.url(), 1, 1, SqliteSynchronous::Full).await.unwrap()
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn count(db: &impl ConnectionTrait) -> i64 {
    let row = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT count(*) FROM t")).await.unwrap();
    row.unwrap().try_get_by_index::<i64>(0).unwrap()
}

async fn insert(db: &impl ConnectionTrait, v: i64) {
    db.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, "INSERT INTO t (v) VALUES (?)", [v.into()]))
        .await
        .unwrap();
}

/// A transaction dropped without commit queues its `ROLLBACK` on the worker; the next
/// statement on that connection must not run before it (it would see the rolled-back row, or
/// its `BEGIN` would fail inside the old transaction). Repeated, because the worker may
/// happen to be quick.
#[tokio::test]
async fn a_dropped_transactions_rollback_runs_before_the_next_statement() {
    let file = File::new("rollback");
    let db = file.pool().await;
    db.execute_unprepared("CREATE TABLE t (v INTEGER NOT NULL)").await.unwrap();
    for round in 0..200 {
        let tx = begin_write(&db).await.unwrap();
        insert(&tx, round).await;
        assert_eq!(count(&tx).await, 1, "round {round}: the transaction sees its own row");
        drop(tx);
        assert_eq!(count(&db).await, 0, "round {round}: the next statement ran before the rollback");
        let again = begin_write(&db).await.unwrap();
        assert_eq!(count(&again).await, 0, "round {round}");
        // The same for a savepoint dropped inside a transaction that goes on: its `ROLLBACK TO`
        // is queued, and the outer transaction's next statement comes straight after it on
        // the same connection (no pool in between).
        let inner = again.begin().await.unwrap();
        insert(&inner, round).await;
        drop(inner);
        assert_eq!(count(&again).await, 0, "round {round}: the statement ran before the savepoint's rollback");
        again.rollback().await.unwrap();
    }
}

/// A `BEGIN IMMEDIATE` run on the calling thread while another connection holds the write
/// lock is busy at once (the busy handler is off there); it must then wait on the worker,
/// with the connection's busy timeout (10 s), and succeed once the lock is let go — not fail.
#[tokio::test]
async fn a_writer_meeting_another_connections_lock_waits_for_it() {
    let file = File::new("busy");
    let (holder, waiter) = (file.pool().await, file.pool().await);
    holder.execute_unprepared("CREATE TABLE t (v INTEGER NOT NULL)").await.unwrap();
    assert_eq!(count(&waiter).await, 0, "the waiter's connection is open and idle");

    let held = begin_write(&holder).await.unwrap();
    insert(&held, 1).await;
    let wait = tokio::spawn(async move {
        let tx = begin_write(&waiter).await?;
        insert(&tx, 2).await;
        tx.commit().await?;
        Ok::<_, sea_orm::DbErr>(count(&waiter).await)
    });
    // The waiter runs on this thread (a current-thread runtime) whenever this task yields; if
    // its busy `BEGIN` were not handed to the worker, it would have failed by now.
    for _ in 0..100 {
        tokio::task::yield_now().await;
        assert!(!wait.is_finished(), "the waiter did not wait for the lock: {:?}", wait.await);
    }
    held.commit().await.unwrap();
    assert_eq!(wait.await.unwrap().unwrap(), 2, "the waiter wrote after the holder");
}

/// `PRAGMA busy_timeout` keeps its effect: the calling thread turns the busy handler off and
/// on around each statement, and must turn it back on to the value set, not to the one the
/// pool was opened with (10 s). Set to 0 here, it is still 0 after statements ran on the
/// calling thread, and a write meeting a held lock fails at once.
#[tokio::test]
async fn a_busy_timeout_set_by_pragma_keeps_its_effect() {
    let file = File::new("pragma");
    let (holder, other) = (file.pool().await, file.pool().await);
    holder.execute_unprepared("CREATE TABLE t (v INTEGER NOT NULL)").await.unwrap();
    let busy_timeout = async |db: &DatabaseConnection| {
        let row = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA busy_timeout")).await;
        row.unwrap().unwrap().try_get_by_index::<i64>(0).unwrap()
    };
    assert_eq!(busy_timeout(&other).await, 10_000, "the pool's own");
    other.execute_unprepared("PRAGMA busy_timeout = 0").await.unwrap();
    insert(&other, 1).await;
    assert_eq!(count(&other).await, 1);
    assert_eq!(busy_timeout(&other).await, 0, "statements on the calling thread restored the pool's timeout");

    let held = begin_write(&holder).await.unwrap();
    let busy = other.execute_unprepared("INSERT INTO t (v) VALUES (2)").await.unwrap_err();
    assert!(crate::error::is_contention(&busy), "{busy}");
    held.rollback().await.unwrap();
    insert(&other, 2).await;
    assert_eq!(count(&other).await, 2);
}

/// The commits that run on the calling thread — a savepoint's release, a transaction that
/// only read — commit what they should; the durable commit of a write still happens (after the
/// pool is reopened, the rows are there).
#[tokio::test]
async fn savepoints_and_read_only_transactions_commit_on_the_calling_thread() {
    let file = File::new("commit");
    {
        let db = file.pool().await;
        db.execute_unprepared("CREATE TABLE t (v INTEGER NOT NULL)").await.unwrap();
        let outer = begin_write(&db).await.unwrap();
        insert(&outer, 1).await;
        let inner = outer.begin().await.unwrap();
        insert(&inner, 2).await;
        inner.commit().await.unwrap();
        let dropped = outer.begin().await.unwrap();
        insert(&dropped, 3).await;
        dropped.rollback().await.unwrap();
        assert_eq!(count(&outer).await, 2);
        outer.commit().await.unwrap();

        let read = db.begin().await.unwrap();
        assert_eq!(count(&read).await, 2);
        read.commit().await.unwrap();
        let write = begin_write(&db).await.unwrap();
        insert(&write, 4).await;
        write.commit().await.unwrap();
        db.close().await.unwrap();
    }
    let reopened = file.pool().await;
    assert_eq!(count(&reopened).await, 3);
}

/// A string of several statements (sent to the worker whole) runs every statement; a failing
/// statement on the calling thread answers its error and leaves the connection usable.
#[tokio::test]
async fn several_statements_run_whole_and_a_failure_leaves_the_connection_usable() {
    let file = File::new("several");
    let db = file.pool().await;
    db.execute_unprepared(
        "CREATE TABLE t (v INTEGER NOT NULL UNIQUE); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);",
    )
    .await
    .unwrap();
    assert_eq!(count(&db).await, 2);
    let duplicate = db
        .execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, "INSERT INTO t (v) VALUES (?)", [1i64.into()]))
        .await;
    assert!(duplicate.is_err());
    insert(&db, 3).await;
    assert_eq!(count(&db).await, 3);
}
