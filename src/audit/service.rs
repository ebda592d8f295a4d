//! The audit use case: read every shop's books in one read-only snapshot, shop by shop, and
//! check them. Writes nothing.
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sea_orm::ConnectionTrait;

use super::{AuditReport, checks, repo};
use crate::{
    auth::ShopScope,
    db::{self, Deps},
    error::AppResult,
};

/// Audits every shop (`only: None`, the platform's and the command line's view) or one shop
/// (an admin's), in one read-only snapshot: nothing written meanwhile is half seen.
pub async fn run(deps: Deps<'_>, only: Option<&ShopScope>) -> AppResult<AuditReport> {
    let tx = db::begin_read(deps.db).await?;
    let report = audit_in(&tx, only, deps.default_zone, deps.clock.now()).await?;
    tx.rollback().await?;
    Ok(report)
}

/// The audit over `db` as it is (a connection or a transaction the caller holds): loads one
/// shop at a time, so memory holds one shop's rows, never the whole database.
pub async fn audit_in(
    db: &impl ConnectionTrait,
    only: Option<&ShopScope>,
    default_zone: Tz,
    now: DateTime<Utc>,
) -> AppResult<AuditReport> {
    let mut report = AuditReport::new(now);
    for shop_id in repo::shop_ids(db, only).await? {
        let Some(books) = repo::books(db, &shop_id).await? else { continue };
        let findings = checks::audit_shop(&books, default_zone);
        report.add(books.payouts.len(), books.entries.len(), findings);
    }
    Ok(report)
}
