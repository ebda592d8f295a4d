//! The simulated channel: decides each transfer by [`super::simulated_outcome`] and keeps its
//! books per key in `channel_transfers`, so a key is paid at most once and "was this paid?"
//! has a true answer across restarts. The books name where each transfer went: the buyer's
//! own account, or the submitted account's kind, masked number and holder's name.
//!
//! One more rule, for tests of lost answers: for a buyer id ending in `-timeout`, the first
//! call for a key moves the money but its answer is lost (`NoAnswer`); asking again tells.
use chrono::Utc;
use entity::{channel_transfer, vocab::ChannelOutcome};
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use super::{ChannelAnswer, PaymentChannel, Transfer, repo};
use crate::{
    db::WriteGate,
    domain::{card::mask, vocab::TransferFailureKind},
    error::AppResult,
};

/// What the simulated channel decides for a transfer (operations.md): a `BUYER_ACCOUNT`
/// failure when the buyer id ends in `-invalid` and no account was submitted, or the
/// submitted account number ends in `0000`; delivered otherwise.
pub fn simulated_outcome(buyer_id: &str, submitted_account: Option<&str>) -> ChannelAnswer {
    let bad_account = match submitted_account {
        Some(account) => account.ends_with("0000"),
        None => buyer_id.ends_with("-invalid"),
    };
    if bad_account {
        ChannelAnswer::Failed {
            kind: TransferFailureKind::BuyerAccount,
            reason: "the buyer's receiving account cannot take the transfer".to_owned(),
        }
    } else {
        ChannelAnswer::Delivered
    }
}

/// Its books live in the service's own database (a real channel keeps its own): on SQLite
/// its writes queue in the service's write gate like any other writer's, rather than in
/// SQLite's busy handler.
pub struct Simulated {
    db: DatabaseConnection,
    gate: Arc<WriteGate>,
}

impl Simulated {
    pub fn new(db: DatabaseConnection, gate: Arc<WriteGate>) -> Self {
        Simulated { db, gate }
    }

    /// [`repo::record_once`]: on SQLite in the write gate's commit pipeline (so a transfer's
    /// row shares the commit of the writes around it), on PostgreSQL as one statement.
    async fn record_once(&self, entry: repo::Entry) -> AppResult<(channel_transfer::Model, bool)> {
        match self.gate.pipeline() {
            // Tried once, as on PostgreSQL: a failure is the channel's "no answer".
            Some(pipeline) => {
                pipeline
                    .submit(Box::new(move |tx| Box::pin(async move { Ok(repo::record_once(tx, entry).await?) })))
                    .await
            }
            None => Ok(repo::record_once(&self.db, entry).await?),
        }
    }
}

fn answer(row: &channel_transfer::Model) -> ChannelAnswer {
    match row.outcome {
        ChannelOutcome::Delivered => ChannelAnswer::Delivered,
        ChannelOutcome::Cancelled => ChannelAnswer::Cancelled,
        ChannelOutcome::Failed => ChannelAnswer::Failed {
            kind: row.failure_kind.unwrap_or(TransferFailureKind::Other),
            reason: row.reason.clone().unwrap_or_default(),
        },
    }
}

#[async_trait::async_trait]
impl PaymentChannel for Simulated {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn transfer(&self, key: &str, transfer: &Transfer) -> ChannelAnswer {
        let account = transfer.submitted_account.as_ref();
        let decided = simulated_outcome(&transfer.buyer_id, account.map(|a| a.number.as_str()));
        let (outcome, failure_kind, reason) = match decided {
            ChannelAnswer::Failed { kind, reason } => (ChannelOutcome::Failed, Some(kind), Some(reason)),
            _ => (ChannelOutcome::Delivered, None, None),
        };
        let entry = repo::Entry {
            key: key.to_owned(),
            payout_id: transfer.payout_id,
            amount: transfer.amount.into(),
            outcome,
            failure_kind,
            reason,
            at: Utc::now(),
            payee: account.map(|a| repo::Payee {
                kind: a.kind,
                account_masked: mask(a.kind, &a.number),
                holder: a.holder.clone(),
            }),
        };
        match self.record_once(entry).await {
            Ok((_, true)) if transfer.buyer_id.ends_with("-timeout") => ChannelAnswer::NoAnswer,
            Ok((row, _)) => answer(&row),
            Err(e) => {
                tracing::warn!(key, error = ?e, "simulated channel: no answer");
                ChannelAnswer::NoAnswer
            }
        }
    }

    async fn status(&self, key: &str) -> ChannelAnswer {
        match repo::find(&self.db, key).await {
            Ok(Some(row)) => answer(&row),
            Ok(None) => ChannelAnswer::NotFound,
            Err(e) => {
                tracing::warn!(key, error = ?e, "simulated channel: no answer");
                ChannelAnswer::NoAnswer
            }
        }
    }

    async fn cancel(&self, key: &str, payout_id: i64) -> ChannelAnswer {
        let entry = repo::Entry {
            key: key.to_owned(),
            payout_id,
            amount: entity::vocab::Fen(0),
            outcome: ChannelOutcome::Cancelled,
            failure_kind: None,
            reason: None,
            at: Utc::now(),
            payee: None,
        };
        match self.record_once(entry).await {
            Ok((row, _)) => answer(&row),
            Err(e) => {
                tracing::warn!(key, error = ?e, "simulated channel: no answer");
                ChannelAnswer::NoAnswer
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_fails_invalid_buyers_and_0000_accounts_only() {
        let failed =
            |o: ChannelAnswer| matches!(o, ChannelAnswer::Failed { kind: TransferFailureKind::BuyerAccount, .. });
        assert!(failed(simulated_outcome("buyer-invalid", None)));
        assert_eq!(simulated_outcome("buyer-1", None), ChannelAnswer::Delivered);
        assert_eq!(simulated_outcome("buyer-invalid", Some("13800001234")), ChannelAnswer::Delivered);
        assert!(failed(simulated_outcome("buyer-1", Some("6222020000000000"))));
    }
}
