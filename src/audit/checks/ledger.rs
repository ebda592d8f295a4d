//! LEDGER: each balance equals its ledger, never negative, and the entries chain.
use super::books::*;

/// `LEDGER`: the shop's balance equals the sum of its entries (`BALANCE_MISMATCH`); neither
/// the balance nor the running sum ever goes below zero (`NEGATIVE_BALANCE`, the first time
/// only); each entry's `balance_after` is the previous entry's plus its amount
/// (`LEDGER_CHAIN_BROKEN`, per entry). Entries are in id order, which is the order they were
/// applied in (each append updates the shop row first, so appends to a shop are serialised).
pub(super) fn ledger(b: &ShopBooks, f: &mut Findings) {
    let shop = &b.shop.id;
    f.count(AuditCheck::Ledger, b.entries.len());
    let (mut sum, mut previous_after) = (0i64, 0i64);
    let mut negative = false;
    for e in &b.entries {
        sum += e.amount_fen.0;
        let expected = previous_after + e.amount_fen.0;
        if e.balance_after_fen.0 != expected {
            f.push(
                Violation::new(
                    Kind::LedgerChainBroken,
                    shop,
                    format!(
                        "shop {shop}: ledger entry {} ({} {}) records a balance of {} after it, but the entry \
                         before it left {} (expected {})",
                        e.id,
                        e.kind,
                        money(e.amount_fen),
                        money(e.balance_after_fen),
                        cny(previous_after),
                        cny(expected)
                    ),
                )
                .entry(e.id),
            );
        }
        if !negative && (sum < 0 || e.balance_after_fen.0 < 0) {
            negative = true;
            f.push(
                Violation::new(
                    Kind::NegativeBalance,
                    shop,
                    format!(
                        "shop {shop}: the balance goes below zero at ledger entry {} ({})",
                        e.id,
                        cny(sum.min(e.balance_after_fen.0))
                    ),
                )
                .entry(e.id),
            );
        }
        previous_after = e.balance_after_fen.0;
    }
    if b.shop.balance_fen.0 != sum {
        f.push(Violation::new(
            Kind::BalanceMismatch,
            shop,
            format!(
                "shop {shop}: the balance is {} but its {} ledger entr{} sum to {}",
                money(b.shop.balance_fen),
                b.entries.len(),
                if b.entries.len() == 1 { "y" } else { "ies" },
                cny(sum)
            ),
        ));
    }
    if !negative && b.shop.balance_fen.0 < 0 {
        f.push(Violation::new(
            Kind::NegativeBalance,
            shop,
            format!("shop {shop}: the balance is {}", money(b.shop.balance_fen)),
        ));
    }
}
