//! The domain's vocabulary. What is stored is defined beside the entities
//! ([`entity::vocab`], re-exported here); what is only decided or asked is defined here.
pub use entity::vocab::*;

/// Declares a domain enum with the contract's name for each variant.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $s:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),*
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The contract's name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),*
                }
            }
        }
    };
}

named_enum! {
    /// Where a payout's money comes from, as asked at creation.
    FundingChoice {
        Balance = "BALANCE",
        WechatScan = "WECHAT_SCAN",
        AlipayScan = "ALIPAY_SCAN",
        /// Ask the shop admin (not for ADMIN).
        RequestApproval = "REQUEST_APPROVAL",
    }
}

impl FundingChoice {
    /// The funding method, unless the payout goes to the admin first.
    pub fn method(self) -> Option<FundingMethod> {
        match self {
            FundingChoice::Balance => Some(FundingMethod::Balance),
            FundingChoice::WechatScan => Some(FundingMethod::WechatScan),
            FundingChoice::AlipayScan => Some(FundingMethod::AlipayScan),
            FundingChoice::RequestApproval => None,
        }
    }
}

named_enum! {
    /// Rules that stop a payout altogether, in rules.md's order. Each is a refusal code.
    PayoutBlocker {
        ShopUnpaidBills = "SHOP_UNPAID_BILLS",
        ShopDailyCapReached = "SHOP_DAILY_CAP_REACHED",
        OrderNotGrouped = "ORDER_NOT_GROUPED",
        OrderTooOld = "ORDER_TOO_OLD",
        OrderRateLimited = "ORDER_RATE_LIMITED",
        OrderAttemptsExhausted = "ORDER_ATTEMPTS_EXHAUSTED",
        AmountBelowMinimum = "AMOUNT_BELOW_MINIMUM",
        AmountAboveMaximum = "AMOUNT_ABOVE_MAXIMUM",
    }
}

named_enum! {
    /// Rules that stop paying from the balance (scan or approval still possible), in order.
    /// Each is a refusal code.
    BalanceBlocker {
        ZeroEntryNoDeposit = "ZERO_ENTRY_NO_DEPOSIT",
        NoQuotaConfigured = "NO_QUOTA_CONFIGURED",
        PerPayoutQuotaExceeded = "PER_PAYOUT_QUOTA_EXCEEDED",
        DailyQuotaExceeded = "DAILY_QUOTA_EXCEEDED",
        ShopDailyBalanceCapReached = "SHOP_DAILY_BALANCE_CAP_REACHED",
        OrderGrouped3To12Months = "ORDER_GROUPED_3_TO_12_MONTHS",
        InsufficientBalance = "INSUFFICIENT_BALANCE",
    }
}

impl PayoutBlocker {
    /// The refusal code (`extensions.code`).
    pub fn code(self) -> &'static str {
        self.as_str()
    }
}

impl BalanceBlocker {
    /// The refusal code (`extensions.code`).
    pub fn code(self) -> &'static str {
        self.as_str()
    }
}

named_enum! {
    /// Where a duplicate record comes from.
    DuplicateSource {
        Payout = "PAYOUT",
        Platform = "PLATFORM",
    }
}

named_enum! {
    /// A check of the audit (`smallpay audit`, the `audit` query): one invariant of the books.
    AuditCheck {
        /// Each shop's balance is the sum of its ledger entries, never negative, and each
        /// entry's `balance_after` follows from the previous one.
        Ledger = "LEDGER",
        /// Debits and refund credits match the payouts that moved money.
        PayoutMoney = "PAYOUT_MONEY",
        /// No order has more than 3 applications.
        Applications = "APPLICATIONS",
        /// No account paid from the balance above its quota.
        Quotas = "QUOTAS",
        /// No shop committed more than its daily cap or daily balance cap.
        ShopCaps = "SHOP_CAPS",
        /// Each payout's history is a valid path of the state machine ending in its status.
        History = "HISTORY",
        /// Each status that waits for a deadline or a delivery has its job.
        Jobs = "JOBS",
        /// The day's sums the limits read (`commit_buckets`) are what the payouts add up to.
        DaySums = "DAY_SUMS",
    }
}

impl AuditCheck {
    /// What the check counts as examined (for the report).
    pub fn unit(self) -> &'static str {
        match self {
            AuditCheck::Ledger => "ledger entries",
            AuditCheck::PayoutMoney | AuditCheck::History => "payouts",
            AuditCheck::Applications => "orders",
            AuditCheck::Quotas => "account days",
            AuditCheck::ShopCaps => "shop days",
            AuditCheck::Jobs => "waiting payouts and open cards",
            AuditCheck::DaySums => "quarter hours",
        }
    }
}

named_enum! {
    /// What the audit found wrong: a stable, machine-readable kind. Each belongs to one
    /// [`AuditCheck`] ([`ViolationKind::check`]).
    ViolationKind {
        BalanceMismatch = "BALANCE_MISMATCH",
        NegativeBalance = "NEGATIVE_BALANCE",
        LedgerChainBroken = "LEDGER_CHAIN_BROKEN",
        DebitWithoutPayout = "DEBIT_WITHOUT_PAYOUT",
        DebitMismatch = "DEBIT_MISMATCH",
        DuplicateDebit = "DUPLICATE_DEBIT",
        MissingDebit = "MISSING_DEBIT",
        CreditWithoutPayout = "CREDIT_WITHOUT_PAYOUT",
        CreditMismatch = "CREDIT_MISMATCH",
        DuplicateCredit = "DUPLICATE_CREDIT",
        MissingCredit = "MISSING_CREDIT",
        SucceededAndRefunded = "SUCCEEDED_AND_REFUNDED",
        TooManyApplications = "TOO_MANY_APPLICATIONS",
        QuotaPerPayoutExceeded = "QUOTA_PER_PAYOUT_EXCEEDED",
        QuotaDailyExceeded = "QUOTA_DAILY_EXCEEDED",
        ShopDailyCapExceeded = "SHOP_DAILY_CAP_EXCEEDED",
        ShopDailyBalanceCapExceeded = "SHOP_DAILY_BALANCE_CAP_EXCEEDED",
        HistoryMissing = "HISTORY_MISSING",
        HistoryBadStart = "HISTORY_BAD_START",
        HistoryChainBroken = "HISTORY_CHAIN_BROKEN",
        TransitionNotAllowed = "TRANSITION_NOT_ALLOWED",
        StatusNotLatestTransition = "STATUS_NOT_LATEST_TRANSITION",
        MissingDeliverJob = "MISSING_DELIVER_JOB",
        MissingApprovalExpiryJob = "MISSING_APPROVAL_EXPIRY_JOB",
        MissingRechargeDeadlineJob = "MISSING_RECHARGE_DEADLINE_JOB",
        MissingCloseJob = "MISSING_CLOSE_JOB",
        MissingRefundJob = "MISSING_REFUND_JOB",
        MissingCardExpiryJob = "MISSING_CARD_EXPIRY_JOB",
        DaySumMismatch = "DAY_SUM_MISMATCH",
    }
}

impl ViolationKind {
    /// The check that finds this kind.
    pub fn check(self) -> AuditCheck {
        use ViolationKind::*;
        match self {
            BalanceMismatch | NegativeBalance | LedgerChainBroken => AuditCheck::Ledger,
            DebitWithoutPayout | DebitMismatch | DuplicateDebit | MissingDebit | CreditWithoutPayout
            | CreditMismatch | DuplicateCredit | MissingCredit | SucceededAndRefunded => AuditCheck::PayoutMoney,
            TooManyApplications => AuditCheck::Applications,
            QuotaPerPayoutExceeded | QuotaDailyExceeded => AuditCheck::Quotas,
            ShopDailyCapExceeded | ShopDailyBalanceCapExceeded => AuditCheck::ShopCaps,
            HistoryMissing
            | HistoryBadStart
            | HistoryChainBroken
            | TransitionNotAllowed
            | StatusNotLatestTransition => AuditCheck::History,
            MissingDeliverJob
            | MissingApprovalExpiryJob
            | MissingRechargeDeadlineJob
            | MissingCloseJob
            | MissingRefundJob
            | MissingCardExpiryJob => AuditCheck::Jobs,
            DaySumMismatch => AuditCheck::DaySums,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_contracts() {
        assert_eq!(BalanceBlocker::OrderGrouped3To12Months.code(), "ORDER_GROUPED_3_TO_12_MONTHS");
        assert_eq!(PayoutStatus::PendingRecharge.as_str(), "PENDING_RECHARGE");
        for role in Role::ALL {
            assert_eq!(Role::from_claim(role.claim()), Some(*role));
        }
        assert_eq!(Role::from_claim("ADMIN"), None);
        assert_eq!(FundingChoice::RequestApproval.method(), None);
        assert_eq!(ViolationKind::BalanceMismatch.as_str(), "BALANCE_MISMATCH");
    }

    #[test]
    fn every_audit_check_has_a_violation_kind() {
        for check in AuditCheck::ALL {
            assert!(ViolationKind::ALL.iter().any(|k| k.check() == *check), "{check:?}");
        }
    }
}
