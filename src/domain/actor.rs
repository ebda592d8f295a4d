//! Who made a payout's status change. The history shows an actor as one string (api.graphql:
//! an account id, `buyer:<buyer id>`, `system` or `platform`) and, since a merchant whose token
//! said `sub: system` read as the system there, also its kind. The names the other kinds use
//! are reserved: no merchant token may carry them (`crate::auth::jwt`).
use super::vocab::ActorKind;

/// The prefix of a buyer's name in a history.
const BUYER_PREFIX: &str = "buyer:";
/// The names of the kinds that are not accounts.
const SYSTEM: &str = "system";
const PLATFORM: &str = "platform";

/// Who made a status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// A shop's account: its token's `sub`.
    Merchant(&'a str),
    /// A buyer: its token's `sub`, the buyer id.
    Buyer(&'a str),
    /// The platform's service calls and the payment channel's results.
    Platform,
    /// A deadline that came due.
    System,
}

impl Actor<'_> {
    pub fn kind(self) -> ActorKind {
        match self {
            Actor::Merchant(_) => ActorKind::Merchant,
            Actor::Buyer(_) => ActorKind::Buyer,
            Actor::Platform => ActorKind::Platform,
            Actor::System => ActorKind::System,
        }
    }

    /// The history's `actor` string.
    pub fn name(self) -> String {
        match self {
            Actor::Merchant(id) => id.to_owned(),
            Actor::Buyer(id) => format!("{BUYER_PREFIX}{id}"),
            Actor::Platform => PLATFORM.to_owned(),
            Actor::System => SYSTEM.to_owned(),
        }
    }
}

/// Whether a merchant account id would read as another kind of actor in a history: `system`,
/// `platform`, or anything starting `buyer:` — in any case, so that `System` cannot pass for
/// the system to a reader either.
pub fn is_reserved_for_another_kind(account_id: &str) -> bool {
    let lower = account_id.to_ascii_lowercase();
    lower == SYSTEM || lower == PLATFORM || lower.starts_with(BUYER_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_actor_has_its_kind_and_its_contract_name() {
        let cases = [
            (Actor::Merchant("cs-1"), ActorKind::Merchant, "cs-1"),
            (Actor::Buyer("carol"), ActorKind::Buyer, "buyer:carol"),
            (Actor::Platform, ActorKind::Platform, "platform"),
            (Actor::System, ActorKind::System, "system"),
        ];
        for (actor, kind, name) in cases {
            assert_eq!((actor.kind(), actor.name().as_str()), (kind, name), "{actor:?}");
        }
    }

    #[test]
    fn merchants_may_not_take_the_other_kinds_names() {
        for id in ["system", "platform", "buyer:b-1", "buyer:", "SYSTEM", "Platform", "BUYER:x"] {
            assert!(is_reserved_for_another_kind(id), "{id}");
        }
        for id in ["systems", "my-system", "platform-ops", "buyer", "buyer-1", "buyers:x", "admin", "cs-1"] {
            assert!(!is_reserved_for_another_kind(id), "{id}");
        }
    }
}
