use std::future::Future;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use futures_channel::oneshot;
use futures_intrusive::sync::{Mutex, MutexGuard};
use sqlx_core::row::Row;
use sqlx_core::sql_str::{AssertSqlSafe, SqlStr};
use tracing::span::Span;

use sqlx_core::error::Error;
use sqlx_core::transaction::{
    begin_ansi_transaction_sql, commit_ansi_transaction_sql, rollback_ansi_transaction_sql,
};
use sqlx_core::Either;

use crate::connection::establish::EstablishParams;
use crate::connection::execute;
use crate::connection::ConnectionState;
use crate::{SqliteArguments, SqliteError, SqliteQueryResult, SqliteRow, SqliteStatement};

#[cfg(feature = "deserialize")]
use crate::connection::deserialize::{deserialize, serialize, SchemaName, SqliteOwnedBuf};

// Each SQLite connection has a dedicated thread.
//
// smallpay patch (vendor/README.md): a command is run on the calling thread instead when the
// worker has nothing queued or running and the connection is free — a single statement, a
// `BEGIN`, and a `COMMIT` that writes nothing to disk (a savepoint's release, or a transaction
// that wrote nothing). A transaction's durable `COMMIT`, rollbacks and everything else still go
// to the worker, in order. Hopping to the worker thread and back costs more than most
// statements do (a profile of payout creation put 54 % of the server's CPU in the kernel,
// mostly that hop).

// TODO: Tweak this so that we can use a thread pool per pool of SQLite3 connections to reduce
//       OS resource usage. Low priority because a high concurrent load for SQLite3 is very
//       unlikely.

pub(crate) struct ConnectionWorker {
    command_tx: flume::Sender<(Command, tracing::Span)>,
    /// Mutex for locking access to the database.
    pub(crate) shared: Arc<WorkerSharedState>,
}

pub(crate) struct WorkerSharedState {
    /// smallpay patch: commands sent to the worker and not yet finished by it. The calling
    /// thread runs a command itself only when this is zero, so commands still run in the
    /// order they were issued. A worker that stops (shutdown, a failed rollback, a panic)
    /// never counts its last command down, so nothing runs inline after it.
    in_flight: AtomicUsize,
    /// smallpay patch: the connection's busy timeout (ms). The calling thread runs with none
    /// (an `SQLITE_BUSY` sends the command to the worker, which waits) and restores this.
    /// A statement naming `busy_timeout` runs on the worker, which then reads the value back.
    busy_timeout_ms: AtomicI32,
    transaction_depth: AtomicUsize,
    cached_statements_size: AtomicUsize,
    pub(crate) conn: Mutex<ConnectionState>,
}

impl WorkerSharedState {
    pub(crate) fn get_transaction_depth(&self) -> usize {
        self.transaction_depth.load(Ordering::Acquire)
    }

    pub(crate) fn get_cached_statements_size(&self) -> usize {
        self.cached_statements_size.load(Ordering::Acquire)
    }
}

enum Command {
    Prepare {
        query: SqlStr,
        tx: oneshot::Sender<Result<SqliteStatement, Error>>,
    },
    #[cfg(feature = "offline")]
    Describe {
        query: SqlStr,
        tx: oneshot::Sender<Result<sqlx_core::describe::Describe<crate::Sqlite>, Error>>,
    },
    Execute {
        query: SqlStr,
        arguments: Option<SqliteArguments>,
        persistent: bool,
        tx: flume::Sender<Result<Either<SqliteQueryResult, SqliteRow>, Error>>,
        limit: Option<usize>,
    },
    #[cfg(feature = "deserialize")]
    Serialize {
        schema: Option<SchemaName>,
        tx: oneshot::Sender<Result<SqliteOwnedBuf, Error>>,
    },
    #[cfg(feature = "deserialize")]
    Deserialize {
        schema: Option<SchemaName>,
        data: SqliteOwnedBuf,
        read_only: bool,
        tx: oneshot::Sender<Result<(), Error>>,
    },
    Begin {
        tx: rendezvous_oneshot::Sender<Result<(), Error>>,
        statement: Option<SqlStr>,
    },
    Commit {
        tx: rendezvous_oneshot::Sender<Result<(), Error>>,
    },
    Rollback {
        tx: Option<rendezvous_oneshot::Sender<Result<(), Error>>>,
    },
    ClearCache {
        tx: oneshot::Sender<()>,
    },
    Ping {
        tx: oneshot::Sender<()>,
    },
    Shutdown {
        tx: oneshot::Sender<()>,
    },
}

impl ConnectionWorker {
    pub(crate) async fn establish(params: EstablishParams) -> Result<Self, Error> {
        let (establish_tx, establish_rx) = oneshot::channel();

        thread::Builder::new()
            .name(params.thread_name.clone())
            .spawn(move || {
                let (command_tx, command_rx) = flume::bounded(params.command_channel_size);

                let busy_timeout_ms = params.busy_timeout_ms();
                let conn = match params.establish() {
                    Ok(conn) => conn,
                    Err(e) => {
                        establish_tx.send(Err(e)).ok();
                        return;
                    }
                };

                let shared = Arc::new(WorkerSharedState {
                    in_flight: AtomicUsize::new(0),
                    busy_timeout_ms: AtomicI32::new(busy_timeout_ms),
                    transaction_depth: AtomicUsize::new(0),
                    cached_statements_size: AtomicUsize::new(0),
                    // smallpay patch: the worker locks the connection for each command
                    // (and the calling thread, to run one inline); fair, so that a task
                    // waiting in `unlock_db` gets it once the worker's command is done.
                    conn: Mutex::new(conn, true),
                });

                if establish_tx
                    .send(Ok(Self {
                        command_tx,
                        shared: Arc::clone(&shared),
                    }))
                    .is_err()
                {
                    return;
                }

                // If COMMIT or ROLLBACK is processed but not acknowledged, there would be another
                // ROLLBACK sent when the `Transaction` drops. We need to ignore it otherwise we
                // would rollback an already completed transaction.
                let mut ignore_next_start_rollback = false;

                for (cmd, span) in command_rx {
                    let _guard = span.enter();
                    let mut conn = futures_executor::block_on(shared.conn.lock());
                    // smallpay patch: a COMMIT's or ROLLBACK's answer, sent once the command
                    // is done and the connection let go. The answer waits for the caller's
                    // acknowledgement (a wake-up of this thread); the caller's next command
                    // need not wait for that to run on its own thread.
                    let mut reply: Option<(rendezvous_oneshot::Sender<Result<(), Error>>, Result<(), Error>)> = None;
                    let flow: ControlFlow<()> = 'command: {
                    match cmd {
                        Command::Prepare { query, tx } => {
                            tx.send(prepare(&mut conn, query)).ok();

                            // This may issue an unnecessary write on failure,
                            // but it doesn't matter in the grand scheme of things.
                            update_cached_statements_size(
                                &conn,
                                &shared.cached_statements_size,
                            );
                        }
                        #[cfg(feature = "offline")]
                        Command::Describe { query, tx } => {
                            tx.send(crate::connection::describe::describe(&mut conn, query)).ok();
                        }
                        Command::Execute {
                            query,
                            arguments,
                            persistent,
                            tx,
                            limit
                        } => {
                            let sets_busy_timeout = names_busy_timeout(query.as_str());
                            let iter = match execute::iter(&mut conn, query, arguments, persistent)
                            {
                                Ok(iter) => iter,
                                Err(e) => {
                                    tx.send(Err(e)).ok();
                                    break 'command ControlFlow::Continue(());
                                }
                            };

                            match limit {
                                None => {
                                    for res in iter {
                                        let has_error = res.is_err();
                                        if tx.send(res).is_err() || has_error {
                                            break;
                                        }
                                    }
                                },
                                Some(limit) => {
                                    let mut iter = iter;
                                    let mut rows_returned = 0;

                                    while let Some(res) = iter.next() {
                                        if let Ok(ok) = &res {
                                            if ok.is_right() {
                                                rows_returned += 1;
                                                if rows_returned >= limit {
                                                    drop(iter);
                                                    let _ = tx.send(res);
                                                    break;
                                                }
                                            }
                                        }
                                        let has_error = res.is_err();
                                        if tx.send(res).is_err() || has_error {
                                            break;
                                        }
                                    }
                                },
                            }

                            if sets_busy_timeout {
                                read_busy_timeout(&mut conn, &shared.busy_timeout_ms);
                            }
                            update_cached_statements_size(&conn, &shared.cached_statements_size);
                        }
                        Command::Begin { tx, statement } => {
                            let depth = shared.transaction_depth.load(Ordering::Acquire);

                            let is_custom_statement = statement.is_some();
                            // smallpay patch: the rule and the count shared with the calling
                            // thread's `begin` (`begin_sql`, `count_begun`)
                            let statement = match begin_sql(depth, statement) {
                                Err(e) => {
                                    if tx.blocking_send(Err(e)).is_err() {
                                        break 'command ControlFlow::Break(());
                                    }
                                    break 'command ControlFlow::Continue(());
                                }
                                Ok(statement) => statement,
                            };
                            let res = conn
                                .handle
                                .exec(statement.as_str())
                                .and_then(|()| count_begun(&mut conn, &shared, is_custom_statement));
                            let res_ok = res.is_ok();

                            if tx.blocking_send(res).is_err() && res_ok {
                                // The BEGIN was processed but not acknowledged. This means no
                                // `Transaction` was created and so there is no way to commit /
                                // rollback this transaction. We need to roll it back
                                // immediately otherwise it would remain started forever.
                                if let Err(error) = conn
                                    .handle
                                    .exec(rollback_ansi_transaction_sql(depth + 1).as_str())
                                    .map(|_| {
                                        shared.transaction_depth.fetch_sub(1, Ordering::Release);
                                    })
                                {
                                    // The rollback failed. To prevent leaving the connection
                                    // in an inconsistent state we shutdown this worker which
                                    // causes any subsequent operation on the connection to fail.
                                    tracing::error!(%error, "failed to rollback cancelled transaction");
                                    break 'command ControlFlow::Break(());
                                }
                            }
                        }
                        Command::Commit { tx } => {
                            let res = commit_on(&mut conn, &shared);
                            // smallpay patch: answered after the connection is let go (below)
                            reply = Some((tx, res));
                        }
                        Command::Rollback { tx } => {
                            if ignore_next_start_rollback && tx.is_none() {
                                ignore_next_start_rollback = false;
                                break 'command ControlFlow::Continue(());
                            }

                            let depth = shared.transaction_depth.load(Ordering::Acquire);

                            let res = if depth > 0 {
                                conn.handle
                                    .exec(rollback_ansi_transaction_sql(depth).as_str())
                                    .map(|_| {
                                        shared.transaction_depth.fetch_sub(1, Ordering::Release);
                                    })
                            } else {
                                Ok(())
                            };

                            if let Some(tx) = tx {
                                // smallpay patch: answered after the connection is let go (below)
                                reply = Some((tx, res));
                            }
                        }
                        #[cfg(feature = "deserialize")]
                        Command::Serialize { schema, tx } => {
                            tx.send(serialize(&mut conn, schema)).ok();
                        }
                        #[cfg(feature = "deserialize")]
                        Command::Deserialize { schema, data, read_only, tx } => {
                            tx.send(deserialize(&mut conn, schema, data, read_only)).ok();
                        }
                        Command::ClearCache { tx } => {
                            conn.statements.clear();
                            update_cached_statements_size(&conn, &shared.cached_statements_size);
                            tx.send(()).ok();
                        }
                        Command::Ping { tx } => {
                            tx.send(()).ok();
                        }
                        Command::Shutdown { tx } => {
                            // drop the connection references before sending confirmation
                            // and ending the command loop
                            drop(conn);
                            drop(shared);
                            let _ = tx.send(());
                            return;
                        }
                    }
                    ControlFlow::Continue(())
                    };
                    // the connection is free before the command counts as done, so that the
                    // calling thread's `try_lock` succeeds once it sees nothing in flight
                    drop(conn);
                    if flow.is_break() {
                        // the worker stops; its last command stays in flight, so that every
                        // later command fails (`WorkerCrashed`) instead of running inline
                        break;
                    }
                    shared.in_flight.fetch_sub(1, Ordering::AcqRel);
                    if let Some((tx, res)) = reply {
                        let res_ok = res.is_ok();
                        if tx.blocking_send(res).is_err() && res_ok {
                            // The COMMIT or ROLLBACK was processed but not acknowledged. This
                            // means that the `Transaction` doesn't know it was committed or
                            // rolled back and will try to rollback on drop. We need to ignore
                            // that rollback. (It is queued behind this command: the caller
                            // has no transaction to run anything else in.)
                            ignore_next_start_rollback = true;
                        }
                    }
                }
            })?;

        establish_rx.await.map_err(|_| Error::WorkerCrashed)?
    }

    pub(crate) async fn prepare(&mut self, query: SqlStr) -> Result<SqliteStatement, Error> {
        self.oneshot_cmd(|tx| Command::Prepare { query, tx })
            .await?
    }

    #[cfg(feature = "offline")]
    pub(crate) async fn describe(
        &mut self,
        query: SqlStr,
    ) -> Result<sqlx_core::describe::Describe<crate::Sqlite>, Error> {
        self.oneshot_cmd(|tx| Command::Describe { query, tx })
            .await?
    }

    pub(crate) async fn execute(
        &mut self,
        query: SqlStr,
        args: Option<SqliteArguments>,
        chan_size: usize,
        persistent: bool,
        limit: Option<usize>,
    ) -> Result<Results, Error> {
        // smallpay patch: one statement, run here when the worker is idle. A string of several
        // statements goes to the worker: one of them could meet `SQLITE_BUSY` after another
        // has run, and could then not be sent on unchanged.
        let mut args = args;
        if is_single_statement(query.as_str()) && !names_busy_timeout(query.as_str()) {
            if let Some(mut conn) = self.inline_conn() {
                let busy_timeout_ms = self.shared.busy_timeout_ms.load(Ordering::Acquire);
                let ran = execute_inline(
                    &mut conn,
                    query.clone(),
                    args,
                    persistent,
                    limit,
                    busy_timeout_ms,
                );
                update_cached_statements_size(&conn, &self.shared.cached_statements_size);
                match ran {
                    Ok(rx) => return Ok(rx),
                    Err(Busy(returned)) => args = returned,
                }
            }
        }

        let (tx, rx) = flume::bounded(chan_size);

        self.send(Command::Execute {
            query,
            arguments: args,
            persistent,
            tx,
            limit,
        })
        .await?;

        Ok(rx)
    }

    pub(crate) async fn begin(&mut self, statement: Option<SqlStr>) -> Result<(), Error> {
        // smallpay patch: `BEGIN` (or a savepoint) here when the worker is idle; a `BEGIN
        // IMMEDIATE` that meets another writer's lock is sent to the worker, which waits.
        if let Some(mut conn) = self.inline_conn() {
            let depth = self.shared.transaction_depth.load(Ordering::Acquire);
            let sql = begin_sql(depth, statement.clone())?;
            let busy_timeout_ms = self.shared.busy_timeout_ms.load(Ordering::Acquire);
            let res = without_busy_wait(&mut conn, busy_timeout_ms, |conn| {
                conn.handle.exec(sql.as_str())
            });
            match res {
                Err(e) if is_busy(&e) => {}
                Err(e) => return Err(e),
                Ok(()) => return count_begun(&mut conn, &self.shared, statement.is_some()),
            }
        }
        self.oneshot_cmd_with_ack(|tx| Command::Begin { tx, statement })
            .await?
    }

    pub(crate) async fn commit(&mut self) -> Result<(), Error> {
        // smallpay patch: a commit that writes nothing to disk (a savepoint's release, or a
        // transaction that wrote nothing) runs here when the worker is idle; a transaction's
        // durable commit (its fsync) goes to the worker, off the caller's thread.
        if let Some(mut conn) = self.inline_conn() {
            let depth = self.shared.transaction_depth.load(Ordering::Acquire);
            if depth != 1 || !conn.handle.in_write_transaction() {
                return commit_on(&mut conn, &self.shared);
            }
        }
        self.oneshot_cmd_with_ack(|tx| Command::Commit { tx })
            .await?
    }

    pub(crate) async fn rollback(&mut self) -> Result<(), Error> {
        self.oneshot_cmd_with_ack(|tx| Command::Rollback { tx: Some(tx) })
            .await?
    }

    pub(crate) fn start_rollback(&mut self) -> Result<(), Error> {
        self.shared.in_flight.fetch_add(1, Ordering::AcqRel);
        self.command_tx
            .send((Command::Rollback { tx: None }, Span::current()))
            .map_err(|_| Error::WorkerCrashed)
    }

    pub(crate) async fn ping(&mut self) -> Result<(), Error> {
        self.oneshot_cmd(|tx| Command::Ping { tx }).await
    }

    #[cfg(feature = "deserialize")]
    pub(crate) async fn deserialize(
        &mut self,
        schema: Option<SchemaName>,
        data: SqliteOwnedBuf,
        read_only: bool,
    ) -> Result<(), Error> {
        self.oneshot_cmd(|tx| Command::Deserialize {
            schema,
            data,
            read_only,
            tx,
        })
        .await?
    }

    #[cfg(feature = "deserialize")]
    pub(crate) async fn serialize(
        &mut self,
        schema: Option<SchemaName>,
    ) -> Result<SqliteOwnedBuf, Error> {
        self.oneshot_cmd(|tx| Command::Serialize { schema, tx })
            .await?
    }

    /// smallpay patch: the connection, for the calling thread to run a command on, if the
    /// worker has finished every command sent to it and nobody holds the connection.
    fn inline_conn(&self) -> Option<MutexGuard<'_, ConnectionState>> {
        if self.shared.in_flight.load(Ordering::Acquire) != 0 {
            return None;
        }
        self.shared.conn.try_lock()
    }

    /// smallpay patch: sends a command to the worker, counting it in flight first.
    async fn send(&self, command: Command) -> Result<(), Error> {
        self.shared.in_flight.fetch_add(1, Ordering::AcqRel);
        self.command_tx
            .send_async((command, Span::current()))
            .await
            .map_err(|_| Error::WorkerCrashed)
    }

    async fn oneshot_cmd<F, T>(&mut self, command: F) -> Result<T, Error>
    where
        F: FnOnce(oneshot::Sender<T>) -> Command,
    {
        let (tx, rx) = oneshot::channel();

        self.send(command(tx)).await?;

        rx.await.map_err(|_| Error::WorkerCrashed)
    }

    async fn oneshot_cmd_with_ack<F, T>(&mut self, command: F) -> Result<T, Error>
    where
        F: FnOnce(rendezvous_oneshot::Sender<T>) -> Command,
    {
        let (tx, rx) = rendezvous_oneshot::channel();

        self.send(command(tx)).await?;

        rx.recv().await.map_err(|_| Error::WorkerCrashed)
    }

    pub(crate) async fn clear_cache(&mut self) -> Result<(), Error> {
        self.oneshot_cmd(|tx| Command::ClearCache { tx }).await
    }

    pub(crate) async fn unlock_db(&mut self) -> Result<MutexGuard<'_, ConnectionState>, Error> {
        // smallpay patch: the worker holds the connection only while it runs a command. Once
        // it has answered a ping, every command sent before has run; the lock is then taken
        // as soon as the worker lets go of it (the mutex is fair).
        self.ping().await?;
        Ok(self.shared.conn.lock().await)
    }

    /// Send a command to the worker to shut down the processing thread.
    ///
    /// A `WorkerCrashed` error may be returned if the thread has already stopped.
    pub(crate) fn shutdown(&mut self) -> impl Future<Output = Result<(), Error>> {
        let (tx, rx) = oneshot::channel();

        self.shared.in_flight.fetch_add(1, Ordering::AcqRel);
        let send_res = self
            .command_tx
            .send((Command::Shutdown { tx }, Span::current()))
            .map_err(|_| Error::WorkerCrashed);

        async move {
            send_res?;

            // wait for the response
            rx.await.map_err(|_| Error::WorkerCrashed)
        }
    }
}

/// smallpay patch: the statement that begins a transaction at `depth`: the caller's own
/// (a custom `BEGIN`, allowed only outside a transaction, where a `SAVEPOINT` is needed) or
/// the default one. Used by the worker's `Begin` and the calling thread's `begin` alike.
fn begin_sql(depth: usize, statement: Option<SqlStr>) -> Result<SqlStr, Error> {
    match statement {
        Some(_) if depth > 0 => Err(Error::InvalidSavePointStatement),
        Some(statement) => Ok(statement),
        None => Ok(begin_ansi_transaction_sql(depth)),
    }
}

/// smallpay patch: counts a transaction begun on `conn` (a custom statement must have begun
/// one). Used by the worker's `Begin` and the calling thread's `begin` alike.
fn count_begun(
    conn: &mut ConnectionState,
    shared: &WorkerSharedState,
    custom: bool,
) -> Result<(), Error> {
    if custom && !conn.handle.in_transaction() {
        return Err(Error::BeginFailed);
    }
    shared.transaction_depth.fetch_add(1, Ordering::Release);
    Ok(())
}

/// smallpay patch: commits the innermost transaction (releases a savepoint), if there is one.
/// Used by the worker's `Commit` and the calling thread's `commit` alike.
fn commit_on(conn: &mut ConnectionState, shared: &WorkerSharedState) -> Result<(), Error> {
    let depth = shared.transaction_depth.load(Ordering::Acquire);
    if depth == 0 {
        return Ok(());
    }
    conn.handle
        .exec(commit_ansi_transaction_sql(depth).as_str())?;
    shared.transaction_depth.fetch_sub(1, Ordering::Release);
    Ok(())
}

/// smallpay patch: a statement's results, as the worker sends them.
type Results = flume::Receiver<Result<Either<SqliteQueryResult, SqliteRow>, Error>>;

/// smallpay patch: a statement the calling thread could not run because the database was
/// locked (`SQLITE_BUSY` before any result); it is sent to the worker with these arguments.
struct Busy(Option<SqliteArguments>);

/// smallpay patch: whether `sql` is one statement (a trailing `;` allowed). A `;` anywhere
/// else, even in a literal, answers no, which only sends the string to the worker.
fn is_single_statement(sql: &str) -> bool {
    let sql = sql.trim_end();
    !sql.strip_suffix(';').unwrap_or(sql).contains(';')
}

/// smallpay patch: whether `sql` may set the busy timeout (`PRAGMA busy_timeout = …`), in
/// any case; such a string runs on the worker, which reads the timeout back after it.
fn names_busy_timeout(sql: &str) -> bool {
    const NAME: &[u8] = b"busy_timeout";
    let sql = sql.as_bytes();
    (0..sql.len().saturating_sub(NAME.len() - 1))
        .any(|i| sql[i] | 0x20 == b'b' && sql[i..i + NAME.len()].eq_ignore_ascii_case(NAME))
}

/// smallpay patch: reads the connection's busy timeout into `into`, after a statement that
/// may have set it.
fn read_busy_timeout(conn: &mut ConnectionState, into: &AtomicI32) {
    let Ok(iter) = execute::iter(conn, AssertSqlSafe("PRAGMA busy_timeout"), None, false) else {
        return;
    };
    for res in iter {
        if let Ok(Either::Right(row)) = res {
            if let Ok(ms) = row.try_get::<i64, _>(0) {
                into.store(i32::try_from(ms).unwrap_or(i32::MAX), Ordering::Release);
            }
        }
    }
}

fn is_busy(error: &Error) -> bool {
    match error {
        Error::Database(e) => e
            .try_downcast_ref::<SqliteError>()
            .is_some_and(|e| e.primary_code() == libsqlite3_sys::SQLITE_BUSY),
        _ => false,
    }
}

/// smallpay patch: runs `f` with the connection's busy handler off (a lock held elsewhere
/// answers `SQLITE_BUSY` at once instead of sleeping on the calling thread), then restores
/// the busy timeout.
fn without_busy_wait<T>(
    conn: &mut ConnectionState,
    busy_timeout_ms: i32,
    f: impl FnOnce(&mut ConnectionState) -> T,
) -> T {
    // SAFETY: the caller holds the connection's lock, so it has exclusive use of the handle.
    unsafe { libsqlite3_sys::sqlite3_busy_timeout(conn.handle.as_ptr(), 0) };
    let out = f(conn);
    // SAFETY: as above.
    unsafe { libsqlite3_sys::sqlite3_busy_timeout(conn.handle.as_ptr(), busy_timeout_ms) };
    out
}

/// smallpay patch: runs one statement on the calling thread and hands back every result at
/// once (what the worker would have sent one by one; `query_all` collects them anyway). A
/// consumer streaming a very large result therefore holds it all in memory here: read such a
/// result in pages. `SQLITE_BUSY` before
/// the first result gives the arguments back, for the worker to run the statement.
fn execute_inline(
    conn: &mut ConnectionState,
    query: SqlStr,
    args: Option<SqliteArguments>,
    persistent: bool,
    limit: Option<usize>,
    busy_timeout_ms: i32,
) -> Result<Results, Busy> {
    without_busy_wait(conn, busy_timeout_ms, |conn| {
        let (tx, rx) = flume::unbounded();
        let mut iter = match execute::iter(conn, query, args, persistent) {
            Ok(iter) => iter,
            Err(e) => {
                tx.send(Err(e)).ok();
                return Ok(rx);
            }
        };
        let mut results = 0usize;
        let mut rows = 0usize;
        while let Some(res) = iter.next() {
            match &res {
                Err(e) if results == 0 && is_busy(e) => return Err(Busy(iter.take_args())),
                Err(_) => {
                    tx.send(res).ok();
                    break;
                }
                Ok(Either::Right(_)) => rows += 1,
                Ok(Either::Left(_)) => {}
            }
            results += 1;
            tx.send(res).ok();
            if limit.is_some_and(|limit| rows >= limit) {
                break;
            }
        }
        Ok(rx)
    })
}

fn prepare(conn: &mut ConnectionState, query: SqlStr) -> Result<SqliteStatement, Error> {
    // prepare statement object (or checkout from cache)
    let statement = conn.statements.get(query.as_str(), true)?;

    let mut parameters = 0;
    let mut columns = None;
    let mut column_names = None;

    while let Some(statement) = statement.prepare_next(&mut conn.handle)? {
        parameters += statement.handle.bind_parameter_count();

        // the first non-empty statement is chosen as the statement we pull columns from
        if !statement.columns.is_empty() && columns.is_none() {
            columns = Some(Arc::clone(statement.columns));
            column_names = Some(Arc::clone(statement.column_names));
        }
    }

    Ok(SqliteStatement {
        sql: query,
        columns: columns.unwrap_or_default(),
        column_names: column_names.unwrap_or_default(),
        parameters,
    })
}

fn update_cached_statements_size(conn: &ConnectionState, size: &AtomicUsize) {
    size.store(conn.statements.len(), Ordering::Release);
}

// A oneshot channel where send completes only after the receiver receives the value.
mod rendezvous_oneshot {
    use super::oneshot::{self, Canceled};

    pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
        let (inner_tx, inner_rx) = oneshot::channel();
        (Sender { inner: inner_tx }, Receiver { inner: inner_rx })
    }

    pub struct Sender<T> {
        inner: oneshot::Sender<(T, oneshot::Sender<()>)>,
    }

    impl<T> Sender<T> {
        pub async fn send(self, value: T) -> Result<(), Canceled> {
            let (ack_tx, ack_rx) = oneshot::channel();
            self.inner.send((value, ack_tx)).map_err(|_| Canceled)?;
            ack_rx.await
        }

        pub fn blocking_send(self, value: T) -> Result<(), Canceled> {
            futures_executor::block_on(self.send(value))
        }
    }

    pub struct Receiver<T> {
        inner: oneshot::Receiver<(T, oneshot::Sender<()>)>,
    }

    impl<T> Receiver<T> {
        pub async fn recv(self) -> Result<T, Canceled> {
            let (value, ack_tx) = self.inner.await?;
            ack_tx.send(()).map_err(|_| Canceled)?;
            Ok(value)
        }
    }
}
