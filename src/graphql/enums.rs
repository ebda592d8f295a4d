//! The contract's enums: the domain vocabulary ([`crate::domain::vocab`]) as GraphQL sees it.
//! Each mirrors one domain enum variant for variant (`remote`: the conversions both ways are
//! generated, and a variant missing on either side fails to compile); the descriptions here
//! are the SDL's.
use async_graphql::Enum;

use crate::domain::vocab;

/// What a caller may do: its token's `role` claim (rules.md "Actors").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "vocab::Role")]
pub enum Role {
    /// Shop administrator (管理员): pays from the balance without a quota, sets quotas,
    /// approves and rejects requests.
    Admin,
    /// Customer-service administrator (客服管理员): pays from the balance without a quota
    /// unless the admin set one on it; cannot approve.
    CsAdmin,
    /// Customer-service agent (客服): pays from the balance only within its quota; otherwise
    /// by scan or by requesting approval.
    Cs,
    /// Any other shop role: like CS.
    Staff,
    /// A consumer: sees its own account cards and notices, submits a receiving account.
    Buyer,
    /// The marketplace's service token: syncs shops and orders, adjusts balances, records its
    /// own compensations, reports payment-channel results.
    Platform,
}

/// What the compensation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "vocab::PayoutType")]
pub enum PayoutType {
    /// 退运费
    ShippingFee,
    /// 补差价
    PriceDifference,
    /// 其他
    Other,
}

/// Where a payout's money comes from, as asked at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "vocab::FundingChoice")]
pub enum FundingChoice {
    /// Debit the shop's balance now (→ PAYING).
    Balance,
    /// The merchant scans a WeChat Pay QR code within 1 h (→ PENDING_RECHARGE).
    WechatScan,
    /// The merchant scans an Alipay QR code within 1 h (→ PENDING_RECHARGE).
    AlipayScan,
    /// Ask the shop admin (not for ADMIN).
    RequestApproval,
}

/// Where a committed payout's money came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "vocab::FundingMethod")]
pub enum FundingMethod {
    /// Debited from the shop's balance.
    Balance,
    /// Recharged by a WeChat Pay QR scan.
    WechatScan,
    /// Recharged by an Alipay QR scan.
    AlipayScan,
}

/// rules.md "Statuses".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "vocab::PayoutStatus")]
pub enum PayoutStatus {
    /// Waiting for the shop admin.
    PendingApproval,
    /// Waiting for the merchant's scan recharge (待充值).
    PendingRecharge,
    /// Not recharged within 1 h (充值失败).
    RechargeFailed,
    /// Rejected by the admin, or undecided for 7 days (rejectReason "expired").
    Rejected,
    /// Money left the shop; the channel is delivering it.
    Paying,
    /// 打款成功
    Succeeded,
    /// 打款失败: deducted but not delivered.
    Failed,
    /// 关闭: closed 7 days after commit; the amount returns to the balance 3 business days
    /// later (refundStatus).
    Closed,
}

/// Whether a closed payout's amount is back in the shop's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "vocab::RefundStatus")]
pub enum RefundStatus {
    /// Nothing to return: the payout is not CLOSED.
    None,
    /// Closed; the amount returns 3 business days after the close.
    Pending,
    /// The amount is back in the balance (refundedAt).
    Refunded,
}

/// Rules that stop a payout altogether, in rules.md's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "PayoutBlockerCode", remote = "vocab::PayoutBlocker")]
pub enum PayoutBlocker {
    /// The shop has unpaid bills.
    ShopUnpaidBills,
    /// paidToday plus this amount exceeds the shop's dailyCap.
    ShopDailyCapReached,
    /// The order is not grouped (未成团).
    OrderNotGrouped,
    /// The order was grouped more than 1 year ago.
    OrderTooOld,
    /// A payout on this order was created less than 60 s ago.
    OrderRateLimited,
    /// The order already has 3 applications (REJECTED and RECHARGE_FAILED ones not counted).
    OrderAttemptsExhausted,
    /// The amount is below 1.00.
    AmountBelowMinimum,
    /// The amount is above the shop's maximum for the goods.
    AmountAboveMaximum,
}

/// Rules that stop paying from the balance (scan or approval still possible), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "BalanceBlockerCode", remote = "vocab::BalanceBlocker")]
pub enum BalanceBlocker {
    /// A zero-fee-entry shop (0元入驻) that has not paid its deposit.
    ZeroEntryNoDeposit,
    /// The operator is CS or STAFF and has no quota.
    NoQuotaConfigured,
    /// The amount is above the operator's per-payout limit.
    PerPayoutQuotaExceeded,
    /// The operator's balance payouts today plus this amount exceed its daily limit.
    DailyQuotaExceeded,
    /// paidFromBalanceToday plus this amount exceeds the shop's dailyBalanceCap.
    ShopDailyBalanceCapReached,
    /// The order was grouped more than 3 months ago: scan only.
    #[graphql(name = "ORDER_GROUPED_3_TO_12_MONTHS")]
    OrderGrouped3To12Months,
    /// The shop's balance is below the amount.
    InsufficientBalance,
}

/// Where a duplicate record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "vocab::DuplicateSource")]
pub enum DuplicateSource {
    /// A payout of this shop on the order.
    Payout,
    /// A compensation the platform paid itself.
    Platform,
}

/// Why a transfer failed; BUYER_ACCOUNT sends the buyer an account card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "vocab::TransferFailureKind")]
pub enum TransferFailureKind {
    /// The buyer's account could not receive it: the buyer is sent an account card.
    BuyerAccount,
    /// Any other failure: no card; the platform follows it up.
    Other,
}

/// An account card's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "vocab::AccountCardStatus")]
pub enum AccountCardStatus {
    /// Sent; the buyer may submit an account until it expires (72 h).
    Open,
    /// The buyer submitted an account; the transfer was retried.
    Submitted,
    /// Expired, replaced by a new card, or its payout closed.
    Expired,
}

/// The kind of account a buyer submits on an account card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "vocab::ReceivingAccountKind")]
pub enum ReceivingAccountKind {
    /// A mobile number or an e-mail address.
    Alipay,
    /// 16–19 digits passing the Luhn check.
    BankCard,
}

/// What a buyer notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "vocab::NotificationKind")]
pub enum NotificationKind {
    /// The transfer arrived (title "商家补偿转账通知"; IN_APP and WECHAT).
    PayoutSucceeded,
    /// The transfer failed; contact platform customer service (IN_APP).
    PayoutFailed,
    /// An account card was sent: submit an account within 72 h (IN_APP).
    AccountCardSent,
}

/// Where a buyer notice is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "vocab::NotificationChannel")]
pub enum NotificationChannel {
    /// In the marketplace app.
    InApp,
    /// On WeChat.
    Wechat,
}

/// A check of the audit: one invariant of the books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "vocab::AuditCheck")]
pub enum AuditCheck {
    /// Each shop's balance is the sum of its ledger entries and never negative; each entry's
    /// balance after it follows from the one before. Counts ledger entries.
    Ledger,
    /// Each PAYOUT_DEBIT and REFUND_CREDIT entry matches one payout that moved that money, and
    /// each such payout has exactly one. Counts payouts.
    PayoutMoney,
    /// No order has more than 3 applications. Counts orders with payouts.
    Applications,
    /// No account paid from the balance above its quota, judged from the quota's last change.
    /// Counts the account days judged.
    Quotas,
    /// No shop committed more than its daily cap or daily balance cap on a day, judged from the
    /// shop's last change. Counts the shop days judged.
    ShopCaps,
    /// Each payout's history is a valid path of the state machine that ends in its status.
    /// Counts payouts.
    History,
    /// Each status that waits for a deadline or a delivery has its job. Counts the waiting
    /// payouts and open account cards.
    Jobs,
    /// The day's sums the limits read (kept per quarter hour of commit time, per shop and per
    /// applicant's quota) are what the shop's payouts add up to. Counts quarter hours.
    DaySums,
}

/// What the audit found wrong: a stable, machine-readable kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "AuditViolationKind", remote = "vocab::ViolationKind")]
pub enum ViolationKind {
    /// LEDGER: the shop's balance differs from the sum of its ledger entries.
    BalanceMismatch,
    /// LEDGER: the balance, or the running sum of the entries, went below zero.
    NegativeBalance,
    /// LEDGER: an entry's balance after it is not the previous entry's plus its amount.
    LedgerChainBroken,
    /// PAYOUT_MONEY: a PAYOUT_DEBIT names no payout of the shop.
    DebitWithoutPayout,
    /// PAYOUT_MONEY: a PAYOUT_DEBIT's payout did not move money from the balance (funding
    /// BALANCE, deducted, PAYING/SUCCEEDED/FAILED/CLOSED), or the amounts differ.
    DebitMismatch,
    /// PAYOUT_MONEY: a payout is debited more than once.
    DuplicateDebit,
    /// PAYOUT_MONEY: a payout moved money from the balance but no entry debits it.
    MissingDebit,
    /// PAYOUT_MONEY: a REFUND_CREDIT names no payout of the shop.
    CreditWithoutPayout,
    /// PAYOUT_MONEY: a REFUND_CREDIT's payout is not CLOSED with refund REFUNDED, or the
    /// amounts differ.
    CreditMismatch,
    /// PAYOUT_MONEY: a payout is credited back more than once.
    DuplicateCredit,
    /// PAYOUT_MONEY: a payout is CLOSED and REFUNDED but no entry credits it back.
    MissingCredit,
    /// PAYOUT_MONEY: a SUCCEEDED payout has a refund status or a refund credit.
    SucceededAndRefunded,
    /// APPLICATIONS: an order has more than 3 applications.
    TooManyApplications,
    /// QUOTAS: a balance payout an account paid itself is above its per-payout limit.
    QuotaPerPayoutExceeded,
    /// QUOTAS: an account's balance payouts of a day sum above its daily limit.
    QuotaDailyExceeded,
    /// SHOP_CAPS: a day's committed payouts sum above the shop's daily cap.
    ShopDailyCapExceeded,
    /// SHOP_CAPS: a day's balance-funded payouts sum above the shop's daily balance cap.
    ShopDailyBalanceCapExceeded,
    /// HISTORY: a payout has no recorded transition.
    HistoryMissing,
    /// HISTORY: a history does not start with the creation (none → PENDING_APPROVAL,
    /// PENDING_RECHARGE or PAYING).
    HistoryBadStart,
    /// HISTORY: a step does not start where the step before it ended.
    HistoryChainBroken,
    /// HISTORY: a step the state machine does not allow.
    TransitionNotAllowed,
    /// HISTORY: a payout's status is not where its latest transition went.
    StatusNotLatestTransition,
    /// JOBS: a PAYING payout has no DELIVER job.
    MissingDeliverJob,
    /// JOBS: a PENDING_APPROVAL payout has no pending APPROVAL_EXPIRY job.
    MissingApprovalExpiryJob,
    /// JOBS: a PENDING_RECHARGE payout has no pending RECHARGE_DEADLINE job.
    MissingRechargeDeadlineJob,
    /// JOBS: a PAYING or FAILED payout has no pending or done CLOSE job.
    MissingCloseJob,
    /// JOBS: a CLOSED payout whose refund is PENDING has no pending REFUND job.
    MissingRefundJob,
    /// JOBS: an OPEN account card has no pending CARD_EXPIRY job.
    MissingCardExpiryJob,
    /// DAY_SUMS: a quarter hour's kept sums (paid, from the balance, or an account's quota
    /// usage) differ from what the payouts committed in it add up to.
    DaySumMismatch,
}
