//! Approvals (§5.4): a non-admin sends a payout to the shop admin, who approves it (with the
//! funding the admin picks, re-checking the shop's rules then) or rejects it with a reason; a
//! request undecided for 7 days is rejected by the system.
pub mod graphql;
pub mod service;
