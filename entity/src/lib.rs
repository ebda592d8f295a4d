//! SeaORM models of smallpay's tables. Models only: no GraphQL derives, no domain logic.
//! Amounts are integer fen (`*_fen: i64`); enum-like columns hold the contract's names
//! (e.g. `"PAYING"`), parsed into domain enums above the data layer.

pub mod account;
pub mod account_card;
pub mod buyer_notification;
pub mod idempotency_key;
pub mod ledger_entry;
pub mod order;
pub mod payout;
pub mod payout_transition;
pub mod platform_compensation;
pub mod quota;
pub mod scheduled_job;
pub mod shop;
