//! GraphQL of payouts, one file per job: the `Payout` object and its prefetch, the
//! transition, the preview, the inputs, the connection, and the query and mutation roots.
pub mod connection;
pub mod inputs;
pub mod payout;
pub mod preview;
pub mod roots;
pub mod transition;

use async_graphql::ID;

use crate::error::AppError;

/// Parses a payout id from the API (`NOT_FOUND` when it cannot name a payout).
pub fn payout_id(id: &ID) -> Result<i64, AppError> {
    id.trim().parse::<i64>().map_err(|_| AppError::not_found(format!("payout {}", id.as_str())))
}
