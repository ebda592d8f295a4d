//! The stored vocabulary: every status, type and kind a column holds, as Rust enums stored by
//! their contract names (the same strings the migrations' `VARCHAR` columns always held (their lengths are set there),
//! so no data migration). A value a column cannot hold fails when the row is read, here, in
//! the entity layer — never as an "unknown stored value" path in the service.
use sea_orm::entity::prelude::*;

/// Declares a stored enum: `String` in the database, the contract's name for each variant.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $s:tt),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $($(#[$vmeta])* #[sea_orm(string_value = $s)] $variant),*
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The contract's name (the stored string).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_enum! {
    /// What a compensation is for.
    PayoutType {
        /// 退运费
        ShippingFee = "SHIPPING_FEE",
        /// 补差价
        PriceDifference = "PRICE_DIFFERENCE",
        /// 其他
        Other = "OTHER",
    }
}

stored_enum! {
    /// Where a committed payout's money came from.
    FundingMethod {
        Balance = "BALANCE",
        WechatScan = "WECHAT_SCAN",
        AlipayScan = "ALIPAY_SCAN",
    }
}

stored_enum! {
    /// A payout's status (rules.md "Statuses").
    PayoutStatus {
        PendingApproval = "PENDING_APPROVAL",
        PendingRecharge = "PENDING_RECHARGE",
        RechargeFailed = "RECHARGE_FAILED",
        Rejected = "REJECTED",
        Paying = "PAYING",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        Closed = "CLOSED",
    }
}

stored_enum! {
    /// Whether a closed payout's amount went back to the balance.
    RefundStatus {
        None = "NONE",
        Pending = "PENDING",
        Refunded = "REFUNDED",
    }
}

stored_enum! {
    /// Why a transfer failed; `BuyerAccount` sends the buyer an account card.
    TransferFailureKind {
        BuyerAccount = "BUYER_ACCOUNT",
        Other = "OTHER",
    }
}

stored_enum! {
    /// An account card's state.
    AccountCardStatus {
        Open = "OPEN",
        Submitted = "SUBMITTED",
        Expired = "EXPIRED",
    }
}

stored_enum! {
    /// The kind of receiving account a buyer submits.
    ReceivingAccountKind {
        Alipay = "ALIPAY",
        BankCard = "BANK_CARD",
    }
}

stored_enum! {
    /// What a buyer notice is about.
    NotificationKind {
        PayoutSucceeded = "PAYOUT_SUCCEEDED",
        PayoutFailed = "PAYOUT_FAILED",
        AccountCardSent = "ACCOUNT_CARD_SENT",
    }
}

stored_enum! {
    /// Where a buyer notice is delivered.
    NotificationChannel {
        InApp = "IN_APP",
        Wechat = "WECHAT",
    }
}

stored_enum! {
    /// An account's role (rules.md "Actors"); the JWT claim spells it in lower case.
    Role {
        Admin = "ADMIN",
        CsAdmin = "CS_ADMIN",
        Cs = "CS",
        Staff = "STAFF",
        Buyer = "BUYER",
        Platform = "PLATFORM",
    }
}

stored_enum! {
    /// Who made a payout's status change (a history entry's actor is a kind and a name: a
    /// name alone cannot tell a shop account called `system` from the system).
    ActorKind {
        /// A shop's account, by its id.
        Merchant = "MERCHANT",
        /// A buyer, as `buyer:<buyer id>`.
        Buyer = "BUYER",
        /// The platform's service calls and the payment channel's results.
        Platform = "PLATFORM",
        /// smallpay itself: a deadline that came due.
        System = "SYSTEM",
    }
}

stored_enum! {
    /// What moved a shop's balance.
    EntryKind {
        Opening = "OPENING",
        PayoutDebit = "PAYOUT_DEBIT",
        RefundCredit = "REFUND_CREDIT",
        Adjustment = "ADJUSTMENT",
    }
}

stored_enum! {
    /// What a durable deadline does when it is due.
    JobKind {
        /// A scan payout's recharge window ends.
        RechargeDeadline = "RECHARGE_DEADLINE",
        /// 7 days after commit: close a payout still PAYING or FAILED.
        Close = "CLOSE",
        /// 3 business days after closing: credit the amount back.
        Refund = "REFUND",
        /// 7 days after an approval request: reject it if still undecided.
        ApprovalExpiry = "APPROVAL_EXPIRY",
        /// 72 h after an account card was sent: expire it if still open.
        CardExpiry = "CARD_EXPIRY",
        /// Hand a `PAYING` payout's transfer to the payment channel and record its answer.
        Deliver = "DELIVER",
    }
}

stored_enum! {
    /// A durable deadline's state.
    JobStatus {
        Pending = "PENDING",
        Done = "DONE",
        /// Failed too often; parked for an operator.
        Failed = "FAILED",
    }
}

impl Role {
    /// The merchant roles: the shop's staff.
    pub const MERCHANT: &'static [Role] = &[Role::Admin, Role::CsAdmin, Role::Cs, Role::Staff];

    /// The role a JWT `role` claim names (lower case: `cs_admin`).
    pub fn from_claim(s: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.claim() == s)
    }

    /// The JWT claim's spelling.
    pub fn claim(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CsAdmin => "cs_admin",
            Role::Cs => "cs",
            Role::Staff => "staff",
            Role::Buyer => "buyer",
            Role::Platform => "platform",
        }
    }

    pub fn is_merchant(self) -> bool {
        Role::MERCHANT.contains(&self)
    }
}

stored_enum! {
    /// What the simulated payment channel's books say about a transfer key.
    ChannelOutcome {
        /// The money reached the buyer.
        Delivered = "DELIVERED",
        /// The transfer failed: nothing was paid.
        Failed = "FAILED",
        /// Cancelled before anything was paid; the key will never pay.
        Cancelled = "CANCELLED",
    }
}

/// An amount in fen (分), as every `*_fen` column stores it; `domain::money::Cny` is the yuan
/// value the rules compute with (`Cny::from(fen)`, `Fen::from(cny)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, DeriveValueType)]
pub struct Fen(pub i64);

impl std::ops::Neg for Fen {
    type Output = Fen;

    fn neg(self) -> Fen {
        Fen(-self.0)
    }
}

/// The channels of a notice, stored comma-separated (`IN_APP,WECHAT`).
#[derive(Debug, Clone, PartialEq, Eq, DeriveValueType)]
pub struct Channels(pub String);

impl Channels {
    pub fn of(channels: &[NotificationChannel]) -> Self {
        Channels(channels.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(","))
    }

    /// The channels, in stored order; a name this build does not know is skipped.
    pub fn list(&self) -> Vec<NotificationChannel> {
        self.0
            .split(',')
            .filter_map(|name| NotificationChannel::ALL.iter().copied().find(|c| c.as_str() == name))
            .collect()
    }
}
