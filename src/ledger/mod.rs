//! The shop balance ledger: append-only entries; the shop's balance is their sum and never
//! goes below zero.
pub mod repo;
