//! Payout use cases, one transaction each: preview, create (ledger debit, quota, idempotency)
//! and settling a transfer's result. The rules themselves live in [`super::rules`].
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use entity::{idempotency_key, order, payout, platform_compensation, shop};
use sea_orm::{ActiveValue::Set, ConnectionTrait};
use sha2::{Digest, Sha256};

use super::{
    repo::{self, NewTransition},
    rules::{self, Decision, QuotaLimits, Snapshot},
    types::{FundingChoice, FundingMethod, PayoutStatus, PayoutType, RefundStatus, TransferFailureKind},
};
use crate::{
    accounts,
    auth::{Role, ShopScope, Viewer},
    db::{self, Ctx},
    error::{AppError, AppResult},
    gateway::{FailureKind, PaymentChannel, Transfer, TransferOutcome},
    ledger::{
        EntryKind,
        repo::{self as ledger, NewEntry},
    },
    money::Cny,
    orders, quotas,
    shops::{self, rules::Policy},
};

/// Idempotency keys are kept this long.
pub const KEY_RETENTION: TimeDelta = TimeDelta::hours(24);

/// Everything the rules read about one order, for one operator, now.
pub async fn snapshot(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    tz: Tz,
    scope: &ShopScope,
    shop: &shop::Model,
    order: &order::Model,
    operator: &Viewer,
) -> AppResult<(Snapshot, Vec<payout::Model>)> {
    let (from, to) = shops::rules::day_bounds(tz, now);
    let paid_today = shops::repo::committed_total(db, scope, from, to, false).await?;
    let paid_from_balance = shops::repo::committed_total(db, scope, from, to, true).await?;
    let payouts = repo::of_orders(db, std::slice::from_ref(&order.order_sn)).await?;
    let applications =
        payouts.iter().filter(|p| PayoutStatus::parse(&p.status).is_some_and(rules::counts_as_application)).count();
    let quota = quotas::repo::find(db, scope, &operator.sub).await?;
    let used = quotas::repo::used(db, scope, std::slice::from_ref(&operator.sub), from, to).await?;
    let snapshot = Snapshot {
        now,
        tz,
        has_unpaid_bills: shop.has_unpaid_bills,
        zero_entry: shop.zero_entry,
        deposit_paid: shop.deposit_paid,
        balance: Cny::from_fen(shop.balance_fen),
        policy: Policy {
            daily_cap: Cny::from_fen(shop.daily_cap_fen),
            daily_balance_cap: Cny::from_fen(shop.daily_balance_cap_fen),
            max_amount_regular: Cny::from_fen(shop.max_amount_regular_fen),
            max_amount_activity: Cny::from_fen(shop.max_amount_activity_fen),
        },
        shop_paid_today: Cny::from_fen(paid_today),
        shop_paid_from_balance_today: Cny::from_fen(paid_from_balance),
        grouped_at: order.grouped_at,
        activity_goods: order.activity_goods,
        order_applications: u32::try_from(applications).unwrap_or(u32::MAX),
        last_payout_created_at: payouts.iter().map(|p| p.created_at).max(),
        operator_role: operator.role,
        operator_quota: quota.map(|q| QuotaLimits {
            per_payout: Cny::from_fen(q.per_payout_limit_fen),
            daily: Cny::from_fen(q.daily_limit_fen),
        }),
        operator_used_today: Cny::from_fen(used.get(&operator.sub).copied().unwrap_or(0)),
    };
    Ok((snapshot, payouts))
}

/// A preview: the decision, the order, its earlier payouts and the platform's compensations.
pub struct Preview {
    pub order: order::Model,
    pub decision: Decision,
    pub payouts: Vec<payout::Model>,
    pub compensations: Vec<platform_compensation::Model>,
}

pub async fn preview(cx: Ctx<'_>, viewer: &Viewer, order_sn: &str, amount: Option<Cny>) -> AppResult<Preview> {
    let scope = viewer.shop_scope()?;
    let shop =
        shops::repo::find(cx.db, &scope).await?.ok_or_else(|| AppError::not_found(format!("shop {}", scope.id())))?;
    let order = orders::repo::find_in_shop(cx.db, &scope, order_sn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("order {order_sn}")))?;
    let (snapshot, payouts) =
        snapshot(cx.db, cx.clock.now(), shops::service::zone(cx, &shop), &scope, &shop, &order, viewer).await?;
    let compensations = orders::repo::compensations_of(cx.db, std::slice::from_ref(&order.order_sn)).await?;
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
        Sha256::digest(canonical.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
}

enum Created {
    New(Box<payout::Model>),
    Replay(i64),
}

/// Creates a payout (rules.md "Creating a payout"). A refusal writes nothing. A balance payout
/// is handed to the payment channel after the commit; the answer is the payout as committed.
pub async fn create(
    cx: Ctx<'_>,
    channel: &dyn PaymentChannel,
    viewer: &Viewer,
    input: NewPayout,
) -> AppResult<payout::Model> {
    let scope = viewer.shop_scope()?;
    if input.funding == FundingChoice::RequestApproval && viewer.role == Role::Admin {
        return Err(AppError::Forbidden("an admin pays directly; REQUEST_APPROVAL is for other roles".into()));
    }
    let fingerprint = input.fingerprint();
    match cx.write(|| create_once(cx, viewer, &scope, &input, &fingerprint)).await? {
        Created::Replay(id) => {
            repo::find(cx.db, &scope, id).await?.ok_or_else(|| AppError::Internal("replayed payout vanished".into()))
        }
        Created::New(payout) => {
            if payout.status == PayoutStatus::Paying.as_str() {
                deliver(cx, channel, &payout, None).await;
            }
            Ok(*payout)
        }
    }
}

async fn create_once(
    cx: Ctx<'_>,
    viewer: &Viewer,
    scope: &ShopScope,
    input: &NewPayout,
    fingerprint: &str,
) -> AppResult<Created> {
    let now = cx.clock.now();
    let tx = db::begin_write(cx.db).await?;
    // The shop row lock serialises every payout of the shop: caps, balance, quotas and the
    // order's counts cannot change under the decision.
    let shop = shops::repo::find_for_update(&tx, scope)
        .await?
        .ok_or_else(|| AppError::not_found(format!("shop {}", scope.id())))?;
    let previous = match &input.idempotency_key {
        Some(key) => repo::find_key(&tx, scope, &viewer.sub, key).await?,
        None => None,
    };
    if let Some(found) = previous {
        if found.expires_at > now {
            return if found.request_hash == fingerprint {
                Ok(Created::Replay(found.payout_id))
            } else {
                Err(AppError::IdempotencyKeyReused)
            };
        }
        repo::delete_key(&tx, &found).await?;
    }
    let order = orders::repo::find_in_shop(&tx, scope, &input.order_sn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("order {}", input.order_sn)))?;
    let (snapshot, _) = snapshot(&tx, now, shops::service::zone(cx, &shop), scope, &shop, &order, viewer).await?;
    let decision = rules::decide(&snapshot, Some(input.amount));
    if let Some((code, blockers)) = decision.refusal(input.funding) {
        return Err(AppError::Refused { code, message: format!("payout refused: {}", blockers.join(", ")), blockers });
    }

    accounts::repo::upsert(&tx, scope, &viewer.sub, &viewer.name, viewer.role, now).await?;
    let method = input.funding.method();
    let status = match method {
        None => PayoutStatus::PendingApproval,
        Some(FundingMethod::Balance) => PayoutStatus::Paying,
        Some(_) => PayoutStatus::PendingRecharge,
    };
    let committed = method.is_some();
    let payout = repo::insert(
        &tx,
        payout::ActiveModel {
            shop_id: Set(scope.id().to_owned()),
            order_sn: Set(order.order_sn.clone()),
            goods_id: Set(order.goods_id.clone()),
            buyer_id: Set(order.buyer_id.clone()),
            r#type: Set(input.kind.as_str().to_owned()),
            amount_fen: Set(input.amount.fen()),
            reason: Set(input.reason.clone()),
            message: Set(input.message.clone()),
            approval_note: Set(input.approval_note.clone().filter(|_| method.is_none())),
            status: Set(status.as_str().to_owned()),
            funding: Set(method.map(|m| m.as_str().to_owned())),
            applicant_id: Set(viewer.sub.clone()),
            approver_id: Set(None),
            uses_quota: Set(method == Some(FundingMethod::Balance)),
            created_at: Set(now),
            committed_at: Set(committed.then_some(now)),
            deducted_at: Set((method == Some(FundingMethod::Balance)).then_some(now)),
            qr_payload: Set(method.filter(|m| *m != FundingMethod::Balance).map(|m| qr_payload(m, input.amount))),
            recharge_deadline: Set(method
                .filter(|m| *m != FundingMethod::Balance)
                .map(|_| now + rules::RECHARGE_WINDOW)),
            refund_status: Set(RefundStatus::None.as_str().to_owned()),
            updated_at: Set(now),
            ..Default::default()
        },
    )
    .await?;
    if method == Some(FundingMethod::Balance) {
        let debit = NewEntry {
            shop_id: scope.id(),
            kind: EntryKind::PayoutDebit,
            amount_fen: -payout.amount_fen,
            payout_id: Some(payout.id),
            reference: None,
            at: now,
        };
        if ledger::append(&tx, debit).await?.is_none() {
            return Err(AppError::Refused {
                code: "INSUFFICIENT_BALANCE",
                blockers: vec!["INSUFFICIENT_BALANCE"],
                message: "payout refused: INSUFFICIENT_BALANCE".into(),
            });
        }
    }
    let note = match status {
        PayoutStatus::PendingApproval => payout.approval_note.as_deref(),
        _ => None,
    };
    repo::record_transition(
        &tx,
        NewTransition { payout: &payout, from: None, to: status, at: now, actor: &viewer.sub, note },
    )
    .await?;
    super::lifecycle::schedule_deadlines(&tx, &payout, now).await?;
    if let Some(key) = &input.idempotency_key {
        repo::insert_key(
            &tx,
            idempotency_key::Model {
                shop_id: scope.id().to_owned(),
                account_id: viewer.sub.clone(),
                key: key.clone(),
                request_hash: fingerprint.to_owned(),
                payout_id: payout.id,
                created_at: now,
                expires_at: now + KEY_RETENTION,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Created::New(Box::new(payout)))
}

/// The QR code content the merchant scans to recharge a scan payout.
pub fn qr_payload(method: FundingMethod, amount: Cny) -> String {
    let scheme = match method {
        FundingMethod::AlipayScan => "alipays",
        _ => "weixin",
    };
    format!("{scheme}://smallpay/recharge/{}?amount={amount}", uuid::Uuid::new_v4().simple())
}

/// Hands a `PAYING` payout to the payment channel and applies an immediate result. Errors
/// are logged: the payout stays `PAYING` until a result arrives or it closes.
pub async fn deliver(
    cx: Ctx<'_>,
    channel: &dyn PaymentChannel,
    payout: &payout::Model,
    submitted_account: Option<String>,
) {
    let transfer = Transfer {
        payout_id: payout.id,
        buyer_id: payout.buyer_id.clone(),
        amount: Cny::from_fen(payout.amount_fen),
        submitted_account,
    };
    let Some(outcome) = channel.transfer(&transfer).await else {
        return;
    };
    let (succeeded, kind, reason) = match outcome {
        TransferOutcome::Succeeded => (true, None, None),
        TransferOutcome::Failed { kind, reason } => (false, Some(kind), Some(reason)),
    };
    let kind = kind.map(|k| match k {
        FailureKind::BuyerAccount => TransferFailureKind::BuyerAccount,
        FailureKind::Other => TransferFailureKind::Other,
    });
    let kind = kind.unwrap_or(TransferFailureKind::Other);
    if let Err(e) = super::lifecycle::settle_transfer(cx, payout.id, succeeded, kind, reason).await {
        tracing::warn!(payout = payout.id, error = ?e, "could not record the channel's result");
    }
}
