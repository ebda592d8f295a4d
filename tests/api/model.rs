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
//! After each round it compares the shop's balance, today's sums, each quota's usage and
//! each payout's status, funding, refund status, card and history with the server's.
//!
//! Cases run in **batches** on one server: the clock is the server's, so the cases of a batch
//! share its moves (between rounds, and 30 days at the end, after which everything has
//! closed and refunded), while their shops keep them apart. A batch is replayed exactly from
//! its seed, its size and its starting instant, printed on failure and appended to
//! `tests/api/model-regressions.txt`, whose batches run first on every run.
//!
//! `cargo test`: one batch of 24 cases. `SMALLPAY_MODEL_CASES=10000` (and
//! `SMALLPAY_MODEL_SEED`) for the long run `.ci/run` makes.
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
const ZONES: &[Tz] = &[chrono_tz::Asia::Shanghai, chrono_tz::America::New_York, chrono_tz::Europe::Berlin];

// ---------------------------------------------------------------------------------------
// The cases

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Actor {
    Admin,
    CsAdmin,
    Cs,
}

impl Actor {
    fn sub(self) -> &'static str {
        match self {
            Actor::Admin => "admin",
            Actor::CsAdmin => "csa",
            Actor::Cs => "cs",
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
    Create { actor: Actor, order: usize, amount: i64, funding: Funding },
    Preview { actor: Actor, order: usize, amount: Option<i64> },
    Approve { payout: usize, funding: Funding },
    Reject { payout: usize },
    Confirm { payout: usize },
    Report { payout: usize, ok: bool, buyer_account: bool },
    Submit { payout: usize },
}

#[derive(Clone, Copy, Debug)]
struct Quota {
    per: i64,
    daily: i64,
}

#[derive(Clone, Debug)]
struct Order {
    grouped: Option<DateTime<Utc>>,
    activity: bool,
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
    fn generate(rng: &mut StdRng, start: DateTime<Utc>) -> Spec {
        let zone = pick(rng, ZONES);
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
                Order { grouped, activity: rng.random_bool(0.25) }
            })
            .collect();
        let quota_choices =
            [Quota { per: 1_000, daily: 1_500 }, Quota { per: 3_000, daily: 3_000 }, Quota { per: 500, daily: 1_000 }];
        let mut quotas = HashMap::new();
        if rng.random_bool(0.7) {
            quotas.insert(Actor::Cs, pick(rng, &quota_choices));
        }
        if rng.random_bool(0.5) {
            quotas.insert(Actor::CsAdmin, pick(rng, &quota_choices));
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
    /// The newest account card: its status and when it expires.
    card: Option<(CardStatus, DateTime<Utc>)>,
    refund_due: Option<DateTime<Utc>>,
    refunded: bool,
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
        if on_order().filter(|p| !matches!(p.status, Status::Rejected | Status::RechargeFailed)).count() >= 3 {
            codes.push("ORDER_ATTEMPTS_EXHAUSTED");
        }
        if let Some(amount) = amount {
            let max = if self.spec.orders[order].activity { self.spec.max_activity } else { self.spec.max_regular };
            if amount < 100 {
                codes.push("AMOUNT_BELOW_MINIMUM");
            }
            if amount > max {
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
        if actor == Actor::Cs && quota.is_none() {
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

    /// Applies every deadline due by `until`, earliest first.
    fn advance(&mut self, until: DateTime<Utc>) {
        loop {
            let mut next: Option<(DateTime<Utc>, usize, bool)> = None;
            for (i, p) in self.payouts.iter().enumerate() {
                let due = match p.status {
                    Status::PendingApproval => Some(p.created + TimeDelta::days(7)),
                    Status::PendingRecharge => p.committed.map(|c| c + expect::RECHARGE_WINDOW),
                    Status::Paying | Status::Failed => p.committed.map(|c| c + expect::CLOSE_AFTER),
                    Status::Closed if !p.refunded => p.refund_due,
                    _ => None,
                };
                let card = p.card.and_then(|(s, at)| (s == CardStatus::Open).then_some(at));
                for (at, is_card) in [(due, false), (card, true)] {
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
                Status::PendingApproval => p.status = Status::Rejected,
                Status::PendingRecharge => p.status = Status::RechargeFailed,
                Status::Paying | Status::Failed => {
                    p.status = Status::Closed;
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
  allowed blockers balanceAllowed balanceBlockers remainingAttempts perPayoutLimit remainingQuotaToday
  canRequestApproval } }";
const CHECK: &str = "{ shop { balance paidToday paidFromBalanceToday } quotas { account { id } usedToday }
  payouts(first: 50) { totalCount edges { node { id status funding refundStatus accountCard { status }
  history { from to } } } } }";

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

impl Case {
    fn order_sn(&self, order: usize) -> String {
        format!("{}-O{order}", self.shop)
    }

    async fn set_up(&mut self, app: &TestApp) {
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
        // The orders in one request (aliased mutations run one after another).
        let mut orders = String::from("mutation(");
        let mut fields = String::new();
        let mut vars = serde_json::Map::new();
        for (i, order) in s.orders.iter().enumerate() {
            let _ = write!(orders, "$o{i}: OrderInput!, ");
            let _ = write!(fields, "o{i}: syncOrder(input: $o{i}) {{ orderSn }} ");
            let input = json!({
                "orderSn": self.order_sn(i), "shopId": self.shop, "buyerId": self.buyer, "goodsId": "G-1",
                "goodsName": "Goods", "activityGoods": order.activity, "paidAmount": "99.00",
                "groupedAt": order.grouped.map(|g| g.to_rfc3339()),
            });
            vars.insert(format!("o{i}"), input);
        }
        let _ = write!(orders, ") {{ {fields} }}");
        app.ok(&app.platform(), &orders, Value::Object(vars)).await;
        for (actor, role) in [(Actor::Admin, Role::Admin), (Actor::CsAdmin, Role::CsAdmin), (Actor::Cs, Role::Cs)] {
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

    async fn apply(&mut self, app: &TestApp, label: &str, op: Op) {
        let admin = self.tokens[&Actor::Admin].clone();
        let platform = app.platform();
        match op {
            Op::Create { actor, order, amount, funding } => {
                let r = app
                    .create_payout(
                        &self.tokens[&actor],
                        &self.order_sn(order),
                        &yuan(amount),
                        funding.choice(),
                        json!({}),
                    )
                    .await;
                if actor == Actor::Admin && funding == Funding::Request {
                    if r["errors"][0]["extensions"]["code"] != "FORBIDDEN" {
                        self.fail(format!("{label}: an admin cannot request approval, the server says {r}"));
                    }
                    return;
                }
                let Some(data) = self.judge(label, &r, &self.creation(actor, order, amount, funding)) else { return };
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
                    card: None,
                    refund_due: None,
                    refunded: false,
                });
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
                let applications = self
                    .payouts
                    .iter()
                    .filter(|p| p.order == order && !matches!(p.status, Status::Rejected | Status::RechargeFailed))
                    .count();
                let quota = self.quota(actor);
                let want = json!({
                    "allowed": blockers.is_empty(),
                    "blockers": blockers,
                    "balanceAllowed": blockers.is_empty() && balance_blockers.is_empty(),
                    "balanceBlockers": balance_blockers,
                    "remainingAttempts": 3usize.saturating_sub(applications),
                    "perPayoutLimit": quota.map(|q| yuan(q.per)),
                    "remainingQuotaToday": quota.map(|q| yuan((q.daily - self.used_today(actor)).max(0))),
                    "canRequestApproval": actor != Actor::Admin && blockers.is_empty(),
                });
                if data["payoutPreview"] != want {
                    self.fail(format!("{label}: the preview is {}, the model's {want}", data["payoutPreview"]));
                }
            }
            Op::Approve { payout, funding } => {
                let Some(i) = self.payout_index(payout, |p| p.status == Status::PendingApproval) else { return };
                let p = self.payouts[i].clone();
                let q = "mutation($id: ID!, $f: FundingMethod) { approvePayout(payoutId: $id, funding: $f) { status funding } }";
                let method = if funding == Funding::Balance { "BALANCE" } else { "WECHAT_SCAN" };
                let r = app.gql(Some(&admin), q, json!({ "id": p.id, "f": method })).await;
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
                p.status = if funding == Funding::Balance { Status::Paying } else { Status::PendingRecharge };
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
                self.transition(label, &r, i, Status::PendingApproval, Status::Rejected);
                if self.payouts[i].status == Status::Rejected {
                    self.payouts[i].funding = None;
                }
            }
            Op::Confirm { payout } => {
                let Some(i) = self.payout_index(payout, |p| p.status == Status::PendingRecharge) else { return };
                let q =
                    "mutation($id: ID!, $t: String!) { confirmRecharge(payoutId: $id, channelTxnId: $t) { status } }";
                let txn = format!("{}-txn-{}", self.shop, self.log.len());
                let r = app.gql(Some(&platform), q, json!({ "id": self.payouts[i].id, "t": txn })).await;
                self.transition(label, &r, i, Status::PendingRecharge, Status::Paying);
            }
            Op::Report { payout, ok, buyer_account } => {
                let Some(i) = self.payout_index(payout, |p| p.status == Status::Paying) else { return };
                let q = "mutation($id: ID!, $ok: Boolean!, $k: TransferFailureKind) {
                  reportTransferResult(payoutId: $id, succeeded: $ok, failureKind: $k) { status } }";
                let kind = if buyer_account { "BUYER_ACCOUNT" } else { "OTHER" };
                let r = app.gql(Some(&platform), q, json!({ "id": self.payouts[i].id, "ok": ok, "k": kind })).await;
                let to = if ok { Status::Succeeded } else { Status::Failed };
                if self.transition(label, &r, i, Status::Paying, to) && !ok && buyer_account {
                    self.payouts[i].card = Some((CardStatus::Open, self.now + TimeDelta::hours(72)));
                }
            }
            Op::Submit { payout } => {
                let Some(i) = self.payout_index(payout, |p| matches!(p.card, Some((CardStatus::Open, _)))) else {
                    return;
                };
                let Some((card, _)) = self.payouts[i].card else { return };
                let cards =
                    app.ok(&self.buyer_token, "{ myAccountCards { id payoutId status sentAt } }", json!({})).await;
                // The newest card of this payout (the list holds the buyer's cards of every payout).
                let newest = cards["myAccountCards"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|c| c["payoutId"] == self.payouts[i].id.as_str())
                    .max_by_key(|c| c["sentAt"].as_str().unwrap_or_default().to_owned());
                let Some(newest) = newest else { self.fail(format!("{label}: the buyer sees no card: {cards}")) };
                self.expect_eq(&format!("{label}: the card"), &newest["status"], card.name());
                let q = "mutation($c: ID!) { submitReceivingAccount(cardId: $c,
                  account: { kind: ALIPAY, accountNo: \"13800138000\", holderName: \"张三\" }) { status } }";
                let r = app.gql(Some(&self.buyer_token), q, json!({ "c": newest["id"] })).await;
                let open = card == CardStatus::Open && self.payouts[i].status == Status::Failed;
                let want =
                    if open { Verdict::Allowed } else { Verdict::Refused("INVALID_STATE", vec!["INVALID_STATE"]) };
                if self.judge(label, &r, &want).is_some() {
                    let p = &mut self.payouts[i];
                    p.card = p.card.map(|(_, at)| (CardStatus::Submitted, at));
                    p.status = Status::Paying;
                }
            }
        }
    }

    /// A move from `from` to `to`, or `INVALID_STATE` from any other status; `true` if made.
    fn transition(&mut self, label: &str, r: &Value, i: usize, from: Status, to: Status) -> bool {
        let allowed = self.payouts[i].status == from;
        let want = if allowed { Verdict::Allowed } else { Verdict::Refused("INVALID_STATE", vec!["INVALID_STATE"]) };
        let Some(data) = self.judge(label, r, &want) else { return false };
        let status = data.as_object().and_then(|o| o.values().next()).map(|p| p["status"].clone()).unwrap_or_default();
        self.expect_eq(&format!("{label}: status"), &status, to.name());
        self.payouts[i].status = to;
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
            let actor = [Actor::CsAdmin, Actor::Cs].into_iter().find(|a| quota["account"]["id"] == a.sub());
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
        }
    }
}

// ---------------------------------------------------------------------------------------
// Batches

/// One batch: `cases` cases from `seed` on `app`, starting at the clock as it stands (moved
/// first by a seeded offset of up to a week, so batches start at every hour and weekday).
async fn run_batch(app: &TestApp, seed: u64, cases: usize, tally: &mut BTreeMap<String, usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    app.advance(rng.random_range(0..7 * 86_400)).await;
    let start = app.state.clock.now();
    let mut batch: Vec<Case> = (0..cases)
        .map(|n| {
            let spec = Spec::generate(&mut rng, start);
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
            }
        })
        .collect();
    let moves: Vec<i64> = (0..ROUNDS).map(|_| pick(&mut rng, MOVES)).chain([30 * 86_400]).collect();
    futures_util::stream::iter(batch.iter_mut()).for_each_concurrent(CONCURRENCY, |c| c.set_up(app)).await;
    // Each round: the cases' operations, the clock's move, then every case compared.
    for (round, by) in moves.iter().enumerate() {
        if round < ROUNDS {
            futures_util::stream::iter(batch.iter_mut()).for_each_concurrent(CONCURRENCY, |c| c.play(app, round)).await;
        }
        app.advance(*by).await;
        for c in &mut batch {
            c.advance(c.now + TimeDelta::seconds(*by));
            c.log.push(format!("the clock moves {by} s to {}", c.now));
        }
        let when = format!("after round {round} and the clock's move by {by} s");
        futures_util::stream::iter(batch.iter()).for_each_concurrent(CONCURRENCY, |c| c.check(app, &when)).await;
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

/// The batches that failed before (`seed=… cases=… start=…` lines).
fn regressions() -> Vec<(u64, usize, DateTime<Utc>)> {
    let text = std::fs::read_to_string(regressions_file()).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let field = |k: &str| l.split_whitespace().find_map(|w| w.strip_prefix(k));
            Some((field("seed=")?.parse().ok()?, field("cases=")?.parse().ok()?, field("start=")?.parse().ok()?))
        })
        .collect()
}

fn run_model(backend: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let cases: usize = env("SMALLPAY_MODEL_CASES").and_then(|c| c.parse().ok()).unwrap_or(24);
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
    for (seed, cases, start) in regressions() {
        let Some(app) = spawn(Some(start)) else { return };
        eprintln!("model: regression seed={seed} cases={cases} start={}", start.to_rfc3339());
        rt.block_on(run_batch(&app, seed, cases, &mut BTreeMap::new()));
    }
    let Some(app) = spawn(start) else { return };
    eprintln!("model: {cases} cases from SMALLPAY_MODEL_SEED={seed} in batches of up to {BATCH}");
    let started = std::time::Instant::now();
    let mut tally = BTreeMap::new();
    for (b, first) in (0..cases).step_by(BATCH).enumerate() {
        let batch_seed = seed.wrapping_add(b as u64);
        let size = BATCH.min(cases - first);
        let at = app.state.clock.now();
        let run =
            std::panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(run_batch(&app, batch_seed, size, &mut tally))));
        if let Err(panic) = run {
            let line = format!("seed={batch_seed} cases={size} start={}", at.to_rfc3339());
            eprintln!("model: a batch failed; replay it with {line} (appended to {})", regressions_file().display());
            eprintln!(
                "  or: SMALLPAY_MODEL_SEED={batch_seed} SMALLPAY_MODEL_CASES={size} SMALLPAY_MODEL_START={}",
                at.to_rfc3339()
            );
            use std::io::Write as _;
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(regressions_file()) {
                let _ = writeln!(f, "{line} backend={backend:?}");
            }
            std::panic::resume_unwind(panic);
        }
        if cases > BATCH {
            eprintln!("model: {} of {cases} cases passed ({:.0} s)", first + size, started.elapsed().as_secs_f64());
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
