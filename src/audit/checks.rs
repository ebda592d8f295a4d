//! The audit's checks: pure functions over one shop's rows as loaded by [`super::repo`]. No
//! connection, no clock: everything is an argument, so each check is unit-tested alone.
//!
//! ## Limits that changed after the fact
//!
//! Quotas and shop caps are stored as they are now, without a history: a limit lowered today
//! would make yesterday's payouts look like an overshoot, and one raised today would hide
//! yesterday's. The audit reports only what certainly broke the limit *as it stands*, so a
//! lowered limit never raises a false alarm (a raised one can hide an old overshoot — the
//! price of having no history):
//!
//! - A **quota** is judged only for payouts committed at or after its `updated_at` (the last
//!   `setQuota`; clearing deletes the row, so an account without a quota is not judged). A
//!   single payout above the per-payout limit is reported when it was committed at or after
//!   that time; a day above the daily limit when its *last* quota payout was committed at or
//!   after that time — that payout was decided with the current limit and with every earlier
//!   payout of the day in its sum, so the day's total cannot exceed the limit unless a rule
//!   was broken. An account whose role is now ADMIN is not judged (an admin's payouts never
//!   use a quota; the role at the time of each payout is not recorded).
//! - A **shop cap** (`dailyCap`, `dailyBalanceCap`) is judged the same way from the shop's
//!   `updated_at`: a day is reported when its total is above the cap and its last counted
//!   payout was committed at or after that time. `updated_at` is the upper bound of the last
//!   `syncShop` the row holds, but it also moves with every ledger entry, so in practice
//!   only the days since the shop's last balance movement or sync are judged. (A
//!   `policy_updated_at` column would make this check see further back.)
//!
//! Commit times order the commits of a shop (they are serialised by the shop's lock); two
//! commits at the very same instant are taken to be in either order.
mod books;
mod history;
mod jobs;
mod ledger;
mod limits;
mod money;
mod sums;

use chrono_tz::Tz;

pub use self::books::ShopBooks;
use self::{
    history::history,
    jobs::jobs,
    ledger::ledger,
    limits::{applications, quotas, shop_caps},
    money::payout_money,
    sums::day_sums,
};
use super::Findings;
use crate::domain::shop::zone_of;

/// Runs every check over one shop's books; `default_zone` stands in for a shop time zone
/// that does not parse.
pub fn audit_shop(books: &ShopBooks, default_zone: Tz) -> Findings {
    let tz = zone_of(&books.shop.time_zone, default_zone);
    let mut f = Findings::default();
    ledger(books, &mut f);
    payout_money(books, &mut f);
    applications(books, &mut f);
    quotas(books, tz, &mut f);
    shop_caps(books, tz, &mut f);
    history(books, &mut f);
    jobs(books, &mut f);
    day_sums(books, tz, &mut f);
    f
}

#[cfg(test)]
mod tests;
