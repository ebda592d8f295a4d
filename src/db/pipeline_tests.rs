//! The commit pipeline (group commit, `db::pipeline`) on a real SQLite file: writes that
//! arrive during a batch share its commit, a failing or panicking write rolls back alone, and
//! every write is answered with its batch's commit (a failed commit fails them all). The
//! pipeline exists on SQLite only; on PostgreSQL `write_batched` is a transaction per write,
//! run by the whole API suite there.
//!
//! Each test runs on the current-thread runtime: the pipeline's task runs only when the test
//! waits, so "queued while the first write runs" is exact, not a race.
use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tokio::sync::oneshot;

use super::{WriteGate, connect_with, driver_tests::File, pipeline::Work};
use crate::{config::SqliteSynchronous, error::AppError};

async fn open(name: &str) -> (File, DatabaseConnection, WriteGate) {
    let file = File::new(name);
    let db = connect_with(&file.url(), 4, 4, SqliteSynchronous::Full).await.unwrap();
    for ddl in [
        "CREATE TABLE t (v INTEGER NOT NULL)",
        "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE child (parent_id INTEGER NOT NULL REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)",
    ] {
        db.execute_unprepared(ddl).await.unwrap();
    }
    let gate = WriteGate::new(&db);
    (file, db, gate)
}

/// The rows of `t`, read through a connection of its own (so: what is committed).
async fn committed(file: &File) -> Vec<i64> {
    let other = connect_with(&file.url(), 1, 1, SqliteSynchronous::Full).await.unwrap();
    let rows = other.query_all_raw(Statement::from_string(DbBackend::Sqlite, "SELECT v FROM t ORDER BY v")).await;
    let values = rows.unwrap().iter().map(|r| r.try_get_by_index::<i64>(0).unwrap()).collect();
    other.close().await.unwrap();
    values
}

async fn insert_into(tx: &impl ConnectionTrait, table: &str, v: i64) -> Result<(), AppError> {
    let sql = format!("INSERT INTO {table} VALUES (?)");
    tx.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, sql, [v.into()])).await?;
    Ok(())
}

/// Inserts `v` into `t` and answers `v`.
fn insert(v: i64) -> Work<i64> {
    Box::new(move |tx| {
        Box::pin(async move {
            insert_into(tx, "t", v).await?;
            Ok(v)
        })
    })
}

/// [`insert`], then waits for `go`: the writes submitted meanwhile queue behind it.
fn insert_and_hold(v: i64, go: oneshot::Receiver<()>) -> Work<i64> {
    Box::new(move |tx| {
        Box::pin(async move {
            insert_into(tx, "t", v).await?;
            go.await.unwrap();
            Ok(v)
        })
    })
}

/// Inserts `v`, then refuses (`BAD_USER_INPUT`): its row must not stay.
fn refused_after_writing(v: i64) -> Work<i64> {
    Box::new(move |tx| {
        Box::pin(async move {
            insert_into(tx, "t", v).await?;
            Err(AppError::bad_input("amount", "refused after writing"))
        })
    })
}

/// Inserts `v`, then panics (a bug): its row must not stay.
fn panics_after_writing(v: i64) -> Work<i64> {
    Box::new(move |tx| {
        Box::pin(async move {
            insert_into(tx, "t", v).await?;
            panic!("a bug in a write");
        })
    })
}

/// Runs `held` (an [`insert_and_hold`]) and `rest` together: `rest` is queued before the
/// held write is let go, so all of them meet in one batch.
async fn in_one_batch<T>(
    gate: &WriteGate,
    held: impl FnOnce(oneshot::Receiver<()>) -> Work<i64>,
    rest: Vec<Work<T>>,
) -> (Result<i64, AppError>, Vec<Result<T, AppError>>)
where
    T: Send + 'static,
{
    let pipeline = gate.pipeline().unwrap();
    let (go, wait) = oneshot::channel();
    let first = pipeline.submit(held(wait));
    let rest = join_all(rest.into_iter().map(|work| pipeline.submit(work)));
    let release = async {
        // Every submission above is queued on its first poll; this runs after them.
        tokio::task::yield_now().await;
        go.send(()).unwrap();
    };
    let (first, rest, ()) = tokio::join!(first, rest, release);
    (first, rest)
}

#[tokio::test]
async fn writes_that_arrive_during_a_batch_share_its_commit_and_a_lone_write_commits_at_once() {
    let (file, _db, gate) = open("share").await;
    let pipeline = gate.pipeline().unwrap();

    let (first, rest) = in_one_batch(&gate, |go| insert_and_hold(0, go), (1..10).map(insert).collect()).await;
    assert_eq!(first.unwrap(), 0);
    assert_eq!(rest.into_iter().map(Result::unwrap).collect::<Vec<_>>(), (1..10).collect::<Vec<_>>());
    assert_eq!(pipeline.batches(), 1, "ten writes queued together commit together");
    assert_eq!(committed(&file).await, (0..10).collect::<Vec<_>>());

    // Alone, a write does not wait for company: it is its own batch, durable when answered.
    assert_eq!(pipeline.submit(insert(10)).await.unwrap(), 10);
    assert_eq!(pipeline.batches(), 2);
    assert_eq!(committed(&file).await, (0..=10).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_failing_or_panicking_write_rolls_back_alone() {
    let (file, _db, gate) = open("alone").await;
    let (fails, panics) = (refused_after_writing(2), panics_after_writing(3));
    let (first, rest) =
        in_one_batch(&gate, |go| insert_and_hold(0, go), vec![insert(1), fails, panics, insert(4)]).await;
    assert_eq!(first.unwrap(), 0);
    let mut rest = rest.into_iter();
    assert_eq!(rest.next().unwrap().unwrap(), 1);
    assert!(matches!(rest.next().unwrap(), Err(AppError::BadUserInput { .. })));
    assert!(matches!(rest.next().unwrap(), Err(AppError::Internal(_))), "a panic is answered INTERNAL");
    assert_eq!(rest.next().unwrap().unwrap(), 4);
    assert_eq!(gate.pipeline().unwrap().batches(), 1);
    assert_eq!(committed(&file).await, vec![0, 1, 4], "only the failed writes' rows are gone");

    // The pipeline goes on after a panic.
    assert_eq!(gate.pipeline().unwrap().submit(insert(5)).await.unwrap(), 5);
    assert_eq!(committed(&file).await, vec![0, 1, 4, 5]);
}

/// A write is answered with its batch's commit: when the commit fails (here a deferred
/// foreign key that only `COMMIT` checks), every write of the batch is told so — a refusal
/// in it too, decided against writes that did not stay — none of them stays, and the next
/// batch begins on a clean connection.
#[tokio::test]
async fn a_failed_commit_fails_every_write_of_its_batch() {
    let (file, db, gate) = open("commit").await;
    let dangling: Work<i64> = Box::new(|tx| {
        Box::pin(async move {
            insert_into(tx, "child", 99).await?;
            Ok(-1)
        })
    });
    let refused: Work<i64> = Box::new(|_| Box::pin(async { Err(AppError::bad_input("amount", "over the cap")) }));
    let (first, rest) = in_one_batch(&gate, |go| insert_and_hold(0, go), vec![insert(1), refused, dangling]).await;
    assert!(matches!(first, Err(AppError::Internal(_))), "{first:?}");
    assert!(rest.iter().all(|r| matches!(r, Err(AppError::Internal(_)))), "{rest:?}");
    assert_eq!(committed(&file).await, Vec::<i64>::new());
    let children = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT count(*) FROM child")).await;
    assert_eq!(children.unwrap().unwrap().try_get_by_index::<i64>(0).unwrap(), 0);

    assert_eq!(gate.pipeline().unwrap().submit(insert(7)).await.unwrap(), 7);
    assert_eq!(committed(&file).await, vec![7]);
}

/// How many of the pipeline's piece savepoints are open around the calling piece, found by
/// releasing them one by one (then its own is opened again, so the pipeline's `RELEASE`
/// finds it). It writes nothing.
fn open_piece_savepoints() -> Work<i64> {
    Box::new(|tx| {
        Box::pin(async move {
            let mut open = 0;
            while tx.execute_unprepared("RELEASE SAVEPOINT smallpay_piece").await.is_ok() {
                open += 1;
            }
            tx.execute_unprepared("SAVEPOINT smallpay_piece").await?;
            Ok(open)
        })
    })
}

/// A failed or panicked piece's savepoint is closed, not only rolled back to: the next piece
/// runs at the batch's top level. (Rolled back to but left open, each later piece nested in
/// it, and its journal grew with the whole batch; the clean-clone model saw such a batch fail
/// with `SQLITE_FULL`.)
#[tokio::test]
async fn a_failed_write_leaves_no_savepoint_open_for_the_next() {
    let (file, _db, gate) = open("nesting").await;
    let (fails, panics) = (refused_after_writing(2), panics_after_writing(3));
    let work =
        vec![open_piece_savepoints(), fails, open_piece_savepoints(), panics, open_piece_savepoints(), insert(4)];
    let (first, rest) = in_one_batch(&gate, |go| insert_and_hold(0, go), work).await;
    assert_eq!(first.unwrap(), 0);
    let rest: Vec<_> = rest.into_iter().map(|r| r.ok()).collect();
    assert_eq!(rest, vec![Some(1), None, Some(1), None, Some(1), Some(4)], "each piece in exactly one savepoint");
    assert_eq!(gate.pipeline().unwrap().batches(), 1);
    assert_eq!(committed(&file).await, vec![0, 4]);
}
