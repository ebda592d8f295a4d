//! APPLICATIONS, QUOTAS, SHOP_CAPS: the limits of rules.md on every order and day.
use super::books::*;

/// `APPLICATIONS`: no order has more than [`MAX_APPLICATIONS`] payouts that count as
/// applications (`counts_as_application`: all but `REJECTED` and `RECHARGE_FAILED`).
pub(super) fn applications(b: &ShopBooks, f: &mut Findings) {
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
pub(super) fn quotas(b: &ShopBooks, tz: Tz, f: &mut Findings) {
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
pub(super) fn shop_caps(b: &ShopBooks, tz: Tz, f: &mut Findings) {
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
