//! `quota_changes`: every time the admin sets or clears an account's quota, the limits from
//! then on (null for a clear), written in the same transaction. The account's daily report
//! reads the limits in force at each day's end from it (rules.md "Reports"). Starts empty: the
//! quotas set before it existed have no recorded start.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum QuotaChanges {
    Table,
    Id,
    ShopId,
    AccountId,
    At,
    PerPayoutLimitFen,
    DailyLimitFen,
    SetBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(QuotaChanges::Table)
                    .col(big_pk_auto(QuotaChanges::Id))
                    .col(string_len(QuotaChanges::ShopId, 64))
                    .col(string_len(QuotaChanges::AccountId, 128))
                    .col(timestamp_with_time_zone(QuotaChanges::At))
                    .col(big_integer_null(QuotaChanges::PerPayoutLimitFen))
                    .col(big_integer_null(QuotaChanges::DailyLimitFen))
                    .col(string_len(QuotaChanges::SetBy, 128))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("quota_changes_by_account")
                    .table(QuotaChanges::Table)
                    .col(QuotaChanges::ShopId)
                    .col(QuotaChanges::AccountId)
                    .col(QuotaChanges::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(QuotaChanges::Table).to_owned()).await
    }
}
