//! Payouts (小额打款): the rules that allow one, its creation with the ledger debit, quota and
//! idempotency, and its lifecycle.
pub mod delivery;
pub mod funds;
pub mod graphql;
pub mod inputs;
pub mod lifecycle;
pub mod recharge;
pub mod repo;
pub mod service;
pub mod snapshot;
pub mod totals;
