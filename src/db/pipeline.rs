//! Group commit on SQLite: the process's batched writes share one transaction and one fsync.
//!
//! A use case hands its write transaction's work ([`Work`]) to the pipeline and waits. One task
//! per database runs the work it is given, one piece after another, each in its own savepoint
//! of a shared `BEGIN IMMEDIATE` transaction: a piece that fails (a refusal, a lost race, a
//! panic) rolls back to its savepoint alone, and the others go on. When no more work is
//! queued (or [`MAX_BATCH`] pieces ran), the batch commits once, and only then is each piece
//! answered: an answered write is durable, exactly as with a transaction of its own. A failed
//! commit fails every piece of its batch — the failed pieces too, since they were decided
//! against the earlier pieces' writes (a panic is answered `INTERNAL` at once).
//!
//! SQLite has one writer at a time, so the writes of a process already ran one after another
//! behind the write gate; each paid its own `COMMIT` (a WAL write and an fsync under
//! `synchronous=FULL`). Here the requests that arrive while a batch runs or commits form the
//! next batch, so the commit's cost is shared by as many writes as arrived during it, and a
//! lone write still commits at once (nothing waits for a batch to fill).
//!
//! The pipeline holds the write gate's turn for each batch, so it excludes the writers that
//! still take the gate themselves. A piece of work runs to its end even if the request that
//! submitted it has gone away (its answer is dropped): a write is never cut in the middle.
//!
//! On PostgreSQL there is no pipeline: concurrent transactions already commit in parallel, and
//! one shared transaction would serialise the shops and hold each shop's lock until the
//! batch's end. [`crate::db::Deps::write_batched`] gives the work its own transaction there.
use std::{
    panic::AssertUnwindSafe,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use futures_util::{FutureExt, future::BoxFuture};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};

use super::begin::begin_write;
use crate::error::{AppError, AppResult};

/// A write transaction's work: given the transaction (on SQLite a savepoint of the batch's),
/// it does its reads and writes and does not commit; the caller of the work commits it.
pub type Work<T> = Box<dyn for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, AppResult<T>> + Send>;

/// The most pieces of work one batch runs before it commits: it bounds what the first piece
/// waits for (the others' work, then the commit).
pub const MAX_BATCH: usize = 32;

/// The queue into a database's commit task.
pub struct Pipeline {
    jobs: mpsc::UnboundedSender<Queued>,
    batches: Arc<AtomicU64>,
}

impl Pipeline {
    /// Starts the commit task of `db`. `turn` is the write gate's lock (held for each batch);
    /// `committed` is rung after each commit. The task ends when the pipeline is dropped.
    pub fn start(db: DatabaseConnection, turn: Arc<Mutex<()>>, committed: Arc<Notify>) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        let batches = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(db, turn, committed, batches.clone(), queue));
        Pipeline { jobs, batches }
    }

    /// How many batches have ended (committed, rolled back or failed) so far.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Runs `work` in the next batch; answers once the batch's commit has ended: with the
    /// work's value (durable), with its own error (its writes rolled back), or with the
    /// commit's error.
    pub async fn submit<T: Send + 'static>(&self, work: Work<T>) -> AppResult<T> {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Typed { work, reply, queued_at: Instant::now() });
        self.jobs.send(Queued(job)).map_err(|_| AppError::Internal("the commit pipeline has stopped".into()))?;
        // A dropped reply: the work panicked (logged by the task).
        answer.await.map_err(|_| AppError::Internal("a batched write panicked".into()))?
    }
}

struct Queued(Box<dyn Job>);

/// A piece's answer, given its batch's end (the commit's outcome).
type Answer = Box<dyn FnOnce(&AppResult<()>) + Send>;

/// A piece of work with its typed answer, seen by the task without its type.
trait Job: Send {
    /// Runs the work: whether it succeeded, and its answer for the batch's end.
    fn run(self: Box<Self>, tx: &DatabaseTransaction) -> BoxFuture<'_, (bool, Answer)>;
    /// Answers without running (the batch could not begin).
    fn refuse(self: Box<Self>, error: AppError);
    fn queued_at(&self) -> Instant;
}

struct Typed<T> {
    work: Work<T>,
    reply: oneshot::Sender<AppResult<T>>,
    queued_at: Instant,
}

impl<T: Send + 'static> Job for Typed<T> {
    fn run(self: Box<Self>, tx: &DatabaseTransaction) -> BoxFuture<'_, (bool, Answer)> {
        let Typed { work, reply, .. } = *self;
        Box::pin(async move {
            let outcome = work(tx).await;
            let succeeded = outcome.is_ok();
            // A failure waits for the batch too: it was decided against the batch's earlier
            // writes, so if they do not commit, it is told the commit's error instead.
            let answer: Answer = Box::new(move |committed: &AppResult<()>| {
                let told = match committed {
                    Ok(()) => outcome,
                    Err(e) => Err(e.clone()),
                };
                // The requester may have gone away: its write stands all the same.
                let _ = reply.send(told);
            });
            (succeeded, answer)
        })
    }

    fn refuse(self: Box<Self>, error: AppError) {
        let _ = self.reply.send(Err(error));
    }

    fn queued_at(&self) -> Instant {
        self.queued_at
    }
}

/// The commit task: one batch after another, each behind the write gate's turn.
async fn run(
    db: DatabaseConnection,
    turn: Arc<Mutex<()>>,
    committed: Arc<Notify>,
    batches: Arc<AtomicU64>,
    mut queue: mpsc::UnboundedReceiver<Queued>,
) {
    while let Some(Queued(first)) = queue.recv().await {
        let held = turn.lock().await;
        // `BEGIN IMMEDIATE`: the write lock first.
        let tx = match begin_write(&db).await {
            Ok(tx) => tx,
            Err(e) => {
                // No batch: what is queued now is answered with the error (each requester's
                // retry decides what next), rather than each waiting out the same failure.
                let error = AppError::from(e);
                first.refuse(error.clone());
                while let Ok(Queued(job)) = queue.try_recv() {
                    job.refuse(error.clone());
                }
                continue;
            }
        };
        let mut answers: Vec<(Answer, Instant)> = Vec::new();
        let (mut wrote, mut broken) = (false, None);
        let mut next = Some(first);
        let mut size = 0;
        while let Some(job) = next.take() {
            size += 1;
            metrics::histogram!("db_write_queue_seconds").record(job.queued_at().elapsed().as_secs_f64());
            match run_one(&tx, job).await {
                Ran::Wrote(answer) => {
                    wrote = true;
                    answers.push((answer, Instant::now()));
                }
                Ran::Failed(answer) => answers.push((answer, Instant::now())),
                Ran::Answered => {}
                Ran::Broken(error, answer) => {
                    answers.extend(answer.map(|a| (a, Instant::now())));
                    broken = Some(error);
                    break;
                }
            }
            if size < MAX_BATCH {
                next = queue.try_recv().ok().map(|Queued(job)| job);
            }
        }
        let outcome = match broken {
            // A piece's writes could not be set apart from the others': none of it commits.
            Some(error) => {
                tx.rollback().await.ok();
                Err(error)
            }
            // Nothing to keep: no commit, no fsync.
            None if !wrote => tx.rollback().await.map_err(AppError::from),
            None => tx.commit().await.map_err(AppError::from),
        };
        drop(held);
        if wrote && outcome.is_ok() {
            committed.notify_one();
        }
        batches.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("db_write_batches_total").increment(1);
        metrics::counter!("db_write_batch_jobs_total").increment(size as u64);
        for (answer, finished) in answers {
            metrics::histogram!("db_write_batch_wait_seconds").record(finished.elapsed().as_secs_f64());
            answer(&outcome);
        }
    }
}

/// How one piece of work ended.
enum Ran {
    /// It succeeded and its savepoint was released.
    Wrote(Answer),
    /// It failed and its savepoint was rolled back and released.
    Failed(Answer),
    /// It has its answer already: it could not begin its savepoint, or it panicked (its
    /// answer was dropped with it).
    Answered,
    /// Its savepoint could be neither released nor rolled back: the batch must not commit.
    Broken(AppError, Option<Answer>),
}

/// The savepoint each piece runs in. The pipeline writes its statements itself rather than
/// nesting a sea-orm transaction: sqlx's rollback of a nested transaction is `ROLLBACK TO`
/// alone, which leaves the savepoint open, so every later piece of the batch would nest in
/// it and its journal would grow with the whole batch (the clean-clone model found a batch
/// failing with `SQLITE_FULL` that way). Here a failed piece's savepoint is rolled back and
/// then released: every piece starts at the batch's top level.
const SAVEPOINT: &str = "SAVEPOINT smallpay_piece";
const RELEASE: &str = "RELEASE SAVEPOINT smallpay_piece";
const ROLLBACK_TO: &str = "ROLLBACK TO SAVEPOINT smallpay_piece";

/// One piece in its savepoint: released when the work succeeded, rolled back (then released)
/// when it failed or panicked.
async fn run_one(tx: &DatabaseTransaction, job: Box<dyn Job>) -> Ran {
    if let Err(e) = tx.execute_unprepared(SAVEPOINT).await {
        // Nothing of it ran; the batch's commit tells whether the transaction survived.
        job.refuse(AppError::from(e));
        return Ran::Answered;
    }
    match AssertUnwindSafe(job.run(tx)).catch_unwind().await {
        Ok((true, answer)) => match tx.execute_unprepared(RELEASE).await {
            Ok(_) => Ran::Wrote(answer),
            Err(e) => Ran::Broken(AppError::from(e), Some(answer)),
        },
        Ok((false, answer)) => rollback(tx, Some(answer)).await,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            // Its answer was dropped with it: the requester is told `INTERNAL`.
            tracing::error!(panic = %what, "a batched write panicked; its savepoint is rolled back");
            rollback(tx, None).await
        }
    }
}

/// Undoes a piece's writes and closes its savepoint, so that the next piece does not nest in it.
async fn rollback(tx: &DatabaseTransaction, answer: Option<Answer>) -> Ran {
    let undone = match tx.execute_unprepared(ROLLBACK_TO).await {
        Ok(_) => tx.execute_unprepared(RELEASE).await,
        Err(e) => Err(e),
    };
    match (undone, answer) {
        (Ok(_), Some(answer)) => Ran::Failed(answer),
        (Ok(_), None) => Ran::Answered,
        (Err(e), answer) => {
            tracing::warn!(error = %e, "a batched write's savepoint did not roll back");
            Ran::Broken(AppError::from(e), answer)
        }
    }
}
