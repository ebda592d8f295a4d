//! The checks over hand-made books: clean books pass, and each corruption is reported with
//! its kind only. (The API tests plant the same corruptions in real databases.)
use chrono::{TimeDelta, TimeZone};

use super::{books::*, *};
use crate::domain::vocab::ActorKind;

fn t0() -> DateTime<Utc> {
    // 12:00 in Shanghai.
    Utc.with_ymd_and_hms(2026, 11, 26, 4, 0, 0).unwrap()
}

fn zone() -> Tz {
    "Asia/Shanghai".parse().unwrap()
}

fn shop(balance: i64) -> shop::Model {
    shop::Model {
        id: "s1".into(),
        name: "S".into(),
        zero_entry: false,
        deposit_paid: true,
        has_unpaid_bills: false,
        time_zone: "Asia/Shanghai".into(),
        daily_cap_fen: Fen(5000_00),
        daily_balance_cap_fen: Fen(2000_00),
        max_amount_regular_fen: Fen(200_00),
        max_amount_activity_fen: Fen(50_00),
        balance_fen: Fen(balance),
        payout_count: 0,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn entry(id: i64, kind: EntryKind, amount: i64, after: i64, payout_id: Option<i64>) -> ledger_entry::Model {
    ledger_entry::Model {
        id,
        shop_id: "s1".into(),
        kind,
        amount_fen: Fen(amount),
        balance_after_fen: Fen(after),
        payout_id,
        reference: None,
        at: t0(),
    }
}

fn payout(id: i64, order: &str, amount: i64, status: PayoutStatus, funding: Option<FundingMethod>) -> payout::Model {
    let committed = funding.map(|_| t0());
    payout::Model {
        id,
        shop_id: "s1".into(),
        order_sn: order.into(),
        goods_id: "G".into(),
        buyer_id: "b".into(),
        r#type: entity::vocab::PayoutType::Other,
        amount_fen: Fen(amount),
        reason: "r".into(),
        message: "m".into(),
        approval_note: None,
        status,
        funding,
        applicant_id: "admin".into(),
        approver_id: None,
        uses_quota: funding == Some(FundingMethod::Balance),
        reject_reason: None,
        created_at: t0(),
        committed_at: committed,
        deducted_at: committed
            .filter(|_| !matches!(status, PayoutStatus::PendingRecharge | PayoutStatus::RechargeFailed)),
        succeeded_at: None,
        failure_kind: None,
        failure_reason: None,
        qr_payload: None,
        recharge_deadline: None,
        channel_txn_id: None,
        closed_at: None,
        refund_status: RefundStatus::None,
        refund_due_at: None,
        refunded_at: None,
        updated_at: t0(),
        transfer_key: None,
    }
}

fn step(id: i64, payout_id: i64, from: Option<PayoutStatus>, to: PayoutStatus) -> payout_transition::Model {
    payout_transition::Model {
        id,
        payout_id,
        shop_id: "s1".into(),
        order_sn: "O".into(),
        applicant_id: "admin".into(),
        from_status: from,
        to_status: to,
        at: t0(),
        actor: "admin".into(),
        actor_kind: ActorKind::Merchant,
        note: None,
    }
}

fn job(
    id: i64,
    kind: JobKind,
    payout_id: Option<i64>,
    card_id: Option<i64>,
    status: JobStatus,
) -> scheduled_job::Model {
    scheduled_job::Model {
        id,
        kind,
        payout_id,
        card_id,
        due_at: t0(),
        status,
        attempts: 0,
        last_error: None,
        created_at: t0(),
        done_at: None,
    }
}

/// A shop opened with 100.00 that paid payout 1 (8.00, balance, SUCCEEDED), has payout 2
/// (5.00, scan, closed and refunded: a credit without a debit) and request 3 pending.
fn books() -> ShopBooks {
    use PayoutStatus::*;
    let mut refunded = payout(2, "O-2", 5_00, Closed, Some(FundingMethod::WechatScan));
    refunded.refund_status = RefundStatus::Refunded;
    refunded.uses_quota = false;
    let mut books = ShopBooks {
        shop: shop(97_00),
        entries: vec![
            entry(1, EntryKind::Opening, 100_00, 100_00, None),
            entry(2, EntryKind::PayoutDebit, -8_00, 92_00, Some(1)),
            entry(3, EntryKind::RefundCredit, 5_00, 97_00, Some(2)),
        ],
        payouts: vec![
            payout(1, "O-1", 8_00, Succeeded, Some(FundingMethod::Balance)),
            refunded,
            payout(3, "O-3", 4_00, PendingApproval, None),
        ],
        transitions: vec![
            step(1, 1, None, Paying),
            step(2, 1, Some(Paying), Succeeded),
            step(3, 2, None, PendingRecharge),
            step(4, 2, Some(PendingRecharge), Paying),
            step(5, 2, Some(Paying), Closed),
            step(6, 3, None, PendingApproval),
        ],
        jobs: vec![
            job(1, JobKind::Close, Some(1), None, JobStatus::Pending),
            job(2, JobKind::Close, Some(2), None, JobStatus::Done),
            job(3, JobKind::Refund, Some(2), None, JobStatus::Done),
            job(4, JobKind::ApprovalExpiry, Some(3), None, JobStatus::Pending),
        ],
        open_cards: vec![],
        quotas: vec![],
        accounts: vec![],
        buckets: Vec::new(),
    };
    books.buckets = kept(&books.payouts);
    books
}

/// The day sums every write would have kept for `payouts`.
fn kept(payouts: &[payout::Model]) -> Vec<commit_bucket::Model> {
    crate::payouts::totals::expected(payouts)
        .into_iter()
        .map(|((account, bucket), [paid, balance, quota])| commit_bucket::Model {
            shop_id: "s1".into(),
            account_id: account.into(),
            bucket,
            paid_fen: Fen(paid),
            balance_fen: Fen(balance),
            quota_fen: Fen(quota),
        })
        .collect()
}

/// The kinds the audit finds in `b`, its day sums kept in step with its payouts (as every
/// write keeps them): each test plants one corruption of its own.
fn kinds(b: &ShopBooks) -> Vec<&'static str> {
    let mut b = b.clone();
    b.buckets = kept(&b.payouts);
    audit_shop(&b, zone()).violations.iter().map(|v| v.kind.as_str()).collect()
}

#[test]
fn clean_books_pass_and_a_scan_refund_needs_no_debit() {
    let f = audit_shop(&books(), zone());
    assert_eq!(f.violations, vec![]);
    assert_eq!(f.checked[&AuditCheck::Ledger], 3);
    assert_eq!(f.checked[&AuditCheck::Applications], 3);
    assert_eq!(f.checked[&AuditCheck::Jobs], 1);
    // The shop's quarter hour of 12:00 (payouts 1 and 2) and admin's quota in it (payout 1).
    assert_eq!(f.checked[&AuditCheck::DaySums], 2);
}

#[test]
fn day_sums_are_what_the_payouts_add_up_to() {
    let clean = books();
    let day_sums = |b: &ShopBooks| -> Vec<(Option<String>, String)> {
        audit_shop(b, zone())
            .violations
            .into_iter()
            .filter(|v| v.kind == Kind::DaySumMismatch)
            .map(|v| {
                assert_eq!(v.day.map(|d| d.to_string()).as_deref(), Some("2026-11-26"));
                (v.account_id, v.message)
            })
            .collect()
    };
    let shop_row = |b: &mut ShopBooks| b.buckets.iter_mut().find(|r| r.account_id.is_empty()).unwrap().clone();
    // Too high: refuses what the cap allows (8.00 + 5.00 kept as 13.01).
    let mut b = clean.clone();
    let row = shop_row(&mut b);
    b.buckets.iter_mut().filter(|r| r.account_id.is_empty()).for_each(|r| r.paid_fen = Fen(13_01));
    let found = day_sums(&b);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, None);
    assert!(
        found[0].1.contains("shop s1") && found[0].1.contains("13.01") && found[0].1.contains("13.00"),
        "{found:?}"
    );
    assert!(found[0].1.contains(&DateTime::<Utc>::from_timestamp(row.bucket, 0).unwrap().to_rfc3339()));
    // Too low on the balance part, and an account's quota row missing.
    let mut b = clean.clone();
    b.buckets.iter_mut().filter(|r| r.account_id.is_empty()).for_each(|r| r.balance_fen = Fen(7_99));
    b.buckets.retain(|r| r.account_id != "admin");
    let found = day_sums(&b);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().any(|(a, m)| a.is_none() && m.contains("7.99")));
    assert!(found.iter().any(|(a, m)| a.as_deref() == Some("admin") && m.contains("account admin")));
    // A row for a quarter hour without payouts; a row of zeros is no row.
    let mut b = clean.clone();
    let mut stray = row.clone();
    stray.bucket += 900;
    stray.paid_fen = Fen(1);
    b.buckets.push(stray.clone());
    assert_eq!(day_sums(&b).len(), 1);
    stray.paid_fen = Fen(0);
    stray.balance_fen = Fen(0);
    *b.buckets.last_mut().unwrap() = stray;
    assert_eq!(day_sums(&b), vec![]);
    // A payout that left the sums (RECHARGE_FAILED) while its bucket still counts it (the
    // ledger's credit for it is then wrong too: not this check's).
    let mut b = clean.clone();
    b.payouts[1].status = PayoutStatus::RechargeFailed;
    assert_eq!(day_sums(&b).len(), 1);
    assert_eq!(day_sums(&clean), vec![]);
    assert_eq!(kinds(&clean), Vec::<&str>::new());
}

#[test]
fn the_ledger() {
    let mut b = books();
    b.shop.balance_fen = Fen(96_00);
    assert_eq!(kinds(&b), ["BALANCE_MISMATCH"]);

    let mut b = books();
    b.entries[1].balance_after_fen = Fen(91_00);
    // The entry itself and the one after it no longer chain.
    assert_eq!(kinds(&b), ["LEDGER_CHAIN_BROKEN", "LEDGER_CHAIN_BROKEN"]);

    let mut b = books();
    for e in &mut b.entries {
        e.balance_after_fen = Fen(e.balance_after_fen.0 - 200_00);
    }
    b.entries[0].amount_fen = Fen(-100_00);
    b.shop.balance_fen = Fen(-103_00);
    assert_eq!(kinds(&b), ["NEGATIVE_BALANCE"]);
}

#[test]
fn debits_and_credits() {
    let mut b = books();
    b.entries.push(entry(4, EntryKind::PayoutDebit, -1_00, 96_00, None));
    b.shop.balance_fen = Fen(96_00);
    assert_eq!(kinds(&b), ["DEBIT_WITHOUT_PAYOUT"]);

    let mut b = books();
    b.payouts[0].amount_fen = Fen(9_00);
    assert_eq!(kinds(&b), ["DEBIT_MISMATCH"]);

    let mut b = books();
    b.entries.push(entry(4, EntryKind::PayoutDebit, -8_00, 89_00, Some(1)));
    b.shop.balance_fen = Fen(89_00);
    assert_eq!(kinds(&b), ["DUPLICATE_DEBIT"]);

    let mut b = books();
    b.entries[1].kind = EntryKind::Adjustment;
    b.entries[1].payout_id = None;
    assert_eq!(kinds(&b), ["MISSING_DEBIT"]);

    let mut b = books();
    b.entries.push(entry(4, EntryKind::RefundCredit, 1_00, 98_00, Some(99)));
    b.shop.balance_fen = Fen(98_00);
    assert_eq!(kinds(&b), ["CREDIT_WITHOUT_PAYOUT"]);

    let mut b = books();
    b.payouts[1].amount_fen = Fen(6_00);
    assert_eq!(kinds(&b), ["CREDIT_MISMATCH"]);

    let mut b = books();
    b.entries.push(entry(4, EntryKind::RefundCredit, 5_00, 102_00, Some(2)));
    b.shop.balance_fen = Fen(102_00);
    assert_eq!(kinds(&b), ["DUPLICATE_CREDIT"]);

    let mut b = books();
    b.entries[2].kind = EntryKind::Adjustment;
    b.entries[2].payout_id = None;
    assert_eq!(kinds(&b), ["MISSING_CREDIT"]);

    let mut b = books();
    b.payouts[0].refund_status = RefundStatus::Refunded;
    assert_eq!(kinds(&b), ["SUCCEEDED_AND_REFUNDED"]);
}

#[test]
fn applications_per_order() {
    use PayoutStatus::*;
    let mut b = books();
    // Three rejected requests on O-3 beside its pending one.
    for id in 10..13 {
        b.payouts.push(payout(id, "O-3", 1_00, Rejected, None));
        b.transitions.push(step(10 + id, id, None, PendingApproval));
        b.transitions.push(step(20 + id, id, Some(PendingApproval), Rejected));
    }
    // Rejected ones do not count: O-3 has one application.
    assert_eq!(kinds(&b), Vec::<&str>::new());
    for p in b.payouts.iter_mut().filter(|p| p.id >= 10) {
        p.status = PendingApproval;
    }
    b.transitions.retain(|t| t.id < 30);
    for id in 10..13 {
        b.jobs.push(job(100 + id, JobKind::ApprovalExpiry, Some(id), None, JobStatus::Pending));
    }
    assert_eq!(kinds(&b), ["TOO_MANY_APPLICATIONS"]);
}

fn quota(per: i64, daily: i64, updated_at: DateTime<Utc>) -> quota::Model {
    quota::Model {
        shop_id: "s1".into(),
        account_id: "admin".into(),
        per_payout_limit_fen: Fen(per),
        daily_limit_fen: Fen(daily),
        set_by: "boss".into(),
        updated_at,
    }
}

#[test]
fn quotas_are_judged_from_their_last_change() {
    let mut b = books();
    b.quotas = vec![quota(7_00, 50_00, t0())];
    assert_eq!(kinds(&b), ["QUOTA_PER_PAYOUT_EXCEEDED"]);
    b.quotas = vec![quota(8_00, 7_00, t0())];
    assert_eq!(kinds(&b), ["QUOTA_DAILY_EXCEEDED"]);
    // Lowered after the payout: nothing to judge.
    b.quotas = vec![quota(1_00, 1_00, t0() + TimeDelta::seconds(1))];
    assert_eq!(kinds(&b), Vec::<&str>::new());
    assert_eq!(audit_shop(&b, zone()).checked.get(&AuditCheck::Quotas), None);
    // An admin has no quota, whatever row is left.
    b.quotas = vec![quota(1_00, 1_00, t0())];
    b.accounts = vec![account::Model {
        shop_id: "s1".into(),
        id: "admin".into(),
        name: "A".into(),
        role: Role::Admin,
        created_at: t0(),
        updated_at: t0(),
    }];
    assert_eq!(kinds(&b), Vec::<&str>::new());
}

#[test]
fn a_day_is_judged_when_its_last_commit_follows_the_quota_change() {
    let mut b = books();
    // A second balance payout an hour later, the same day: 8.00 + 8.00.
    let mut later = payout(4, "O-4", 8_00, PayoutStatus::Succeeded, Some(FundingMethod::Balance));
    later.committed_at = Some(t0() + TimeDelta::hours(1));
    later.deducted_at = later.committed_at;
    b.payouts.push(later);
    b.transitions.push(step(7, 4, None, PayoutStatus::Paying));
    b.transitions.push(step(8, 4, Some(PayoutStatus::Paying), PayoutStatus::Succeeded));
    b.entries.push(entry(4, EntryKind::PayoutDebit, -8_00, 89_00, Some(4)));
    b.shop.balance_fen = Fen(89_00);
    // Lowered to 10.00 between the two: the second was decided with 8.00 already used.
    b.quotas = vec![quota(10_00, 10_00, t0() + TimeDelta::minutes(30))];
    assert_eq!(kinds(&b), ["QUOTA_DAILY_EXCEEDED"]);
    // Lowered after both: not judged.
    b.quotas = vec![quota(10_00, 10_00, t0() + TimeDelta::hours(2))];
    assert_eq!(kinds(&b), Vec::<&str>::new());
}

#[test]
fn shop_caps_are_judged_from_the_shops_last_change() {
    let mut b = books();
    b.shop.daily_cap_fen = Fen(12_00);
    // 8.00 + 5.00 committed today (the closed scan payout counts).
    assert_eq!(kinds(&b), ["SHOP_DAILY_CAP_EXCEEDED"]);
    let mut b = books();
    b.shop.daily_balance_cap_fen = Fen(7_99);
    assert_eq!(kinds(&b), ["SHOP_DAILY_BALANCE_CAP_EXCEEDED"]);
    b.shop.updated_at = t0() + TimeDelta::seconds(1);
    assert_eq!(kinds(&b), Vec::<&str>::new());
    // A RECHARGE_FAILED payout is in no sum.
    let mut b = books();
    b.shop.daily_cap_fen = Fen(12_00);
    b.payouts[1].status = PayoutStatus::RechargeFailed;
    b.payouts[1].refund_status = RefundStatus::None;
    b.entries.pop();
    b.shop.balance_fen = Fen(92_00);
    b.transitions[3] = step(4, 2, Some(PayoutStatus::PendingRecharge), PayoutStatus::RechargeFailed);
    b.transitions.remove(4);
    b.jobs.retain(|j| j.payout_id != Some(2));
    assert_eq!(kinds(&b), Vec::<&str>::new());
}

#[test]
fn histories() {
    use PayoutStatus::*;
    let mut b = books();
    b.transitions.retain(|t| t.payout_id != 3);
    assert_eq!(kinds(&b), ["HISTORY_MISSING"]);

    let mut b = books();
    b.transitions[2].from_status = Some(PendingApproval);
    assert_eq!(kinds(&b), ["HISTORY_BAD_START"]);

    let mut b = books();
    b.transitions[3].from_status = Some(PendingApproval);
    assert_eq!(kinds(&b), ["HISTORY_CHAIN_BROKEN"]);

    let mut b = books();
    b.transitions.push(step(7, 1, Some(Succeeded), Succeeded));
    assert_eq!(kinds(&b), ["TRANSITION_NOT_ALLOWED"]);

    let mut b = books();
    b.payouts[0].status = Failed;
    assert_eq!(kinds(&b), ["STATUS_NOT_LATEST_TRANSITION"]);
}

#[test]
fn jobs_for_every_wait() {
    use PayoutStatus::*;
    let mut b = books();
    b.jobs.retain(|j| j.kind != JobKind::ApprovalExpiry);
    assert_eq!(kinds(&b), ["MISSING_APPROVAL_EXPIRY_JOB"]);

    // PAYING: a DELIVER job of any status and a CLOSE job.
    let mut b = books();
    b.payouts[0].status = Paying;
    b.transitions.remove(1);
    assert_eq!(kinds(&b), ["MISSING_DELIVER_JOB"]);
    b.jobs.push(job(9, JobKind::Deliver, Some(1), None, JobStatus::Failed));
    assert_eq!(kinds(&b), Vec::<&str>::new());
    b.jobs[0].status = JobStatus::Failed;
    assert_eq!(kinds(&b), ["MISSING_CLOSE_JOB"]);

    let mut b = books();
    b.payouts[1].refund_status = RefundStatus::Pending;
    b.entries.pop();
    b.shop.balance_fen = Fen(92_00);
    assert_eq!(kinds(&b), ["MISSING_REFUND_JOB"]);

    let mut b = books();
    b.payouts[2].status = PendingRecharge;
    b.payouts[2].funding = Some(FundingMethod::AlipayScan);
    b.payouts[2].committed_at = Some(t0());
    b.transitions[5].to_status = PendingRecharge;
    assert_eq!(kinds(&b), ["MISSING_RECHARGE_DEADLINE_JOB"]);

    let mut b = books();
    b.open_cards = vec![account_card::Model {
        id: 5,
        payout_id: 1,
        shop_id: "s1".into(),
        buyer_id: "b".into(),
        status: AccountCardStatus::Open,
        sent_at: t0(),
        expires_at: t0(),
        account_kind: None,
        account_masked: None,
        account_sealed: None,
        holder_name: None,
        submitted_at: None,
    }];
    assert_eq!(kinds(&b), ["MISSING_CARD_EXPIRY_JOB"]);
    b.jobs.push(job(9, JobKind::CardExpiry, None, Some(5), JobStatus::Pending));
    assert_eq!(kinds(&b), Vec::<&str>::new());
}

#[test]
fn messages_name_what_they_are_about() {
    let mut b = books();
    b.quotas = vec![quota(8_00, 7_00, t0())];
    let f = audit_shop(&b, zone());
    let v = &f.violations[0];
    assert_eq!((v.account_id.as_deref(), v.day.map(|d| d.to_string())), (Some("admin"), Some("2026-11-26".into())));
    assert!(v.message.contains("shop s1") && v.message.contains("account admin") && v.message.contains("2026-11-26"));
    assert!(v.message.contains("8.00") && v.message.contains("7.00"), "{}", v.message);
}
