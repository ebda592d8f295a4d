//! Durable delivery: a payout's current transfer key (the idempotency key the payment channel
//! gets for this attempt), the simulated channel's own books, and — for payouts already
//! `PAYING` — a key and a `DELIVER` job, so that nothing in flight is forgotten.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Payouts {
    Table,
    TransferKey,
}

#[derive(DeriveIden)]
enum ChannelTransfers {
    Table,
    Key,
    PayoutId,
    AmountFen,
    Outcome,
    FailureKind,
    Reason,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Payouts::Table).add_column(string_len_null(Payouts::TransferKey, 64)).to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_payouts_transfer_key")
                    .table(Payouts::Table)
                    .col(Payouts::TransferKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChannelTransfers::Table)
                    .col(string_len(ChannelTransfers::Key, 64).primary_key())
                    .col(big_integer(ChannelTransfers::PayoutId))
                    .col(big_integer(ChannelTransfers::AmountFen))
                    .col(string_len(ChannelTransfers::Outcome, 16))
                    .col(string_len_null(ChannelTransfers::FailureKind, 32))
                    .col(string_len_null(ChannelTransfers::Reason, 500))
                    .col(timestamp_with_time_zone(ChannelTransfers::At))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE payouts SET transfer_key = 'legacy-' || CAST(id AS TEXT) WHERE status = 'PAYING' AND transfer_key IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO scheduled_jobs (kind, payout_id, due_at, status, attempts, created_at) \
             SELECT 'DELIVER', id, updated_at, 'PENDING', 0, updated_at FROM payouts WHERE status = 'PAYING'",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DELETE FROM scheduled_jobs WHERE kind = 'DELIVER'").await?;
        manager.drop_table(Table::drop().table(ChannelTransfers::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("uq_payouts_transfer_key").table(Payouts::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Payouts::Table).drop_column(Payouts::TransferKey).to_owned()).await
    }
}
