//! Quotas (§5.2): per account, a per-payout and a daily limit on balance payouts the account
//! pays itself. Set and cleared by the shop admin; an admin never has one.
pub mod graphql;
pub mod repo;
pub mod service;
