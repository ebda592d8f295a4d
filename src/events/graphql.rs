//! GraphQL subscriptions: each yields `PayoutTransition`s of the subscriber's shop that it may
//! see; `afterEventId` first replays what was missed (in order, within the retention window),
//! then the stream goes live without duplicates.
use async_graphql::{Context, ErrorExtensions, ID, Result, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::{bus::Event, repo};
use crate::{
    auth::{RoleGuard, ShopScope, guards::viewer},
    domain::vocab::PayoutStatus,
    error::AppError,
    payouts::graphql::transition::PayoutTransition,
    state::AppState,
};

/// Which events a subscription wants.
#[derive(Debug, Clone)]
enum Filter {
    Status { order_sn: Option<String>, payout_id: Option<i64> },
    ApprovalRequested,
    ApprovalResolved { applicant: String },
}

impl Filter {
    fn matches(&self, e: &entity::payout_transition::Model) -> bool {
        let pending = PayoutStatus::PendingApproval;
        match self {
            Filter::Status { order_sn, payout_id } => {
                order_sn.as_ref().is_none_or(|sn| *sn == e.order_sn) && payout_id.is_none_or(|id| id == e.payout_id)
            }
            Filter::ApprovalRequested => e.to_status == pending,
            Filter::ApprovalResolved { applicant } => e.from_status == Some(pending) && e.applicant_id == *applicant,
        }
    }
}

fn event_id(id: Option<ID>) -> Result<Option<i64>, AppError> {
    id.map(|i| i.trim().parse::<i64>().map_err(|_| AppError::bad_input("afterEventId", "not an event id"))).transpose()
}

/// The shop's status changes after `after` (all of them), as `payoutStatusChanged` streams
/// them; public for tests of the stream's buffering.
pub fn status_changes(
    state: AppState,
    scope: ShopScope,
    after: Option<i64>,
) -> impl Stream<Item = Result<PayoutTransition>> {
    events(state, scope, Filter::Status { order_sn: None, payout_id: None }, after)
}

/// Events replayed per query.
const REPLAY_PAGE: u64 = 500;

fn events(
    state: AppState,
    scope: ShopScope,
    filter: Filter,
    after: Option<i64>,
) -> impl Stream<Item = Result<PayoutTransition>> {
    // Subscribe before the replay: nothing committed in between is missed, and what both see
    // is dropped by id.
    let mut live = state.bus.subscribe();
    async_stream::stream! {
        // Live events up to here were replayed, or are before `afterEventId`: not sent again.
        let mut replayed = after.unwrap_or(0);
        let mut last_sent = after.unwrap_or(0);
        if let Some(after) = after {
            // The window: a replay never reaches back past the retention; asking for more is an
            // error naming where the subscriber can resume from (after reloading its state).
            let retention = chrono::TimeDelta::from_std(state.config.event_retention).unwrap_or(chrono::TimeDelta::days(7));
            match repo::newest_beyond_window(&state.db, &scope, after, state.clock.now() - retention).await {
                Ok(None) => {}
                Ok(Some(gone)) => {
                    yield Err(AppError::bad_input(
                        "afterEventId",
                        format!("events after {after} are older than the replay window; reload and resume with afterEventId >= {gone}"),
                    )
                    .to_graphql()
                    .extend_with(|_, x| x.set("resumeFrom", gone.to_string())));
                    return;
                }
                Err(e) => {
                    yield Err(e.to_graphql());
                    return;
                }
            }
            // Paged, so a long replay never holds more than a page in memory.
            let mut cursor = after;
            loop {
                let page = match repo::replay_page(&state.db, &scope, cursor, REPLAY_PAGE).await {
                    Ok(page) => page,
                    Err(e) => {
                        yield Err(e.to_graphql());
                        return;
                    }
                };
                let full = page.len() as u64 == REPLAY_PAGE;
                for e in page {
                    cursor = e.id;
                    replayed = e.id;
                    if filter.matches(&e) {
                        last_sent = e.id;
                        yield Ok(PayoutTransition(e));
                    }
                }
                if !full {
                    break;
                }
            }
        }
        loop {
            let event: Event = match live.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => {
                    yield Err(AppError::Unavailable.to_graphql().extend_with(|_, x| {
                        x.set("reason", "the subscriber fell behind; resubscribe with afterEventId = lastEventId");
                        x.set("lastEventId", last_sent.to_string());
                    }));
                    return;
                }
                Err(RecvError::Closed) => return,
            };
            if event.shop_id != scope.id() || event.id <= replayed || !filter.matches(&event) {
                continue;
            }
            last_sent = event.id;
            yield Ok(PayoutTransition((*event).clone()));
        }
    }
}

#[derive(Default)]
pub struct Subscription;

#[Subscription(name = "EventsSubscription")]
impl Subscription {
    /// Status changes of the shop's payouts (optionally of one order or one payout).
    /// `afterEventId` replays what was missed, in order, then goes live. Merchant roles.
    #[graphql(guard = "RoleGuard::merchant()")]
    async fn payout_status_changed(
        &self,
        ctx: &Context<'_>,
        order_sn: Option<String>,
        payout_id: Option<ID>,
        after_event_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<PayoutTransition>> + use<>> {
        let state = ctx.data::<AppState>()?.clone();
        let scope = viewer(ctx)?.shop_scope()?;
        let payout_id = payout_id.map(|id| crate::payouts::graphql::payout_id(&id)).transpose()?;
        let filter = Filter::Status { order_sn, payout_id };
        Ok(events(state, scope, filter, event_id(after_event_id)?))
    }

    /// New approval requests (transitions into PENDING_APPROVAL). ADMIN.
    #[graphql(guard = "RoleGuard::admin()")]
    async fn approval_requested(
        &self,
        ctx: &Context<'_>,
        after_event_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<PayoutTransition>> + use<>> {
        let state = ctx.data::<AppState>()?.clone();
        let scope = viewer(ctx)?.shop_scope()?;
        Ok(events(state, scope, Filter::ApprovalRequested, event_id(after_event_id)?))
    }

    /// Decisions on the caller's own requests (transitions out of PENDING_APPROVAL). The
    /// applicant (merchant roles).
    #[graphql(guard = "RoleGuard::merchant()")]
    async fn approval_resolved(
        &self,
        ctx: &Context<'_>,
        after_event_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<PayoutTransition>> + use<>> {
        let state = ctx.data::<AppState>()?.clone();
        let me = viewer(ctx)?;
        let scope = me.shop_scope()?;
        let filter = Filter::ApprovalResolved { applicant: me.sub.clone() };
        Ok(events(state, scope, filter, event_id(after_event_id)?))
    }
}
