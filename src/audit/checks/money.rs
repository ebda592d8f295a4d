//! PAYOUT_MONEY: every debit and refund credit belongs to one payout that moved that money.
use super::books::*;

/// A payout whose money left the shop's balance: funded from the balance, deducted, and in a
/// status that follows a deduction.
fn moved_from_balance(p: &payout::Model) -> bool {
    p.funding == Some(FundingMethod::Balance)
        && p.deducted_at.is_some()
        && matches!(
            p.status,
            PayoutStatus::Paying | PayoutStatus::Succeeded | PayoutStatus::Failed | PayoutStatus::Closed
        )
}

fn describe(p: &payout::Model) -> String {
    format!(
        "status {}, funding {}, {}",
        p.status,
        p.funding.map_or("none", |m| m.as_str()),
        if p.deducted_at.is_some() { "deducted" } else { "not deducted" }
    )
}

/// `PAYOUT_MONEY`: every `PAYOUT_DEBIT` names a payout of the shop (`DEBIT_WITHOUT_PAYOUT`)
/// that moved money from the balance, for its amount (`DEBIT_MISMATCH`); each such payout
/// has exactly one debit (`MISSING_DEBIT`, `DUPLICATE_DEBIT`). Every `REFUND_CREDIT` names a
/// payout of the shop (`CREDIT_WITHOUT_PAYOUT`) that is `CLOSED` with refund `REFUNDED`, for
/// its amount (`CREDIT_MISMATCH`); each refunded payout has exactly one credit
/// (`MISSING_CREDIT`, `DUPLICATE_CREDIT`). A scan payout's money never left the balance, yet
/// rules.md returns it there when it closes: its credit has no debit, and that is right. No
/// `SUCCEEDED` payout is refunded, by its refund status or by a credit
/// (`SUCCEEDED_AND_REFUNDED`).
pub(super) fn payout_money(b: &ShopBooks, f: &mut Findings) {
    let shop = &b.shop.id;
    f.count(AuditCheck::PayoutMoney, b.payouts.len());
    let by_id: HashMap<i64, &payout::Model> = b.payouts.iter().map(|p| (p.id, p)).collect();
    let mut debits: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut credits: HashMap<i64, Vec<i64>> = HashMap::new();
    for e in &b.entries {
        let (without, mismatch, found) = match e.kind {
            EntryKind::PayoutDebit => (Kind::DebitWithoutPayout, Kind::DebitMismatch, &mut debits),
            EntryKind::RefundCredit => (Kind::CreditWithoutPayout, Kind::CreditMismatch, &mut credits),
            EntryKind::Opening | EntryKind::Adjustment => continue,
        };
        let what = if e.kind == EntryKind::PayoutDebit { "debits" } else { "credits" };
        let Some(p) = e.payout_id.and_then(|id| by_id.get(&id).copied()) else {
            let whose =
                e.payout_id.map_or_else(|| "no payout".to_owned(), |id| format!("payout {id}, not one of the shop's"));
            f.push(
                Violation::new(
                    without,
                    shop,
                    format!("shop {shop}: ledger entry {} {what} {} for {whose}", e.id, money(e.amount_fen)),
                )
                .entry(e.id),
            );
            continue;
        };
        found.entry(p.id).or_default().push(e.id);
        let problem = if e.kind == EntryKind::PayoutDebit {
            if !moved_from_balance(p) {
                Some(format!("which did not move money from the balance ({})", describe(p)))
            } else if e.amount_fen != -p.amount_fen {
                Some(format!("of {}: the debit should be {}", money(p.amount_fen), money(-p.amount_fen)))
            } else {
                None
            }
        } else if p.status == PayoutStatus::Succeeded {
            None // SUCCEEDED_AND_REFUNDED, below
        } else if p.status != PayoutStatus::Closed
            || p.refund_status != RefundStatus::Refunded
            || p.deducted_at.is_none()
        {
            Some(format!("which is not a refunded closed payout ({}, refund {})", describe(p), p.refund_status))
        } else if e.amount_fen != p.amount_fen {
            Some(format!("of {}: the credit should be {}", money(p.amount_fen), money(p.amount_fen)))
        } else {
            None
        };
        if let Some(problem) = problem {
            f.push(
                Violation::new(
                    mismatch,
                    shop,
                    format!(
                        "shop {shop}: ledger entry {} {what} {} for payout {} (order {}) {problem}",
                        e.id,
                        money(e.amount_fen),
                        p.id,
                        p.order_sn
                    ),
                )
                .entry(e.id)
                .payout(p.id)
                .order(&p.order_sn),
            );
        }
    }
    for p in &b.payouts {
        let of = |kind: Kind, message: String| Violation::new(kind, shop, message).payout(p.id).order(&p.order_sn);
        let debited = debits.get(&p.id).map_or(&[][..], Vec::as_slice);
        let credited = credits.get(&p.id).map_or(&[][..], Vec::as_slice);
        let name = format!("shop {shop}: payout {} (order {}, {})", p.id, p.order_sn, money(p.amount_fen));
        if debited.len() > 1 {
            f.push(of(
                Kind::DuplicateDebit,
                format!("{name} is debited {} times: entries {}", debited.len(), ids(debited)),
            ));
        }
        if debited.is_empty() && moved_from_balance(p) {
            f.push(of(
                Kind::MissingDebit,
                format!("{name} moved money from the balance ({}) but no entry debits it", describe(p)),
            ));
        }
        if credited.len() > 1 {
            f.push(of(
                Kind::DuplicateCredit,
                format!("{name} is credited back {} times: entries {}", credited.len(), ids(credited)),
            ));
        }
        if credited.is_empty() && p.status == PayoutStatus::Closed && p.refund_status == RefundStatus::Refunded {
            f.push(of(Kind::MissingCredit, format!("{name} is CLOSED and REFUNDED but no entry credits it back")));
        }
        if p.status == PayoutStatus::Succeeded && (p.refund_status != RefundStatus::None || !credited.is_empty()) {
            f.push(of(
                Kind::SucceededAndRefunded,
                format!(
                    "{name} SUCCEEDED and was refunded as well (refund {}, {} credit(s){})",
                    p.refund_status,
                    credited.len(),
                    if credited.is_empty() { String::new() } else { format!(": entries {}", ids(credited)) }
                ),
            ));
        }
    }
}
