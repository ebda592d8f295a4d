//! The `PayoutTransition` object: one status change, in a payout's history and as an event.
use async_graphql::{Context, Enum, ID, Object, Result, Value, resolver_utils::enum_value};
use chrono::{DateTime, Utc};
use entity::{payout_transition, vocab};

use super::payout::Payout;
use crate::{
    error::AppError,
    graphql::{
        enums::PayoutStatus,
        loaders::{PayoutById, RequestLoader},
        plain::{Plain, optional, plain_object, scalar},
    },
};

// Beside its only object rather than in `graphql::enums`.
/// Who made a status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "vocab::ActorKind")]
pub enum ActorKind {
    /// A shop's account: actor is its id.
    Merchant,
    /// A buyer: actor is "buyer:<buyer id>".
    Buyer,
    /// The platform's service calls and the payment channel's results: actor is "platform".
    Platform,
    /// A deadline that came due: actor is "system".
    System,
}

/// One status change of a payout.
pub struct PayoutTransition(pub payout_transition::Model);

plain_object!(PayoutTransition, TransitionFields);

/// `PayoutTransition`'s resolvers (its plain fields are read by [`Plain`] as well).
struct TransitionFields<'a>(&'a payout_transition::Model);

/// One status change of a payout, as recorded in its history and streamed by the
/// subscriptions.
#[Object(name = "PayoutTransition")]
impl TransitionFields<'_> {
    /// The event id: pass it as afterEventId to resume.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The payout that changed.
    async fn payout_id(&self) -> ID {
        ID(self.0.payout_id.to_string())
    }

    /// The payout as it is now.
    async fn payout(&self, ctx: &Context<'_>) -> Result<Payout> {
        let found = ctx.data::<RequestLoader>()?.load_one(PayoutById(self.0.payout_id)).await?;
        Ok(Payout(found.ok_or_else(|| AppError::Internal(format!("payout {} missing", self.0.payout_id)))?))
    }

    /// Null for the creation.
    async fn from(&self) -> Option<PayoutStatus> {
        self.0.from_status.map(Into::into)
    }

    /// The status it moved to.
    async fn to(&self) -> PayoutStatus {
        self.0.to_status.into()
    }

    /// When it changed (UTC).
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }

    /// An account id, "buyer:<buyer id>", "system" or "platform"; actorKind says which.
    async fn actor(&self) -> &str {
        &self.0.actor
    }

    /// What kind of actor made the change: tell the system from an account by this, not by
    /// the actor's name.
    async fn actor_kind(&self) -> ActorKind {
        self.0.actor_kind.into()
    }

    /// Why, when known: the approval note of a request, "approved", the reject reason or
    /// "expired", "recharge received", the channel's failure reason, "receiving account
    /// submitted", "not recharged within 1 h", "closed 7 days after commit".
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
}

impl Plain for TransitionFields<'_> {
    fn plain(&self, name: &str) -> Option<Value> {
        let t = self.0;
        Some(match name {
            "id" => Value::String(t.id.to_string()),
            "payoutId" => Value::String(t.payout_id.to_string()),
            "from" => optional(t.from_status, |s| enum_value(PayoutStatus::from(s))),
            "to" => enum_value(PayoutStatus::from(t.to_status)),
            "at" => scalar(&t.at),
            "actor" => Value::String(t.actor.clone()),
            "actorKind" => enum_value(ActorKind::from(t.actor_kind)),
            "note" => optional(t.note.clone(), Value::String),
            _ => return None,
        })
    }
}
