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
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use entity::{account, account_card, ledger_entry, payout, payout_transition, quota, scheduled_job, shop};

use super::{AuditCheck, Findings, Violation, ViolationKind as Kind};
use crate::domain::{
    money::Cny,
    payout::{MAX_APPLICATIONS, counts_as_application, may_start, may_transition},
    shop::zone_of,
    vocab::{AccountCardStatus, EntryKind, Fen, FundingMethod, JobKind, JobStatus, PayoutStatus, RefundStatus, Role},
};

/// One shop's rows, as the checks read them. Each list is in id order.
#[derive(Debug, Clone)]
pub struct ShopBooks {
    pub shop: shop::Model,
    pub entries: Vec<ledger_entry::Model>,
    pub payouts: Vec<payout::Model>,
    pub transitions: Vec<payout_transition::Model>,
    /// The jobs of the shop's payouts, and of its open cards.
    pub jobs: Vec<scheduled_job::Model>,
    /// The shop's open account cards.
    pub open_cards: Vec<account_card::Model>,
    pub quotas: Vec<quota::Model>,
    pub accounts: Vec<account::Model>,
}

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
    f
}

fn cny(fen: i64) -> Cny {
    Cny::from_fen(fen)
}

fn money(fen: Fen) -> Cny {
    Cny::from(fen)
}

fn local_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

fn ids(list: &[i64]) -> String {
    list.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

/// `LEDGER`: the shop's balance equals the sum of its entries (`BALANCE_MISMATCH`); neither
/// the balance nor the running sum ever goes below zero (`NEGATIVE_BALANCE`, the first time
/// only); each entry's `balance_after` is the previous entry's plus its amount
/// (`LEDGER_CHAIN_BROKEN`, per entry). Entries are in id order, which is the order they were
/// applied in (each append updates the shop row first, so appends to a shop are serialised).
fn ledger(b: &ShopBooks, f: &mut Findings) {
    let shop = &b.shop.id;
    f.count(AuditCheck::Ledger, b.entries.len());
    let (mut sum, mut previous_after) = (0i64, 0i64);
    let mut negative = false;
    for e in &b.entries {
        sum += e.amount_fen.0;
        let expected = previous_after + e.amount_fen.0;
        if e.balance_after_fen.0 != expected {
            f.push(
                Violation::new(
                    Kind::LedgerChainBroken,
                    shop,
                    format!(
                        "shop {shop}: ledger entry {} ({} {}) records a balance of {} after it, but the entry \
                         before it left {} (expected {})",
                        e.id,
                        e.kind,
                        money(e.amount_fen),
                        money(e.balance_after_fen),
                        cny(previous_after),
                        cny(expected)
                    ),
                )
                .entry(e.id),
            );
        }
        if !negative && (sum < 0 || e.balance_after_fen.0 < 0) {
            negative = true;
            f.push(
                Violation::new(
                    Kind::NegativeBalance,
                    shop,
                    format!(
                        "shop {shop}: the balance goes below zero at ledger entry {} ({})",
                        e.id,
                        cny(sum.min(e.balance_after_fen.0))
                    ),
                )
                .entry(e.id),
            );
        }
        previous_after = e.balance_after_fen.0;
    }
    if b.shop.balance_fen.0 != sum {
        f.push(Violation::new(
            Kind::BalanceMismatch,
            shop,
            format!(
                "shop {shop}: the balance is {} but its {} ledger entr{} sum to {}",
                money(b.shop.balance_fen),
                b.entries.len(),
                if b.entries.len() == 1 { "y" } else { "ies" },
                cny(sum)
            ),
        ));
    }
    if !negative && b.shop.balance_fen.0 < 0 {
        f.push(Violation::new(
            Kind::NegativeBalance,
            shop,
            format!("shop {shop}: the balance is {}", money(b.shop.balance_fen)),
        ));
    }
}

/// A payout whose money left the shop's balance: funded from the balance, deducted, and in a
/// status that follows a deduction.
fn moved_from_balance(p: &payout::Model) -> bool {
    p.funding == Some(FundingMethod::Balance)
        && p.deducted_at.is_some()
        && matches!(
            p.status,
            PayoutStatus::Paying | PayoutStatus::Succeeded | PayoutStatus::Failed | PayoutStatus::Closed
        )
}

fn describe(p: &payout::Model) -> String {
    format!(
        "status {}, funding {}, {}",
        p.status,
        p.funding.map_or("none", |m| m.as_str()),
        if p.deducted_at.is_some() { "deducted" } else { "not deducted" }
    )
}

/// `PAYOUT_MONEY`: every `PAYOUT_DEBIT` names a payout of the shop (`DEBIT_WITHOUT_PAYOUT`)
/// that moved money from the balance, for its amount (`DEBIT_MISMATCH`); each such payout
/// has exactly one debit (`MISSING_DEBIT`, `DUPLICATE_DEBIT`). Every `REFUND_CREDIT` names a
/// payout of the shop (`CREDIT_WITHOUT_PAYOUT`) that is `CLOSED` with refund `REFUNDED`, for
/// its amount (`CREDIT_MISMATCH`); each refunded payout has exactly one credit
/// (`MISSING_CREDIT`, `DUPLICATE_CREDIT`). A scan payout's money never left the balance, yet
/// rules.md returns it there when it closes: its credit has no debit, and that is right. No
/// `SUCCEEDED` payout is refunded, by its refund status or by a credit
/// (`SUCCEEDED_AND_REFUNDED`).
fn payout_money(b: &ShopBooks, f: &mut Findings) {
    let shop = &b.shop.id;
    f.count(AuditCheck::PayoutMoney, b.payouts.len());
    let by_id: HashMap<i64, &payout::Model> = b.payouts.iter().map(|p| (p.id, p)).collect();
    let mut debits: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut credits: HashMap<i64, Vec<i64>> = HashMap::new();
    for e in &b.entries {
        let (without, mismatch, found) = match e.kind {
            EntryKind::PayoutDebit => (Kind::DebitWithoutPayout, Kind::DebitMismatch, &mut debits),
            EntryKind::RefundCredit => (Kind::CreditWithoutPayout, Kind::CreditMismatch, &mut credits),
            EntryKind::Opening | EntryKind::Adjustment => continue,
        };
        let what = if e.kind == EntryKind::PayoutDebit { "debits" } else { "credits" };
        let Some(p) = e.payout_id.and_then(|id| by_id.get(&id).copied()) else {
            let whose =
                e.payout_id.map_or_else(|| "no payout".to_owned(), |id| format!("payout {id}, not one of the shop's"));
            f.push(
                Violation::new(
                    without,
                    shop,
                    format!("shop {shop}: ledger entry {} {what} {} for {whose}", e.id, money(e.amount_fen)),
                )
                .entry(e.id),
            );
            continue;
        };
        found.entry(p.id).or_default().push(e.id);
        let problem = if e.kind == EntryKind::PayoutDebit {
            if !moved_from_balance(p) {
                Some(format!("which did not move money from the balance ({})", describe(p)))
            } else if e.amount_fen != -p.amount_fen {
                Some(format!("of {}: the debit should be {}", money(p.amount_fen), money(-p.amount_fen)))
            } else {
                None
            }
        } else if p.status == PayoutStatus::Succeeded {
            None // SUCCEEDED_AND_REFUNDED, below
        } else if p.status != PayoutStatus::Closed
            || p.refund_status != RefundStatus::Refunded
            || p.deducted_at.is_none()
        {
            Some(format!("which is not a refunded closed payout ({}, refund {})", describe(p), p.refund_status))
        } else if e.amount_fen != p.amount_fen {
            Some(format!("of {}: the credit should be {}", money(p.amount_fen), money(p.amount_fen)))
        } else {
            None
        };
        if let Some(problem) = problem {
            f.push(
                Violation::new(
                    mismatch,
                    shop,
                    format!(
                        "shop {shop}: ledger entry {} {what} {} for payout {} (order {}) {problem}",
                        e.id,
                        money(e.amount_fen),
                        p.id,
                        p.order_sn
                    ),
                )
                .entry(e.id)
                .payout(p.id)
                .order(&p.order_sn),
            );
        }
    }
    for p in &b.payouts {
        let of = |kind: Kind, message: String| Violation::new(kind, shop, message).payout(p.id).order(&p.order_sn);
        let debited = debits.get(&p.id).map_or(&[][..], Vec::as_slice);
        let credited = credits.get(&p.id).map_or(&[][..], Vec::as_slice);
        let name = format!("shop {shop}: payout {} (order {}, {})", p.id, p.order_sn, money(p.amount_fen));
        if debited.len() > 1 {
            f.push(of(
                Kind::DuplicateDebit,
                format!("{name} is debited {} times: entries {}", debited.len(), ids(debited)),
            ));
        }
        if debited.is_empty() && moved_from_balance(p) {
            f.push(of(
                Kind::MissingDebit,
                format!("{name} moved money from the balance ({}) but no entry debits it", describe(p)),
            ));
        }
        if credited.len() > 1 {
            f.push(of(
                Kind::DuplicateCredit,
                format!("{name} is credited back {} times: entries {}", credited.len(), ids(credited)),
            ));
        }
        if credited.is_empty() && p.status == PayoutStatus::Closed && p.refund_status == RefundStatus::Refunded {
            f.push(of(Kind::MissingCredit, format!("{name} is CLOSED and REFUNDED but no entry credits it back")));
        }
        if p.status == PayoutStatus::Succeeded && (p.refund_status != RefundStatus::None || !credited.is_empty()) {
            f.push(of(
                Kind::SucceededAndRefunded,
                format!(
                    "{name} SUCCEEDED and was refunded as well (refund {}, {} credit(s){})",
                    p.refund_status,
                    credited.len(),
                    if credited.is_empty() { String::new() } else { format!(": entries {}", ids(credited)) }
                ),
            ));
        }
    }
}

/// `APPLICATIONS`: no order has more than [`MAX_APPLICATIONS`] payouts that count as
/// applications (`counts_as_application`: all but `REJECTED` and `RECHARGE_FAILED`).
fn applications(b: &ShopBooks, f: &mut Findings) {
    let shop = &b.shop.id;
    let mut orders: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for p in &b.payouts {
        let counted = orders.entry(p.order_sn.as_str()).or_default();
        if counts_as_application(p.status) {
            counted.push(p.id);
        }
    }
    f.count(AuditCheck::Applications, orders.len());
    for (order, counted) in orders {
        if counted.len() > MAX_APPLICATIONS as usize {
            f.push(
                Violation::new(
                    Kind::TooManyApplications,
                    shop,
                    format!(
                        "shop {shop}: order {order} has {} applications (payouts {}), more than {MAX_APPLICATIONS}",
                        counted.len(),
                        ids(&counted)
                    ),
                )
                .order(order),
            );
        }
    }
}

/// A day's committed total and when its last counted payout was committed.
#[derive(Debug, Clone, Copy, Default)]
struct DayTotal {
    fen: i64,
    last: Option<DateTime<Utc>>,
}

impl DayTotal {
    fn add(&mut self, p: &payout::Model, at: DateTime<Utc>) {
        self.fen += p.amount_fen.0;
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }

    /// Judged against a limit last changed at `since` (see the module's doc).
    fn judged_since(&self, since: DateTime<Utc>) -> bool {
        self.last.is_some_and(|l| l >= since)
    }
}

/// `QUOTAS`: no balance payout an account paid itself (`uses_quota`) is above its quota's
/// per-payout limit (`QUOTA_PER_PAYOUT_EXCEEDED`), and no day's sum of them, by commit day in
/// the shop's zone, is above its daily limit (`QUOTA_DAILY_EXCEEDED`) — judged only from the
/// quota's last change, as the module's doc explains.
fn quotas(b: &ShopBooks, tz: Tz, f: &mut Findings) {
    let shop = &b.shop.id;
    let admins: HashSet<&str> = b.accounts.iter().filter(|a| a.role == Role::Admin).map(|a| a.id.as_str()).collect();
    for q in b.quotas.iter().filter(|q| !admins.contains(q.account_id.as_str())) {
        let account = q.account_id.as_str();
        let since = q.updated_at;
        let mut days: BTreeMap<NaiveDate, DayTotal> = BTreeMap::new();
        for p in b.payouts.iter().filter(|p| p.uses_quota && p.applicant_id == account) {
            let Some(at) = p.committed_at else { continue };
            let day = local_day(at, tz);
            days.entry(day).or_default().add(p, at);
            if at >= since && p.amount_fen > q.per_payout_limit_fen {
                f.push(
                    Violation::new(
                        Kind::QuotaPerPayoutExceeded,
                        shop,
                        format!(
                            "shop {shop}: account {account} paid payout {} (order {}) of {} from the balance on {day}, \
                             above its per-payout limit {}",
                            p.id,
                            p.order_sn,
                            money(p.amount_fen),
                            money(q.per_payout_limit_fen)
                        ),
                    )
                    .account(account)
                    .payout(p.id)
                    .order(&p.order_sn)
                    .day(day),
                );
            }
        }
        for (day, total) in days {
            if !total.judged_since(since) {
                continue;
            }
            f.count(AuditCheck::Quotas, 1);
            if total.fen > q.daily_limit_fen.0 {
                f.push(
                    Violation::new(
                        Kind::QuotaDailyExceeded,
                        shop,
                        format!(
                            "shop {shop}: account {account} paid {} from the balance on {day} ({tz}), above its daily \
                             limit {}",
                            cny(total.fen),
                            money(q.daily_limit_fen)
                        ),
                    )
                    .account(account)
                    .day(day),
                );
            }
        }
    }
}

/// `SHOP_CAPS`: no day's committed payouts (by commit day in the shop's zone, every funding
/// kind, `RECHARGE_FAILED` ones not counted — rules.md "Counting") sum above the shop's
/// `dailyCap` (`SHOP_DAILY_CAP_EXCEEDED`), nor its balance-funded ones above
/// `dailyBalanceCap` (`SHOP_DAILY_BALANCE_CAP_EXCEEDED`) — judged only from the shop's last
/// change, as the module's doc explains.
fn shop_caps(b: &ShopBooks, tz: Tz, f: &mut Findings) {
    let shop = &b.shop.id;
    let since = b.shop.updated_at;
    let mut days: BTreeMap<NaiveDate, (DayTotal, DayTotal)> = BTreeMap::new();
    for p in b.payouts.iter().filter(|p| p.status != PayoutStatus::RechargeFailed) {
        let Some(at) = p.committed_at else { continue };
        let (all, balance) = days.entry(local_day(at, tz)).or_default();
        all.add(p, at);
        if p.funding == Some(FundingMethod::Balance) {
            balance.add(p, at);
        }
    }
    for (day, (all, balance)) in days {
        if !all.judged_since(since) {
            continue;
        }
        f.count(AuditCheck::ShopCaps, 1);
        let caps = [
            (all, b.shop.daily_cap_fen, Kind::ShopDailyCapExceeded, "daily cap", "committed"),
            (
                balance,
                b.shop.daily_balance_cap_fen,
                Kind::ShopDailyBalanceCapExceeded,
                "daily balance cap",
                "paid from the balance",
            ),
        ];
        for (total, cap, kind, name, what) in caps {
            if total.judged_since(since) && total.fen > cap.0 {
                f.push(
                    Violation::new(
                        kind,
                        shop,
                        format!(
                            "shop {shop}: {} {what} on {day} ({tz}), above its {name} {}",
                            cny(total.fen),
                            money(cap)
                        ),
                    )
                    .day(day),
                );
            }
        }
    }
}

/// `HISTORY`: every payout has a history (`HISTORY_MISSING`) that starts with its creation —
/// from nothing to a status a creation gives (`HISTORY_BAD_START`) — whose every step starts
/// where the previous one ended (`HISTORY_CHAIN_BROKEN`) and is allowed by the state machine
/// (`TRANSITION_NOT_ALLOWED`), and whose last step ends in the payout's status
/// (`STATUS_NOT_LATEST_TRANSITION`). Each kind is reported once per payout, at its first
/// offending step. Steps are in id order, the order they were recorded in.
fn history(b: &ShopBooks, f: &mut Findings) {
    let shop = &b.shop.id;
    f.count(AuditCheck::History, b.payouts.len());
    let mut steps: HashMap<i64, Vec<&payout_transition::Model>> = HashMap::new();
    for t in &b.transitions {
        steps.entry(t.payout_id).or_default().push(t);
    }
    let name = |s: Option<PayoutStatus>| s.map_or("none", |s| s.as_str());
    for p in &b.payouts {
        let of = |kind: Kind, message: String| Violation::new(kind, shop, message).payout(p.id).order(&p.order_sn);
        let Some(history) = steps.get(&p.id).filter(|h| !h.is_empty()) else {
            f.push(of(
                Kind::HistoryMissing,
                format!("shop {shop}: payout {} ({}) has no recorded transition", p.id, p.status),
            ));
            continue;
        };
        let first = history[0];
        if first.from_status.is_some() || !may_start(first.to_status) {
            f.push(of(
                Kind::HistoryBadStart,
                format!(
                    "shop {shop}: payout {}'s history starts with transition {} ({} → {}), not with its creation \
                     (none → PENDING_APPROVAL, PENDING_RECHARGE or PAYING)",
                    p.id,
                    first.id,
                    name(first.from_status),
                    first.to_status
                ),
            ));
        }
        if let Some(w) = history.windows(2).find(|w| w[1].from_status != Some(w[0].to_status)) {
            f.push(of(
                Kind::HistoryChainBroken,
                format!(
                    "shop {shop}: payout {}'s transition {} starts from {} but the step before it ({}) ended in {}",
                    p.id,
                    w[1].id,
                    name(w[1].from_status),
                    w[0].id,
                    w[0].to_status
                ),
            ));
        }
        let forbidden = history.iter().find(|t| t.from_status.is_some_and(|from| !may_transition(from, t.to_status)));
        if let Some(t) = forbidden {
            f.push(of(
                Kind::TransitionNotAllowed,
                format!(
                    "shop {shop}: payout {}'s transition {} goes {} → {}, which the state machine does not allow",
                    p.id,
                    t.id,
                    name(t.from_status),
                    t.to_status
                ),
            ));
        }
        let last = history[history.len() - 1];
        if last.to_status != p.status {
            f.push(of(
                Kind::StatusNotLatestTransition,
                format!(
                    "shop {shop}: payout {} is {} but its latest transition ({}) went to {}",
                    p.id, p.status, last.id, last.to_status
                ),
            ));
        }
    }
}

/// `JOBS`: every status that waits for something has the job that will end the wait.
///
/// | status | needs | kind if not |
/// |---|---|---|
/// | `PAYING` | a `DELIVER` job of any status (the transfer was handed to the channel durably) | `MISSING_DELIVER_JOB` |
/// | `PENDING_APPROVAL` | a pending `APPROVAL_EXPIRY` job | `MISSING_APPROVAL_EXPIRY_JOB` |
/// | `PENDING_RECHARGE` | a pending `RECHARGE_DEADLINE` job | `MISSING_RECHARGE_DEADLINE_JOB` |
/// | `PAYING`, `FAILED` | a pending or done `CLOSE` job | `MISSING_CLOSE_JOB` |
/// | `CLOSED`, refund `PENDING` | a pending `REFUND` job | `MISSING_REFUND_JOB` |
/// | an `OPEN` account card | a pending `CARD_EXPIRY` job | `MISSING_CARD_EXPIRY_JOB` |
///
/// "Pending" because a job runs in the transaction that ends the wait: a done job beside a
/// status still waiting for it ended nothing, and a job parked as `FAILED` never will. (A
/// done `CLOSE` is accepted, as the audit's brief asks.)
fn jobs(b: &ShopBooks, f: &mut Findings) {
    let shop = &b.shop.id;
    let mut of_payout: HashMap<i64, Vec<&scheduled_job::Model>> = HashMap::new();
    let mut of_card: HashMap<i64, Vec<&scheduled_job::Model>> = HashMap::new();
    for j in &b.jobs {
        if let Some(id) = j.payout_id {
            of_payout.entry(id).or_default().push(j);
        }
        if let Some(id) = j.card_id {
            of_card.entry(id).or_default().push(j);
        }
    }
    let has = |jobs: Option<&Vec<&scheduled_job::Model>>, kind: JobKind, statuses: &[JobStatus]| {
        jobs.is_some_and(|js| {
            js.iter().any(|j| j.kind == kind && (statuses.is_empty() || statuses.contains(&j.status)))
        })
    };
    let found = |jobs: Option<&Vec<&scheduled_job::Model>>, kind: JobKind| {
        let seen: Vec<&str> = jobs
            .map(|js| js.iter().filter(|j| j.kind == kind).map(|j| j.status.as_str()).collect())
            .unwrap_or_default();
        if seen.is_empty() { "none".to_owned() } else { seen.join(", ") }
    };
    const PENDING: &[JobStatus] = &[JobStatus::Pending];
    const ANY: &[JobStatus] = &[];
    let mut waiting = 0;
    for p in &b.payouts {
        let jobs = of_payout.get(&p.id);
        let mut needs: Vec<(JobKind, &[JobStatus], Kind, &str)> = Vec::new();
        match p.status {
            PayoutStatus::PendingApproval => {
                needs.push((JobKind::ApprovalExpiry, PENDING, Kind::MissingApprovalExpiryJob, "pending"));
            }
            PayoutStatus::PendingRecharge => {
                needs.push((JobKind::RechargeDeadline, PENDING, Kind::MissingRechargeDeadlineJob, "pending"));
            }
            PayoutStatus::Paying => {
                needs.push((JobKind::Deliver, ANY, Kind::MissingDeliverJob, "any"));
                needs.push((
                    JobKind::Close,
                    &[JobStatus::Pending, JobStatus::Done],
                    Kind::MissingCloseJob,
                    "pending or done",
                ));
            }
            PayoutStatus::Failed => {
                needs.push((
                    JobKind::Close,
                    &[JobStatus::Pending, JobStatus::Done],
                    Kind::MissingCloseJob,
                    "pending or done",
                ));
            }
            PayoutStatus::Closed if p.refund_status == RefundStatus::Pending => {
                needs.push((JobKind::Refund, PENDING, Kind::MissingRefundJob, "pending"));
            }
            _ => {}
        }
        if !needs.is_empty() {
            waiting += 1;
        }
        for (kind, statuses, violation, wanted) in needs {
            if !has(jobs, kind, statuses) {
                let refund = if p.status == PayoutStatus::Closed {
                    format!(" (refund {})", p.refund_status)
                } else {
                    String::new()
                };
                f.push(
                    Violation::new(
                        violation,
                        shop,
                        format!(
                            "shop {shop}: payout {} (order {}) is {}{refund} but has no {kind} job ({wanted}); found: {}",
                            p.id,
                            p.order_sn,
                            p.status,
                            found(jobs, kind)
                        ),
                    )
                    .payout(p.id)
                    .order(&p.order_sn),
                );
            }
        }
    }
    for card in b.open_cards.iter().filter(|c| c.status == AccountCardStatus::Open) {
        waiting += 1;
        let jobs = of_card.get(&card.id);
        if !has(jobs, JobKind::CardExpiry, PENDING) {
            f.push(
                Violation::new(
                    Kind::MissingCardExpiryJob,
                    shop,
                    format!(
                        "shop {shop}: account card {} of payout {} is OPEN but has no CARD_EXPIRY job (pending); found: {}",
                        card.id,
                        card.payout_id,
                        found(jobs, JobKind::CardExpiry)
                    ),
                )
                .payout(card.payout_id),
            );
        }
    }
    f.count(AuditCheck::Jobs, waiting);
}

#[cfg(test)]
mod tests;
