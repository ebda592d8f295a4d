//! Beginning a read-then-write transaction, shared by the use cases (`db::begin_write`) and
//! the commit pipeline's batches (`db::pipeline`).
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

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
