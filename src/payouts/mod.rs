//! Payouts (小额打款). So far: their vocabulary, shared with orders' platform compensations.
pub mod types;
