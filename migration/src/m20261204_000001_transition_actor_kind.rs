//! `payout_transitions.actor_kind`: who made a status change, beside the actor's name. The
//! name alone (an account id, `buyer:<buyer id>`, `system` or `platform`) let a merchant whose
//! token said `sub: system` read as the system.
//!
//! The rows already there are filled from their names, except where the step itself says a
//! merchant made it — a creation, an approval, a rejection other than the 7-day expiry: no
//! other kind of actor makes those, so a merchant account that was called `system`,
//! `platform` or `buyer:…` is named a merchant there. Elsewhere such an account cannot be told
//! from what its name says.
//!
//! The column has a default because SQLite cannot add a `NOT NULL` column without one; every
//! insert names the kind.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PayoutTransitions {
    Table,
    ActorKind,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PayoutTransitions::Table)
                    .add_column(
                        ColumnDef::new(PayoutTransitions::ActorKind).string_len(16).not_null().default("MERCHANT"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE payout_transitions SET actor_kind = CASE \
                   WHEN from_status IS NULL THEN 'MERCHANT' \
                   WHEN from_status = 'PENDING_APPROVAL' AND NOT (actor = 'system' AND to_status = 'REJECTED' \
                        AND COALESCE(note, '') = 'expired') THEN 'MERCHANT' \
                   WHEN actor = 'system' THEN 'SYSTEM' \
                   WHEN actor = 'platform' THEN 'PLATFORM' \
                   WHEN substr(actor, 1, 6) = 'buyer:' THEN 'BUYER' \
                   ELSE 'MERCHANT' END",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(PayoutTransitions::Table).drop_column(PayoutTransitions::ActorKind).to_owned(),
            )
            .await
    }
}
