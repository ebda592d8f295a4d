//! What a token proved about its account, remembered per process (see [`Provisioned`]).
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::viewer::{Role, Viewer};

/// Accounts recently seen in the database exactly as a token described them: shop/sub →
/// (name, role, when). A token that matches an entry younger than [`Provisioned::FRESH`]
/// needs no query; any difference goes to the database. Per process: another instance
/// rewriting the same account with a different token's claims is seen here within `FRESH`.
/// Bounded: when full, it starts over.
#[derive(Default)]
pub struct Provisioned(Mutex<HashMap<String, (String, Role, Instant)>>);

impl Provisioned {
    pub const FRESH: Duration = Duration::from_secs(60);
    const CAPACITY: usize = 100_000;

    pub fn matches(&self, viewer: &Viewer) -> bool {
        let known = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        known
            .get(&viewer.account_key())
            .is_some_and(|(name, role, at)| *name == viewer.name && *role == viewer.role && at.elapsed() < Self::FRESH)
    }

    pub fn remember(&self, viewer: &Viewer) {
        let mut known = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.len() >= Self::CAPACITY {
            known.clear();
        }
        known.insert(viewer.account_key(), (viewer.name.clone(), viewer.role, Instant::now()));
    }
}
