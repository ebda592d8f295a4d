//! Events in commit order without a global lock (PostgreSQL only): each transition remembers
//! the transaction that wrote it (`txid`, a `xid8`). The publisher reads only events whose
//! transaction is older than the oldest one still running (`pg_snapshot_xmin`), in
//! `(txid, id)` order, so an event committed late by a slow transaction is never skipped —
//! and writers of different shops no longer queue behind one advisory lock. SQLite has one
//! writer at a time: its ids are already in commit order, and nothing changes there.
use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "ALTER TABLE payout_transitions ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id()",
        )
        .await?;
        db.execute_unprepared("CREATE INDEX ix_payout_transitions_txid ON payout_transitions (txid, id)").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared("ALTER TABLE payout_transitions DROP COLUMN txid").await?;
        Ok(())
    }
}
