//! Live events. Every payout transition is an event (its id is `PayoutTransition.id`): the
//! transitions table is the outbox, written in the transaction of the change. Event ids are in
//! commit order — on SQLite because writers hold the database's write lock from their first
//! statement (`BEGIN IMMEDIATE`), on PostgreSQL because a transaction takes a transaction-level
//! advisory lock just before it inserts a transition and keeps it until it commits — so a
//! reader that asks for `id > last` never skips an event a slower transaction is still writing.
//!
//! One publisher per process reads new events and fans them out to its subscribers (a
//! bounded broadcast channel). PostgreSQL wakes it with `NOTIFY smallpay_events` (sent at
//! commit, empty payload); it also polls, so a missed notification delays an event, never
//! loses it. Any number of `smallpay serve` processes can share a database.
pub mod graphql;
pub mod repo;

use std::{sync::Arc, time::Duration};

use entity::payout_transition;
use sea_orm::{DbBackend, sqlx::postgres::PgListener};
use tokio::sync::broadcast;

use crate::app::AppState;

/// How often the publisher looks for events: on SQLite (one process) this is the delivery
/// latency; on PostgreSQL the fallback behind `LISTEN`.
const POLL_SQLITE: Duration = Duration::from_millis(100);
const POLL_POSTGRES: Duration = Duration::from_millis(500);
/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "smallpay_events";

pub type Event = Arc<payout_transition::Model>;

/// The process's fan-out point.
pub struct Bus {
    sender: broadcast::Sender<Event>,
}

impl Bus {
    /// A bus whose subscribers may fall `buffer` events behind (`SMALLPAY_SUBSCRIBER_BUFFER`).
    pub fn new(buffer: usize) -> Self {
        Bus { sender: broadcast::channel(buffer.max(1)).0 }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}

/// Reads the events after `last` (the newest event when the server started accepting
/// requests) and broadcasts them, until the process ends. It polls on a connection of its
/// own, so its background reads stay out of the request statement counts.
pub async fn publisher(state: AppState, mut last: i64) {
    let db = match crate::db::connect_small(&state.config.database_url).await {
        Ok(db) => db,
        Err(e) => {
            tracing::error!(error = %e, "event publisher cannot connect");
            return;
        }
    };
    let mut listener = match db.get_database_backend() {
        DbBackend::Postgres => listen(&state.config.database_url).await,
        _ => None,
    };
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let poll = if postgres { POLL_POSTGRES } else { POLL_SQLITE };
    loop {
        let lost = match listener.as_mut() {
            Some(l) => tokio::select! {
                n = l.try_recv() => n.is_err(),
                () = tokio::time::sleep(poll) => false,
            },
            None => {
                tokio::time::sleep(poll).await;
                false
            }
        };
        if lost {
            listener = None;
        }
        match repo::after(&db, last, 500).await {
            Ok(events) => {
                for event in events {
                    last = event.id;
                    // No subscriber is fine.
                    let _ = state.bus.sender.send(Arc::new(event));
                }
            }
            Err(e) => tracing::warn!(error = ?e, "reading events failed; retrying"),
        }
        if listener.is_none() && postgres {
            listener = listen(&state.config.database_url).await;
        }
    }
}

async fn listen(url: &str) -> Option<PgListener> {
    let mut listener =
        PgListener::connect(url).await.map_err(|e| tracing::warn!(error = %e, "LISTEN unavailable; polling")).ok()?;
    listener.listen(CHANNEL).await.map_err(|e| tracing::warn!(error = %e, "LISTEN failed; polling")).ok()?;
    Some(listener)
}
