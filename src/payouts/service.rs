//! Payout use cases, one transaction each: the preview and the creation (ledger debit,
//! quota, idempotency). The rules live in [`crate::domain::payout`]; the initial state in
//! [`crate::domain::create`].
use chrono::{DateTime, TimeDelta, Utc};
use entity::{idempotency_key, order, payout, platform_compensation, scheduled_job};
use sea_orm::{ActiveValue::Set, DatabaseTransaction};
use sha2::{Digest, Sha256};

pub use super::snapshot::snapshot;
use super::{
    delivery, funds,
    inputs::{Inputs, Lock},
    lifecycle,
    repo::{self, NewTransition},
    totals,
};
use crate::{
    accounts,
    auth::{ShopScope, Viewer},
    db::{self, Deps},
    domain::{
        actor::Actor,
        create::{InitialState, initial_state},
        money::Cny,
        payout::{self as rules, Decision},
        vocab::{FundingChoice, JobKind, PayoutStatus, PayoutType, RefundStatus, Role},
    },
    error::{AppError, AppResult},
    gateway::Payments,
    orders, shops,
};

/// Idempotency keys are kept this long.
pub const KEY_RETENTION: TimeDelta = TimeDelta::hours(24);

/// A preview: the decision, the order, its earlier payouts and the platform's compensations.
pub struct Preview {
    pub order: order::Model,
    pub decision: Decision,
    pub payouts: Vec<payout::Model>,
    pub compensations: Vec<platform_compensation::Model>,
}

pub async fn preview(deps: Deps<'_>, viewer: &Viewer, order_sn: &str, amount: Option<Cny>) -> AppResult<Preview> {
    let scope = viewer.shop_scope()?;
    let now = deps.clock.now();
    let mut inputs = Inputs::read(deps.db, &scope, order_sn, viewer, (now, deps.default_zone), Lock::No)
        .await?
        .ok_or_else(|| AppError::not_found(format!("shop {}", scope.id())))?;
    let order = inputs.order.take().ok_or_else(|| AppError::not_found(format!("order {order_sn}")))?;
    let tz = shops::service::zone(deps, &inputs.shop);
    let snapshot = inputs.snapshot(deps.db, &scope, &order, viewer, (now, tz)).await?;
    let payouts = repo::of_orders(deps.db, std::slice::from_ref(&order.order_sn)).await?;
    let compensations = orders::repo::compensations_of(deps.db, std::slice::from_ref(&order.order_sn)).await?;
    Ok(Preview { decision: rules::decide(&snapshot, amount), order, payouts, compensations })
}

/// A validated `createPayout` input.
#[derive(Debug, Clone)]
pub struct NewPayout {
    pub order_sn: String,
    pub kind: PayoutType,
    pub amount: Cny,
    pub reason: String,
    pub message: String,
    pub funding: FundingChoice,
    pub approval_note: Option<String>,
    pub idempotency_key: Option<String>,
}

impl NewPayout {
    /// The request's fingerprint, to tell a replay from a reused key.
    fn fingerprint(&self) -> String {
        let canonical = format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
            self.order_sn,
            self.kind.as_str(),
            self.amount.fen(),
            self.reason,
            self.message,
            self.funding.as_str(),
            self.approval_note.as_deref().unwrap_or(""),
        );
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

enum Created {
    /// With its `DELIVER` job, leased to this request, when it was created `PAYING`.
    New(Box<payout::Model>, Option<scheduled_job::Model>),
    Replay(i64),
}

/// Creates a payout (rules.md "Creating a payout"). A refusal writes nothing. A balance payout
/// is handed to the payment channel after the commit; the answer is the payout as committed.
pub async fn create(
    deps: Deps<'_>,
    payments: Payments<'_>,
    viewer: &Viewer,
    input: NewPayout,
) -> AppResult<payout::Model> {
    let scope = viewer.shop_scope()?;
    if input.funding == FundingChoice::RequestApproval && viewer.role == Role::Admin {
        return Err(AppError::Forbidden("an admin pays directly; REQUEST_APPROVAL is for other roles".into()));
    }
    let fingerprint = input.fingerprint();
    let request = (viewer.clone(), scope.clone(), input, fingerprint);
    let created = deps
        .write_batched(db::ShopOf::Shop(scope.id()), request, |tx, now, (viewer, scope, input, fingerprint)| {
            Box::pin(create_in(tx, now, viewer, scope, input, fingerprint))
        })
        .await?;
    match created {
        Created::Replay(id) => {
            repo::find(deps.db, &scope, id).await?.ok_or_else(|| AppError::Internal("replayed payout vanished".into()))
        }
        Created::New(payout, delivery) => {
            if let Some(job) = delivery {
                delivery::first_attempt(deps, payments, &job, &payout).await;
            }
            Ok(*payout)
        }
    }
}

/// The creation's transaction (a savepoint of a batch's on SQLite): reads, decides, writes;
/// its caller commits. `(now, default zone)`: the shop's zone when it has none of its own.
async fn create_in(
    tx: &DatabaseTransaction,
    (now, default_zone): db::Now,
    viewer: &Viewer,
    scope: &ShopScope,
    input: &NewPayout,
    fingerprint: &str,
) -> AppResult<Created> {
    // The shop row lock serialises every payout of the shop: caps, balance, quotas and the
    // order's counts cannot change under the decision. One statement reads all of it.
    let mut read = Inputs::read(tx, scope, &input.order_sn, viewer, (now, default_zone), Lock::ForUpdate)
        .await?
        .ok_or_else(|| AppError::not_found(format!("shop {}", scope.id())))?;
    if let Some(id) = replay_of(tx, scope, viewer, input, fingerprint, now).await? {
        return Ok(Created::Replay(id));
    }
    let order = read.order.take().ok_or_else(|| AppError::not_found(format!("order {}", input.order_sn)))?;
    let tz = crate::domain::shop::zone_of(&read.shop.time_zone, default_zone);
    let snapshot = read.snapshot(tx, scope, &order, viewer, (now, tz)).await?;
    if let Some(refusal) = rules::decide(&snapshot, Some(input.amount)).refusal(input.funding) {
        return Err(AppError::refused("payout refused", refusal));
    }
    // The account's first write provisions it; later ones write only a changed name or role.
    if read.account.as_ref().is_none_or(|(name, role)| *name != viewer.name || *role != viewer.role) {
        accounts::repo::upsert(tx, scope, &viewer.sub, &viewer.name, viewer.role, now).await?;
    }
    let initial = initial_state(input.funding, input.amount, now);
    let payout = repo::insert(tx, new_row(&order, viewer, input, &initial, now)).await?;
    totals::record(tx, None, &payout).await?;
    if initial.commitment.as_ref().is_some_and(|c| c.debit.is_some()) {
        // The shop's payout counter counts it in the debit's statement.
        funds::debit_new(tx, &payout, now).await?;
    } else {
        shops::repo::count_new_payout(tx, scope.id()).await?;
    }
    let note = payout.approval_note.as_deref();
    let first = NewTransition {
        payout: &payout,
        from: None,
        to: initial.status,
        at: now,
        actor: Actor::Merchant(&viewer.sub),
        note,
    };
    repo::publish_transition(tx, first).await?;
    // Its jobs in one statement: a `PAYING` payout's delivery, then the deadlines.
    let mut due = Vec::with_capacity(3);
    if initial.status == PayoutStatus::Paying {
        due.push(delivery::leased_row(payout.id, now));
    }
    due.extend(lifecycle::deadline_jobs(&payout, now));
    let scheduled = crate::jobs::repo::schedule_all(tx, due).await?;
    let delivery = scheduled.into_iter().find(|job| job.kind == JobKind::Deliver);
    if let Some(key) = &input.idempotency_key {
        keep_key(tx, scope, viewer, key, fingerprint, payout.id, now).await?;
    }
    Ok(Created::New(Box::new(payout), delivery))
}

/// The payout an unexpired idempotency key already made (its fingerprint must match:
/// `IDEMPOTENCY_KEY_REUSED` otherwise); an expired key is forgotten.
async fn replay_of(
    tx: &DatabaseTransaction,
    scope: &ShopScope,
    viewer: &Viewer,
    input: &NewPayout,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<i64>> {
    let Some(key) = &input.idempotency_key else { return Ok(None) };
    let Some(found) = repo::find_key(tx, scope, &viewer.sub, key).await? else { return Ok(None) };
    if found.expires_at <= now {
        repo::delete_key(tx, &found).await?;
        return Ok(None);
    }
    if found.request_hash == fingerprint { Ok(Some(found.payout_id)) } else { Err(AppError::IdempotencyKeyReused) }
}

/// The new payout's row, in its initial state.
fn new_row(
    order: &order::Model,
    viewer: &Viewer,
    input: &NewPayout,
    initial: &InitialState,
    now: DateTime<Utc>,
) -> payout::ActiveModel {
    let mut row = payout::ActiveModel {
        shop_id: Set(order.shop_id.clone()),
        order_sn: Set(order.order_sn.clone()),
        goods_id: Set(order.goods_id.clone()),
        buyer_id: Set(order.buyer_id.clone()),
        r#type: Set(input.kind),
        amount_fen: Set(input.amount.into()),
        reason: Set(input.reason.clone()),
        message: Set(input.message.clone()),
        approval_note: Set(input.approval_note.clone().filter(|_| initial.keeps_approval_note)),
        status: Set(initial.status),
        funding: Set(None),
        applicant_id: Set(viewer.sub.clone()),
        approver_id: Set(None),
        uses_quota: Set(initial.uses_quota),
        created_at: Set(now),
        committed_at: Set(None),
        deducted_at: Set(None),
        qr_payload: Set(None),
        recharge_deadline: Set(None),
        refund_status: Set(RefundStatus::None),
        updated_at: Set(now),
        transfer_key: Set((initial.status == PayoutStatus::Paying).then(lifecycle::new_transfer_key)),
        ..Default::default()
    };
    if let Some(commitment) = &initial.commitment {
        funds::set_commitment(&mut row, commitment, input.amount);
    }
    row
}

/// Keeps the idempotency key for [`KEY_RETENTION`].
async fn keep_key(
    tx: &DatabaseTransaction,
    scope: &ShopScope,
    viewer: &Viewer,
    key: &str,
    fingerprint: &str,
    payout_id: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let kept = idempotency_key::Model {
        shop_id: scope.id().to_owned(),
        account_id: viewer.sub.clone(),
        key: key.to_owned(),
        request_hash: fingerprint.to_owned(),
        payout_id,
        created_at: now,
        expires_at: now + KEY_RETENTION,
    };
    repo::insert_key(tx, kept).await
}
