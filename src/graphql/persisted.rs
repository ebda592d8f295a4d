//! Automatic persisted queries (Apollo's protocol, as async-graphql's `ApolloPersistedQueries`
//! speaks it, applied by `service` rather than as an extension):
//! a client sends `extensions.persistedQuery.sha256Hash` alone; an unknown hash answers
//! `PERSISTED_QUERY_NOT_FOUND`, the client sends the document with its hash once, and from
//! then on the hash alone runs it.
//!
//! The store is this instance's memory, a bounded LRU: on several instances (PostgreSQL) each
//! learns a document the first time a client sends it there, at the cost of one extra round
//! trip — the protocol's own retry. Nothing is written to the database, so an anonymous client
//! cannot make the service write by sending documents. Only documents within the limits are
//! stored (`limits::check_sent` measures a document before it is stored here, and measures a
//! stored one again before it runs), so an entry is at most `SMALLPAY_MAX_QUERY_BYTES` of text.
use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex},
};

use async_graphql::{Request, ServerError, ServerResult, parser::types::ExecutableDocument};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// At most `capacity` parsed documents, the least recently used dropped first.
#[derive(Clone)]
pub struct DocumentCache(Arc<Mutex<lru::LruCache<String, ExecutableDocument>>>);

impl DocumentCache {
    pub fn new(capacity: NonZeroUsize) -> Self {
        DocumentCache(Arc::new(Mutex::new(lru::LruCache::new(capacity))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, lru::LruCache<String, ExecutableDocument>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<ExecutableDocument> {
        self.lock().get(key).cloned()
    }

    pub fn set(&self, key: String, doc: ExecutableDocument) {
        self.lock().put(key, doc);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `extensions.persistedQuery` as Apollo's clients send it.
#[derive(Deserialize)]
struct PersistedQuery {
    version: i32,
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

/// Apollo's protocol, with async-graphql's messages (which `errors` turns into codes): a hash
/// alone runs the stored document or answers `PersistedQueryNotFound`; a document with its
/// hash is checked against the hash and stored (already parsed and measured by `limits`).
/// A request without `persistedQuery` passes unchanged.
pub fn resolve(cache: &DocumentCache, mut request: Request) -> ServerResult<Request> {
    let Some(value) = request.extensions.remove("persistedQuery") else { return Ok(request) };
    let persisted: PersistedQuery = async_graphql::from_value(value)
        .map_err(|_| ServerError::new("Invalid \"PersistedQuery\" extension configuration.", None))?;
    if persisted.version != 1 {
        return Err(ServerError::new(
            format!(
                "Only the \"PersistedQuery\" extension of version \"1\" is supported, and the current version is \"{}\".",
                persisted.version
            ),
            None,
        ));
    }
    if request.query.is_empty() {
        let doc = cache.get(&persisted.sha256_hash).ok_or_else(|| ServerError::new("PersistedQueryNotFound", None))?;
        request.set_parsed_query(doc);
        return Ok(request);
    }
    let hash = format!("{:x}", Sha256::digest(request.query.as_bytes()));
    if persisted.sha256_hash != hash {
        return Err(ServerError::new("provided sha does not match query", None));
    }
    let doc = request.parsed_query()?.clone();
    cache.set(hash, doc);
    Ok(request)
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    #[test]
    fn the_cache_is_bounded_and_drops_the_least_recently_used() {
        let cache = DocumentCache::new(NonZeroUsize::new(2).unwrap());
        for key in ["a", "b"] {
            cache.set(key.into(), parse_query("{ me { id } }").unwrap());
        }
        assert!(cache.get("a").is_some(), "a is now the most recent");
        cache.set("c".into(), parse_query("{ me { id } }").unwrap());
        assert_eq!(cache.len(), 2);
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
    }
}
