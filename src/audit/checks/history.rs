//! HISTORY: every status is the end of its recorded history, each step allowed.
use super::books::*;

/// `HISTORY`: every payout has a history (`HISTORY_MISSING`) that starts with its creation —
/// from nothing to a status a creation gives (`HISTORY_BAD_START`) — whose every step starts
/// where the previous one ended (`HISTORY_CHAIN_BROKEN`) and is allowed by the state machine
/// (`TRANSITION_NOT_ALLOWED`), and whose last step ends in the payout's status
/// (`STATUS_NOT_LATEST_TRANSITION`). Each kind is reported once per payout, at its first
/// offending step. Steps are in id order, the order they were recorded in.
pub(super) fn history(b: &ShopBooks, f: &mut Findings) {
    let shop = &b.shop.id;
    f.count(AuditCheck::History, b.payouts.len());
    let mut steps: HashMap<i64, Vec<&payout_transition::Model>> = HashMap::new();
    for t in &b.transitions {
        steps.entry(t.payout_id).or_default().push(t);
    }
    let name = |s: Option<PayoutStatus>| s.map_or("none", |s| s.as_str());
    for p in &b.payouts {
        let of = |kind: Kind, message: String| Violation::new(kind, shop, message).payout(p.id).order(&p.order_sn);
        let Some(history) = steps.get(&p.id).filter(|h| !h.is_empty()) else {
            f.push(of(
                Kind::HistoryMissing,
                format!("shop {shop}: payout {} ({}) has no recorded transition", p.id, p.status),
            ));
            continue;
        };
        let first = history[0];
        if first.from_status.is_some() || !may_start(first.to_status) {
            f.push(of(
                Kind::HistoryBadStart,
                format!(
                    "shop {shop}: payout {}'s history starts with transition {} ({} → {}), not with its creation \
                     (none → PENDING_APPROVAL, PENDING_RECHARGE or PAYING)",
                    p.id,
                    first.id,
                    name(first.from_status),
                    first.to_status
                ),
            ));
        }
        if let Some(w) = history.windows(2).find(|w| w[1].from_status != Some(w[0].to_status)) {
            f.push(of(
                Kind::HistoryChainBroken,
                format!(
                    "shop {shop}: payout {}'s transition {} starts from {} but the step before it ({}) ended in {}",
                    p.id,
                    w[1].id,
                    name(w[1].from_status),
                    w[0].id,
                    w[0].to_status
                ),
            ));
        }
        let forbidden = history.iter().find(|t| t.from_status.is_some_and(|from| !may_transition(from, t.to_status)));
        if let Some(t) = forbidden {
            f.push(of(
                Kind::TransitionNotAllowed,
                format!(
                    "shop {shop}: payout {}'s transition {} goes {} → {}, which the state machine does not allow",
                    p.id,
                    t.id,
                    name(t.from_status),
                    t.to_status
                ),
            ));
        }
        let last = history[history.len() - 1];
        if last.to_status != p.status {
            f.push(of(
                Kind::StatusNotLatestTransition,
                format!(
                    "shop {shop}: payout {} is {} but its latest transition ({}) went to {}",
                    p.id, p.status, last.id, last.to_status
                ),
            ));
        }
    }
}
