//! GraphQL of reports: the history's totals (`PayoutSummary`).
use async_graphql::SimpleObject;

use super::rules::{Summary, Total};
use crate::{
    domain::money::Cny,
    graphql::enums::{FundingMethod, PayoutStatus},
};

fn count(total: Total) -> i32 {
    i32::try_from(total.count).unwrap_or(i32::MAX)
}

/// Totals of every payout a filter selects (not only one page).
#[derive(SimpleObject)]
pub struct PayoutSummary {
    /// How many payouts the filter selects.
    pub count: i32,
    /// Their amounts added up, whatever their status.
    pub amount: Cny,
    /// Per status, in the enum's order; a status without payouts is left out.
    pub by_status: Vec<StatusTotal>,
    /// Per funding method, in the enum's order; payouts without one (pending approval,
    /// rejected) are in none, and a method without payouts is left out.
    pub by_funding: Vec<FundingTotal>,
}

/// The payouts of one status.
#[derive(SimpleObject)]
pub struct StatusTotal {
    /// The status.
    pub status: PayoutStatus,
    /// How many payouts have it.
    pub count: i32,
    /// Their amounts added up.
    pub amount: Cny,
}

/// The payouts funded one way.
#[derive(SimpleObject)]
pub struct FundingTotal {
    /// The funding method.
    pub funding: FundingMethod,
    /// How many payouts were funded this way.
    pub count: i32,
    /// Their amounts added up.
    pub amount: Cny,
}

impl From<Summary> for PayoutSummary {
    fn from(s: Summary) -> Self {
        PayoutSummary {
            count: count(s.all),
            amount: Cny::from_fen(s.all.amount_fen),
            by_status: s
                .by_status
                .into_iter()
                .map(|(status, t)| StatusTotal {
                    status: status.into(),
                    count: count(t),
                    amount: Cny::from_fen(t.amount_fen),
                })
                .collect(),
            by_funding: s
                .by_funding
                .into_iter()
                .map(|(funding, t)| FundingTotal {
                    funding: funding.into(),
                    count: count(t),
                    amount: Cny::from_fen(t.amount_fen),
                })
                .collect(),
        }
    }
}
