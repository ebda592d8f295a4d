//! `shops.payout_count`: how many payouts the shop has, kept in the transaction that creates
//! each one (the shop row is already locked there). An unfiltered history page's `totalCount`
//! reads it instead of counting the shop's whole history per page — `COUNT(*)` over 100,000
//! payouts was most of the page's time on SQLite (BENCHMARKS.md). Filtered pages still count.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Shops {
    Table,
    PayoutCount,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Shops::Table)
                    .add_column(ColumnDef::new(Shops::PayoutCount).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        // The shops that already have payouts.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE shops SET payout_count = (SELECT COUNT(*) FROM payouts WHERE payouts.shop_id = shops.id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Shops::Table).drop_column(Shops::PayoutCount).to_owned()).await
    }
}
