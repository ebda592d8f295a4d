//! `commit_buckets`: the committed amounts per shop (and per applicant's quota) and quarter hour
//! of UTC time, kept in the transaction that commits a payout or takes it out of the sums. A
//! day's totals (`paidToday`, `paidFromBalanceToday`, `usedToday`, and every creation's and
//! approval's limits) read at most a hundred of these rows instead of summing every payout the
//! shop committed that day (BENCHMARKS.md). Filled here from the payouts already committed.
use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CommitBuckets {
    Table,
    ShopId,
    AccountId,
    Bucket,
    PaidFen,
    BalanceFen,
    QuotaFen,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CommitBuckets::Table)
                    .col(string_len(CommitBuckets::ShopId, 64))
                    .col(string_len(CommitBuckets::AccountId, 128))
                    .col(big_integer(CommitBuckets::Bucket))
                    .col(big_integer(CommitBuckets::PaidFen).default(0))
                    .col(big_integer(CommitBuckets::BalanceFen).default(0))
                    .col(big_integer(CommitBuckets::QuotaFen).default(0))
                    .primary_key(
                        Index::create()
                            .col(CommitBuckets::ShopId)
                            .col(CommitBuckets::AccountId)
                            .col(CommitBuckets::Bucket),
                    )
                    .to_owned(),
            )
            .await?;
        // The payouts already committed (the same sets `payouts::totals` counts: committed,
        // not RECHARGE_FAILED; the quota part only where the payout used its applicant's quota).
        let bucket = match manager.get_database_backend() {
            DbBackend::Postgres => "(FLOOR(EXTRACT(EPOCH FROM committed_at) / 900) * 900)::BIGINT",
            _ => "(CAST(unixepoch(committed_at) AS INTEGER) / 900) * 900",
        };
        let counted = "committed_at IS NOT NULL AND status <> 'RECHARGE_FAILED'";
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "INSERT INTO commit_buckets (shop_id, account_id, bucket, paid_fen, balance_fen, quota_fen) \
             SELECT shop_id, '', {bucket}, SUM(amount_fen), \
                    SUM(CASE WHEN funding = 'BALANCE' THEN amount_fen ELSE 0 END), 0 \
             FROM payouts WHERE {counted} GROUP BY shop_id, {bucket}"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "INSERT INTO commit_buckets (shop_id, account_id, bucket, paid_fen, balance_fen, quota_fen) \
             SELECT shop_id, applicant_id, {bucket}, 0, 0, SUM(amount_fen) \
             FROM payouts WHERE {counted} AND uses_quota GROUP BY shop_id, applicant_id, {bucket}"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CommitBuckets::Table).to_owned()).await
    }
}
