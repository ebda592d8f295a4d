//! The payout vocabulary: enums stored and shown by their contract names.

/// Defines an enum whose GraphQL and database names are the contract's strings.
macro_rules! contract_enum {
    ($(#[$meta:meta])* $name:ident as $gql:literal { $($(#[$vmeta:meta])* $variant:ident = $s:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, async_graphql::Enum)]
        #[graphql(name = $gql)]
        pub enum $name {
            $($(#[$vmeta])* #[graphql(name = $s)] $variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),*
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($s => Some($name::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

contract_enum! {
    /// What the compensation is for.
    PayoutType as "PayoutType" {
        /// 退运费
        ShippingFee = "SHIPPING_FEE",
        /// 补差价
        PriceDifference = "PRICE_DIFFERENCE",
        /// 其他
        Other = "OTHER",
    }
}

contract_enum! {
    /// Where a payout's money comes from, as asked at creation.
    FundingChoice as "FundingChoice" {
        Balance = "BALANCE",
        WechatScan = "WECHAT_SCAN",
        AlipayScan = "ALIPAY_SCAN",
        /// Ask the shop admin (not for ADMIN).
        RequestApproval = "REQUEST_APPROVAL",
    }
}

contract_enum! {
    /// Where a committed payout's money came from.
    FundingMethod as "FundingMethod" {
        Balance = "BALANCE",
        WechatScan = "WECHAT_SCAN",
        AlipayScan = "ALIPAY_SCAN",
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

contract_enum! {
    /// rules.md "Statuses".
    PayoutStatus as "PayoutStatus" {
        /// Waiting for the shop admin.
        PendingApproval = "PENDING_APPROVAL",
        /// Waiting for the merchant's scan recharge (待充值).
        PendingRecharge = "PENDING_RECHARGE",
        /// Not recharged within 1 h (充值失败).
        RechargeFailed = "RECHARGE_FAILED",
        Rejected = "REJECTED",
        /// Money left the shop; the channel is delivering it.
        Paying = "PAYING",
        /// 打款成功
        Succeeded = "SUCCEEDED",
        /// 打款失败: deducted but not delivered.
        Failed = "FAILED",
        /// 关闭: closed 7 days after commit; the amount returns to the balance.
        Closed = "CLOSED",
    }
}

contract_enum! {
    RefundStatus as "RefundStatus" {
        None = "NONE",
        Pending = "PENDING",
        Refunded = "REFUNDED",
    }
}

contract_enum! {
    /// Rules that stop a payout altogether, in rules.md's order.
    PayoutBlocker as "PayoutBlockerCode" {
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

contract_enum! {
    /// Rules that stop paying from the balance (scan or approval still possible), in order.
    BalanceBlocker as "BalanceBlockerCode" {
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
    pub fn code(self) -> &'static str {
        self.as_str()
    }
}

impl BalanceBlocker {
    pub fn code(self) -> &'static str {
        self.as_str()
    }
}

contract_enum! {
    /// Where a duplicate record comes from.
    DuplicateSource as "DuplicateSource" {
        Payout = "PAYOUT",
        Platform = "PLATFORM",
    }
}

contract_enum! {
    /// Why a transfer failed; BUYER_ACCOUNT sends the buyer an account card.
    TransferFailureKind as "TransferFailureKind" {
        BuyerAccount = "BUYER_ACCOUNT",
        Other = "OTHER",
    }
}

contract_enum! {
    /// An account card's state.
    AccountCardStatus as "AccountCardStatus" {
        /// Sent; the buyer may submit an account until it expires (72 h).
        Open = "OPEN",
        /// The buyer submitted an account; the transfer was retried.
        Submitted = "SUBMITTED",
        /// Expired, replaced by a new card, or its payout closed.
        Expired = "EXPIRED",
    }
}

contract_enum! {
    ReceivingAccountKind as "ReceivingAccountKind" {
        /// A mobile number or an e-mail address.
        Alipay = "ALIPAY",
        /// 16–19 digits passing the Luhn check.
        BankCard = "BANK_CARD",
    }
}

contract_enum! {
    NotificationKind as "NotificationKind" {
        PayoutSucceeded = "PAYOUT_SUCCEEDED",
        PayoutFailed = "PAYOUT_FAILED",
        AccountCardSent = "ACCOUNT_CARD_SENT",
    }
}

contract_enum! {
    NotificationChannel as "NotificationChannel" {
        InApp = "IN_APP",
        Wechat = "WECHAT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in PayoutType::ALL {
            assert_eq!(PayoutType::parse(t.as_str()), Some(*t));
        }
        for s in PayoutStatus::ALL {
            assert_eq!(PayoutStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(PayoutType::parse("shipping_fee"), None);
        assert_eq!(BalanceBlocker::OrderGrouped3To12Months.code(), "ORDER_GROUPED_3_TO_12_MONTHS");
    }
}
