//! Orders synced from the marketplace, and the platform's own compensations on them.
pub mod graphql;
pub mod repo;
pub mod service;
