//! The whole domain: shops, accounts, quotas, orders, platform compensations, payouts and
//! their transitions (history and event outbox), account cards, buyer notifications,
//! ledger entries, idempotency keys and scheduled jobs.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Shops {
    Table,
    Id,
    Name,
    ZeroEntry,
    DepositPaid,
    HasUnpaidBills,
    TimeZone,
    DailyCapFen,
    DailyBalanceCapFen,
    MaxAmountRegularFen,
    MaxAmountActivityFen,
    BalanceFen,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    ShopId,
    Id,
    Name,
    Role,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Quotas {
    Table,
    ShopId,
    AccountId,
    PerPayoutLimitFen,
    DailyLimitFen,
    SetBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    OrderSn,
    ShopId,
    BuyerId,
    GoodsId,
    GoodsName,
    ActivityGoods,
    PaidAmountFen,
    GroupedAt,
    Refunded,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PlatformCompensations {
    Table,
    Id,
    ShopId,
    OrderSn,
    Type,
    AmountFen,
    At,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Payouts {
    Table,
    Id,
    ShopId,
    OrderSn,
    GoodsId,
    BuyerId,
    Type,
    AmountFen,
    Reason,
    Message,
    ApprovalNote,
    Status,
    Funding,
    ApplicantId,
    ApproverId,
    UsesQuota,
    RejectReason,
    CreatedAt,
    CommittedAt,
    DeductedAt,
    SucceededAt,
    FailureKind,
    FailureReason,
    QrPayload,
    RechargeDeadline,
    ChannelTxnId,
    ClosedAt,
    RefundStatus,
    RefundDueAt,
    RefundedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PayoutTransitions {
    Table,
    Id,
    PayoutId,
    ShopId,
    OrderSn,
    ApplicantId,
    FromStatus,
    ToStatus,
    At,
    Actor,
    Note,
}

#[derive(DeriveIden)]
enum AccountCards {
    Table,
    Id,
    PayoutId,
    ShopId,
    BuyerId,
    Status,
    SentAt,
    ExpiresAt,
    AccountKind,
    AccountMasked,
    AccountSealed,
    HolderName,
    SubmittedAt,
}

#[derive(DeriveIden)]
enum BuyerNotifications {
    Table,
    Id,
    BuyerId,
    PayoutId,
    ShopId,
    Kind,
    Channels,
    Title,
    Body,
    At,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    Id,
    ShopId,
    Kind,
    AmountFen,
    BalanceAfterFen,
    PayoutId,
    Reference,
    At,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    ShopId,
    AccountId,
    Key,
    RequestHash,
    PayoutId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum ScheduledJobs {
    Table,
    Id,
    Kind,
    PayoutId,
    CardId,
    DueAt,
    Status,
    Attempts,
    LastError,
    CreatedAt,
    DoneAt,
}

fn ts(col: impl IntoIden) -> ColumnDef {
    timestamp_with_time_zone(col)
}

fn ts_null(col: impl IntoIden) -> ColumnDef {
    timestamp_with_time_zone_null(col)
}

fn index(name: &str, table: impl IntoIden, cols: &[&str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(table);
    for col in cols {
        idx.col(Alias::new(*col));
    }
    idx.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Shops::Table)
                    .col(string_len(Shops::Id, 64).primary_key())
                    .col(string_len(Shops::Name, 200))
                    .col(boolean(Shops::ZeroEntry))
                    .col(boolean(Shops::DepositPaid))
                    .col(boolean(Shops::HasUnpaidBills))
                    .col(string_len(Shops::TimeZone, 64))
                    .col(big_integer(Shops::DailyCapFen))
                    .col(big_integer(Shops::DailyBalanceCapFen))
                    .col(big_integer(Shops::MaxAmountRegularFen))
                    .col(big_integer(Shops::MaxAmountActivityFen))
                    .col(big_integer(Shops::BalanceFen))
                    .col(ts(Shops::CreatedAt))
                    .col(ts(Shops::UpdatedAt))
                    .check(Expr::col(Shops::BalanceFen).gte(0))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(string_len(Accounts::ShopId, 64))
                    .col(string_len(Accounts::Id, 128))
                    .col(string_len(Accounts::Name, 200))
                    .col(string_len(Accounts::Role, 16))
                    .col(ts(Accounts::CreatedAt))
                    .col(ts(Accounts::UpdatedAt))
                    .primary_key(Index::create().col(Accounts::ShopId).col(Accounts::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_accounts_shop")
                            .from(Accounts::Table, Accounts::ShopId)
                            .to(Shops::Table, Shops::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Quotas::Table)
                    .col(string_len(Quotas::ShopId, 64))
                    .col(string_len(Quotas::AccountId, 128))
                    .col(big_integer(Quotas::PerPayoutLimitFen))
                    .col(big_integer(Quotas::DailyLimitFen))
                    .col(string_len(Quotas::SetBy, 128))
                    .col(ts(Quotas::UpdatedAt))
                    .primary_key(Index::create().col(Quotas::ShopId).col(Quotas::AccountId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_quotas_account")
                            .from(Quotas::Table, (Quotas::ShopId, Quotas::AccountId))
                            .to(Accounts::Table, (Accounts::ShopId, Accounts::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(Expr::col(Quotas::PerPayoutLimitFen).gt(0))
                    .check(Expr::col(Quotas::DailyLimitFen).gte(Expr::col(Quotas::PerPayoutLimitFen)))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(big_pk_auto(Orders::Id))
                    .col(string_len_uniq(Orders::OrderSn, 64))
                    .col(string_len(Orders::ShopId, 64))
                    .col(string_len(Orders::BuyerId, 128))
                    .col(string_len(Orders::GoodsId, 64))
                    .col(string_len(Orders::GoodsName, 200))
                    .col(boolean(Orders::ActivityGoods))
                    .col(big_integer(Orders::PaidAmountFen))
                    .col(ts_null(Orders::GroupedAt))
                    .col(boolean(Orders::Refunded))
                    .col(ts(Orders::CreatedAt))
                    .col(ts(Orders::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_orders_shop")
                            .from(Orders::Table, Orders::ShopId)
                            .to(Shops::Table, Shops::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_orders_shop_id", Orders::Table, &["shop_id", "id"])).await?;
        manager.create_index(index("idx_orders_shop_goods", Orders::Table, &["shop_id", "goods_id", "id"])).await?;
        manager.create_index(index("idx_orders_buyer", Orders::Table, &["buyer_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(PlatformCompensations::Table)
                    .col(big_pk_auto(PlatformCompensations::Id))
                    .col(string_len(PlatformCompensations::ShopId, 64))
                    .col(string_len(PlatformCompensations::OrderSn, 64))
                    .col(string_len(PlatformCompensations::Type, 32))
                    .col(big_integer(PlatformCompensations::AmountFen))
                    .col(ts(PlatformCompensations::At))
                    .col(ts(PlatformCompensations::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_platform_compensations_order")
                            .from(PlatformCompensations::Table, PlatformCompensations::OrderSn)
                            .to(Orders::Table, Orders::OrderSn),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_platform_compensations_natural",
                    PlatformCompensations::Table,
                    &["order_sn", "type", "amount_fen", "at"],
                )
                .unique()
                .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Payouts::Table)
                    .col(big_pk_auto(Payouts::Id))
                    .col(string_len(Payouts::ShopId, 64))
                    .col(string_len(Payouts::OrderSn, 64))
                    .col(string_len(Payouts::GoodsId, 64))
                    .col(string_len(Payouts::BuyerId, 128))
                    .col(string_len(Payouts::Type, 32))
                    .col(big_integer(Payouts::AmountFen))
                    .col(string_len(Payouts::Reason, 800))
                    .col(string_len(Payouts::Message, 2000))
                    .col(string_len_null(Payouts::ApprovalNote, 2000))
                    .col(string_len(Payouts::Status, 32))
                    .col(string_len_null(Payouts::Funding, 32))
                    .col(string_len(Payouts::ApplicantId, 128))
                    .col(string_len_null(Payouts::ApproverId, 128))
                    .col(boolean(Payouts::UsesQuota))
                    .col(string_len_null(Payouts::RejectReason, 2000))
                    .col(ts(Payouts::CreatedAt))
                    .col(ts_null(Payouts::CommittedAt))
                    .col(ts_null(Payouts::DeductedAt))
                    .col(ts_null(Payouts::SucceededAt))
                    .col(string_len_null(Payouts::FailureKind, 32))
                    .col(string_len_null(Payouts::FailureReason, 2000))
                    .col(string_len_null(Payouts::QrPayload, 512))
                    .col(ts_null(Payouts::RechargeDeadline))
                    .col(string_len_null(Payouts::ChannelTxnId, 128))
                    .col(ts_null(Payouts::ClosedAt))
                    .col(string_len(Payouts::RefundStatus, 16))
                    .col(ts_null(Payouts::RefundDueAt))
                    .col(ts_null(Payouts::RefundedAt))
                    .col(ts(Payouts::UpdatedAt))
                    .check(Expr::col(Payouts::AmountFen).gt(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_payouts_shop")
                            .from(Payouts::Table, Payouts::ShopId)
                            .to(Shops::Table, Shops::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_payouts_order")
                            .from(Payouts::Table, Payouts::OrderSn)
                            .to(Orders::Table, Orders::OrderSn),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_payouts_applicant")
                            .from(Payouts::Table, (Payouts::ShopId, Payouts::ApplicantId))
                            .to(Accounts::Table, (Accounts::ShopId, Accounts::Id)),
                    )
                    .to_owned(),
            )
            .await?;
        // The history's sort (newest first) and each of its filters, always within a shop.
        for (name, cols) in [
            ("idx_payouts_shop_id", &["shop_id", "id"][..]),
            ("idx_payouts_order", &["order_sn", "id"][..]),
            ("idx_payouts_shop_goods", &["shop_id", "goods_id", "id"][..]),
            ("idx_payouts_shop_applicant", &["shop_id", "applicant_id", "id"][..]),
            ("idx_payouts_shop_deducted", &["shop_id", "deducted_at"][..]),
            ("idx_payouts_shop_status", &["shop_id", "status", "id"][..]),
            ("idx_payouts_shop_type", &["shop_id", "type", "id"][..]),
            ("idx_payouts_shop_committed", &["shop_id", "committed_at"][..]),
            ("uq_payouts_channel_txn", &["channel_txn_id"][..]),
        ] {
            let mut idx = index(name, Payouts::Table, cols);
            if name.starts_with("uq_") {
                idx.unique();
            }
            manager.create_index(idx).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(PayoutTransitions::Table)
                    .col(big_pk_auto(PayoutTransitions::Id))
                    .col(big_integer(PayoutTransitions::PayoutId))
                    .col(string_len(PayoutTransitions::ShopId, 64))
                    .col(string_len(PayoutTransitions::OrderSn, 64))
                    .col(string_len(PayoutTransitions::ApplicantId, 128))
                    .col(string_len_null(PayoutTransitions::FromStatus, 32))
                    .col(string_len(PayoutTransitions::ToStatus, 32))
                    .col(ts(PayoutTransitions::At))
                    .col(string_len(PayoutTransitions::Actor, 160))
                    .col(string_len_null(PayoutTransitions::Note, 2000))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_payout_transitions_payout")
                            .from(PayoutTransitions::Table, PayoutTransitions::PayoutId)
                            .to(Payouts::Table, Payouts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("idx_payout_transitions_payout", PayoutTransitions::Table, &["payout_id", "id"]))
            .await?;
        manager
            .create_index(index("idx_payout_transitions_shop", PayoutTransitions::Table, &["shop_id", "id"]))
            .await?;
        manager.create_index(index("idx_payout_transitions_at", PayoutTransitions::Table, &["at"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(AccountCards::Table)
                    .col(big_pk_auto(AccountCards::Id))
                    .col(big_integer(AccountCards::PayoutId))
                    .col(string_len(AccountCards::ShopId, 64))
                    .col(string_len(AccountCards::BuyerId, 128))
                    .col(string_len(AccountCards::Status, 16))
                    .col(ts(AccountCards::SentAt))
                    .col(ts(AccountCards::ExpiresAt))
                    .col(string_len_null(AccountCards::AccountKind, 16))
                    .col(string_len_null(AccountCards::AccountMasked, 64))
                    .col(string_len_null(AccountCards::AccountSealed, 512))
                    .col(string_len_null(AccountCards::HolderName, 200))
                    .col(ts_null(AccountCards::SubmittedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_account_cards_payout")
                            .from(AccountCards::Table, AccountCards::PayoutId)
                            .to(Payouts::Table, Payouts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_account_cards_payout", AccountCards::Table, &["payout_id", "id"])).await?;
        manager.create_index(index("idx_account_cards_buyer", AccountCards::Table, &["buyer_id", "id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(BuyerNotifications::Table)
                    .col(big_pk_auto(BuyerNotifications::Id))
                    .col(string_len(BuyerNotifications::BuyerId, 128))
                    .col(big_integer(BuyerNotifications::PayoutId))
                    .col(string_len(BuyerNotifications::ShopId, 64))
                    .col(string_len(BuyerNotifications::Kind, 32))
                    .col(string_len(BuyerNotifications::Channels, 64))
                    .col(string_len(BuyerNotifications::Title, 200))
                    .col(string_len(BuyerNotifications::Body, 2000))
                    .col(ts(BuyerNotifications::At))
                    .col(ts_null(BuyerNotifications::DeliveredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_buyer_notifications_payout")
                            .from(BuyerNotifications::Table, BuyerNotifications::PayoutId)
                            .to(Payouts::Table, Payouts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("idx_buyer_notifications_buyer", BuyerNotifications::Table, &["buyer_id", "id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LedgerEntries::Table)
                    .col(big_pk_auto(LedgerEntries::Id))
                    .col(string_len(LedgerEntries::ShopId, 64))
                    .col(string_len(LedgerEntries::Kind, 32))
                    .col(big_integer(LedgerEntries::AmountFen))
                    .col(big_integer(LedgerEntries::BalanceAfterFen))
                    .col(big_integer_null(LedgerEntries::PayoutId))
                    .col(string_len_null(LedgerEntries::Reference, 128))
                    .col(ts(LedgerEntries::At))
                    .check(Expr::col(LedgerEntries::BalanceAfterFen).gte(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ledger_entries_shop")
                            .from(LedgerEntries::Table, LedgerEntries::ShopId)
                            .to(Shops::Table, Shops::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ledger_entries_payout")
                            .from(LedgerEntries::Table, LedgerEntries::PayoutId)
                            .to(Payouts::Table, Payouts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_ledger_entries_shop", LedgerEntries::Table, &["shop_id", "id"])).await?;
        manager
            .create_index(
                index("uq_ledger_entries_reference", LedgerEntries::Table, &["shop_id", "reference"])
                    .unique()
                    .to_owned(),
            )
            .await?;
        // One debit and one refund credit per payout at most.
        manager
            .create_index(
                index("uq_ledger_entries_payout_kind", LedgerEntries::Table, &["payout_id", "kind"])
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(string_len(IdempotencyKeys::ShopId, 64))
                    .col(string_len(IdempotencyKeys::AccountId, 128))
                    .col(string_len(IdempotencyKeys::Key, 128))
                    .col(string_len(IdempotencyKeys::RequestHash, 128))
                    .col(big_integer(IdempotencyKeys::PayoutId))
                    .col(ts(IdempotencyKeys::CreatedAt))
                    .col(ts(IdempotencyKeys::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::ShopId)
                            .col(IdempotencyKeys::AccountId)
                            .col(IdempotencyKeys::Key),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_keys_payout")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::PayoutId)
                            .to(Payouts::Table, Payouts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_idempotency_keys_expires", IdempotencyKeys::Table, &["expires_at"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(ScheduledJobs::Table)
                    .col(big_pk_auto(ScheduledJobs::Id))
                    .col(string_len(ScheduledJobs::Kind, 48))
                    .col(big_integer_null(ScheduledJobs::PayoutId))
                    .col(big_integer_null(ScheduledJobs::CardId))
                    .col(ts(ScheduledJobs::DueAt))
                    .col(string_len(ScheduledJobs::Status, 16))
                    .col(integer(ScheduledJobs::Attempts))
                    .col(string_len_null(ScheduledJobs::LastError, 2000))
                    .col(ts(ScheduledJobs::CreatedAt))
                    .col(ts_null(ScheduledJobs::DoneAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_scheduled_jobs_payout")
                            .from(ScheduledJobs::Table, ScheduledJobs::PayoutId)
                            .to(Payouts::Table, Payouts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("idx_scheduled_jobs_due", ScheduledJobs::Table, &["status", "due_at"])).await?;
        manager.create_index(index("idx_scheduled_jobs_payout", ScheduledJobs::Table, &["payout_id"])).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ScheduledJobs::Table.into_iden(),
            IdempotencyKeys::Table.into_iden(),
            LedgerEntries::Table.into_iden(),
            BuyerNotifications::Table.into_iden(),
            AccountCards::Table.into_iden(),
            PayoutTransitions::Table.into_iden(),
            Payouts::Table.into_iden(),
            PlatformCompensations::Table.into_iden(),
            Orders::Table.into_iden(),
            Quotas::Table.into_iden(),
            Accounts::Table.into_iden(),
            Shops::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
