//! One integration binary: every test starts a real server (see `helpers`) and talks to it
//! over HTTP or WebSocket, on SQLite and on PostgreSQL.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly on what it did not expect")]

mod helpers;

mod approvals;
mod approved;
mod audit;
mod auth;
mod cards;
mod crash;
mod delivery;
mod docs;
mod events;
mod expect;
mod fuzz;
mod graphql_http;
mod history;
mod hostile;
mod http;
mod jwks;
mod lifecycle;
mod model;
mod orders;
mod otlp;
mod outage;
mod outbox;
mod paging;
mod payouts;
mod plain;
mod platform;
mod private_postgres;
mod process;
mod quotas;
mod reports;
mod roles;
mod schema;
mod standby;
mod stored;
mod storm;
mod tenancy;
mod validation;
mod zones;
