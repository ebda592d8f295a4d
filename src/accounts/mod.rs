//! Merchant accounts, keyed by (shop, token `sub`) and provisioned from the token's claims:
//! the identity provider is the source of truth for names and roles.
pub mod graphql;
pub mod repo;
pub mod service;
