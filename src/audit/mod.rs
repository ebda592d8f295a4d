//! The audit: a read-only check of the books as a whole, for `smallpay audit` and the
//! `audit` query. Every invariant rules.md states about money, limits, histories and
//! deadlines is checked over what is stored, shop by shop (one snapshot, one shop's rows in
//! memory at a time):
//!
//! | check | kinds |
//! |---|---|
//! | `LEDGER` | `BALANCE_MISMATCH`, `NEGATIVE_BALANCE`, `LEDGER_CHAIN_BROKEN` |
//! | `PAYOUT_MONEY` | `DEBIT_WITHOUT_PAYOUT`, `DEBIT_MISMATCH`, `DUPLICATE_DEBIT`, `MISSING_DEBIT`, `CREDIT_WITHOUT_PAYOUT`, `CREDIT_MISMATCH`, `DUPLICATE_CREDIT`, `MISSING_CREDIT`, `SUCCEEDED_AND_REFUNDED` |
//! | `APPLICATIONS` | `TOO_MANY_APPLICATIONS` |
//! | `QUOTAS` | `QUOTA_PER_PAYOUT_EXCEEDED`, `QUOTA_DAILY_EXCEEDED` |
//! | `SHOP_CAPS` | `SHOP_DAILY_CAP_EXCEEDED`, `SHOP_DAILY_BALANCE_CAP_EXCEEDED` |
//! | `HISTORY` | `HISTORY_MISSING`, `HISTORY_BAD_START`, `HISTORY_CHAIN_BROKEN`, `TRANSITION_NOT_ALLOWED`, `STATUS_NOT_LATEST_TRANSITION` |
//! | `JOBS` | `MISSING_DELIVER_JOB`, `MISSING_APPROVAL_EXPIRY_JOB`, `MISSING_RECHARGE_DEADLINE_JOB`, `MISSING_CLOSE_JOB`, `MISSING_REFUND_JOB`, `MISSING_CARD_EXPIRY_JOB` |
//! | `DAY_SUMS` | `DAY_SUM_MISMATCH` |
//!
//! [`checks`] holds the checks, pure functions over one shop's loaded rows (what each kind
//! means, and how limits changed after the fact are judged, is documented there); [`repo`]
//! the queries that load them; [`service`] the use case; [`graphql`] the query.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};

pub use crate::domain::vocab::{AuditCheck, ViolationKind};

pub mod checks;
pub mod graphql;
pub mod repo;
pub mod service;

/// One thing wrong with the books, with what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    pub shop_id: String,
    pub payout_id: Option<i64>,
    pub account_id: Option<String>,
    pub order_sn: Option<String>,
    pub ledger_entry_id: Option<i64>,
    /// The calendar day in the shop's time zone, for the daily limits.
    pub day: Option<NaiveDate>,
    /// For a person: names the shop and the payout, entry, order, account or day.
    pub message: String,
}

impl Violation {
    pub fn new(kind: ViolationKind, shop_id: &str, message: String) -> Self {
        Violation {
            kind,
            shop_id: shop_id.to_owned(),
            payout_id: None,
            account_id: None,
            order_sn: None,
            ledger_entry_id: None,
            day: None,
            message,
        }
    }

    pub fn payout(mut self, id: i64) -> Self {
        self.payout_id = Some(id);
        self
    }

    pub fn account(mut self, id: &str) -> Self {
        self.account_id = Some(id.to_owned());
        self
    }

    pub fn order(mut self, sn: &str) -> Self {
        self.order_sn = Some(sn.to_owned());
        self
    }

    pub fn entry(mut self, id: i64) -> Self {
        self.ledger_entry_id = Some(id);
        self
    }

    pub fn day(mut self, day: NaiveDate) -> Self {
        self.day = Some(day);
        self
    }
}

/// What the checks found in one shop, and how much each examined.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub violations: Vec<Violation>,
    pub checked: BTreeMap<AuditCheck, u64>,
}

impl Findings {
    /// `n` more things examined by `check`.
    pub fn count(&mut self, check: AuditCheck, n: usize) {
        *self.checked.entry(check).or_default() += u64::try_from(n).unwrap_or(u64::MAX);
    }

    pub fn push(&mut self, v: Violation) {
        self.violations.push(v);
    }
}

/// One check's totals: how many things it examined (in [`AuditCheck::unit`]) and how many
/// violations it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckSummary {
    pub check: AuditCheck,
    pub checked: u64,
    pub violations: u64,
}

/// What an audit found.
#[derive(Debug, Clone)]
pub struct AuditReport {
    /// When the books were read.
    pub audited_at: DateTime<Utc>,
    pub shops: u64,
    pub payouts: u64,
    pub ledger_entries: u64,
    checked: BTreeMap<AuditCheck, u64>,
    /// Shop by shop, check by check.
    pub violations: Vec<Violation>,
}

impl AuditReport {
    pub fn new(audited_at: DateTime<Utc>) -> Self {
        AuditReport {
            audited_at,
            shops: 0,
            payouts: 0,
            ledger_entries: 0,
            checked: BTreeMap::new(),
            violations: Vec::new(),
        }
    }

    /// Adds one shop's findings, and how many payouts and ledger entries it has.
    pub fn add(&mut self, payouts: usize, ledger_entries: usize, findings: Findings) {
        self.shops += 1;
        self.payouts += u64::try_from(payouts).unwrap_or(u64::MAX);
        self.ledger_entries += u64::try_from(ledger_entries).unwrap_or(u64::MAX);
        for (check, n) in findings.checked {
            *self.checked.entry(check).or_default() += n;
        }
        self.violations.extend(findings.violations);
    }

    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// Every check, in [`AuditCheck::ALL`] order.
    pub fn checks(&self) -> Vec<CheckSummary> {
        AuditCheck::ALL
            .iter()
            .map(|&check| CheckSummary {
                check,
                checked: self.checked.get(&check).copied().unwrap_or(0),
                violations: u64::try_from(self.violations.iter().filter(|v| v.kind.check() == check).count())
                    .unwrap_or(u64::MAX),
            })
            .collect()
    }

    /// The report as `smallpay audit` prints it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "smallpay audit at {}: {} shop(s), {} payout(s), {} ledger entr{}",
            self.audited_at.to_rfc3339(),
            self.shops,
            self.payouts,
            self.ledger_entries,
            if self.ledger_entries == 1 { "y" } else { "ies" }
        );
        let _ = writeln!(out);
        for c in self.checks() {
            let _ = writeln!(
                out,
                "  {:<14} {:>8} {:<32} {:>6} violation(s)",
                c.check.as_str(),
                c.checked,
                c.check.unit(),
                c.violations
            );
        }
        let _ = writeln!(out);
        if self.is_clean() {
            let _ = writeln!(out, "clean: no violations");
        } else {
            let _ = writeln!(out, "{} violation(s):", self.violations.len());
            for v in &self.violations {
                let _ = writeln!(out, "  {:<32} {}", v.kind.as_str(), v.message);
            }
        }
        out
    }
}
