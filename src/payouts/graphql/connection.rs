//! A page of payouts (`PayoutConnection`), shared by `payouts` and `pendingApprovals`.
use async_graphql::SimpleObject;
use entity::payout;

use super::payout::Payout;
use crate::graphql::pagination::{PageInfo, encode_cursor, split_page};

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
pub struct PayoutConnection {
    /// The payouts of this page (newest first; oldest first in pendingApprovals).
    pub edges: Vec<PayoutEdge>,
    /// Whether more payouts follow, and the cursor to fetch them.
    pub page_info: PageInfo,
    /// Payouts matching, over all pages.
    pub total_count: i32,
}

impl PayoutConnection {
    /// A page from `limit + 1` fetched rows.
    pub fn from_rows(rows: Vec<payout::Model>, limit: u64, total: u64) -> Self {
        let (rows, has_next_page) = split_page(rows, limit);
        let edges: Vec<PayoutEdge> = rows
            .into_iter()
            .map(|p| PayoutEdge { cursor: encode_cursor(CURSOR_KIND, p.id), node: Payout(p) })
            .collect();
        PayoutConnection {
            page_info: PageInfo { has_next_page, end_cursor: edges.last().map(|e| e.cursor.clone()) },
            edges,
            total_count: i32::try_from(total).unwrap_or(i32::MAX),
        }
    }
}
