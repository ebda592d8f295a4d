//! A page of payouts (`PayoutConnection`), shared by `payouts` and `pendingApprovals`.
use async_graphql::{ComplexObject, Context, Result, SimpleObject};
use entity::payout;

use super::payout::Payout;
use crate::{
    auth::ShopScope,
    graphql::pagination::{PageInfo, encode_cursor, split_page},
    payouts::repo::HistoryFilter,
    reports::{graphql::PayoutSummary, repo, rules},
    state::AppState,
};

/// The cursor kind of payout pages.
pub const CURSOR_KIND: &str = "payout";

/// One payout of a page.
#[derive(SimpleObject)]
pub struct PayoutEdge {
    /// Pass it as `after` to get the payouts after this one.
    pub cursor: String,
    /// The payout.
    pub node: Payout,
}

/// A page of payouts.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct PayoutConnection {
    /// The payouts of this page (newest first; oldest first in pendingApprovals).
    pub edges: Vec<PayoutEdge>,
    /// Whether more payouts follow, and the cursor to fetch them.
    pub page_info: PageInfo,
    /// Payouts matching, over all pages.
    pub total_count: i32,
    /// The shop and filter the page was taken from, for `summary`.
    #[graphql(skip)]
    pub selected: (ShopScope, HistoryFilter),
}

#[ComplexObject]
impl PayoutConnection {
    /// Totals of every payout the filter selects (not only this page), per status and per
    /// funding method: one grouped query, run only when asked for.
    #[graphql(complexity = 10)]
    async fn summary(&self, ctx: &Context<'_>) -> Result<PayoutSummary> {
        let state = ctx.data::<AppState>()?;
        let (scope, filter) = &self.selected;
        let rows = repo::summary(&state.db, scope, filter).await?;
        Ok(rules::summarise(&rows).into())
    }
}

impl PayoutConnection {
    /// A page from `limit + 1` fetched rows of what `filter` selects in the shop.
    pub fn from_rows(rows: Vec<payout::Model>, limit: u64, total: u64, selected: (ShopScope, HistoryFilter)) -> Self {
        let (rows, has_next_page) = split_page(rows, limit);
        let edges: Vec<PayoutEdge> = rows
            .into_iter()
            .map(|p| PayoutEdge { cursor: encode_cursor(CURSOR_KIND, p.id), node: Payout(p) })
            .collect();
        PayoutConnection {
            page_info: PageInfo { has_next_page, end_cursor: edges.last().map(|e| e.cursor.clone()) },
            edges,
            total_count: i32::try_from(total).unwrap_or(i32::MAX),
            selected,
        }
    }
}
