//! The state a payout starts in: decided from the funding asked for, the amount and `now`,
//! before anything is written (rules.md "Creating a payout", "Approvals", "Statuses").
use chrono::{DateTime, Utc};

use super::{
    money::Cny,
    payout::RECHARGE_WINDOW,
    vocab::{FundingChoice, FundingMethod, PayoutStatus},
};

/// What committing a payout with a funding method sets: at commit the money either leaves
/// the balance (`PAYING`) or waits for the merchant's scan (`PENDING_RECHARGE`, 1 h).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commitment {
    pub status: PayoutStatus,
    pub funding: FundingMethod,
    pub committed_at: DateTime<Utc>,
    /// Set when the balance is debited now.
    pub deducted_at: Option<DateTime<Utc>>,
    /// The balance debit: the whole amount, for a balance payout.
    pub debit: Option<Cny>,
    /// The end of the recharge window, for a scan payout (which also gets a QR code).
    pub recharge_deadline: Option<DateTime<Utc>>,
}

/// Commits a payout of `amount` with `funding` at `now`.
pub fn commit(funding: FundingMethod, amount: Cny, now: DateTime<Utc>) -> Commitment {
    let balance = funding == FundingMethod::Balance;
    Commitment {
        status: if balance { PayoutStatus::Paying } else { PayoutStatus::PendingRecharge },
        funding,
        committed_at: now,
        deducted_at: balance.then_some(now),
        debit: balance.then_some(amount),
        recharge_deadline: (!balance).then(|| now + RECHARGE_WINDOW),
    }
}

/// A new payout's initial state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialState {
    pub status: PayoutStatus,
    /// `None` while the payout waits for the admin (`PENDING_APPROVAL`).
    pub commitment: Option<Commitment>,
    /// The applicant paid it from the balance itself: it counts against its quota.
    pub uses_quota: bool,
    /// The approval note is kept only on a request for approval.
    pub keeps_approval_note: bool,
}

/// The initial state of a payout of `amount` created with `choice` at `now`.
pub fn initial_state(choice: FundingChoice, amount: Cny, now: DateTime<Utc>) -> InitialState {
    match choice.method() {
        None => InitialState {
            status: PayoutStatus::PendingApproval,
            commitment: None,
            uses_quota: false,
            keeps_approval_note: true,
        },
        Some(method) => {
            let commitment = commit(method, amount, now);
            InitialState {
                status: commitment.status,
                uses_quota: method == FundingMethod::Balance,
                commitment: Some(commitment),
                keeps_approval_note: false,
            }
        }
    }
}

/// The QR code content the merchant scans to recharge a scan payout; `token` makes it unique.
pub fn qr_payload(method: FundingMethod, amount: Cny, token: &str) -> String {
    let scheme = match method {
        FundingMethod::AlipayScan => "alipays",
        _ => "weixin",
    };
    format!("{scheme}://smallpay/recharge/{token}?amount={amount}")
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 4, 0, 0).unwrap()
    }

    fn yuan(fen: i64) -> Cny {
        Cny::from_fen(fen)
    }

    #[test]
    fn a_balance_payout_is_paying_debited_and_counts_against_the_quota() {
        let s = initial_state(FundingChoice::Balance, yuan(12_50), now());
        assert_eq!(s.status, PayoutStatus::Paying);
        assert!(s.uses_quota);
        assert!(!s.keeps_approval_note);
        let c = s.commitment.unwrap();
        assert_eq!((c.funding, c.committed_at, c.deducted_at), (FundingMethod::Balance, now(), Some(now())));
        assert_eq!(c.debit, Some(yuan(12_50)));
        assert_eq!(c.recharge_deadline, None);
    }

    #[test]
    fn a_scan_payout_waits_an_hour_for_its_recharge_and_debits_nothing() {
        for (choice, method) in [
            (FundingChoice::WechatScan, FundingMethod::WechatScan),
            (FundingChoice::AlipayScan, FundingMethod::AlipayScan),
        ] {
            let s = initial_state(choice, yuan(5_00), now());
            assert_eq!(s.status, PayoutStatus::PendingRecharge);
            assert!(!s.uses_quota);
            let c = s.commitment.unwrap();
            assert_eq!(c.funding, method);
            assert_eq!((c.deducted_at, c.debit), (None, None));
            assert_eq!(c.recharge_deadline, Some(now() + TimeDelta::hours(1)));
        }
    }

    #[test]
    fn a_request_for_approval_commits_nothing_and_keeps_its_note() {
        let s = initial_state(FundingChoice::RequestApproval, yuan(5_00), now());
        assert_eq!(s.status, PayoutStatus::PendingApproval);
        assert_eq!(s.commitment, None);
        assert!(!s.uses_quota);
        assert!(s.keeps_approval_note);
    }

    #[test]
    fn qr_codes_name_the_app_and_the_amount() {
        assert_eq!(
            qr_payload(FundingMethod::AlipayScan, yuan(5_00), "t1"),
            "alipays://smallpay/recharge/t1?amount=5.00"
        );
        assert_eq!(
            qr_payload(FundingMethod::WechatScan, yuan(12_50), "t2"),
            "weixin://smallpay/recharge/t2?amount=12.50"
        );
    }
}
