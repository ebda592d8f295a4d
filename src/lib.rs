//! smallpay: a GraphQL API server for a marketplace's small-amount payouts (小额打款).
//!
//! Layout: one folder per domain (`shops`, `orders`, `accounts`, `ledger`, `payouts`…), each
//! with pure `rules`, database `repo`, transactional `service` and `graphql` types; the
//! cross-cutting pieces (`auth`, `graphql`, `http`, `clock`, `gateway`, `jobs`) beside them.
pub mod accounts;
pub mod app;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod cards;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod events;
pub mod gateway;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod keyset;
pub mod ledger;
pub mod orders;
pub mod payouts;
pub mod quotas;
pub mod ratelimit;
pub mod reports;
pub mod shops;
pub mod state;
pub mod telemetry;
pub mod validate;
