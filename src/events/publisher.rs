//! The per-process publisher: reads new events from the outbox and broadcasts them.
use std::{sync::Arc, time::Duration};

use sea_orm::{DbBackend, sqlx::postgres::PgListener};

use super::{CHANNEL, repo};
use crate::state::AppState;

/// How often the publisher looks for events: on SQLite (one process) this is the delivery
/// latency; on PostgreSQL the fallback behind `LISTEN`.
const POLL_SQLITE: Duration = Duration::from_millis(100);
const POLL_POSTGRES: Duration = Duration::from_millis(500);

/// Reads the events after `last` (the newest event when the server started accepting
/// requests) and broadcasts them, until the process ends. It polls on a connection of its
/// own, so its background reads stay out of the request statement counts.
pub async fn run(state: AppState, mut last: i64) {
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
                    state.bus.publish(Arc::new(event));
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
