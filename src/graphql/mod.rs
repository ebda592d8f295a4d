//! The GraphQL layer's shared parts: error codes, loaders, pagination, scalars. The schema
//! itself — every domain's roots merged, with its limits — is built in [`schema`], which is
//! wiring: no domain file imports it.
pub mod enums;
pub mod errors;
pub mod limits;
pub mod loaders;
pub mod logging;
pub mod pagination;
pub mod persisted;
pub mod plain;
pub mod reads;
pub mod scalars;
pub mod schema;
pub mod service;
