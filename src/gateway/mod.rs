//! The payment channel that delivers a committed payout to the buyer, as a seam:
//! `simulated` decides at once (see [`simulated_outcome`]); `manual` leaves every result to
//! the platform's `reportTransferResult`.
use std::sync::Arc;

use crate::{
    config::Gateway,
    domain::{money::Cny, vocab::TransferFailureKind},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferOutcome {
    Succeeded,
    Failed { kind: TransferFailureKind, reason: String },
}

/// A transfer handed to the channel after the payout's commit.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub payout_id: i64,
    pub buyer_id: String,
    pub amount: Cny,
    /// The account number the buyer submitted on an account card, for a retry.
    pub submitted_account: Option<String>,
}

#[async_trait::async_trait]
pub trait PaymentChannel: Send + Sync {
    fn name(&self) -> &'static str;

    /// Starts a transfer. `Some` when the channel knows the outcome at once; `None` when the
    /// result will arrive later (through `reportTransferResult`).
    async fn transfer(&self, transfer: &Transfer) -> Option<TransferOutcome>;

    /// Cancels a transfer that is still under way (the payout closed).
    async fn cancel(&self, payout_id: i64);
}

pub fn from_config(gateway: Gateway) -> Arc<dyn PaymentChannel> {
    match gateway {
        Gateway::Simulated => Arc::new(Simulated),
        Gateway::Manual => Arc::new(Manual),
    }
}

/// The simulated channel's rule (operations.md): a `BUYER_ACCOUNT` failure when the buyer id
/// ends in `-invalid` and no account was submitted, or the submitted account number ends in
/// `0000`; success otherwise.
pub fn simulated_outcome(buyer_id: &str, submitted_account: Option<&str>) -> TransferOutcome {
    let bad_account = match submitted_account {
        Some(account) => account.ends_with("0000"),
        None => buyer_id.ends_with("-invalid"),
    };
    if bad_account {
        TransferOutcome::Failed {
            kind: TransferFailureKind::BuyerAccount,
            reason: "the buyer's receiving account cannot take the transfer".to_owned(),
        }
    } else {
        TransferOutcome::Succeeded
    }
}

pub struct Simulated;

#[async_trait::async_trait]
impl PaymentChannel for Simulated {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn transfer(&self, transfer: &Transfer) -> Option<TransferOutcome> {
        Some(simulated_outcome(&transfer.buyer_id, transfer.submitted_account.as_deref()))
    }

    async fn cancel(&self, payout_id: i64) {
        tracing::info!(payout_id, "simulated channel: transfer cancelled");
    }
}

pub struct Manual;

#[async_trait::async_trait]
impl PaymentChannel for Manual {
    fn name(&self) -> &'static str {
        "manual"
    }

    async fn transfer(&self, transfer: &Transfer) -> Option<TransferOutcome> {
        tracing::info!(payout_id = transfer.payout_id, "manual channel: awaiting reportTransferResult");
        None
    }

    async fn cancel(&self, payout_id: i64) {
        tracing::info!(payout_id, "manual channel: transfer cancelled");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_fails_invalid_buyers_and_0000_accounts_only() {
        let failed =
            |o: TransferOutcome| matches!(o, TransferOutcome::Failed { kind: TransferFailureKind::BuyerAccount, .. });
        assert!(failed(simulated_outcome("buyer-invalid", None)));
        assert_eq!(simulated_outcome("buyer-1", None), TransferOutcome::Succeeded);
        assert_eq!(simulated_outcome("buyer-invalid", Some("13800001234")), TransferOutcome::Succeeded);
        assert!(failed(simulated_outcome("buyer-1", Some("6222020000000000"))));
    }

    #[tokio::test]
    async fn manual_never_decides() {
        let t = Transfer { payout_id: 1, buyer_id: "b".into(), amount: Cny::from_fen(100), submitted_account: None };
        assert_eq!(Manual.transfer(&t).await, None);
        assert_eq!(Simulated.transfer(&t).await, Some(TransferOutcome::Succeeded));
    }
}
