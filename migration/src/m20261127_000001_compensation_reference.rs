//! `platform_compensations.reference`: the platform's own id for a compensation. A repeated
//! reference returns the same record; without one every call records a new compensation
//! (rules.md), so the old natural-key unique index goes and a plain lookup index replaces it.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PlatformCompensations {
    Table,
    Reference,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PlatformCompensations::Table)
                    .add_column(ColumnDef::new(PlatformCompensations::Reference).string_len(128).null())
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop().name("uq_platform_compensations_natural").table(PlatformCompensations::Table).to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_platform_compensations_order")
                    .table(PlatformCompensations::Table)
                    .col(Alias::new("order_sn"))
                    .col(Alias::new("at"))
                    .to_owned(),
            )
            .await?;
        // NULLs are distinct in a unique index on both databases: only given references clash.
        manager
            .create_index(
                Index::create()
                    .name("uq_platform_compensations_reference")
                    .table(PlatformCompensations::Table)
                    .col(PlatformCompensations::Reference)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("uq_platform_compensations_reference")
                    .table(PlatformCompensations::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop().name("idx_platform_compensations_order").table(PlatformCompensations::Table).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PlatformCompensations::Table)
                    .drop_column(PlatformCompensations::Reference)
                    .to_owned(),
            )
            .await
    }
}
