//! A page of payouts (`PayoutConnection`), shared by `payouts` and `pendingApprovals`.
use async_graphql::{ComplexObject, Context, Result, SimpleObject};
use entity::payout;

use super::payout::Payout;
use crate::graphql::reads::read_db;
use crate::{
    auth::ShopScope,
    graphql::pagination::{CursorKind, ListConnection, connection},
    keyset::Page,
    payouts::repo::HistoryFilter,
    reports::{graphql::PayoutSummary, repo, rules},
};

/// The cursor kind of payout pages (the history's and the pending list's: both keyed by the
/// payout id).
pub const CURSOR_KIND: CursorKind = CursorKind::Payout;

/// A page of payouts (newest first; oldest first in pendingApprovals).
pub type PayoutConnection = ListConnection<Payout, PayoutListFields>;

/// `PayoutConnection`'s fields beside `edges` and `pageInfo`.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct PayoutListFields {
    /// Payouts matching, over all pages.
    pub total_count: i32,
    /// The shop and filter the page was taken from, for `summary`.
    #[graphql(skip)]
    pub selected: (ShopScope, HistoryFilter),
}

#[ComplexObject]
impl PayoutListFields {
    /// Totals of every payout the filter selects (not only this page), per status and per
    /// funding method: one grouped query, run only when asked for.
    #[graphql(complexity = 10)]
    async fn summary(&self, ctx: &Context<'_>) -> Result<PayoutSummary> {
        let (scope, filter) = &self.selected;
        let rows = repo::summary(read_db(ctx)?, scope, filter).await?;
        Ok(rules::summarise(&rows).into())
    }
}

/// The connection of a page of what `filter` selects in the shop, `total` of them.
pub fn payout_connection(
    page: Page<payout::Model>,
    total: u64,
    selected: (ShopScope, HistoryFilter),
) -> PayoutConnection {
    let fields = PayoutListFields { total_count: i32::try_from(total).unwrap_or(i32::MAX), selected };
    connection(page, CURSOR_KIND, |p| p.id, Payout, fields)
}
