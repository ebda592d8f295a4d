//! What every check reads: one shop's books, the vocabulary, and small helpers.
pub(super) use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

pub(super) use chrono::{DateTime, NaiveDate, Utc};
pub(super) use chrono_tz::Tz;
pub(super) use entity::{
    account, account_card, commit_bucket, ledger_entry, payout, payout_transition, quota, scheduled_job, shop,
};

pub(super) use crate::audit::{AuditCheck, Findings, Violation, ViolationKind as Kind};
pub(super) use crate::domain::{
    money::Cny,
    payout::{MAX_APPLICATIONS, counts_as_application, may_start, may_transition},
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
    /// The shop's kept day sums (`commit_buckets`), every account's.
    pub buckets: Vec<commit_bucket::Model>,
}

pub(super) fn cny(fen: i64) -> Cny {
    Cny::from_fen(fen)
}

pub(super) fn money(fen: Fen) -> Cny {
    Cny::from(fen)
}

pub(super) fn local_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

pub(super) fn ids(list: &[i64]) -> String {
    list.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}
