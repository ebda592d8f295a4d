//! The payment channel that delivers a committed payout to the buyer, as a seam.
//!
//! Every call names a **transfer key**: the idempotency key of one attempt of one payout
//! (stored on the payout when it enters `PAYING`). A channel never pays a key twice: asking
//! again with the same key answers what the first call did. So a delivery that is repeated
//! after a crash — the channel was called, the answer was never recorded — pays nothing more.
//!
//! - `simulated` decides at once by the rule of [`simulated::simulated_outcome`] and keeps its
//!   books per key ([`simulated::Simulated`]), so "was this key paid?" has a true answer across restarts.
//! - `manual` leaves every result to the platform's `reportTransferResult`.
pub mod repo;
pub mod simulated;

use crate::{
    cards::seal::Sealer,
    domain::{card::ReceivingAccount, money::Cny, vocab::TransferFailureKind},
};

/// What a use case that hands transfers over touches: the channel, and the sealer that reads
/// a submitted account back.
#[derive(Clone, Copy)]
pub struct Payments<'a> {
    pub channel: &'a dyn PaymentChannel,
    pub sealer: &'a Sealer,
}

/// What the channel says about a transfer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelAnswer {
    /// The money reached the buyer.
    Delivered,
    /// The transfer failed; nothing was paid.
    Failed { kind: TransferFailureKind, reason: String },
    /// Cancelled before anything was paid; the key will never pay.
    Cancelled,
    /// Accepted; the result arrives later (`reportTransferResult`).
    InFlight,
    /// The channel has never seen this key (a status query): nothing was paid.
    NotFound,
    /// No answer (a timeout, a broken connection): the outcome is unknown and must be asked
    /// again with [`PaymentChannel::status`], never guessed.
    NoAnswer,
}

/// A transfer handed to the channel.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub payout_id: i64,
    pub buyer_id: String,
    pub amount: Cny,
    /// The receiving account the buyer submitted on an account card — kind, number and
    /// holder's name — for a retry; `None` pays the buyer's own account on the platform.
    pub submitted_account: Option<ReceivingAccount>,
}

#[async_trait::async_trait]
pub trait PaymentChannel: Send + Sync {
    fn name(&self) -> &'static str;

    /// Starts the transfer of `key` (idempotent: a known key answers as it did the first time).
    async fn transfer(&self, key: &str, transfer: &Transfer) -> ChannelAnswer;

    /// What became of `key`.
    async fn status(&self, key: &str) -> ChannelAnswer;

    /// Cancels `key` unless it was already paid: `Cancelled` when nothing was or will be paid,
    /// `Delivered` when it is too late.
    async fn cancel(&self, key: &str, payout_id: i64) -> ChannelAnswer;
}

/// The platform reports every result (`reportTransferResult`); a cancel is taken as done
/// (the platform's operators stop the transfer; a result they report later still wins).
pub struct Manual;

#[async_trait::async_trait]
impl PaymentChannel for Manual {
    fn name(&self) -> &'static str {
        "manual"
    }

    async fn transfer(&self, key: &str, transfer: &Transfer) -> ChannelAnswer {
        tracing::info!(payout_id = transfer.payout_id, key, "manual channel: awaiting reportTransferResult");
        ChannelAnswer::InFlight
    }

    async fn status(&self, _key: &str) -> ChannelAnswer {
        ChannelAnswer::InFlight
    }

    async fn cancel(&self, key: &str, payout_id: i64) -> ChannelAnswer {
        tracing::info!(key, payout_id, "manual channel: transfer cancelled");
        ChannelAnswer::Cancelled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_never_decides() {
        let t = Transfer { payout_id: 1, buyer_id: "b".into(), amount: Cny::from_fen(100), submitted_account: None };
        assert_eq!(Manual.transfer("k", &t).await, ChannelAnswer::InFlight);
        assert_eq!(Manual.cancel("k", 1).await, ChannelAnswer::Cancelled);
    }
}
