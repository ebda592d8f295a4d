//! SeaORM models of smallpay's tables. Models and the stored vocabulary only: no GraphQL
//! derives, no domain logic. Amounts are integer fen (`*_fen: Fen`); statuses, types and kinds
//! are the enums of [`vocab`], stored as the contract's names (e.g. `"PAYING"`).

pub mod account;
pub mod account_card;
pub mod buyer_notification;
pub mod channel_transfer;
pub mod commit_bucket;
pub mod idempotency_key;
pub mod ledger_entry;
pub mod order;
pub mod payout;
pub mod payout_transition;
pub mod platform_compensation;
pub mod quota;
pub mod quota_change;
pub mod scheduled_job;
pub mod shop;
pub mod vocab;
