//! One error type for the service. Each variant has a contract code (`extensions.code`);
//! internal causes are logged and never shown to a client.
use async_graphql::{ErrorExtensions, Value as GqlValue};
use sea_orm::DbErr;

use crate::domain::vocab::BalanceBlocker;

/// Deliberately not `Display`: async-graphql turns any `Display` type into an error without
/// a code, so a stray `?` would bypass [`ErrorExtensions`]. Use [`AppError::message`].
#[derive(Debug, Clone)]
pub enum AppError {
    Unauthenticated(String),
    Forbidden(String),
    NotFound(String),
    BadUserInput {
        message: String,
        field: Option<String>,
    },
    IdempotencyKeyReused,
    InvalidState(String),
    RateLimited(String),
    Unavailable,
    /// A transaction lost a race (lock timeout, serialization failure, a key taken
    /// concurrently): retried inside the server, `UNAVAILABLE` if the retries run out.
    Contention,
    /// A refused payout: the first broken rule's code, and every broken code.
    Refused {
        code: &'static str,
        blockers: Vec<&'static str>,
        message: String,
    },
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::BadUserInput { .. } => "BAD_USER_INPUT",
            AppError::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            AppError::InvalidState(_) => "INVALID_STATE",
            AppError::RateLimited(_) => "RATE_LIMITED",
            AppError::Unavailable | AppError::Contention => "UNAVAILABLE",
            AppError::Refused { code, .. } => code,
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// What the client is told.
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthenticated(m) | AppError::Forbidden(m) | AppError::InvalidState(m) => m.clone(),
            AppError::NotFound(what) => format!("{what} not found"),
            AppError::BadUserInput { message, .. } | AppError::Refused { message, .. } => message.clone(),
            AppError::IdempotencyKeyReused => "this idempotency key was used with a different request".into(),
            AppError::RateLimited(m) => format!("too many requests: {m}"),
            AppError::Unavailable | AppError::Contention => {
                "the service is busy or the database is unreachable; retry later".into()
            }
            AppError::Internal(_) => "internal error".into(),
        }
    }

    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        AppError::BadUserInput { message: message.into(), field: Some(field.to_owned()) }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        AppError::NotFound(what.into())
    }

    /// A refusal by the payout rules: `(first code, every code)` as the rules return them,
    /// told as "`what`: CODE, CODE".
    pub fn refused(what: &str, (code, blockers): (&'static str, Vec<&'static str>)) -> Self {
        AppError::Refused { code, message: format!("{what}: {}", blockers.join(", ")), blockers }
    }

    /// The balance cannot pay this (`INSUFFICIENT_BALANCE`), told as `message`.
    pub fn insufficient_balance(message: String) -> Self {
        let code = BalanceBlocker::InsufficientBalance.code();
        AppError::Refused { code, blockers: vec![code], message }
    }

    /// The GraphQL error a client sees.
    pub fn to_graphql(&self) -> async_graphql::Error {
        self.extend()
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        if let AppError::Internal(cause) = self {
            tracing::error!(%cause, "internal error");
        }
        async_graphql::Error::new(self.message()).extend_with(|_, e| {
            e.set("code", self.code());
            match self {
                AppError::BadUserInput { field: Some(field), .. } => e.set("field", field.as_str()),
                AppError::Refused { blockers, .. } => {
                    e.set("blockers", GqlValue::List(blockers.iter().map(|b| GqlValue::from(*b)).collect()))
                }
                _ => {}
            }
        })
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        e.extend()
    }
}

impl From<DbErr> for AppError {
    fn from(e: DbErr) -> Self {
        if is_contention(&e) {
            tracing::debug!(error = %e, "contention");
            return AppError::Contention;
        }
        if is_unreachable(&e) {
            tracing::warn!(error = %e, "database unavailable");
            return AppError::Unavailable;
        }
        AppError::Internal(format!("database: {e}"))
    }
}

/// True when the database could not be reached or the connection broke under a statement: no
/// connection in time, a connection reset or closed by a stopping or crashed server, or a
/// server refusing work while it shuts down or starts up. Not retried here (a lost answer to a
/// commit leaves its outcome unknown): `UNAVAILABLE`, and the client retries.
pub fn is_unreachable(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error;
    if matches!(e, DbErr::ConnectionAcquire(_)) {
        return true;
    }
    let Some(cause) = sqlx_cause(e) else {
        return matches!(e, DbErr::Conn(_));
    };
    match cause {
        Error::Io(_) | Error::Tls(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception); 57P01/02/03: admin shutdown, crash
        // shutdown, cannot connect now.
        Error::Database(db) => {
            db.code().is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03"))
        }
        _ => matches!(e, DbErr::Conn(_)),
    }
}

/// The driver's error under SeaORM's, where there is one.
fn sqlx_cause(e: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    use sea_orm::RuntimeErr;
    match e {
        DbErr::Conn(RuntimeErr::SqlxError(cause))
        | DbErr::Exec(RuntimeErr::SqlxError(cause))
        | DbErr::Query(RuntimeErr::SqlxError(cause)) => Some(cause.as_ref()),
        _ => None,
    }
}

/// True for errors worth retrying the whole transaction for: a unique key taken by a
/// concurrent insert, a serialization failure or deadlock, or SQLite's busy or locked
/// database — told by the database's own codes, never by an error's text.
pub fn is_contention(e: &DbErr) -> bool {
    use sea_orm::{SqlErr, sqlx::Error};
    if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        return true;
    }
    let Some(Error::Database(db)) = sqlx_cause(e) else {
        return false;
    };
    if db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>().is_some() {
        // SQLite's extended result codes: the primary code is the low byte (SQLITE_BUSY 5,
        // SQLITE_LOCKED 6, and their BUSY_SNAPSHOT, BUSY_TIMEOUT… variants).
        db.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|code| matches!(code & 0xff, 5 | 6))
    } else {
        // PostgreSQL's SQLSTATEs: serialization_failure, deadlock_detected.
        db.code().is_some_and(|c| matches!(c.as_ref(), "40001" | "40P01"))
    }
}

#[cfg(test)]
mod tests {
    use std::{io, sync::Arc};

    use sea_orm::{ConnAcquireErr, RuntimeErr, sqlx};

    use super::*;

    fn query(e: sqlx::Error) -> DbErr {
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
    }

    #[test]
    fn a_lost_connection_is_unavailable_and_a_failed_statement_internal() {
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "expected to read 5 bytes, got 0 bytes at EOF");
        for lost in [
            query(sqlx::Error::Io(eof)),
            DbErr::Exec(RuntimeErr::SqlxError(Arc::new(sqlx::Error::Io(io::ErrorKind::ConnectionReset.into())))),
            query(sqlx::Error::PoolTimedOut),
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        ] {
            assert!(matches!(AppError::from(lost), AppError::Unavailable));
        }
        for internal in [query(sqlx::Error::RowNotFound), DbErr::Query(RuntimeErr::Internal("bad".into()))] {
            assert!(matches!(AppError::from(internal), AppError::Internal(_)));
        }
    }

    /// Contention is told by the database's codes: SQLite's unique constraint and busy lock
    /// (two real connections to one file), not any failed statement.
    #[tokio::test]
    async fn contention_is_told_by_the_database_codes() {
        use sea_orm::{ConnectionTrait, Database};
        let dir = std::env::temp_dir().join(format!("smallpay-contention-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("c.db").display());
        let (a, b) = (Database::connect(url.as_str()).await.unwrap(), Database::connect(url.as_str()).await.unwrap());
        a.execute_unprepared("CREATE TABLE t (k INTEGER PRIMARY KEY, u TEXT UNIQUE)").await.unwrap();
        a.execute_unprepared("INSERT INTO t (u) VALUES ('x')").await.unwrap();
        let duplicate = a.execute_unprepared("INSERT INTO t (u) VALUES ('x')").await.unwrap_err();
        assert!(is_contention(&duplicate), "{duplicate}");
        let bad = a.execute_unprepared("INSERT INTO nowhere VALUES (1)").await.unwrap_err();
        assert!(!is_contention(&bad), "{bad}");
        let not_null = a
            .execute_unprepared("CREATE TABLE n (v TEXT NOT NULL)")
            .await
            .and(a.execute_unprepared("INSERT INTO n VALUES (NULL)").await)
            .unwrap_err();
        assert!(!is_contention(&not_null), "{not_null}");
        // b holds the write lock; a, told not to wait, is busy.
        b.execute_unprepared("BEGIN IMMEDIATE").await.unwrap();
        a.execute_unprepared("PRAGMA busy_timeout = 0").await.unwrap();
        let busy = a.execute_unprepared("INSERT INTO t (u) VALUES ('y')").await.unwrap_err();
        assert!(is_contention(&busy), "{busy}");
        b.execute_unprepared("ROLLBACK").await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
