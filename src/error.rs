//! One error type for the service. Each variant has a contract code (`extensions.code`);
//! internal causes are logged and never shown to a client.
use async_graphql::{ErrorExtensions, Value as GqlValue};
use sea_orm::DbErr;

use crate::domain::vocab::BalanceBlocker;

/// Deliberately not `Display`: async-graphql turns any `Display` type into an error without
/// a code, so a stray `?` would bypass [`ErrorExtensions`]. Use [`AppError::message`].
#[derive(Debug)]
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
    use sea_orm::{RuntimeErr, sqlx::Error};
    let cause = match e {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(cause))
        | DbErr::Exec(RuntimeErr::SqlxError(cause))
        | DbErr::Query(RuntimeErr::SqlxError(cause)) => cause,
        DbErr::Conn(_) => return true,
        _ => return false,
    };
    match cause.as_ref() {
        Error::Io(_) | Error::Tls(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception); 57P01/02/03: admin shutdown, crash
        // shutdown, cannot connect now.
        Error::Database(db) => {
            db.code().is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03"))
        }
        _ => matches!(e, DbErr::Conn(_)),
    }
}

/// True for errors worth retrying the whole transaction for: a unique key taken by a
/// concurrent insert, a serialization failure or deadlock, or SQLite's busy lock.
pub fn is_contention(e: &DbErr) -> bool {
    let text = e.to_string();
    [
        "database is locked",
        "could not serialize",
        "deadlock detected",
        "UNIQUE constraint failed",
        "duplicate key value",
    ]
    .iter()
    .any(|needle| text.contains(needle))
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
}
