//! Shops synced from the marketplace: their payout policy, time zone and balance.
pub mod graphql;
pub mod repo;
pub mod service;
