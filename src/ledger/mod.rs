//! The shop balance ledger: append-only entries; the shop's balance is their sum and never
//! goes below zero.
pub mod repo;

/// What moved the balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Opening,
    PayoutDebit,
    RefundCredit,
    Adjustment,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Opening => "OPENING",
            EntryKind::PayoutDebit => "PAYOUT_DEBIT",
            EntryKind::RefundCredit => "REFUND_CREDIT",
            EntryKind::Adjustment => "ADJUSTMENT",
        }
    }
}
