//! The reference model: random cases of the payout lifecycle run against the real server
//! (manual payment channel) and judged by a small model written from rules.md alone.
//!
//! A **case** is one shop — in Asia/Shanghai, America/New_York or Europe/Berlin, with its own
//! caps, maximum amounts, opening balance, unpaid bills or unpaid deposit, four orders of
//! various ages (some crossing the 3- or 12-month line while the case runs), and three
//! merchants (ADMIN, CS_ADMIN and CS, each with or without a quota) — and a few rounds of
//! operations: creations with every funding choice by every role, previews, approvals by
//! balance or scan, rejections, recharges, transfer results of both failure kinds and
//! account submissions by the buyer. The model decides every one (allowed, or the exact list
//! of broken rules) and applies every deadline itself: recharge windows, approval expiry,
//! card expiry, the 7-day close and the refund 3 business days later in the shop's zone.
//! Since `extras=1` each round also has, from a random stream of its own, creations whose
//! amount is aimed one fen below, at or above what is left of a limit (the daily cap, the
//! balance cap, the balance, the per-payout and daily quota, the order's maximum), carrying
//! idempotency keys; replays of keyed creations (the same request: the same payout as it is
//! now; another amount: `IDEMPOTENCY_KEY_REUSED`; after 24 h: a new creation), the platform's
//! `adjustShopBalance` (some references repeated, some taking the balance to or past zero),
//! approvals paid by Alipay scan, a STAFF account (with or without a quota) creating and
//! previewing, the admin setting, clearing or wrongly setting quotas mid-case, card resends
//! (refused for an `OTHER` failure and within a minute of the last card), the platform's
//! compensations (with and without references, dated now or earlier), refunded orders — the
//! preview's duplicates and `orderRefunded` judged with them — and the marketplace changing
//! the shop's caps, maximums, unpaid bills or deposit mid-case (the daily cap sometimes to
//! exactly what was paid today), and creations on the order nearest its 3 applications; a
//! fifth of the rounds end with the clock moved to one case's last pending close ± 1 s. The
//! clock's moves are aimed too (`aimed=1`): at a pending deadline, the shop's midnight or 60 s
//! after a payout, ± 1 s.
//!
//! After each round it compares the shop's balance, today's sums, each quota's usage and each
//! payout's status, funding, refund status, card and history with the server's — each
//! transition's time and actor, and its note where a rule fixes it (the request's note, the
//! rejection's reason, "expired", the failure's reason) — and the payout's `createdAt`,
//! `deductedAt`, `succeededAt`, `closedAt`, `refundedAt` and `updatedAt`; every preview's limits, attempts,
//! quota and duplicates. After the last round and at the end it also computes, from its own
//! record, every account's `accountDailyReport` over the case's days (with the quota limits in
//! force at each day's end), the `summary` of six history filters and their CSV export's rows,
//! and the buyer's notices, and compares them (docs/testing.md, "Reports").
//!
//! Cases run in **batches** on one server: the clock is the server's, so the cases of a batch
//! share its moves (between rounds, and 30 days at the end, after which everything has
//! closed and refunded), while their shops keep them apart. A batch is replayed exactly from
//! its seed, its size and its starting instant, printed on failure and appended to
//! `tests/api/model-regressions.txt`, whose batches run first on every run.
//!
//! An eighth of the cases start on a daylight-saving change day (`DST_STARTS`).
//!
//! `cargo test`: 300 cases from a fixed seed (about 30 s on SQLite and 48 s on PostgreSQL in a
//! debug build on 2 idle cores, twice that beside a build: strong enough on its own to catch
//! the service-code bugs planted by `scripts/plants.sh`). `SMALLPAY_MODEL_CASES=10000` (and
//! `SMALLPAY_MODEL_SEED`) for the long run `.ci/run` makes; `SMALLPAY_MODEL_REGRESSIONS=0`
//! leaves out the recorded batches.
use std::{
    cell::RefCell,
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    panic::AssertUnwindSafe,
    path::PathBuf,
};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use futures_util::StreamExt as _;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use smallpay::{auth::Role, config::Gateway};

use crate::{
    expect,
    helpers::{Backend, TestApp},
};

const ORDERS: usize = 4;
const ROUNDS: usize = 6;
/// How many cases of a batch run their rounds at once.
const CONCURRENCY: usize = 16;
/// The largest batch: more cases are more batches.
const BATCH: usize = 100;
/// The clock moves between rounds: past the 60 s rule, within and past the 1 h recharge
/// window, across midnight, past the 72 h card and up to the 7-day close and expiry.
const MOVES: &[i64] =
    &[61, 1_800, 3_601, 5 * 3_600, 86_400, 2 * 86_400, 3 * 86_400 + 7, 4 * 86_400, 5 * 86_400, 7 * 86_400];
/// Amounts in fen: below the minimum, at it, around the maximums and caps.
const AMOUNTS: &[i64] = &[50, 100, 101, 999, 1_000, 1_500, 2_500, 3_000, 3_001, 5_000, 8_000];
/// PayoutType, in the enum's order.
const TYPES: &[&str] = &["SHIPPING_FEE", "PRICE_DIFFERENCE", "OTHER"];
/// The quotas a case's accounts may have (the last one is refused: per-payout above daily).
const QUOTAS: &[Quota] = &[
    Quota { per: 1_000, daily: 1_500 },
    Quota { per: 3_000, daily: 3_000 },
    Quota { per: 500, daily: 1_000 },
    Quota { per: 2_000, daily: 1_000 },
];
const ZONES: &[Tz] = &[chrono_tz::Asia::Shanghai, chrono_tz::America::New_York, chrono_tz::Europe::Berlin];

// ---------------------------------------------------------------------------------------
// The cases

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Actor {
    Admin,
    CsAdmin,
    Cs,
    /// Any other shop role: like CS (rules.md "Actors"); acts in the extras only.
    Staff,
}

impl Actor {
    fn sub(self) -> &'static str {
        match self {
            Actor::Admin => "admin",
            Actor::CsAdmin => "csa",
            Actor::Cs => "cs",
            Actor::Staff => "staff",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Funding {
    Balance,
    Wechat,
    Alipay,
    Request,
}

impl Funding {
    fn choice(self) -> &'static str {
        match self {
            Funding::Balance => "BALANCE",
            Funding::Wechat => "WECHAT_SCAN",
            Funding::Alipay => "ALIPAY_SCAN",
            Funding::Request => "REQUEST_APPROVAL",
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        actor: Actor,
        order: usize,
        amount: i64,
        funding: Funding,
    },
    Preview {
        actor: Actor,
        order: usize,
        amount: Option<i64>,
    },
    Approve {
        payout: usize,
        funding: Funding,
    },
    Reject {
        payout: usize,
    },
    Confirm {
        payout: usize,
    },
    Report {
        payout: usize,
        ok: bool,
        buyer_account: bool,
    },
    Submit {
        payout: usize,
    },
    // The extras (`extras=1`, drawn from a stream of their own so that older batches replay
    // unchanged):
    /// A creation on the order with the most applications (the nearest to the 3-limit; the
    /// lowest of equals), for a small amount.
    Busiest {
        actor: Actor,
        funding: Funding,
        amount: i64,
    },
    /// A creation whose amount is aimed, when applied, one fen below, at or above what is left
    /// of a limit (`Case::aimed_amount`).
    Aimed {
        actor: Actor,
        order: usize,
        funding: Funding,
        target: usize,
        offset: i64,
    },
    /// An earlier keyed creation sent again: the same request, or (`same: false`) one fen more.
    Replay {
        pick: usize,
        same: bool,
    },
    /// The platform's `adjustShopBalance`: `amount` in fen (`None`: the whole balance out),
    /// plus `offset`, under one of a few references (so some are repeated).
    Adjust {
        amount: Option<i64>,
        offset: i64,
        reference: usize,
    },
    /// The admin sets an account's quota (`Some`) or clears it (`None`) mid-case.
    SetQuota {
        actor: Actor,
        quota: Option<Quota>,
    },
    /// A merchant sends the buyer a new account card.
    Resend {
        payout: usize,
        by: Actor,
    },
    /// The platform records a compensation of its own on an order: `type` by index, amount in
    /// fen, dated `earlier` (3 h before now) or now, under a reference (some repeated) or none.
    Compensate {
        order: usize,
        kind: usize,
        amount: i64,
        earlier: bool,
        reference: Option<usize>,
    },
    /// The marketplace reports the order refunded (`syncOrder` with `refunded: true`).
    RefundOrder {
        order: usize,
    },
    /// The marketplace changes the shop's policy mid-case (`syncShop`): one of its caps or
    /// maximums (`which`, the new value drawn by `pick`), its unpaid bills or deposit, or its
    /// daily cap set to what it paid today (+ 0 or 1.00).
    Policy {
        which: usize,
        pick: usize,
    },
}

/// A compensation the platform recorded.
#[derive(Clone, Debug)]
struct Compensation {
    id: String,
    order: usize,
    kind: &'static str,
    amount: i64,
    at: DateTime<Utc>,
    reference: Option<String>,
}

/// A creation as sent (kept to send it again under its idempotency key).
#[derive(Clone, Debug)]
struct Sent {
    actor: Actor,
    order: usize,
    amount: i64,
    funding: Funding,
    kind: &'static str,
    note: Option<String>,
    key: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Quota {
    per: i64,
    daily: i64,
}

#[derive(Clone, Debug)]
struct Order {
    grouped: Option<DateTime<Utc>>,
    activity: bool,
    /// Refunded by the marketplace (the extras' `Op::RefundOrder`).
    refunded: bool,
}

#[derive(Clone, Debug)]
struct Spec {
    zone: Tz,
    unpaid_bills: bool,
    zero_entry_no_deposit: bool,
    opening: i64,
    daily_cap: i64,
    balance_cap: i64,
    max_regular: i64,
    max_activity: i64,
    orders: Vec<Order>,
    quotas: HashMap<Actor, Quota>,
}

fn pick<T: Copy>(rng: &mut StdRng, from: &[T]) -> T {
    *from.choose(rng).expect("a non-empty table")
}

impl Spec {
    /// A case's shop; `dst`: a batch that starts on that zone's daylight-saving change day,
    /// where most shops are in it.
    fn generate(rng: &mut StdRng, start: DateTime<Utc>, dst: Option<Tz>) -> Spec {
        let zone = match dst {
            None => pick(rng, ZONES),
            Some(dst) => pick(rng, &[dst, dst, dst, ZONES[0], ZONES[1], ZONES[2]]),
        };
        let orders = (0..ORDERS)
            .map(|_| {
                let hours = TimeDelta::hours(rng.random_range(1..=96));
                let grouped = match rng.random_range(0..20) {
                    // Turns 3 months old while the case runs (or not).
                    9..=12 => Some(expect::months_before(start, zone, 3) + hours),
                    13 | 14 => Some(expect::months_before(start, zone, 6)),
                    // Turns a year old while the case runs (or not).
                    15 | 16 => Some(expect::months_before(start, zone, 12) + hours),
                    17 => Some(expect::months_before(start, zone, 13)),
                    18 => None,
                    _ => Some(start - TimeDelta::days(1)),
                };
                Order { grouped, activity: rng.random_bool(0.25), refunded: false }
            })
            .collect();
        let quota_choices = &QUOTAS[..3];
        let mut quotas = HashMap::new();
        if rng.random_bool(0.7) {
            quotas.insert(Actor::Cs, pick(rng, quota_choices));
        }
        if rng.random_bool(0.5) {
            quotas.insert(Actor::CsAdmin, pick(rng, quota_choices));
        }
        Spec {
            zone,
            unpaid_bills: rng.random_bool(0.05),
            zero_entry_no_deposit: rng.random_bool(0.1),
            opening: pick(rng, &[0, 2_000, 6_000, 20_000, 100_000]),
            daily_cap: pick(rng, &[5_000, 10_000, 500_000]),
            balance_cap: pick(rng, &[3_000, 8_000, 200_000]),
            max_regular: pick(rng, &[3_000, 20_000]),
            max_activity: pick(rng, &[1_500, 5_000]),
            orders,
            quotas,
        }
    }
}

/// A round's extra operations (`extras=1`): creations with aimed amounts and idempotency
/// keys, replays of keyed creations, balance adjustments, approvals paid by Alipay scan, STAFF
/// creating and previewing, quota changes, card resends, the platform's compensations and
/// refunded orders.
fn generate_extras(rng: &mut StdRng) -> Vec<Op> {
    let actors = [Actor::Admin, Actor::CsAdmin, Actor::Cs, Actor::Staff, Actor::Staff];
    let fundings = [Funding::Balance, Funding::Balance, Funding::Wechat, Funding::Alipay, Funding::Request];
    (0..rng.random_range(0..=3))
        .map(|_| match rng.random_range(0..20) {
            0..=3 => Op::Aimed {
                actor: pick(rng, &actors),
                order: rng.random_range(0..ORDERS).min(rng.random_range(0..ORDERS)),
                funding: pick(rng, &fundings),
                target: rng.random_range(0..6),
                offset: rng.random_range(-1..=1),
            },
            4 | 5 => Op::Replay { pick: rng.random_range(0..1_000), same: rng.random_bool(0.6) },
            6 => Op::Adjust {
                amount: rng.random_bool(0.7).then(|| pick(rng, &[-5_000, -2_000, -100, 100, 3_000, 20_000])),
                offset: if rng.random_bool(0.5) { 0 } else { rng.random_range(-1..=1) },
                reference: rng.random_range(0..4),
            },
            7 => Op::Approve { payout: rng.random_range(0..1_000), funding: Funding::Alipay },
            8 => Op::SetQuota {
                actor: pick(rng, &[Actor::Admin, Actor::CsAdmin, Actor::Cs, Actor::Staff]),
                quota: rng.random_bool(0.75).then(|| pick(rng, QUOTAS)),
            },
            9 | 10 => Op::Resend { payout: rng.random_range(0..1_000), by: pick(rng, &actors) },
            11 | 12 => Op::Compensate {
                order: rng.random_range(0..ORDERS),
                kind: rng.random_range(0..TYPES.len()),
                amount: pick(rng, &[800, 800, 1_200]),
                earlier: rng.random_bool(0.3),
                reference: rng.random_bool(0.5).then(|| rng.random_range(0..3)),
            },
            13 => Op::RefundOrder { order: rng.random_range(0..ORDERS) },
            14 => Op::Policy { which: rng.random_range(0..7), pick: rng.random_range(0..6) },
            15 | 16 => Op::Busiest {
                actor: pick(rng, &actors),
                funding: pick(rng, &fundings),
                amount: pick(rng, &[100, 500, 999]),
            },
            _ => Op::Preview {
                actor: pick(rng, &actors),
                order: rng.random_range(0..ORDERS),
                amount: rng.random_bool(0.7).then(|| pick(rng, AMOUNTS)),
            },
        })
        .collect()
}

fn generate_round(rng: &mut StdRng) -> Vec<Op> {
    let actors = [Actor::Admin, Actor::CsAdmin, Actor::Cs];
    let fundings =
        [Funding::Balance, Funding::Balance, Funding::Wechat, Funding::Alipay, Funding::Request, Funding::Request];
    (0..rng.random_range(1..=3))
        .map(|_| {
            let payout = rng.random_range(0..1_000);
            match rng.random_range(0..14) {
                0..=4 => Op::Create {
                    actor: pick(rng, &actors),
                    // Mostly the first orders, so that some reach their 3 applications.
                    order: rng.random_range(0..ORDERS).min(rng.random_range(0..ORDERS)),
                    amount: pick(rng, AMOUNTS),
                    funding: pick(rng, &fundings),
                },
                5 => Op::Preview {
                    actor: pick(rng, &actors),
                    order: rng.random_range(0..ORDERS),
                    amount: rng.random_bool(0.7).then(|| pick(rng, AMOUNTS)),
                },
                6 | 7 => Op::Approve {
                    payout,
                    funding: if rng.random_bool(0.7) { Funding::Balance } else { Funding::Wechat },
                },
                8 => Op::Reject { payout },
                9 => Op::Confirm { payout },
                10 | 11 => Op::Report { payout, ok: rng.random_bool(0.35), buyer_account: rng.random_bool(0.75) },
                _ => Op::Submit { payout },
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The model

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    PendingApproval,
    PendingRecharge,
    RechargeFailed,
    Rejected,
    Paying,
    Succeeded,
    Failed,
    Closed,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::PendingApproval => "PENDING_APPROVAL",
            Status::PendingRecharge => "PENDING_RECHARGE",
            Status::RechargeFailed => "RECHARGE_FAILED",
            Status::Rejected => "REJECTED",
            Status::Paying => "PAYING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::Closed => "CLOSED",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CardStatus {
    Open,
    Submitted,
    Expired,
}

impl CardStatus {
    fn name(self) -> &'static str {
        match self {
            CardStatus::Open => "OPEN",
            CardStatus::Submitted => "SUBMITTED",
            CardStatus::Expired => "EXPIRED",
        }
    }
}

#[derive(Clone, Debug)]
struct Payout {
    id: String,
    order: usize,
    applicant: Actor,
    amount: i64,
    created: DateTime<Utc>,
    status: Status,
    /// The funding method once decided (`None` while a request waits, and after a rejection).
    funding: Option<Funding>,
    /// Paid from the balance by its applicant itself: counts against the applicant's quota.
    uses_quota: bool,
    /// When it first entered PENDING_RECHARGE or PAYING.
    committed: Option<DateTime<Utc>>,
    /// When the money left the shop (the balance debited, or the recharge received).
    deducted: Option<DateTime<Utc>>,
    /// Its type (`TYPES`), which no rule reads: varied for the reports' split by type.
    kind: &'static str,
    /// An approval request: how it ended (`None` while it waits).
    request: Option<Option<Decision>>,
    closed: Option<DateTime<Utc>>,
    /// The newest account card: its status and when it expires.
    card: Option<(CardStatus, DateTime<Utc>)>,
    refund_due: Option<DateTime<Utc>>,
    refunded: bool,
    /// When the channel reported the transfer delivered.
    succeeded: Option<DateTime<Utc>>,
    /// Its last failure was the buyer's account (a card may be resent while it is FAILED).
    account_failure: bool,
    /// Its history as rules.md records it: every transition's status, time and actor, and the
    /// note where a rule or the request sets it.
    history: Vec<Entry>,
}

/// One transition of a payout's history.
#[derive(Clone, Debug)]
struct Entry {
    to: Status,
    at: DateTime<Utc>,
    /// An account id, `buyer:<buyer id>`, `system` or `platform` (rules.md "Statuses").
    actor: String,
    /// `None`: a note no rule fixes (the server's own wording), not judged.
    note: Option<Option<String>>,
}

impl Payout {
    /// Moves it to `to`, recording the transition.
    fn enter(&mut self, to: Status, at: DateTime<Utc>, actor: &str, note: Option<Option<&str>>) {
        self.status = to;
        self.history.push(Entry { to, at, actor: actor.to_owned(), note: note.map(|n| n.map(str::to_owned)) });
    }

    /// One of its order's applications (rules.md "Counting": every payout but a rejected one or
    /// a failed recharge).
    fn is_application(&self) -> bool {
        !matches!(self.status, Status::Rejected | Status::RechargeFailed)
    }

    /// Its next deadline, if one is pending: the request's 7-day expiry, the 1 h recharge
    /// window, the 7-day close, the refund 3 business days after the close.
    fn due(&self) -> Option<DateTime<Utc>> {
        match self.status {
            Status::PendingApproval => Some(self.created + TimeDelta::days(7)),
            Status::PendingRecharge => self.committed.map(|c| c + expect::RECHARGE_WINDOW),
            Status::Paying | Status::Failed => self.committed.map(|c| c + expect::CLOSE_AFTER),
            Status::Closed if !self.refunded => self.refund_due,
            _ => None,
        }
    }

    /// When its account card expires, while one is open.
    fn card_due(&self) -> Option<DateTime<Utc>> {
        self.card.and_then(|(s, at)| (s == CardStatus::Open).then_some(at))
    }
}

/// How an approval request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Approved,
    Rejected,
    Expired,
}

/// What the model expects of a decision: allowed, or refused with a code and every broken
/// rule (payout blockers before balance blockers).
#[derive(Debug, PartialEq)]
enum Verdict {
    Allowed,
    Refused(&'static str, Vec<&'static str>),
}

fn verdict(codes: Vec<&'static str>) -> Verdict {
    match codes.first() {
        None => Verdict::Allowed,
        Some(first) => Verdict::Refused(first, codes),
    }
}

struct Case {
    seed: u64,
    n: usize,
    shop: String,
    buyer: String,
    spec: Spec,
    rounds: Vec<Vec<Op>>,
    now: DateTime<Utc>,
    balance: i64,
    payouts: Vec<Payout>,
    log: Vec<String>,
    tokens: HashMap<Actor, String>,
    buyer_token: String,
    /// How each kind of operation was judged ("Create: DAILY_QUOTA_EXCEEDED"), for the summary.
    tally: RefCell<BTreeMap<String, usize>>,
    /// Creations carry idempotency keys (the extras).
    keyed: bool,
    /// Keyed creations that made a payout, with its index: what `Op::Replay` sends again.
    sent: Vec<(Sent, usize)>,
    /// The balance adjustments made, by reference.
    adjusted: HashMap<String, i64>,
    /// Every quota set or cleared, with when (the reports' limits at a day's end).
    quota_log: Vec<(Actor, DateTime<Utc>, Option<Quota>)>,
    /// The buyer's notices as they were sent: the payout, the kind and when.
    notices: Vec<(usize, &'static str, DateTime<Utc>)>,
    /// The platform's compensations on the case's orders.
    compensations: Vec<Compensation>,
}

impl Case {
    fn today(&self) -> NaiveDate {
        self.now.with_timezone(&self.spec.zone).date_naive()
    }

    fn commit_day(&self, p: &Payout) -> Option<NaiveDate> {
        p.committed.map(|c| c.with_timezone(&self.spec.zone).date_naive())
    }

    /// rules.md "Counting": committed, and not a request, rejected or failed recharge.
    fn counted_today<'a>(&'a self) -> impl Iterator<Item = &'a Payout> + 'a {
        let today = self.today();
        self.payouts.iter().filter(move |p| {
            !matches!(p.status, Status::PendingApproval | Status::Rejected | Status::RechargeFailed)
                && self.commit_day(p) == Some(today)
        })
    }

    fn paid_today(&self) -> i64 {
        self.counted_today().map(|p| p.amount).sum()
    }

    fn paid_from_balance_today(&self) -> i64 {
        self.counted_today().filter(|p| p.funding == Some(Funding::Balance)).map(|p| p.amount).sum()
    }

    fn used_today(&self, actor: Actor) -> i64 {
        self.counted_today().filter(|p| p.uses_quota && p.applicant == actor).map(|p| p.amount).sum()
    }

    fn quota(&self, actor: Actor) -> Option<Quota> {
        if actor == Actor::Admin { None } else { self.spec.quotas.get(&actor).copied() }
    }

    /// Was the order grouped more than `months` calendar months before `at`?
    fn grouped_before(&self, order: usize, months: u32, at: DateTime<Utc>) -> bool {
        self.spec.orders[order].grouped.is_some_and(|g| g < expect::months_before(at, self.spec.zone, months))
    }

    /// The order's applications (rules.md "Counting").
    fn applications(&self, order: usize) -> usize {
        self.payouts.iter().filter(|p| p.order == order && p.is_application()).count()
    }

    /// The order's maximum amount: the activity goods' or the regular one (rules.md "Limits").
    fn max_amount(&self, order: usize) -> i64 {
        if self.spec.orders[order].activity { self.spec.max_activity } else { self.spec.max_regular }
    }

    /// The payout blockers (about the shop, the order and the amount), in rules.md's order.
    fn blockers(&self, order: usize, amount: Option<i64>) -> Vec<&'static str> {
        let judged = amount.unwrap_or(100);
        let mut codes = Vec::new();
        if self.spec.unpaid_bills {
            codes.push("SHOP_UNPAID_BILLS");
        }
        if self.paid_today() + judged > self.spec.daily_cap {
            codes.push("SHOP_DAILY_CAP_REACHED");
        }
        if self.spec.orders[order].grouped.is_none() {
            codes.push("ORDER_NOT_GROUPED");
        } else if self.grouped_before(order, 12, self.now) {
            codes.push("ORDER_TOO_OLD");
        }
        let on_order = || self.payouts.iter().filter(move |p| p.order == order);
        if on_order().any(|p| self.now - p.created < TimeDelta::seconds(60)) {
            codes.push("ORDER_RATE_LIMITED");
        }
        if self.applications(order) >= 3 {
            codes.push("ORDER_ATTEMPTS_EXHAUSTED");
        }
        if let Some(amount) = amount {
            if amount < 100 {
                codes.push("AMOUNT_BELOW_MINIMUM");
            }
            if amount > self.max_amount(order) {
                codes.push("AMOUNT_ABOVE_MAXIMUM");
            }
        }
        codes
    }

    /// The balance blockers for `actor`, in rules.md's order, with the order's age taken at
    /// `age_at` (now for a creation or preview; the request's creation for an approval).
    fn balance_blockers(
        &self,
        actor: Actor,
        order: usize,
        amount: Option<i64>,
        age_at: DateTime<Utc>,
    ) -> Vec<&'static str> {
        let judged = amount.unwrap_or(100);
        let mut codes = Vec::new();
        if self.spec.zero_entry_no_deposit {
            codes.push("ZERO_ENTRY_NO_DEPOSIT");
        }
        let quota = self.quota(actor);
        if matches!(actor, Actor::Cs | Actor::Staff) && quota.is_none() {
            codes.push("NO_QUOTA_CONFIGURED");
        }
        if let Some(q) = quota {
            if judged > q.per {
                codes.push("PER_PAYOUT_QUOTA_EXCEEDED");
            }
            if self.used_today(actor) + judged > q.daily {
                codes.push("DAILY_QUOTA_EXCEEDED");
            }
        }
        if self.paid_from_balance_today() + judged > self.spec.balance_cap {
            codes.push("SHOP_DAILY_BALANCE_CAP_REACHED");
        }
        if !self.grouped_before(order, 12, age_at) && self.grouped_before(order, 3, age_at) {
            codes.push("ORDER_GROUPED_3_TO_12_MONTHS");
        }
        if self.balance < judged {
            codes.push("INSUFFICIENT_BALANCE");
        }
        codes
    }

    fn creation(&self, actor: Actor, order: usize, amount: i64, funding: Funding) -> Verdict {
        let blockers = self.blockers(order, Some(amount));
        let balance_blockers = self.balance_blockers(actor, order, Some(amount), self.now);
        if blockers.is_empty() && (funding != Funding::Balance || balance_blockers.is_empty()) {
            return Verdict::Allowed;
        }
        verdict(blockers.into_iter().chain(balance_blockers).collect())
    }

    /// rules.md "Approvals": the shop's bills and daily cap again, and for the balance every
    /// balance rule but the three quota ones, with the order judged as it was at the request
    /// (its age then; the 60 s rule, the attempts and the year limit are not re-judged).
    fn approval(&self, p: &Payout, funding: Funding) -> Verdict {
        let shop_rules = ["SHOP_UNPAID_BILLS", "SHOP_DAILY_CAP_REACHED"];
        let quota_rules = ["NO_QUOTA_CONFIGURED", "PER_PAYOUT_QUOTA_EXCEEDED", "DAILY_QUOTA_EXCEEDED"];
        let mut codes: Vec<_> =
            self.blockers(p.order, Some(p.amount)).into_iter().filter(|c| shop_rules.contains(c)).collect();
        if funding == Funding::Balance {
            let balance = self.balance_blockers(Actor::Admin, p.order, Some(p.amount), p.created);
            codes.extend(balance.into_iter().filter(|c| !quota_rules.contains(c)));
        }
        verdict(codes)
    }

    /// The instants after now at which one of this case's answers changes: each pending
    /// deadline and open card's expiry, the shop's next local midnight (a new day's sums), and
    /// 59 and 60 s after each order's newest payout (the 60 s rule) — earliest first.
    fn boundaries(&self) -> Vec<DateTime<Utc>> {
        let mut at = vec![expect::next_midnight(self.now, self.spec.zone)];
        for p in &self.payouts {
            at.extend(p.due());
            at.extend(p.card_due());
        }
        for order in 0..ORDERS {
            if let Some(last) = self.payouts.iter().filter(|p| p.order == order).map(|p| p.created).max() {
                at.extend([last + TimeDelta::seconds(59), last + TimeDelta::seconds(60)]);
            }
        }
        at.retain(|t| *t > self.now);
        at.sort();
        at.dedup();
        at
    }

    /// Applies every deadline due by `until`, earliest first.
    fn advance(&mut self, until: DateTime<Utc>) {
        loop {
            let mut next: Option<(DateTime<Utc>, usize, bool)> = None;
            for (i, p) in self.payouts.iter().enumerate() {
                for (at, is_card) in [(p.due(), false), (p.card_due(), true)] {
                    if let Some(at) = at.filter(|at| *at <= until)
                        && next.is_none_or(|(n, ..)| at < n)
                    {
                        next = Some((at, i, is_card));
                    }
                }
            }
            let Some((due, i, is_card)) = next else { break };
            self.now = due;
            let zone = self.spec.zone;
            let p = &mut self.payouts[i];
            if is_card {
                p.card = p.card.map(|(_, at)| (CardStatus::Expired, at));
                continue;
            }
            match p.status {
                Status::PendingApproval => {
                    // rules.md: 7 days undecided -> REJECTED (actor "system", reason "expired").
                    p.enter(Status::Rejected, due, "system", Some(Some("expired")));
                    p.request = Some(Some(Decision::Expired));
                }
                Status::PendingRecharge => p.enter(Status::RechargeFailed, due, "system", None),
                Status::Paying | Status::Failed => {
                    p.enter(Status::Closed, due, "system", None);
                    p.closed = Some(due);
                    if let Some((CardStatus::Open, at)) = p.card {
                        p.card = Some((CardStatus::Expired, at));
                    }
                    p.refund_due = Some(expect::add_business_days(due, zone, expect::REFUND_BUSINESS_DAYS));
                }
                _ => {
                    p.refunded = true;
                    self.balance += p.amount;
                }
            }
        }
        self.now = until;
    }

    #[track_caller]
    fn fail(&self, what: String) -> ! {
        let mut ops = String::new();
        for line in &self.log {
            let _ = writeln!(ops, "    {line}");
        }
        panic!(
            "model case {} of batch seed {} (shop {}): {what}\n  spec: {:?}\n  operations so far:\n{ops}",
            self.n, self.seed, self.shop, self.spec
        )
    }

    fn expect_eq(&self, what: &str, got: &Value, want: &str) {
        if got.as_str() != Some(want) {
            self.fail(format!("{what}: the server says {got}, the model {want}"));
        }
    }

    /// Compares a GraphQL answer with a verdict; `Ok(data)` when allowed and answered.
    fn judge(&self, what: &str, response: &Value, want: &Verdict) -> Option<Value> {
        let error = &response["errors"][0];
        let op = what.split(": ").nth(1).and_then(|s| s.split([' ', '{']).next()).unwrap_or("?");
        let outcome = match want {
            Verdict::Allowed => "allowed",
            Verdict::Refused(code, _) => code,
        };
        *self.tally.borrow_mut().entry(format!("{op}: {outcome}")).or_default() += 1;
        match want {
            Verdict::Allowed if error.is_null() => Some(response["data"].clone()),
            Verdict::Allowed => self.fail(format!("{what}: the model allows it, the server says {response}")),
            Verdict::Refused(code, codes) => {
                let got_codes: Vec<&str> = error["extensions"]["blockers"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let listed = codes.len() == 1 && got_codes.is_empty() || got_codes == *codes;
                if error["extensions"]["code"] != *code || !listed {
                    self.fail(format!("{what}: the model refuses it with {codes:?}, the server says {response}"));
                }
                None
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Running a case against the server

const PREVIEW: &str = "query($o: String!, $a: Decimal) { payoutPreview(orderSn: $o, amount: $a) {
  allowed blockers balanceAllowed balanceBlockers minAmount maxAmount remainingAttempts perPayoutLimit
  remainingQuotaToday canRequestApproval orderRefunded duplicates { source payoutId type amount status at } } }";
const CHECK: &str = "{ shop { balance paidToday paidFromBalanceToday } quotas { account { id } usedToday }
  payouts(first: 50) { totalCount edges { node { id status funding refundStatus accountCard { status }
  createdAt deductedAt succeededAt closedAt refundedAt updatedAt history { from to at actor note } } } } }";

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// An RFC 3339 instant the server answered, in UTC.
fn instant(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
}

fn signed_yuan(fen: i64) -> String {
    if fen < 0 { format!("-{}", yuan(-fen)) } else { yuan(fen) }
}

impl Case {
    fn order_sn(&self, order: usize) -> String {
        format!("{}-O{order}", self.shop)
    }

    /// The `OrderInput` of one of the case's orders.
    fn order_input(&self, i: usize, order: &Order) -> Value {
        json!({
            "orderSn": self.order_sn(i), "shopId": self.shop, "buyerId": self.buyer, "goodsId": "G-1",
            "goodsName": "Goods", "activityGoods": order.activity, "paidAmount": "99.00",
            "groupedAt": order.grouped.map(|g| g.to_rfc3339()),
        })
    }

    /// The shop as the spec has it (`syncShop`: the opening balance counts the first time only).
    async fn sync_shop(&self, app: &TestApp) {
        let s = &self.spec;
        app.sync_shop(
            &self.shop,
            &yuan(s.opening),
            json!({
                "timeZone": s.zone.name(), "hasUnpaidBills": s.unpaid_bills,
                "zeroEntry": s.zero_entry_no_deposit, "depositPaid": !s.zero_entry_no_deposit,
                "dailyCap": yuan(s.daily_cap), "dailyBalanceCap": yuan(s.balance_cap),
                "maxAmountRegular": yuan(s.max_regular), "maxAmountActivity": yuan(s.max_activity),
            }),
        )
        .await;
    }

    async fn set_up(&mut self, app: &TestApp) {
        self.sync_shop(app).await;
        let s = &self.spec;
        // The orders in one request (aliased mutations run one after another).
        let mut orders = String::from("mutation(");
        let mut fields = String::new();
        let mut vars = serde_json::Map::new();
        for (i, order) in s.orders.iter().enumerate() {
            let _ = write!(orders, "$o{i}: OrderInput!, ");
            let _ = write!(fields, "o{i}: syncOrder(input: $o{i}) {{ orderSn }} ");
            vars.insert(format!("o{i}"), self.order_input(i, order));
        }
        let _ = write!(orders, ") {{ {fields} }}");
        app.ok(&app.platform(), &orders, Value::Object(vars)).await;
        let roles = [
            (Actor::Admin, Role::Admin),
            (Actor::CsAdmin, Role::CsAdmin),
            (Actor::Cs, Role::Cs),
            (Actor::Staff, Role::Staff),
        ];
        for (actor, role) in roles {
            let token = app.token(role, Some(&self.shop), actor.sub());
            app.ok(&token, "{ me { id } }", json!({})).await; // the account exists from now on
            self.tokens.insert(actor, token);
        }
        if !s.quotas.is_empty() {
            let mut set = String::from("mutation {");
            for (actor, q) in &s.quotas {
                let (a, p, d) = (actor.sub(), yuan(q.per), yuan(q.daily));
                let _ = write!(
                    set,
                    " {a}: setQuota(accountId: \"{a}\", perPayoutLimit: \"{p}\", dailyLimit: \"{d}\") {{ dailyLimit }}"
                );
            }
            set.push('}');
            app.ok(&self.tokens[&Actor::Admin], &set, json!({})).await;
            self.quota_log.extend(s.quotas.iter().map(|(a, q)| (*a, self.now, Some(*q))));
        }
        self.buyer_token = app.token(Role::Buyer, None, &self.buyer);
    }

    async fn play(&mut self, app: &TestApp, round: usize) {
        for (step, op) in self.rounds[round].clone().into_iter().enumerate() {
            let label = format!("round {round} step {step} at {}: {op:?}", self.now);
            self.log.push(label.clone());
            self.apply(app, &label, op).await;
        }
    }

    /// The payout an operation acts on: mostly one in a status where it may (`fitting`),
    /// sometimes any (to be refused with `INVALID_STATE`).
    fn payout_index(&self, pick: usize, fitting: impl Fn(&Payout) -> bool) -> Option<usize> {
        let fit: Vec<usize> = (0..self.payouts.len()).filter(|i| fitting(&self.payouts[*i])).collect();
        if !pick.is_multiple_of(5) && !fit.is_empty() {
            return Some(fit[pick / 5 % fit.len()]);
        }
        (pick.is_multiple_of(3) && !self.payouts.is_empty()).then(|| pick % self.payouts.len())
    }

    /// A creation to send: its type follows from the case's history (no draw: the seeds' cases
    /// stay), a request says why (rules.md "Approvals": an optional note, which the creation's
    /// history entry carries), and `keyed` gives it an idempotency key.
    fn sending(&self, actor: Actor, order: usize, amount: i64, funding: Funding, keyed: bool) -> Sent {
        let kind = TYPES[(self.log.len() + order) % TYPES.len()];
        let note = (funding == Funding::Request).then(|| format!("quota used up, order {order}"));
        let key = keyed.then(|| format!("k{}", self.log.len()));
        Sent { actor, order, amount, funding, kind, note, key }
    }

    /// Sends a creation.
    async fn send(&self, app: &TestApp, sent: &Sent) -> Value {
        app.create_payout(
            &self.tokens[&sent.actor],
            &self.order_sn(sent.order),
            &yuan(sent.amount),
            sent.funding.choice(),
            json!({ "type": sent.kind, "approvalNote": sent.note, "idempotencyKey": sent.key }),
        )
        .await
    }

    /// A creation, judged and, when allowed, recorded.
    async fn create(&mut self, app: &TestApp, label: &str, sent: Sent) {
        let r = self.send(app, &sent).await;
        let Sent { actor, order, amount, funding, kind, .. } = sent;
        let note = sent.note.clone();
        if actor == Actor::Admin && funding == Funding::Request {
            if r["errors"][0]["extensions"]["code"] != "FORBIDDEN" {
                self.fail(format!("{label}: an admin cannot request approval, the server says {r}"));
            }
            return;
        }
        let Some(data) = self.judge(label, &r, &self.creation(actor, order, amount, funding)) else { return };
        if let Some(key) = &sent.key {
            // A forgotten key made again replaces the old one.
            self.sent.retain(|(s, _)| s.key.as_ref() != Some(key) || s.actor != actor);
            self.sent.push((sent.clone(), self.payouts.len()));
        }
        let (status, decided) = match funding {
            Funding::Balance => (Status::Paying, Some(funding)),
            Funding::Wechat | Funding::Alipay => (Status::PendingRecharge, Some(funding)),
            Funding::Request => (Status::PendingApproval, None),
        };
        if funding == Funding::Balance {
            self.balance -= amount;
        }
        let id = data["createPayout"]["id"].as_str().unwrap_or_default().to_owned();
        self.expect_eq(&format!("{label}: status"), &data["createPayout"]["status"], status.name());
        let history = vec![Entry { to: status, at: self.now, actor: actor.sub().to_owned(), note: Some(note) }];
        self.payouts.push(Payout {
            id,
            order,
            applicant: actor,
            amount,
            created: self.now,
            status,
            funding: decided,
            uses_quota: funding == Funding::Balance,
            committed: (status != Status::PendingApproval).then_some(self.now),
            deducted: (funding == Funding::Balance).then_some(self.now),
            kind,
            request: (funding == Funding::Request).then_some(None),
            closed: None,
            card: None,
            refund_due: None,
            refunded: false,
            succeeded: None,
            account_failure: false,
            history,
        });
    }

    /// What is left of one limit for this creation, plus `offset` fen (at least 1 fen): the
    /// shop's daily cap, its daily balance cap, its balance, the operator's per-payout quota or
    /// what is left of its daily quota (the balance without a quota), or the order's maximum.
    fn aimed_amount(&self, actor: Actor, order: usize, target: usize, offset: i64) -> i64 {
        let quota = self.quota(actor);
        let left = match target % 6 {
            0 => self.spec.daily_cap - self.paid_today(),
            1 => self.spec.balance_cap - self.paid_from_balance_today(),
            2 => self.balance,
            3 => quota.map_or(self.balance, |q| q.per),
            4 => quota.map_or(self.balance, |q| q.daily - self.used_today(actor)),
            _ => self.max_amount(order),
        };
        (left + offset).max(1)
    }

    /// The preview's duplicate records (rules.md "Preview"): every payout of the order and every
    /// compensation the platform recorded for it, newest first (docs/rules.md; records of the
    /// same instant in any order).
    fn check_duplicates(&self, label: &str, order: usize, got: &Value) {
        let got: Vec<Value> = got.as_array().cloned().unwrap_or_default();
        if got.windows(2).any(|w| instant(&w[0]["at"]) < instant(&w[1]["at"])) {
            self.fail(format!("{label}: duplicates not newest first: {got:?}"));
        }
        let mut want: Vec<(DateTime<Utc>, Value)> = self
            .payouts
            .iter()
            .filter(|p| p.order == order)
            .map(|p| {
                let v = json!({ "source": "PAYOUT", "payoutId": p.id, "type": p.kind, "amount": yuan(p.amount),
                    "status": p.status.name() });
                (p.created, v)
            })
            .chain(self.compensations.iter().filter(|c| c.order == order).map(|c| {
                let v = json!({ "source": "PLATFORM", "payoutId": null, "type": c.kind, "amount": yuan(c.amount),
                    "status": null });
                (c.at, v)
            }))
            .collect();
        let mut seen: Vec<(DateTime<Utc>, Value)> = got
            .iter()
            .map(|d| {
                let mut v = d.clone();
                let t = v.as_object_mut().and_then(|o| o.remove("at")).unwrap_or_default();
                (instant(&t).unwrap_or_default(), v)
            })
            .collect();
        let key = |(t, v): &(DateTime<Utc>, Value)| (std::cmp::Reverse(*t), v.to_string());
        want.sort_by_key(key);
        seen.sort_by_key(key);
        if seen != want {
            self.fail(format!("{label}: duplicates {got:?}, the model's {want:?}"));
        }
    }

    async fn apply(&mut self, app: &TestApp, label: &str, op: Op) {
        let admin = self.tokens[&Actor::Admin].clone();
        let platform = app.platform();
        match op {
            Op::Create { actor, order, amount, funding } => {
                let sent = self.sending(actor, order, amount, funding, self.keyed);
                self.create(app, label, sent).await;
            }
            Op::Aimed { actor, order, funding, target, offset } => {
                let amount = self.aimed_amount(actor, order, target, offset);
                let sent = self.sending(actor, order, amount, funding, true);
                self.create(app, label, sent).await;
            }
            Op::Busiest { actor, funding, amount } => {
                let order = (0..ORDERS).rev().max_by_key(|o| self.applications(*o)).unwrap_or(0);
                let sent = self.sending(actor, order, amount, funding, true);
                self.create(app, label, sent).await;
            }
            Op::Replay { pick, same } => {
                if self.sent.is_empty() {
                    return;
                }
                let (mut sent, i) = self.sent[pick % self.sent.len()].clone();
                if !same {
                    sent.amount += 1;
                }
                // rules.md "Idempotency": kept (this server: exactly 24 h), the same request
                // answers the payout as it is now and moves nothing; another payload is refused.
                if self.now < self.payouts[i].created + TimeDelta::hours(24) {
                    let r = self.send(app, &sent).await;
                    let want = if same {
                        Verdict::Allowed
                    } else {
                        Verdict::Refused("IDEMPOTENCY_KEY_REUSED", vec!["IDEMPOTENCY_KEY_REUSED"])
                    };
                    if let Some(data) = self.judge(label, &r, &want) {
                        let p = &self.payouts[i];
                        self.expect_eq(&format!("{label}: the replay's payout"), &data["createPayout"]["id"], &p.id);
                        self.expect_eq(
                            &format!("{label}: its status now"),
                            &data["createPayout"]["status"],
                            p.status.name(),
                        );
                    }
                } else {
                    // A forgotten key: a new request, judged as one.
                    self.create(app, label, sent).await;
                }
            }
            Op::Adjust { amount, offset, reference } => {
                let amount = amount.unwrap_or(-self.balance) + offset;
                if amount == 0 {
                    return;
                }
                let reference = format!("{}-adj-{reference}", self.shop);
                let q = "mutation($s: ID!, $a: Decimal!, $r: String!) {
                  adjustShopBalance(shopId: $s, amount: $a, reference: $r) { balance } }";
                let vars = json!({ "s": self.shop, "a": signed_yuan(amount), "r": reference });
                let r = app.gql(Some(&platform), q, vars).await;
                // rules.md "Money": idempotent on its reference, refused below zero.
                let want = match self.adjusted.get(&reference) {
                    Some(done) if *done == amount => Verdict::Allowed,
                    Some(_) => Verdict::Refused("IDEMPOTENCY_KEY_REUSED", vec!["IDEMPOTENCY_KEY_REUSED"]),
                    None if self.balance + amount < 0 => {
                        Verdict::Refused("INSUFFICIENT_BALANCE", vec!["INSUFFICIENT_BALANCE"])
                    }
                    None => Verdict::Allowed,
                };
                let Some(data) = self.judge(label, &r, &want) else { return };
                if !self.adjusted.contains_key(&reference) {
                    self.balance += amount;
                    self.adjusted.insert(reference, amount);
                }
                self.expect_eq(
                    &format!("{label}: balance"),
                    &data["adjustShopBalance"]["balance"],
                    &yuan(self.balance),
                );
            }
            Op::SetQuota { actor, quota } => {
                let admin_token = &self.tokens[&Actor::Admin];
                let r = match quota {
                    Some(q) => {
                        let m = "mutation($a: ID!, $p: Decimal!, $d: Decimal!) {
                          setQuota(accountId: $a, perPayoutLimit: $p, dailyLimit: $d) { perPayoutLimit dailyLimit } }";
                        app.gql(Some(admin_token), m, json!({ "a": actor.sub(), "p": yuan(q.per), "d": yuan(q.daily) }))
                            .await
                    }
                    None => {
                        let m = "mutation($a: ID!) { clearQuota(accountId: $a) { id } }";
                        app.gql(Some(admin_token), m, json!({ "a": actor.sub() })).await
                    }
                };
                // rules.md "Quotas": positive, per-payout ≤ daily; an admin has none (`ADMIN` pays
                // under the shop's caps only).
                let refused = quota.is_some_and(|q| q.per > q.daily || actor == Actor::Admin);
                let want =
                    if refused { Verdict::Refused("BAD_USER_INPUT", vec!["BAD_USER_INPUT"]) } else { Verdict::Allowed };
                if self.judge(label, &r, &want).is_none() || actor == Actor::Admin {
                    return;
                }
                let before = match quota {
                    Some(q) => self.spec.quotas.insert(actor, q),
                    None => self.spec.quotas.remove(&actor),
                };
                // A change is recorded when there is one (clearing nothing records nothing).
                if quota.is_some() || before.is_some() {
                    self.quota_log.push((actor, self.now, quota));
                }
            }
            Op::Resend { payout, by } => {
                let Some(i) = self.payout_index(payout, |p| p.status == Status::Failed && p.account_failure) else {
                    return;
                };
                let m = "mutation($id: ID!) { resendAccountCard(payoutId: $id) { status expiresAt } }";
                let r = app.gql(Some(&self.tokens[&by]), m, json!({ "id": self.payouts[i].id })).await;
                let p = &self.payouts[i];
                // rules.md "Statuses": while FAILED for the buyer's account a new card may be
                // sent (the old one expires); docs/rules.md: at most one a minute per payout.
                let sent_last = p.card.map(|(_, expires)| expires - expect::CARD_OPEN);
                let want = if p.status != Status::Failed || !p.account_failure {
                    Verdict::Refused("INVALID_STATE", vec!["INVALID_STATE"])
                } else if sent_last.is_some_and(|at| self.now - at < TimeDelta::seconds(60)) {
                    Verdict::Refused("RATE_LIMITED", vec!["RATE_LIMITED"])
                } else {
                    Verdict::Allowed
                };
                let Some(data) = self.judge(label, &r, &want) else { return };
                let expires = self.now + expect::CARD_OPEN;
                self.expect_eq(&format!("{label}: the card"), &data["resendAccountCard"]["status"], "OPEN");
                let got = instant(&data["resendAccountCard"]["expiresAt"]);
                if got != Some(expires) {
                    self.fail(format!("{label}: the card expires at {got:?}, the model {expires}"));
                }
                self.payouts[i].card = Some((CardStatus::Open, expires));
                self.notices.push((i, "ACCOUNT_CARD_SENT", self.now));
            }
            Op::Compensate { order, kind, amount, earlier, reference } => {
                let kind = TYPES[kind % TYPES.len()];
                let at = earlier.then(|| self.now - TimeDelta::hours(3));
                let reference = reference.map(|r| format!("{}-comp-{r}", self.shop));
                let m = "mutation($i: PlatformCompensationInput!) { recordPlatformCompensation(input: $i) { id at } }";
                let input = json!({
                    "orderSn": self.order_sn(order), "type": kind, "amount": yuan(amount),
                    "at": at.map(|t| t.to_rfc3339()), "reference": reference,
                });
                let r = app.gql(Some(&platform), m, json!({ "i": input })).await;
                // rules.md "Creating a payout": a repeated reference returns the same record;
                // docs/rules.md: the same reference for another order, type, amount or time is
                // IDEMPOTENCY_KEY_REUSED. Without one, every call is a new compensation.
                let same = reference
                    .as_ref()
                    .and_then(|r| self.compensations.iter().position(|c| c.reference.as_ref() == Some(r)));
                let want = match same.map(|j| &self.compensations[j]) {
                    Some(c)
                        if c.order != order
                            || c.kind != kind
                            || c.amount != amount
                            || at.is_some_and(|t| t != c.at) =>
                    {
                        Verdict::Refused("IDEMPOTENCY_KEY_REUSED", vec!["IDEMPOTENCY_KEY_REUSED"])
                    }
                    _ => Verdict::Allowed,
                };
                let Some(data) = self.judge(label, &r, &want) else { return };
                let got = &data["recordPlatformCompensation"];
                if let Some(j) = same {
                    let c = &self.compensations[j];
                    self.expect_eq(&format!("{label}: the same record"), &got["id"], &c.id);
                    return;
                }
                let id = got["id"].as_str().unwrap_or_default().to_owned();
                let at = at.unwrap_or(self.now);
                self.compensations.push(Compensation { id, order, kind, amount, at, reference });
            }
            Op::RefundOrder { order } => {
                let m = "mutation($i: OrderInput!) { syncOrder(input: $i) { refunded } }";
                let mut input = self.order_input(order, &self.spec.orders[order]);
                input["refunded"] = json!(true);
                let r = app.gql(Some(&platform), m, json!({ "i": input })).await;
                let Some(data) = self.judge(label, &r, &Verdict::Allowed) else { return };
                if data["syncOrder"]["refunded"] != true {
                    self.fail(format!("{label}: the order is not refunded: {data}"));
                }
                // rules.md "Counting": the refund returns no payout and resets no count (the
                // preview says the order was refunded; nothing else changes).
                self.spec.orders[order].refunded = true;
            }
            Op::Policy { which, pick } => {
                let s = &mut self.spec;
                match which {
                    0 => s.daily_cap = [5_000, 10_000, 500_000, 2_000, 0, 5_000][pick % 6],
                    1 => s.balance_cap = [3_000, 8_000, 200_000, 1_000, 0, 3_000][pick % 6],
                    2 => s.max_regular = [3_000, 20_000, 1_000, 100, 3_000, 20_000][pick % 6],
                    3 => s.max_activity = [1_500, 5_000, 100, 1_500, 5_000, 1_500][pick % 6],
                    4 => s.unpaid_bills = !s.unpaid_bills,
                    5 => s.zero_entry_no_deposit = !s.zero_entry_no_deposit,
                    _ => {
                        let paid = self.paid_today();
                        self.spec.daily_cap = paid + if pick.is_multiple_of(2) { 0 } else { 100 };
                    }
                }
                // rules.md: the policy is the shop's, read at each decision; what was paid stays.
                self.sync_shop(app).await;
                *self.tally.borrow_mut().entry("Policy: changed".to_owned()).or_default() += 1;
            }
            Op::Preview { actor, order, amount } => {
                let r = app
                    .gql(
                        Some(&self.tokens[&actor]),
                        PREVIEW,
                        json!({ "o": self.order_sn(order), "a": amount.map(yuan) }),
                    )
                    .await;
                let Some(data) = self.judge(label, &r, &Verdict::Allowed) else { return };
                let blockers = self.blockers(order, amount);
                let balance_blockers = self.balance_blockers(actor, order, amount, self.now);
                let quota = self.quota(actor);
                let want = json!({
                    "allowed": blockers.is_empty(),
                    "blockers": blockers,
                    "balanceAllowed": blockers.is_empty() && balance_blockers.is_empty(),
                    "balanceBlockers": balance_blockers,
                    // rules.md "Limits": [1.00, the order's maximum by its goods].
                    "minAmount": "1.00",
                    "maxAmount": yuan(self.max_amount(order)),
                    "remainingAttempts": 3usize.saturating_sub(self.applications(order)),
                    "perPayoutLimit": quota.map(|q| yuan(q.per)),
                    "remainingQuotaToday": quota.map(|q| yuan((q.daily - self.used_today(actor)).max(0))),
                    "canRequestApproval": actor != Actor::Admin && blockers.is_empty(),
                });
                let mut got = data["payoutPreview"].clone();
                let duplicates = got.as_object_mut().and_then(|o| o.remove("duplicates")).unwrap_or_default();
                let refunded = got.as_object_mut().and_then(|o| o.remove("orderRefunded")).unwrap_or_default();
                if got != want {
                    self.fail(format!("{label}: the preview is {got}, the model's {want}"));
                }
                if refunded != self.spec.orders[order].refunded {
                    self.fail(format!(
                        "{label}: orderRefunded {refunded}, the model {}",
                        self.spec.orders[order].refunded
                    ));
                }
                self.check_duplicates(label, order, &duplicates);
            }
            Op::Approve { payout, funding } => {
                let Some(i) = self.payout_index(payout, |p| p.status == Status::PendingApproval) else { return };
                let p = self.payouts[i].clone();
                let q = "mutation($id: ID!, $f: FundingMethod) { approvePayout(payoutId: $id, funding: $f) { status funding } }";
                let r = app.gql(Some(&admin), q, json!({ "id": p.id, "f": funding.choice() })).await;
                let want = if p.status == Status::PendingApproval {
                    self.approval(&p, funding)
                } else {
                    Verdict::Refused("INVALID_STATE", vec!["INVALID_STATE"])
                };
                if self.judge(label, &r, &want).is_none() {
                    return;
                }
                let now = self.now;
                let p = &mut self.payouts[i];
                p.funding = Some(funding);
                p.committed = Some(now);
                p.request = Some(Some(Decision::Approved));
                if funding == Funding::Balance {
                    p.deducted = Some(now);
                }
                let to = if funding == Funding::Balance { Status::Paying } else { Status::PendingRecharge };
                p.enter(to, now, Actor::Admin.sub(), None);
                if funding == Funding::Balance {
                    self.balance -= p.amount;
                }
                let status = self.payouts[i].status.name();
                self.expect_eq(&format!("{label}: status"), &r["data"]["approvePayout"]["status"], status);
            }
            Op::Reject { payout } => {
                let Some(i) = self.payout_index(payout, |p| p.status == Status::PendingApproval) else { return };
                let q = "mutation($id: ID!) { rejectPayout(payoutId: $id, reason: \"not this time\") { status } }";
                let r = app.gql(Some(&admin), q, json!({ "id": self.payouts[i].id })).await;
                let by = (Actor::Admin.sub(), Some(Some("not this time")));
                if self.transition(label, &r, i, Status::PendingApproval, Status::Rejected, by) {
                    self.payouts[i].funding = None;
                    self.payouts[i].request = Some(Some(Decision::Rejected));
                }
            }
            Op::Confirm { payout } => {
                let Some(i) = self.payout_index(payout, |p| p.status == Status::PendingRecharge) else { return };
                let q =
                    "mutation($id: ID!, $t: String!) { confirmRecharge(payoutId: $id, channelTxnId: $t) { status } }";
                let txn = format!("{}-txn-{}", self.shop, self.log.len());
                let r = app.gql(Some(&platform), q, json!({ "id": self.payouts[i].id, "t": txn })).await;
                if self.transition(label, &r, i, Status::PendingRecharge, Status::Paying, ("platform", None)) {
                    self.payouts[i].deducted = Some(self.now);
                }
            }
            Op::Report { payout, ok, buyer_account } => {
                let Some(i) = self.payout_index(payout, |p| p.status == Status::Paying) else { return };
                let q = "mutation($id: ID!, $ok: Boolean!, $k: TransferFailureKind, $why: String) {
                  reportTransferResult(payoutId: $id, succeeded: $ok, failureKind: $k, failureReason: $why) { status } }";
                let kind = if buyer_account { "BUYER_ACCOUNT" } else { "OTHER" };
                // A failure's reason is its history note (api.graphql: failureReason).
                let reason = (!ok).then(|| format!("{kind} at step {}", self.log.len()));
                let vars = json!({ "id": self.payouts[i].id, "ok": ok, "k": kind, "why": reason });
                let r = app.gql(Some(&platform), q, vars).await;
                let to = if ok { Status::Succeeded } else { Status::Failed };
                let note = if ok { None } else { Some(reason.as_deref()) };
                if self.transition(label, &r, i, Status::Paying, to, ("platform", note)) {
                    // rules.md "Statuses": a notice for either result, and on a failure for the
                    // buyer's account a card, open 72 h.
                    let now = self.now;
                    let p = &mut self.payouts[i];
                    p.account_failure = !ok && buyer_account;
                    if ok {
                        p.succeeded = Some(now);
                        self.notices.push((i, "PAYOUT_SUCCEEDED", now));
                    } else {
                        self.notices.push((i, "PAYOUT_FAILED", now));
                        if buyer_account {
                            p.card = Some((CardStatus::Open, now + expect::CARD_OPEN));
                            self.notices.push((i, "ACCOUNT_CARD_SENT", now));
                        }
                    }
                }
            }
            Op::Submit { payout } => {
                let Some(i) = self.payout_index(payout, |p| matches!(p.card, Some((CardStatus::Open, _)))) else {
                    return;
                };
                let Some((card, _)) = self.payouts[i].card else { return };
                let cards =
                    app.ok(&self.buyer_token, "{ myAccountCards { id payoutId status sentAt } }", json!({})).await;
                // The newest card of this payout (the list holds the buyer's cards of every payout,
                // newest first: of two sent at the same instant the first listed is the newer).
                let sent = |c: &Value| c["sentAt"].as_str().unwrap_or_default().to_owned();
                let newest = cards["myAccountCards"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|c| c["payoutId"] == self.payouts[i].id.as_str())
                    .reduce(|newest, c| if sent(c) > sent(newest) { c } else { newest });
                let Some(newest) = newest else { self.fail(format!("{label}: the buyer sees no card: {cards}")) };
                self.expect_eq(&format!("{label}: the card"), &newest["status"], card.name());
                let q = "mutation($c: ID!) { submitReceivingAccount(cardId: $c,
                  account: { kind: ALIPAY, accountNo: \"13800138000\", holderName: \"张三\" }) { status } }";
                let r = app.gql(Some(&self.buyer_token), q, json!({ "c": newest["id"] })).await;
                let open = card == CardStatus::Open && self.payouts[i].status == Status::Failed;
                let want =
                    if open { Verdict::Allowed } else { Verdict::Refused("INVALID_STATE", vec!["INVALID_STATE"]) };
                if self.judge(label, &r, &want).is_some() {
                    let (now, buyer) = (self.now, format!("buyer:{}", self.buyer));
                    let p = &mut self.payouts[i];
                    p.card = p.card.map(|(_, at)| (CardStatus::Submitted, at));
                    p.enter(Status::Paying, now, &buyer, None);
                }
            }
        }
    }

    /// A move from `from` to `to` by an actor (with the note it records, where judged), or
    /// `INVALID_STATE` from any other status; `true` if made.
    fn transition(
        &mut self,
        label: &str,
        r: &Value,
        i: usize,
        from: Status,
        to: Status,
        (actor, note): (&str, Option<Option<&str>>),
    ) -> bool {
        let allowed = self.payouts[i].status == from;
        let want = if allowed { Verdict::Allowed } else { Verdict::Refused("INVALID_STATE", vec!["INVALID_STATE"]) };
        let Some(data) = self.judge(label, r, &want) else { return false };
        let status = data.as_object().and_then(|o| o.values().next()).map(|p| p["status"].clone()).unwrap_or_default();
        self.expect_eq(&format!("{label}: status"), &status, to.name());
        let now = self.now;
        self.payouts[i].enter(to, now, actor, note);
        true
    }

    async fn check(&self, app: &TestApp, when: &str) {
        let data = app.ok(&self.tokens[&Actor::Admin], CHECK, json!({})).await;
        let at = |what: &str| format!("{when}, {what}");
        self.expect_eq(&at("balance"), &data["shop"]["balance"], &yuan(self.balance));
        self.expect_eq(&at("paidToday"), &data["shop"]["paidToday"], &yuan(self.paid_today()));
        self.expect_eq(
            &at("paidFromBalanceToday"),
            &data["shop"]["paidFromBalanceToday"],
            &yuan(self.paid_from_balance_today()),
        );
        for quota in data["quotas"].as_array().into_iter().flatten() {
            let actor =
                [Actor::CsAdmin, Actor::Cs, Actor::Staff].into_iter().find(|a| quota["account"]["id"] == a.sub());
            let Some(actor) = actor else { self.fail(at(&format!("an unknown quota {quota}"))) };
            self.expect_eq(&at(&format!("{actor:?}'s usedToday")), &quota["usedToday"], &yuan(self.used_today(actor)));
        }
        if data["quotas"].as_array().map(Vec::len) != Some(self.spec.quotas.len()) {
            self.fail(at(&format!("quotas {}", data["quotas"])));
        }
        let seen: HashMap<&str, &Value> = data["payouts"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| (e["node"]["id"].as_str().unwrap_or_default(), &e["node"]))
            .collect();
        if seen.len() != self.payouts.len() {
            self.fail(at(&format!("{} payouts on the server, {} in the model", seen.len(), self.payouts.len())));
        }
        for m in &self.payouts {
            let Some(p) = seen.get(m.id.as_str()) else { self.fail(at(&format!("payout {} is missing", m.id))) };
            let what = |field: &str| at(&format!("payout {} {field}", m.id));
            self.expect_eq(&what("status"), &p["status"], m.status.name());
            let funding = m.funding.map(Funding::choice);
            if p["funding"].as_str() != funding {
                self.fail(what(&format!("funding {} (model {funding:?})", p["funding"])));
            }
            let refund = match (m.refund_due, m.refunded) {
                (None, _) => "NONE",
                (Some(_), false) => "PENDING",
                (Some(_), true) => "REFUNDED",
            };
            self.expect_eq(&what("refundStatus"), &p["refundStatus"], refund);
            match m.card {
                None if p["accountCard"].is_null() => {}
                None => self.fail(what(&format!("has a card {}", p["accountCard"]))),
                Some((card, _)) => self.expect_eq(&what("card"), &p["accountCard"]["status"], card.name()),
            }
            // The status is reached by its history, edge by allowed edge.
            let history: Vec<&Value> = p["history"].as_array().into_iter().flatten().collect();
            let chained = history.first().is_some_and(|h| h["from"].is_null())
                && history.windows(2).all(|w| w[1]["from"] == w[0]["to"])
                && history.iter().all(|t| expect::may_transition(t["from"].as_str(), t["to"].as_str().unwrap_or("")))
                && history.last().is_some_and(|h| h["to"] == m.status.name());
            if !chained {
                self.fail(what(&format!("history {:?}", p["history"])));
            }
            // Each transition's time, actor and note (rules.md: "recorded with time, actor and
            // note"), and the payout's own instants.
            let recorded = history.len() == m.history.len()
                && history.iter().zip(&m.history).all(|(got, want)| {
                    got["to"] == want.to.name()
                        && instant(&got["at"]) == Some(want.at)
                        && got["actor"] == want.actor.as_str()
                        && want.note.as_ref().is_none_or(|n| got["note"].as_str() == n.as_deref())
                });
            if !recorded {
                self.fail(what(&format!("history {:?}, the model's {:?}", p["history"], m.history)));
            }
            let instants = [
                ("createdAt", Some(m.created)),
                ("deductedAt", m.deducted),
                ("succeededAt", m.succeeded),
                ("closedAt", m.closed),
                ("refundedAt", m.refund_due.filter(|_| m.refunded)),
                // The last change: its creation, its newest transition or its refund.
                (
                    "updatedAt",
                    m.history.iter().map(|h| h.at).chain([m.created]).chain(m.refund_due.filter(|_| m.refunded)).max(),
                ),
            ];
            for (field, want) in instants {
                if instant(&p[field]) != want || want.is_none() && !p[field].is_null() {
                    self.fail(what(&format!("{field} {} (model {want:?})", p[field])));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reports: each account's days, the filters' totals and the file, from the model's record

/// PayoutStatus and FundingMethod in their enums' order (the order of the summary's lists).
const STATUSES: &[Status] = &[
    Status::PendingApproval,
    Status::PendingRecharge,
    Status::RechargeFailed,
    Status::Rejected,
    Status::Paying,
    Status::Succeeded,
    Status::Failed,
    Status::Closed,
];
const FUNDINGS: &[Funding] = &[Funding::Balance, Funding::Wechat, Funding::Alipay];

const REPORT: &str = "query($from: Date!, $to: Date!) { accountDailyReport(from: $from, to: $to) {
  account { id } day payouts amount fromBalance byScan byType { type count amount }
  requested approved rejected expired quotaPerPayout quotaDaily quotaUsed refunded } }";
const SUMMARY: &str =
    "totalCount summary { count amount byStatus { status count amount } byFunding { funding count amount } }";

/// One account's day as the model counts it (amounts in fen).
#[derive(Default)]
struct Day {
    payouts: i64,
    amount: i64,
    from_balance: i64,
    by_scan: i64,
    by_type: [(i64, i64); 3],
    requested: i64,
    approved: i64,
    rejected: i64,
    expired: i64,
    quota_used: i64,
    refunded: i64,
}

/// A history filter (PayoutFilter): what it selects in the model, and its two spellings.
#[derive(Debug, Default)]
struct Filter {
    status: Option<Vec<Status>>,
    applicant: Option<Actor>,
    kind: Option<&'static str>,
    deducted: Option<(DateTime<Utc>, DateTime<Utc>)>,
    order: Option<usize>,
}

impl Filter {
    fn selects(&self, p: &Payout) -> bool {
        self.status.as_ref().is_none_or(|s| s.contains(&p.status))
            && self.applicant.is_none_or(|a| a == p.applicant)
            && self.kind.is_none_or(|k| k == p.kind)
            && self.deducted.is_none_or(|(from, to)| p.deducted.is_some_and(|d| from <= d && d < to))
            && self.order.is_none_or(|o| o == p.order)
    }

    /// The query parameters of the export (and, as JSON, the GraphQL filter): times in the
    /// shop's zone, so its offsets (across a DST change too) are read back.
    fn params(&self, c: &Case) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        if let Some(s) = &self.status {
            params.push(("status", s.iter().map(|s| s.name()).collect::<Vec<_>>().join(",")));
        }
        if let Some(a) = self.applicant {
            params.push(("applicantId", a.sub().to_owned()));
        }
        if let Some(k) = self.kind {
            params.push(("type", k.to_owned()));
        }
        if let Some((from, to)) = self.deducted {
            params.push(("deductedFrom", from.with_timezone(&c.spec.zone).to_rfc3339()));
            params.push(("deductedTo", to.with_timezone(&c.spec.zone).to_rfc3339()));
        }
        if let Some(o) = self.order {
            params.push(("orderSn", c.order_sn(o)));
        }
        params
    }

    fn graphql(&self, c: &Case) -> Value {
        let mut filter = serde_json::Map::new();
        for (k, v) in self.params(c) {
            let v = if k == "status" { json!(v.split(',').collect::<Vec<_>>()) } else { json!(v) };
            filter.insert(k.to_owned(), v);
        }
        Value::Object(filter)
    }
}

fn local(t: Option<DateTime<Utc>>, zone: Tz) -> String {
    t.map(|t| t.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

impl Case {
    fn day_of(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.spec.zone).date_naive()
    }

    /// rules.md "Reports", each account's day: every account's days with activity, by day
    /// then account, as the API spells them.
    fn expected_days(&self) -> Vec<(Actor, Value)> {
        let mut days: BTreeMap<(NaiveDate, &'static str), (Actor, Day)> = BTreeMap::new();
        let zone = self.spec.zone;
        fn day<'a>(
            days: &'a mut BTreeMap<(NaiveDate, &'static str), (Actor, Day)>,
            zone: Tz,
            at: DateTime<Utc>,
            actor: Actor,
        ) -> &'a mut Day {
            let date = at.with_timezone(&zone).date_naive();
            &mut days.entry((date, actor.sub())).or_insert_with(|| (actor, Day::default())).1
        }
        for p in &self.payouts {
            // Counted on the commit day, as the limits count it: not a failed recharge.
            if let Some(at) = p.committed.filter(|_| p.status != Status::RechargeFailed) {
                let d = day(&mut days, zone, at, p.applicant);
                d.payouts += 1;
                d.amount += p.amount;
                match p.funding {
                    Some(Funding::Balance) => d.from_balance += p.amount,
                    Some(Funding::Wechat | Funding::Alipay) => d.by_scan += p.amount,
                    _ => {}
                }
                let t = TYPES.iter().position(|k| *k == p.kind).unwrap_or(0);
                d.by_type[t].0 += 1;
                d.by_type[t].1 += p.amount;
                if p.uses_quota {
                    d.quota_used += p.amount;
                }
            }
            if let Some(decision) = p.request {
                let d = day(&mut days, zone, p.created, p.applicant);
                d.requested += 1;
                match decision {
                    Some(Decision::Approved) => d.approved += 1,
                    Some(Decision::Rejected) => d.rejected += 1,
                    Some(Decision::Expired) => d.expired += 1,
                    None => {}
                }
            }
            if let Some(at) = p.refund_due.filter(|_| p.refunded) {
                day(&mut days, zone, at, p.applicant).refunded += p.amount;
            }
        }
        days.into_iter()
            .map(|((date, sub), (actor, d))| {
                // rules.md "Reports": the limits in force at the day's end — the last change made
                // before the next local midnight, or the current ones when none was.
                let quota = self
                    .quota_log
                    .iter()
                    .rev()
                    .find(|(a, at, _)| *a == actor && at.with_timezone(&zone).date_naive() <= date)
                    .map_or_else(|| self.quota(actor), |(_, _, q)| *q);
                let by_type: Vec<Value> = TYPES
                    .iter()
                    .zip(d.by_type)
                    .filter(|(_, (n, _))| *n > 0)
                    .map(|(k, (n, a))| json!({ "type": k, "count": n, "amount": yuan(a) }))
                    .collect();
                let line = json!({
                    "account": { "id": sub }, "day": date.to_string(), "payouts": d.payouts, "amount": yuan(d.amount),
                    "fromBalance": yuan(d.from_balance), "byScan": yuan(d.by_scan), "byType": by_type,
                    "requested": d.requested, "approved": d.approved, "rejected": d.rejected, "expired": d.expired,
                    "quotaPerPayout": quota.map(|q| yuan(q.per)), "quotaDaily": quota.map(|q| yuan(q.daily)),
                    "quotaUsed": yuan(d.quota_used), "refunded": yuan(d.refunded),
                });
                (actor, line)
            })
            .collect()
    }

    /// Six filters drawn from the case (a draw of its own: the seed's cases stay as they are).
    fn filters(&self, start: DateTime<Utc>, salt: u64) -> Vec<Filter> {
        let mut rng = StdRng::seed_from_u64(self.seed ^ ((self.n as u64) << 32) ^ salt);
        let present: Vec<Status> = self.payouts.iter().map(|p| p.status).collect();
        let mut status = vec![pick(&mut rng, STATUSES)];
        if let Some(s) = present.choose(&mut rng) {
            status.push(*s);
        }
        let span = (self.now - start).num_seconds().max(2);
        let from = start + TimeDelta::seconds(rng.random_range(0..span / 2));
        let to = from + TimeDelta::seconds(rng.random_range(1..span));
        let actors = [Actor::Admin, Actor::CsAdmin, Actor::Cs];
        vec![
            Filter::default(),
            Filter { status: Some(status), ..Filter::default() },
            Filter { applicant: Some(pick(&mut rng, &actors)), ..Filter::default() },
            Filter { kind: Some(pick(&mut rng, TYPES)), ..Filter::default() },
            Filter { deducted: Some((from, to)), ..Filter::default() },
            Filter {
                order: Some(rng.random_range(0..ORDERS)),
                applicant: Some(pick(&mut rng, &actors)),
                ..Filter::default()
            },
        ]
    }

    /// The buyer's notices, newest first (rules.md "Statuses": a success notice titled
    /// "商家补偿转账通知" in the app and on WeChat; a failure notice in the app; a card's notice
    /// with every card sent).
    async fn check_notices(&self, app: &TestApp, what: &str) {
        let r = app.ok(&self.buyer_token, "{ myNotifications { payoutId kind channels title at } }", json!({})).await;
        let got = r["myNotifications"].as_array().cloned().unwrap_or_default();
        let fits = |n: &Value, (i, kind, at): &(usize, &str, DateTime<Utc>)| {
            n["payoutId"] == self.payouts[*i].id.as_str()
                && n["kind"] == *kind
                && instant(&n["at"]) == Some(*at)
                && match *kind {
                    "PAYOUT_SUCCEEDED" => {
                        n["channels"] == json!(["IN_APP", "WECHAT"]) && n["title"] == "商家补偿转账通知"
                    }
                    "PAYOUT_FAILED" => n["channels"] == json!(["IN_APP"]),
                    _ => true,
                }
        };
        let same =
            got.len() == self.notices.len() && got.iter().zip(self.notices.iter().rev()).all(|(n, m)| fits(n, m));
        if !same {
            let model: Vec<String> =
                self.notices.iter().rev().map(|(i, k, at)| format!("{} {k} {at}", self.payouts[*i].id)).collect();
            self.fail(format!("{what}: {got:?}, the model's {model:?}"));
        }
    }

    fn expected_summary(&self, f: &Filter) -> Value {
        let selected: Vec<&Payout> = self.payouts.iter().filter(|p| f.selects(p)).collect();
        let total = |of: &dyn Fn(&Payout) -> bool| {
            let ps: Vec<&&Payout> = selected.iter().filter(|p| of(p)).collect();
            (ps.len(), yuan(ps.iter().map(|p| p.amount).sum()))
        };
        let (count, amount) = total(&|_| true);
        let by_status: Vec<Value> = STATUSES
            .iter()
            .map(|s| (s, total(&|p| p.status == *s)))
            .filter(|(_, (n, _))| *n > 0)
            .map(|(s, (n, a))| json!({ "status": s.name(), "count": n, "amount": a }))
            .collect();
        let by_funding: Vec<Value> = FUNDINGS
            .iter()
            .map(|f| (f, total(&|p| p.funding == Some(*f))))
            .filter(|(_, (n, _))| *n > 0)
            .map(|(f, (n, a))| json!({ "funding": f.choice(), "count": n, "amount": a }))
            .collect();
        json!({ "count": count, "amount": amount, "byStatus": by_status, "byFunding": by_funding })
    }

    /// The report over the case's days as ADMIN (`last`: also as a non-admin account, its own
    /// days), the summary of six filters and the export of one of them (`last`: two), compared
    /// with the model's record and with each other.
    async fn check_reports(&self, app: &TestApp, when: &str, start: DateTime<Utc>, last: bool) {
        let at = |what: &str| format!("{when}, {what}");
        let (from, to) =
            (self.day_of(start).pred_opt().unwrap_or_default(), self.day_of(self.now).succ_opt().unwrap_or_default());
        let days = self.expected_days();
        let own = if self.n.is_multiple_of(2) { Actor::Cs } else { Actor::CsAdmin };
        for actor in if last { vec![Actor::Admin, own] } else { vec![Actor::Admin] } {
            let r = app
                .gql(Some(&self.tokens[&actor]), REPORT, json!({ "from": from.to_string(), "to": to.to_string() }))
                .await;
            let want: Vec<&Value> =
                days.iter().filter(|(a, _)| actor == Actor::Admin || *a == actor).map(|(_, d)| d).collect();
            let got: Vec<&Value> = r["data"]["accountDailyReport"].as_array().into_iter().flatten().collect();
            if got != want {
                self.fail(at(&format!(
                    "{actor:?}'s accountDailyReport {from}..{to}:\n  server {}\n  model  {}",
                    json!(got),
                    json!(want)
                )));
            }
        }
        if last {
            self.check_notices(app, &at("the buyer's notices")).await;
        }
        let filters = self.filters(start, u64::from(last));
        let mut doc = String::from("query(");
        let mut fields = String::new();
        let mut vars = serde_json::Map::new();
        for (i, f) in filters.iter().enumerate() {
            let _ = write!(doc, "$f{i}: PayoutFilter, ");
            let _ = write!(fields, "f{i}: payouts(filter: $f{i}, first: 1) {{ {SUMMARY} }} ");
            vars.insert(format!("f{i}"), f.graphql(self));
        }
        let _ = write!(doc, ") {{ {fields} }}");
        let r = app.gql(Some(&self.tokens[&Actor::Admin]), &doc, Value::Object(vars)).await;
        // The files: one of a filter, and at the end the whole history's too (within the
        // export's rate limit, 5 an account, then one per 12 s).
        let exported = [1 + (self.n + usize::from(last)) % 5, 0];
        let actors = [Actor::Admin, Actor::CsAdmin, Actor::Cs];
        for (i, f) in filters.iter().enumerate() {
            let want = self.expected_summary(f);
            let got = &r["data"][format!("f{i}")];
            if got["summary"] != want || got["totalCount"] != want["count"] {
                self.fail(at(&format!("summary of {f:?}:\n  server {got}\n  model  {want}")));
            }
            if exported[..if last { 2 } else { 1 }].contains(&i) {
                self.check_export(app, &at(&format!("export of {f:?}")), actors[i % 3], f, &want).await;
            }
        }
    }

    /// The file of a filter: one row per selected payout, newest first, as the model has it,
    /// and as many rows and yuan as the summary says.
    async fn check_export(&self, app: &TestApp, what: &str, actor: Actor, f: &Filter, summary: &Value) {
        let url = reqwest::Url::parse_with_params(&app.url("/exports/payouts.csv"), f.params(self)).expect("a URL");
        let response = app.http.get(url).bearer_auth(&self.tokens[&actor]).send().await.expect("export sent");
        let status = response.status();
        let bytes = response.bytes().await.expect("the file");
        if status != 200 {
            self.fail(format!("{what}: {status} {}", String::from_utf8_lossy(&bytes)));
        }
        let text = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or_else(|| self.fail(format!("{what}: no BOM")));
        let mut rows = csv::ReaderBuilder::new().has_headers(false).from_reader(text).into_records();
        let header = rows.next().and_then(Result::ok).unwrap_or_default();
        let columns = [
            "payout_id",
            "order_sn",
            "type",
            "amount",
            "status",
            "funding",
            "applicant",
            "created_at",
            "deducted_at",
            "closed_at",
            "refunded_at",
        ];
        let index: Vec<usize> = columns
            .iter()
            .map(|c| {
                header.iter().position(|h| h.split(' ').next() == Some(c)).unwrap_or_else(|| {
                    self.fail(format!("{what}: no column {c} in {header:?}"));
                })
            })
            .collect();
        let got: Vec<Vec<String>> = rows
            .map(|r| {
                let r = r.unwrap_or_else(|e| self.fail(format!("{what}: {e}")));
                index.iter().map(|i| r.get(*i).unwrap_or_default().to_owned()).collect()
            })
            .collect();
        let zone = self.spec.zone;
        let want: Vec<Vec<String>> = self
            .payouts
            .iter()
            .rev()
            .filter(|p| f.selects(p))
            .map(|p| {
                vec![
                    p.id.clone(),
                    self.order_sn(p.order),
                    p.kind.to_owned(),
                    yuan(p.amount),
                    p.status.name().to_owned(),
                    p.funding.map(Funding::choice).unwrap_or_default().to_owned(),
                    p.applicant.sub().to_owned(),
                    local(Some(p.created), zone),
                    local(p.deducted, zone),
                    local(p.closed, zone),
                    local(p.refund_due.filter(|_| p.refunded), zone),
                ]
            })
            .collect();
        if got != want {
            self.fail(format!("{what}: the file's rows ({columns:?})\n  server {got:?}\n  model  {want:?}"));
        }
        let fen: i64 = got.iter().filter_map(|r| r[3].replace('.', "").parse::<i64>().ok()).sum();
        if json!(got.len()) != summary["count"] || json!(yuan(fen)) != summary["amount"] {
            self.fail(format!("{what}: {} rows of {} yuan, the summary {summary}", got.len(), yuan(fen)));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Batches

/// One batch: `cases` cases from `seed` on `app`, starting at the clock as it stands (moved
/// first by a seeded offset of up to a week, so batches start at every hour and weekday; not
/// moved for a batch on a daylight-saving change day of `dst`'s zone).
///
/// `aimed`: half of the clock's moves (drawn from the seed) go to one case's boundary — a
/// pending deadline, an open card's expiry, the shop's next local midnight, 59 or 60 s after a
/// payout on an order ([`Case::boundaries`]) — one second before it, at it or one second after,
/// instead of a move from `MOVES`. The draws come from the seed and the boundary from the
/// model's own state, so a batch replays exactly. (Batches recorded before the aim existed
/// replay without it.)
async fn run_batch(
    app: &TestApp,
    seed: u64,
    cases: usize,
    tally: &mut BTreeMap<String, usize>,
    dst: Option<Tz>,
    aimed: bool,
    extras: bool,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    if dst.is_none() {
        app.advance(rng.random_range(0..7 * 86_400)).await;
    }
    let start = app.state.clock.now();
    let mut batch: Vec<Case> = (0..cases)
        .map(|n| {
            let spec = Spec::generate(&mut rng, start, dst);
            let rounds = (0..ROUNDS).map(|_| generate_round(&mut rng)).collect();
            let shop = format!("m{seed}-{n}");
            Case {
                seed,
                n,
                buyer: format!("{shop}-buyer"),
                shop,
                balance: spec.opening,
                spec,
                rounds,
                now: start,
                payouts: Vec::new(),
                log: Vec::new(),
                tokens: HashMap::new(),
                buyer_token: String::new(),
                tally: RefCell::default(),
                keyed: extras,
                sent: Vec::new(),
                adjusted: HashMap::new(),
                quota_log: Vec::new(),
                notices: Vec::new(),
                compensations: Vec::new(),
            }
        })
        .collect();
    let moves: Vec<i64> = (0..ROUNDS).map(|_| pick(&mut rng, MOVES)).chain([30 * 86_400]).collect();
    // Per move: whether it is aimed, at which case and boundary (reduced modulo when known),
    // and the offset from the boundary.
    let aims: Vec<(bool, usize, usize, i64)> = (0..ROUNDS)
        .map(|_| {
            let on = rng.random_bool(0.5);
            (on && aimed, rng.random_range(0..usize::MAX), rng.random_range(0..usize::MAX), rng.random_range(-1..=1))
        })
        .collect();
    // The extras' own clock aims, per round: (aimed, at which case, offset).
    let mut past_closes: Vec<(bool, usize, i64)> = Vec::new();
    if extras {
        // From a stream of their own: the draws above, and so older batches, stay as they were.
        let mut more = StdRng::seed_from_u64(seed ^ 0x00e7_7a5e_ed00_0001);
        for c in &mut batch {
            // STAFF acts in the extras only: its quota (or none) comes from their stream.
            if more.random_bool(0.6) {
                c.spec.quotas.insert(Actor::Staff, pick(&mut more, &QUOTAS[..3]));
            }
            for round in &mut c.rounds {
                for op in generate_extras(&mut more) {
                    let at = more.random_range(0..=round.len());
                    round.insert(at, op);
                }
            }
        }
        // A fifth of the rounds end with a move to one case's last pending close ± 1 s, so that
        // the rounds after it act on orders whose payouts closed (the 3 applications, the
        // duplicates and the refunds of closed payouts).
        past_closes = (0..ROUNDS)
            .map(|_| (more.random_bool(0.2), more.random_range(0..usize::MAX), more.random_range(-1..=1)))
            .collect();
    }
    futures_util::stream::iter(batch.iter_mut()).for_each_concurrent(CONCURRENCY, |c| c.set_up(app)).await;
    // Each round: the cases' operations, the clock's move, then every case compared.
    for (round, drawn) in moves.iter().enumerate() {
        if round < ROUNDS {
            futures_util::stream::iter(batch.iter_mut()).for_each_concurrent(CONCURRENCY, |c| c.play(app, round)).await;
        }
        let mut by = *drawn;
        let mut aim_note = String::new();
        if let Some(&(true, case, which, offset)) = aims.get(round)
            && !batch.is_empty()
        {
            let target = &batch[case % batch.len()];
            let boundaries = target.boundaries();
            if !boundaries.is_empty() {
                let at = boundaries[which % boundaries.len()] + TimeDelta::seconds(offset);
                by = (at - target.now).num_seconds().max(1);
                aim_note =
                    format!(" (aimed: case {}'s boundary {} {offset:+} s)", target.n, at - TimeDelta::seconds(offset));
                *tally.entry(format!("Clock: a move aimed at a boundary {offset:+} s")).or_default() += 1;
            }
        }
        if let Some(&(true, case, offset)) = past_closes.get(round)
            && !batch.is_empty()
        {
            let target = &batch[case % batch.len()];
            let last_close = target
                .payouts
                .iter()
                .filter(|p| matches!(p.status, Status::Paying | Status::Failed))
                .filter_map(Payout::due)
                .max();
            if let Some(close) = last_close {
                let at = close + TimeDelta::seconds(offset);
                by = (at - target.now).num_seconds().max(1);
                aim_note = format!(" (aimed: case {}'s last close {close} {offset:+} s)", target.n);
                *tally.entry(format!("Clock: a move aimed past a case's closes {offset:+} s")).or_default() += 1;
            }
        }
        if aim_note.is_empty() && round < ROUNDS {
            *tally.entry("Clock: a move from MOVES".to_owned()).or_default() += 1;
        }
        app.advance(by).await;
        for c in &mut batch {
            c.advance(c.now + TimeDelta::seconds(by));
            c.log.push(format!("the clock moves {by} s to {}{aim_note}", c.now));
        }
        let when = format!("after round {round} and the clock's move by {by} s");
        futures_util::stream::iter(batch.iter()).for_each_concurrent(CONCURRENCY, |c| c.check(app, &when)).await;
        // The reports, once with payouts still on their way and once when all is settled.
        if round + 1 >= ROUNDS {
            futures_util::stream::iter(batch.iter())
                .for_each_concurrent(CONCURRENCY, |c| c.check_reports(app, &when, start, round == ROUNDS))
                .await;
        }
    }
    // Ledger: each shop's entries add up to its balance, and no payout is debited or
    // refunded twice.
    for c in &batch {
        let (balance, ledger) = app.balance_and_ledger(&c.shop).await;
        if (balance, ledger) != (c.balance, c.balance) {
            c.fail(format!("balance {balance}, ledger {ledger}, model {}", c.balance));
        }
        let entries = entity::ledger_entry::Entity::find()
            .filter(entity::ledger_entry::Column::ShopId.eq(c.shop.as_str()))
            .all(&app.state.db)
            .await
            .expect("ledger");
        let mut per: HashMap<(Option<i64>, String), usize> = HashMap::new();
        for e in entries.iter().filter(|e| e.payout_id.is_some()) {
            *per.entry((e.payout_id, e.kind.as_str().to_owned())).or_default() += 1;
        }
        if per.values().any(|n| *n > 1) {
            c.fail(format!("a payout debited or refunded twice: {per:?}"));
        }
        for (k, n) in c.tally.borrow().iter() {
            *tally.entry(k.clone()).or_default() += n;
        }
    }
}

fn regressions_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/model-regressions.txt")
}

/// A batch that failed once: replayed first on every run.
struct Regression {
    seed: u64,
    cases: usize,
    start: DateTime<Utc>,
    /// A batch on that zone's daylight-saving change day.
    dst: Option<Tz>,
    /// Recorded since the clock's moves were aimed (`aimed=1`); older lines replay unaimed.
    aimed: bool,
    /// Recorded since the extra operations (`extras=1`); older lines replay without them.
    extras: bool,
}

/// The batches that failed before (`seed=… cases=… start=… [dst=<zone>] [aimed=1]` lines).
fn regressions() -> Vec<Regression> {
    let text = std::fs::read_to_string(regressions_file()).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let field = |k: &str| l.split_whitespace().find_map(|w| w.strip_prefix(k));
            let dst = field("dst=").and_then(|z| z.parse::<Tz>().ok());
            let aimed = field("aimed=") == Some("1");
            let extras = field("extras=") == Some("1");
            Some(Regression {
                seed: field("seed=")?.parse().ok()?,
                cases: field("cases=")?.parse().ok()?,
                start: field("start=")?.parse().ok()?,
                dst,
                aimed,
                extras,
            })
        })
        .collect()
}

/// Batches that start on a daylight-saving change day at 23:45, most of their shops in its
/// zone (the others in the other two), one after the other on a server of their own: Berlin's
/// 23-hour 2026-03-29, a quarter hour before its early end (the first moves cross it), and
/// New York's 25-hour 2026-11-01, when a day taken as 24 hours from midnight would already
/// have ended.
const DST_STARTS: &[(&str, Tz)] =
    &[("2026-03-29T21:45:00Z", chrono_tz::Europe::Berlin), ("2026-11-02T04:45:00Z", chrono_tz::America::New_York)];

fn run_model(backend: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let cases: usize = env("SMALLPAY_MODEL_CASES").and_then(|c| c.parse().ok()).unwrap_or(300);
    let seed: u64 = env("SMALLPAY_MODEL_SEED").and_then(|s| s.parse().ok()).unwrap_or(16);
    let start: Option<DateTime<Utc>> = env("SMALLPAY_MODEL_START").and_then(|s| s.parse().ok());
    let spawn = |start: Option<DateTime<Utc>>| {
        rt.block_on(TestApp::try_spawn_with(backend, |c| {
            c.gateway = Gateway::Manual;
            c.sqlite_synchronous = smallpay::config::SqliteSynchronous::Normal;
            if start.is_some() {
                c.test_clock_start = start;
            }
        }))
    };
    // One batch, printed and appended to the regressions when it fails.
    let batch = |app: &TestApp, seed: u64, size: usize, tally: &mut BTreeMap<String, usize>, dst: Option<Tz>| {
        let at = app.state.clock.now();
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(run_batch(app, seed, size, tally, dst, true, true))
        }));
        if let Err(panic) = run {
            let dst_field = dst.map(|z| format!(" dst={}", z.name())).unwrap_or_default();
            let line = format!("seed={seed} cases={size} start={}{dst_field} aimed=1 extras=1", at.to_rfc3339());
            eprintln!("model: a batch failed; replay it with {line} (appended to {})", regressions_file().display());
            if dst.is_none() {
                eprintln!(
                    "  or: SMALLPAY_MODEL_SEED={seed} SMALLPAY_MODEL_CASES={size} SMALLPAY_MODEL_START={}",
                    at.to_rfc3339()
                );
            }
            use std::io::Write as _;
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(regressions_file()) {
                let _ = writeln!(f, "{line} backend={backend:?}");
            }
            std::panic::resume_unwind(panic);
        }
    };
    // `SMALLPAY_MODEL_REGRESSIONS=0`: only the seed's cases (scripts/plants.sh counts them).
    let recorded = if env("SMALLPAY_MODEL_REGRESSIONS").as_deref() == Some("0") { Vec::new() } else { regressions() };
    for Regression { seed, cases, start, dst, aimed, extras } in recorded {
        let Some(app) = spawn(Some(start)) else { return };
        eprintln!("model: regression seed={seed} cases={cases} start={}", start.to_rfc3339());
        rt.block_on(run_batch(&app, seed, cases, &mut BTreeMap::new(), dst, aimed, extras));
    }
    // An eighth of the cases (up to a batch) from each of the daylight-saving starts.
    let dst_cases = (cases / 8).min(BATCH);
    let main_cases = cases - dst_cases * DST_STARTS.len();
    eprintln!(
        "model: {cases} cases from SMALLPAY_MODEL_SEED={seed} in batches of up to {BATCH} \
         ({dst_cases} from each of {} starts on daylight-saving change days)",
        DST_STARTS.len()
    );
    let started = std::time::Instant::now();
    let mut tally = BTreeMap::new();
    if dst_cases > 0 {
        let Some(app) = spawn(DST_STARTS[0].0.parse().ok()) else { return };
        for (i, (instant, zone)) in DST_STARTS.iter().enumerate() {
            // The batch before has settled everything: the clock moves on to the next start.
            let at: DateTime<Utc> = instant.parse().expect("an RFC 3339 instant");
            rt.block_on(app.advance((at - app.state.clock.now()).num_seconds()));
            batch(&app, seed.wrapping_add(1_000_000 + i as u64), dst_cases, &mut tally, Some(*zone));
        }
    }
    let Some(app) = spawn(start) else { return };
    for (b, first) in (0..main_cases).step_by(BATCH).enumerate() {
        let size = BATCH.min(main_cases - first);
        batch(&app, seed.wrapping_add(b as u64), size, &mut tally, None);
        if cases > BATCH {
            eprintln!(
                "model: {} of {cases} cases passed ({:.0} s)",
                first + size + dst_cases * DST_STARTS.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!("model: {cases} cases passed in {:.1} s; the model's verdicts:", started.elapsed().as_secs_f64());
    for (outcome, n) in &tally {
        eprintln!("  {n:>7}  {outcome}");
    }
}

#[test]
fn the_lifecycle_follows_the_reference_model_sqlite() {
    run_model(Backend::Sqlite);
}

#[test]
fn the_lifecycle_follows_the_reference_model_postgres() {
    run_model(Backend::Postgres);
}
