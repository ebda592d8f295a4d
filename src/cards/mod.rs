//! The buyer's side (§3.3, §4.1): notices about payouts, and account cards that collect a new
//! receiving account after a transfer failed for the buyer's account.
pub mod dispatch;
pub mod graphql;
pub mod notifier;
pub mod notify;
pub mod repo;
pub mod seal;
pub mod service;
