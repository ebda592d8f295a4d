//! Durable delivery: a transactional outbox for transfers.
//!
//! Entering `PAYING` writes, in the same transaction, a fresh transfer key on the payout and
//! a `DELIVER` job (`lifecycle::transition`, the creation). Running the job:
//!
//! 1. **lease** — a compare-and-set moves the pending job's `due_at` [`LEASE`] ahead and counts
//!    the attempt, so one runner has it; if that runner dies, the lease runs out and another
//!    runner (any instance) takes it;
//! 2. **ask** — the channel gets the payout's transfer key: the first attempt starts the
//!    transfer; a later one asks `status(key)` first (the answer of an earlier attempt may
//!    have been lost) and starts it only if the channel never saw the key. A channel never pays
//!    one key twice, so a repeated attempt pays nothing more;
//! 3. **record** — the answer and the job's completion commit together, retried on contention;
//!    no answer (`NoAnswer`) leaves the job to its lease, to be asked again — never guessed.
//!
//! The first attempt runs right after the commit, in the request ([`start`]); the job is the
//! guarantee. A retry after an account submission reads the sealed number back.
use chrono::TimeDelta;
use entity::{payout, scheduled_job};
use tracing::Instrument as _;

use super::{
    lifecycle::{self, TransferResult},
    repo,
};
use crate::{
    cards,
    db::{self, Deps},
    domain::{
        card::ReceivingAccount,
        money::Cny,
        vocab::{JobKind, PayoutStatus},
    },
    error::{AppError, AppResult},
    gateway::{ChannelAnswer, Payments, Transfer},
    jobs,
};

/// How long a runner holds a `DELIVER` job before another may take it.
pub const LEASE: TimeDelta = TimeDelta::seconds(30);

/// Runs the payout's pending `DELIVER` job now, unless another runner has it: the first
/// delivery, right after the commit that made the payout `PAYING`. Failures are logged; the
/// job stays for the runners.
pub async fn start(deps: Deps<'_>, payments: Payments<'_>, payout_id: i64) {
    let job = match jobs::repo::pending_of(deps.db, JobKind::Deliver, payout_id).await {
        Ok(Some(job)) => job,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(payout = payout_id, error = ?e, "delivery: no job to start");
            return;
        }
    };
    if let Err(e) = run(deps, payments, &job).await {
        tracing::warn!(payout = payout_id, job = job.id, error = ?e, "delivery deferred to the job runner");
    }
}

/// The `DELIVER` job's row of a payout created `PAYING`, written with the creation's other jobs
/// (`jobs::repo::schedule_all`) and leased to the request, which makes the first attempt after
/// the commit ([`first_attempt`]): no lease to take, nothing to read back.
pub fn leased_row(payout_id: i64, now: chrono::DateTime<chrono::Utc>) -> scheduled_job::ActiveModel {
    jobs::repo::leased(JobKind::Deliver, payout_id, now + LEASE, now)
}

/// The first attempt of a new payout's delivery, with the job [`leased_row`] gave the
/// request: the transfer (no account has been submitted yet), then the answer recorded.
/// Failures are logged; when the lease runs out a runner asks the channel again.
pub async fn first_attempt(deps: Deps<'_>, payments: Payments<'_>, job: &scheduled_job::Model, p: &payout::Model) {
    let Some(key) = p.transfer_key.as_deref() else { return };
    let answer =
        payments.channel.transfer(key, &transfer(p, None)).instrument(channel_span("transfer", payments, p.id)).await;
    if let Err(e) = record(deps, job, &p.shop_id, key, answer).await {
        tracing::warn!(payout = p.id, job = job.id, error = ?e, "delivery deferred to the job runner");
    }
}

/// A payment-channel call's span (a child of the request's or the job's): its trace span.
fn channel_span(call: &'static str, payments: Payments<'_>, payout: i64) -> tracing::Span {
    tracing::info_span!(
        "payment_channel",
        otel.name = format!("payment_channel.{call}"),
        otel.kind = "client",
        channel = payments.channel.name(),
        payout,
    )
}

/// Runs one `DELIVER` job: lease, ask the channel, record. `false` when another runner had it.
pub async fn run(deps: Deps<'_>, payments: Payments<'_>, job: &scheduled_job::Model) -> AppResult<bool> {
    let now = deps.clock.now();
    if !deps.write(|| jobs::repo::lease(deps.db, job, now, now + LEASE)).await? {
        return Ok(false);
    }
    let payout_id = job.payout_id.ok_or_else(|| AppError::Internal(format!("job {} has no payout", job.id)))?;
    let p = repo::find_any_shop(deps.db, payout_id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("payout {payout_id}")))?;
    let key = match (p.status, p.transfer_key.as_deref()) {
        (PayoutStatus::Paying, Some(key)) => key.to_owned(),
        // Settled, closed or retried under a newer key (which has its own job): nothing to do.
        _ => {
            deps.write(|| jobs::repo::mark_done(deps.db, job.id, now)).await?;
            return Ok(true);
        }
    };
    let asked = if job.attempts > 0 {
        Some(payments.channel.status(&key).instrument(channel_span("status", payments, p.id)).await)
    } else {
        None
    };
    let answer = match asked {
        Some(ChannelAnswer::NotFound) | None => {
            let transfer = transfer_of(deps, payments, &p).await?;
            payments.channel.transfer(&key, &transfer).instrument(channel_span("transfer", payments, p.id)).await
        }
        Some(answer) => answer,
    };
    record(deps, job, &p.shop_id, &key, answer).await?;
    Ok(true)
}

/// What to send: the payout, and the account the buyer submitted last — its kind, its number
/// read back from the seal, and its holder's name, which the channel checks against it.
async fn transfer_of(deps: Deps<'_>, payments: Payments<'_>, p: &payout::Model) -> AppResult<Transfer> {
    let submitted = match cards::repo::latest_submitted(deps.db, p.id).await? {
        Some(card) => match (card.account_kind, card.account_sealed.as_deref(), card.holder_name) {
            (Some(kind), Some(sealed), Some(holder)) => {
                Some(ReceivingAccount { kind, number: payments.sealer.open(sealed)?, holder })
            }
            _ => return Err(AppError::Internal(format!("submitted card {} lacks its account", card.id))),
        },
        None => None,
    };
    Ok(transfer(p, submitted))
}

/// The transfer of payout `p` to the buyer (or to the account it submitted).
fn transfer(p: &payout::Model, submitted_account: Option<ReceivingAccount>) -> Transfer {
    Transfer { payout_id: p.id, buyer_id: p.buyer_id.clone(), amount: Cny::from(p.amount_fen), submitted_account }
}

/// Records the channel's answer for `key` with the job's completion, in one transaction.
async fn record(
    deps: Deps<'_>,
    job: &scheduled_job::Model,
    shop: &str,
    key: &str,
    answer: ChannelAnswer,
) -> AppResult<()> {
    let result = match answer {
        ChannelAnswer::Delivered => TransferResult::Succeeded,
        ChannelAnswer::Failed { kind, reason } => TransferResult::Failed { kind, reason: Some(reason) },
        // Handed over (the result comes by reportTransferResult), or cancelled because the
        // payout closed: the job is done.
        ChannelAnswer::InFlight | ChannelAnswer::Cancelled => {
            return deps.write(|| jobs::repo::mark_done(deps.db, job.id, deps.clock.now())).await;
        }
        // Unknown: the lease runs out and the next attempt asks `status(key)`.
        ChannelAnswer::NoAnswer | ChannelAnswer::NotFound => {
            tracing::warn!(job = job.id, key, "delivery: no answer from the channel; asking again later");
            return Ok(());
        }
    };
    settle_if_current(deps, shop, job.payout_id.unwrap_or_default(), key, &result, Some(job.id)).await
}

/// Records `result` for `key` in one transaction, if the payout is still `PAYING` under that
/// key (a stale answer changes nothing), and completes `job` in the same transaction.
async fn settle_if_current(
    deps: Deps<'_>,
    shop: &str,
    payout_id: i64,
    key: &str,
    result: &TransferResult,
    job: Option<i64>,
) -> AppResult<()> {
    let state = (payout_id, key.to_owned(), result.clone(), job);
    deps.write_batched(db::ShopOf::Shop(shop), state, |tx, (now, _), (payout_id, key, result, job)| {
        Box::pin(async move {
            let (p, shop_name) = lifecycle::locked_named(tx, *payout_id).await?;
            if p.status == PayoutStatus::Paying && p.transfer_key.as_deref() == Some(key.as_str()) {
                lifecycle::settle(tx, (&p, &shop_name), result, now).await?;
            }
            if let Some(job) = *job {
                jobs::repo::mark_done(tx, job, now).await?;
            }
            Ok(())
        })
    })
    .await
}

/// Before a `PAYING` payout closes, its transfer is cancelled at the channel: only a transfer
/// the channel confirms unpaid may close (and be refunded). One the channel delivered after
/// all becomes `SUCCEEDED`; one it failed becomes `FAILED` (and then closes). No answer is an
/// error: the close job runs again later.
pub async fn before_close(deps: Deps<'_>, payments: Payments<'_>, payout_id: i64) -> AppResult<()> {
    let Some(p) = repo::find_any_shop(deps.db, payout_id).await? else { return Ok(()) };
    let (PayoutStatus::Paying, Some(key)) = (p.status, p.transfer_key.clone()) else { return Ok(()) };
    let result =
        match payments.channel.cancel(&key, payout_id).instrument(channel_span("cancel", payments, payout_id)).await {
            ChannelAnswer::Cancelled | ChannelAnswer::NotFound => return Ok(()),
            ChannelAnswer::Delivered => TransferResult::Succeeded,
            ChannelAnswer::Failed { kind, reason } => TransferResult::Failed { kind, reason: Some(reason) },
            ChannelAnswer::InFlight | ChannelAnswer::NoAnswer => return Err(AppError::Unavailable),
        };
    settle_if_current(deps, &p.shop_id, payout_id, &key, &result, None).await
}
