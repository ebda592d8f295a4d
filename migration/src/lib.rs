//! Database migrations, one per change, named by date. No seed data here.
// `MigrationTrait` is an `async_trait`: its `&SchemaManager` cannot name its lifetime.
#![expect(elided_lifetimes_in_paths, reason = "async_trait signatures of MigrationTrait")]
pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_domain;
mod m20261127_000001_compensation_reference;
mod m20261127_000002_durable_delivery;
mod m20261127_000003_event_horizon;
mod m20261127_000004_shop_order_index;
mod m20261203_000001_shop_payout_count;
mod m20261203_000002_commit_buckets;
mod m20261204_000001_transition_actor_kind;
mod m20261205_000001_quota_changes;
mod m20261206_000001_channel_payee;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_domain::Migration),
            Box::new(m20261127_000001_compensation_reference::Migration),
            Box::new(m20261127_000002_durable_delivery::Migration),
            Box::new(m20261127_000003_event_horizon::Migration),
            Box::new(m20261127_000004_shop_order_index::Migration),
            Box::new(m20261203_000001_shop_payout_count::Migration),
            Box::new(m20261203_000002_commit_buckets::Migration),
            Box::new(m20261204_000001_transition_actor_kind::Migration),
            Box::new(m20261205_000001_quota_changes::Migration),
            Box::new(m20261206_000001_channel_payee::Migration),
        ]
    }
}
