//! DAY_SUMS: the kept sums the limits read are what the payouts add up to.
use super::books::*;
use crate::payouts::totals;

/// `DAY_SUMS`: every quarter hour's kept sums (`commit_buckets`: the shop's total, its
/// balance-funded part, and each applicant's quota usage) equal what the shop's payouts
/// committed in that quarter hour add up to (`totals::expected`, the same shares every write
/// adds). A kept sum that is too low would let a cap or a quota pass that should not (the
/// `SHOP_CAPS` and `QUOTAS` checks, which sum the payouts themselves, then find the overshoot);
/// one too high refuses payouts the rules allow, which only this check sees. A stored row of
/// zeros is the same as no row. `DAY_SUM_MISMATCH`, with the account (none for the shop's own
/// row) and the quarter hour's day in the shop's zone.
pub(super) fn day_sums(b: &ShopBooks, tz: Tz, f: &mut Findings) {
    let shop = &b.shop.id;
    let expected = totals::expected(&b.payouts);
    let mut stored: HashMap<(&str, i64), [i64; 3]> = HashMap::new();
    for row in &b.buckets {
        let amounts = [row.paid_fen.0, row.balance_fen.0, row.quota_fen.0];
        if amounts != [0; 3] {
            stored.insert((row.account_id.as_str(), row.bucket), amounts);
        }
    }
    let keys: BTreeSet<(&str, i64)> = expected.keys().chain(stored.keys()).copied().collect();
    f.count(AuditCheck::DaySums, keys.len());
    for (account, bucket) in keys {
        let kept = stored.get(&(account, bucket)).copied().unwrap_or_default();
        let sums = expected.get(&(account, bucket)).copied().unwrap_or_default();
        if kept == sums {
            continue;
        }
        let start = DateTime::<Utc>::from_timestamp(bucket, 0).unwrap_or_default();
        let whose = if account.is_empty() { "the shop's".to_owned() } else { format!("account {account}'s") };
        let show = |[paid, balance, quota]: [i64; 3]| {
            format!("paid {}, from the balance {}, of quota {}", cny(paid), cny(balance), cny(quota))
        };
        let mut v = Violation::new(
            Kind::DaySumMismatch,
            shop,
            format!(
                "shop {shop}: {whose} kept sums of the quarter hour from {} are {}; its payouts add up to {}",
                start.to_rfc3339(),
                show(kept),
                show(sums)
            ),
        )
        .day(local_day(start, tz));
        if !account.is_empty() {
            v = v.account(account);
        }
        f.push(v);
    }
}
