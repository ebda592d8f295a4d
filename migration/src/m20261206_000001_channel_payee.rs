//! `channel_transfers.payee_*`: where the simulated channel sent each transfer — the buyer's
//! own account (all three empty, as for every row already there: until now a retry's account
//! was not recorded) or the account the buyer submitted on a card: its kind, its number masked,
//! its holder's name. The full number stays sealed on the card.
//!
//! One `ALTER TABLE` per column: SQLite adds one column per statement.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ChannelTransfers {
    Table,
    PayeeKind,
    PayeeAccountMasked,
    PayeeHolder,
}

/// The columns with their types: as `account_cards`' kind, masked number and holder's name.
fn columns() -> [ColumnDef; 3] {
    [
        string_len_null(ChannelTransfers::PayeeKind, 16),
        string_len_null(ChannelTransfers::PayeeAccountMasked, 64),
        string_len_null(ChannelTransfers::PayeeHolder, 200),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut column in columns() {
            manager
                .alter_table(Table::alter().table(ChannelTransfers::Table).add_column(&mut column).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [ChannelTransfers::PayeeKind, ChannelTransfers::PayeeAccountMasked, ChannelTransfers::PayeeHolder]
        {
            manager.alter_table(Table::alter().table(ChannelTransfers::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
