//! The history filtered by order (`payouts(orderSn: …)`) reads one shop's payouts of one
//! order, newest first: `(shop_id, order_sn, id)` answers it from the index alone. Without
//! it SQLite walked the shop's whole history by id (the index that gives the order) and
//! filtered each row — 14 pages/s on a shop of 100,000 payouts (BENCHMARKS.md).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Payouts {
    Table,
    ShopId,
    OrderSn,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_payouts_shop_order")
                    .table(Payouts::Table)
                    .col(Payouts::ShopId)
                    .col(Payouts::OrderSn)
                    .col(Payouts::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("idx_payouts_shop_order").table(Payouts::Table).to_owned()).await
    }
}
