//! Payouts (小额打款): the rules that allow one, its creation with the ledger debit, quota and
//! idempotency, and its lifecycle.
pub mod contact;
pub mod graphql;
pub mod lifecycle;
pub mod repo;
pub mod rules;
pub mod service;
pub mod types;
