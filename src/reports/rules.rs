//! Pure report arithmetic: folding grouped rows into totals. No database, no GraphQL.
use crate::domain::vocab::{FundingMethod, PayoutStatus};

/// The payouts of one (status, funding) pair the filter selects: how many, and their amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryRow {
    pub status: PayoutStatus,
    pub funding: Option<FundingMethod>,
    pub count: i64,
    pub amount_fen: i64,
}

/// A count and an amount in fen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Total {
    pub count: i64,
    pub amount_fen: i64,
}

impl Total {
    fn add(&mut self, count: i64, amount_fen: i64) {
        self.count = self.count.saturating_add(count);
        self.amount_fen = self.amount_fen.saturating_add(amount_fen);
    }
}

/// The filter's totals: overall, per status and per funding method (each in declaration
/// order, only those with payouts; a payout without funding counts in no funding group).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub all: Total,
    pub by_status: Vec<(PayoutStatus, Total)>,
    pub by_funding: Vec<(FundingMethod, Total)>,
}

pub fn summarise(rows: &[SummaryRow]) -> Summary {
    let mut summary = Summary::default();
    for row in rows {
        summary.all.add(row.count, row.amount_fen);
    }
    summary.by_status = PayoutStatus::ALL
        .iter()
        .filter_map(|&status| {
            let mut total = Total::default();
            rows.iter().filter(|r| r.status == status).for_each(|r| total.add(r.count, r.amount_fen));
            (total.count > 0).then_some((status, total))
        })
        .collect();
    summary.by_funding = FundingMethod::ALL
        .iter()
        .filter_map(|&funding| {
            let mut total = Total::default();
            rows.iter().filter(|r| r.funding == Some(funding)).for_each(|r| total.add(r.count, r.amount_fen));
            (total.count > 0).then_some((funding, total))
        })
        .collect();
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: PayoutStatus, funding: Option<FundingMethod>, count: i64, amount_fen: i64) -> SummaryRow {
        SummaryRow { status, funding, count, amount_fen }
    }

    #[test]
    fn groups_add_up_per_status_and_per_funding() {
        use FundingMethod::*;
        use PayoutStatus::*;
        let rows = [
            row(Succeeded, Some(Balance), 2, 300),
            row(Succeeded, Some(WechatScan), 1, 150),
            row(PendingApproval, None, 1, 99),
            row(Paying, Some(Balance), 3, 1),
        ];
        let s = summarise(&rows);
        assert_eq!(s.all, Total { count: 7, amount_fen: 550 });
        assert_eq!(
            s.by_status,
            vec![
                (PendingApproval, Total { count: 1, amount_fen: 99 }),
                (Paying, Total { count: 3, amount_fen: 1 }),
                (Succeeded, Total { count: 3, amount_fen: 450 }),
            ]
        );
        assert_eq!(
            s.by_funding,
            vec![(Balance, Total { count: 5, amount_fen: 301 }), (WechatScan, Total { count: 1, amount_fen: 150 })],
            "the request without funding is in no funding group"
        );
        assert_eq!(summarise(&[]), Summary::default());
    }
}
