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
    }
}
