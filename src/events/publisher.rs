//! The per-process publisher: reads new events from the outbox and broadcasts them.
use std::{sync::Arc, time::Duration};

use sea_orm::{DbBackend, sqlx::postgres::PgListener};

use super::{CHANNEL, repo};
use crate::{config::ExposeSecret as _, state::AppState};

/// How often the publisher looks for events when nothing wakes it: a commit in this process
/// does (`WriteGate::committed`), and on PostgreSQL so does `NOTIFY` from other processes.
const POLL_SQLITE: Duration = Duration::from_millis(100);
const POLL_POSTGRES: Duration = Duration::from_millis(500);
/// How soon the publisher asks again when committed events wait behind a running transaction.
const BEHIND_HORIZON: Duration = Duration::from_millis(5);

/// Reads the events after `cursor` (where the outbox stood when the server started accepting
/// requests) and broadcasts them, until the process ends. It polls on a connection of its
/// own, so its background reads stay out of the request statement counts.
pub async fn run(state: AppState, mut cursor: repo::Cursor) {
    let db = match crate::db::connect_small(state.config.database_url.expose_secret()).await {
        Ok(db) => db,
        Err(e) => {
            tracing::error!(error = %e, "event publisher cannot connect");
            return;
        }
    };
    let mut listener = match db.get_database_backend() {
        DbBackend::Postgres => listen(state.config.database_url.expose_secret()).await,
        _ => None,
    };
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let poll = if postgres { POLL_POSTGRES } else { POLL_SQLITE };
    loop {
        let lost = match listener.as_mut() {
            Some(l) => tokio::select! {
                n = l.try_recv() => n.is_err(),
                () = state.write_gate.next_commit() => false,
                () = tokio::time::sleep(poll) => false,
            },
            None => tokio::select! {
                () = state.write_gate.next_commit() => false,
                () = tokio::time::sleep(poll) => false,
            },
        };
        if lost {
            listener = None;
        }
        let mut behind = BEHIND_HORIZON;
        loop {
            match repo::next(&db, cursor, 500).await {
                Ok((events, next, waiting)) => {
                    let full = events.len() == 500;
                    cursor = next;
                    for event in events {
                        state.bus.publish(Arc::new(event));
                    }
                    if full {
                        continue;
                    }
                    if waiting {
                        // Committed events wait behind a transaction still running: ask again
                        // soon rather than at the next notification (backing off to the poll).
                        tokio::time::sleep(behind).await;
                        behind = (behind * 2).min(poll);
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = ?e, "reading events failed; retrying"),
            }
            break;
        }
        if listener.is_none() && postgres {
            listener = listen(state.config.database_url.expose_secret()).await;
        }
    }
}

async fn listen(url: &str) -> Option<PgListener> {
    let mut listener =
        PgListener::connect(url).await.map_err(|e| tracing::warn!(error = %e, "LISTEN unavailable; polling")).ok()?;
    listener.listen(CHANNEL).await.map_err(|e| tracing::warn!(error = %e, "LISTEN failed; polling")).ok()?;
    Some(listener)
}
