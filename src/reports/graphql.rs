//! GraphQL of reports: the history's totals (`PayoutSummary`) and `accountDailyReport`.
use async_graphql::{Context, ID, Object, Result, SimpleObject};
use entity::account;

use super::{
    rules::{self, Summary, Total},
    service,
};
use crate::graphql::reads::read_db;
use crate::{
    accounts::graphql::Account,
    auth::{RoleGuard, guards::viewer},
    domain::money::Cny,
    graphql::{
        enums::{FundingMethod, PayoutStatus, PayoutType},
        scalars::Day,
    },
    state::AppState,
    validate,
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

#[derive(Default)]
pub struct ReportsQuery;

#[Object]
impl ReportsQuery {
    /// Each account's days from `from` to `to` (both included, days of the shop's time zone,
    /// at most 93), by day then account; days without activity are left out. ADMIN reads
    /// every account of its shop, or `accountId`'s; other merchant roles only their own
    /// (another account's id is FORBIDDEN). Merchant roles.
    #[graphql(guard = "RoleGuard::merchant()", complexity = "50 + 10 * child_complexity")]
    async fn account_daily_report(
        &self,
        ctx: &Context<'_>,
        from: Day,
        to: Day,
        account_id: Option<ID>,
    ) -> Result<Vec<AccountDay>> {
        let state = ctx.data::<AppState>()?;
        let account_id = account_id.as_deref().map(|a| validate::text("accountId", a, 128)).transpose()?;
        let days = service::account_days(state.deps_on(read_db(ctx)?), viewer(ctx)?, from.0, to.0, account_id).await?;
        Ok(days.into_iter().map(|(account, day)| AccountDay { account, day }).collect())
    }
}

/// One account's day in the shop's time zone (rules.md "Reports"): what it paid and how, what
/// it asked the admin for and how that ended, and its quota that day.
pub struct AccountDay {
    account: account::Model,
    day: rules::AccountDay,
}

/// One account's day in the shop's time zone (rules.md "Reports"): what it paid and how, what
/// it asked the admin for and how that ended, and its quota that day.
#[Object]
impl AccountDay {
    /// The account.
    async fn account(&self) -> Account {
        Account(self.account.clone())
    }

    /// The calendar day, in the shop's time zone.
    async fn day(&self) -> Day {
        Day(self.day.day)
    }

    /// Its payouts committed this day (the day the limits count them on; a request the admin
    /// approved counts for its applicant on the approval's day). RECHARGE_FAILED ones are not
    /// counted, as the limits do not count them.
    async fn payouts(&self) -> i32 {
        int(self.day.report.payouts)
    }

    /// The amount of those payouts.
    async fn amount(&self) -> Cny {
        Cny::from_fen(self.day.report.amount)
    }

    /// The part of `amount` paid from the shop's balance.
    async fn from_balance(&self) -> Cny {
        Cny::from_fen(self.day.report.from_balance)
    }

    /// The part of `amount` paid by scanning (WeChat or Alipay).
    async fn by_scan(&self) -> Cny {
        Cny::from_fen(self.day.report.by_scan)
    }

    /// Those payouts per type, in the enum's order; a type without payouts is left out.
    async fn by_type(&self) -> Vec<TypeTotal> {
        self.day
            .report
            .by_type
            .iter()
            .map(|&(kind, t)| TypeTotal { kind: kind.into(), count: count(t), amount: Cny::from_fen(t.amount_fen) })
            .collect()
    }

    /// Approval requests it made this day.
    async fn requested(&self) -> i32 {
        int(self.day.report.requested)
    }

    /// Of this day's requests, those the admin approved (whenever it decided).
    async fn approved(&self) -> i32 {
        int(self.day.report.approved)
    }

    /// Of this day's requests, those the admin rejected (whenever it decided).
    async fn rejected(&self) -> i32 {
        int(self.day.report.rejected)
    }

    /// Of this day's requests, those nobody decided within 7 days.
    async fn expired(&self) -> i32 {
        int(self.day.report.expired)
    }

    /// The per-payout limit of its quota in force at the day's end; null without a quota.
    /// Quota changes are recorded from the release that added this report on: a day before
    /// the account's first recorded change shows its current limits.
    async fn quota_per_payout(&self) -> Option<Cny> {
        self.day.report.limits.map(|(per_payout, _)| Cny::from_fen(per_payout))
    }

    /// The daily limit of its quota in force at the day's end; null without a quota. A day
    /// before the account's first recorded change shows its current limits.
    async fn quota_daily(&self) -> Option<Cny> {
        self.day.report.limits.map(|(_, daily)| Cny::from_fen(daily))
    }

    /// What `usedToday` showed at the day's end: its own balance payouts committed that day
    /// (the same kept sums the quota limit reads).
    async fn quota_used(&self) -> Cny {
        Cny::from_fen(self.day.report.quota_used)
    }

    /// Refunds of its closed payouts credited to the shop's balance this day.
    async fn refunded(&self) -> Cny {
        Cny::from_fen(self.day.report.refunded)
    }
}

fn int(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The payouts of one type.
#[derive(SimpleObject)]
pub struct TypeTotal {
    /// The type.
    #[graphql(name = "type")]
    pub kind: PayoutType,
    /// How many payouts of it.
    pub count: i32,
    /// Their amounts added up.
    pub amount: Cny,
}
