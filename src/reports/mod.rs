//! Reports (rules.md "Reports"): the history filter's totals (`PayoutConnection.summary`),
//! each account's day (`accountDailyReport`), the history as a CSV file and the shop's live
//! totals (`shopTotalsChanged`). Read-only: every number comes from the tables the use cases
//! write (payouts, their transitions, the kept day sums, the ledger, the quota history).
pub mod export;
pub mod graphql;
pub mod live;
pub mod repo;
pub mod rules;
pub mod service;
