//! GraphQL: the read-only `audit` query and its report types.
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::{CheckSummary, Violation, service};
use crate::graphql::reads::read_db;
use crate::{
    auth::{Role, RoleGuard, guards::viewer},
    graphql::enums::{AuditCheck, ViolationKind},
    state::AppState,
};

fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// What an audit of the books found: each check's totals and every violation.
pub struct AuditReport(pub super::AuditReport);

/// What an audit of the books found: each check's totals and every violation. An audit
/// reads one consistent snapshot and writes nothing.
#[Object]
impl AuditReport {
    /// When the books were read.
    async fn audited_at(&self) -> DateTime<Utc> {
        self.0.audited_at
    }

    /// True when no check found anything.
    async fn clean(&self) -> bool {
        self.0.is_clean()
    }

    /// How many shops were audited: every shop for PLATFORM, the caller's own for ADMIN.
    async fn shops(&self) -> i32 {
        count(self.0.shops)
    }

    /// How many payouts the audited shops have.
    async fn payouts(&self) -> i32 {
        count(self.0.payouts)
    }

    /// How many ledger entries the audited shops have.
    async fn ledger_entries(&self) -> i32 {
        count(self.0.ledger_entries)
    }

    /// Every check, in a fixed order, with what it examined and how many violations it found.
    async fn checks(&self) -> Vec<AuditCheckResult> {
        self.0.checks().into_iter().map(AuditCheckResult).collect()
    }

    /// Every violation, shop by shop and check by check; empty when the books are clean.
    async fn violations(&self) -> Vec<AuditViolation> {
        self.0.violations.iter().cloned().map(AuditViolation).collect()
    }
}

/// One check's totals.
pub struct AuditCheckResult(pub CheckSummary);

/// One check's totals in an audit.
#[Object]
impl AuditCheckResult {
    /// The check.
    async fn check(&self) -> AuditCheck {
        self.0.check.into()
    }

    /// How many things it examined (what it counts is in the check's description).
    async fn checked(&self) -> i32 {
        count(self.0.checked)
    }

    /// How many violations it found.
    async fn violations(&self) -> i32 {
        count(self.0.violations)
    }
}

/// One thing wrong with the books.
pub struct AuditViolation(pub Violation);

/// One thing wrong with the books: its kind, and what it is about.
#[Object]
impl AuditViolation {
    /// What is wrong: a stable, machine-readable kind.
    async fn kind(&self) -> ViolationKind {
        self.0.kind.into()
    }

    /// The check that found it.
    async fn check(&self) -> AuditCheck {
        self.0.kind.check().into()
    }

    /// The shop whose books it is in.
    async fn shop_id(&self) -> ID {
        ID(self.0.shop_id.clone())
    }

    /// The payout it is about, if one.
    async fn payout_id(&self) -> Option<ID> {
        self.0.payout_id.map(|id| ID(id.to_string()))
    }

    /// The account it is about (quotas), if one.
    async fn account_id(&self) -> Option<ID> {
        self.0.account_id.clone().map(ID)
    }

    /// The order it is about, if one.
    async fn order_sn(&self) -> Option<&str> {
        self.0.order_sn.as_deref()
    }

    /// The ledger entry it is about, if one.
    async fn ledger_entry_id(&self) -> Option<ID> {
        self.0.ledger_entry_id.map(|id| ID(id.to_string()))
    }

    /// The day it is about (daily limits), `YYYY-MM-DD` in the shop's time zone, if one.
    async fn day(&self) -> Option<String> {
        self.0.day.map(|d| d.to_string())
    }

    /// What is wrong, for a person: names the shop and the payout, entry, order, account or
    /// day.
    async fn message(&self) -> &str {
        &self.0.message
    }
}

/// What one audit costs in the complexity budget (2000, `graphql::schema::MAX_COMPLEXITY`):
/// it reads the whole books (every shop's, for PLATFORM), so a document may ask for it once —
/// two, under aliases, are over the budget.
const AUDIT_COST: usize = 1000;

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// A read-only audit of the books: balances against the ledger, debits and refunds
    /// against payouts, applications per order, quotas, shop caps, payout histories and
    /// deadline jobs. PLATFORM audits every shop; ADMIN its own shop only.
    #[graphql(guard = "RoleGuard::new(&[Role::Platform, Role::Admin])", complexity = "AUDIT_COST + child_complexity")]
    async fn audit(&self, ctx: &Context<'_>) -> Result<AuditReport> {
        let state = ctx.data::<AppState>()?;
        let viewer = viewer(ctx)?;
        let scope = if viewer.role == Role::Platform { None } else { Some(viewer.shop_scope()?) };
        Ok(AuditReport(service::run(state.deps_on(read_db(ctx)?), scope.as_ref()).await?))
    }
}
