//! Automatic persisted queries (Apollo's protocol, async-graphql's `ApolloPersistedQueries`):
//! a client sends `extensions.persistedQuery.sha256Hash` alone; an unknown hash answers
//! `PERSISTED_QUERY_NOT_FOUND`, the client sends the document with its hash once, and from
//! then on the hash alone runs it.
//!
//! The store is this instance's memory, a bounded LRU: on several instances (PostgreSQL) each
//! learns a document the first time a client sends it there, at the cost of one extra round
//! trip — the protocol's own retry. Nothing is written to the database, so an anonymous client
//! cannot make the service write by sending documents. Only documents within the limits are
//! stored (`limits::Limits` measures a document before this extension sees it, and measures a
//! stored one again before it runs), so an entry is at most `SMALLPAY_MAX_QUERY_BYTES` of text.
use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex},
};

use async_graphql::{extensions::apollo_persisted_queries::CacheStorage, parser::types::ExecutableDocument};

/// At most `capacity` parsed documents, the least recently used dropped first.
#[derive(Clone)]
pub struct DocumentCache(Arc<Mutex<lru::LruCache<String, ExecutableDocument>>>);

impl DocumentCache {
    pub fn new(capacity: NonZeroUsize) -> Self {
        DocumentCache(Arc::new(Mutex::new(lru::LruCache::new(capacity))))
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait::async_trait]
impl CacheStorage for DocumentCache {
    async fn get(&self, key: String) -> Option<ExecutableDocument> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned()
    }

    async fn set(&self, key: String, query: ExecutableDocument) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).put(key, query);
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    #[tokio::test]
    async fn the_cache_is_bounded_and_drops_the_least_recently_used() {
        let cache = DocumentCache::new(NonZeroUsize::new(2).unwrap());
        for key in ["a", "b"] {
            cache.set(key.into(), parse_query("{ me { id } }").unwrap()).await;
        }
        assert!(cache.get("a".into()).await.is_some(), "a is now the most recent");
        cache.set("c".into(), parse_query("{ me { id } }").unwrap()).await;
        assert_eq!(cache.len(), 2);
        assert!(cache.get("b".into()).await.is_none(), "b was the least recently used");
        assert!(cache.get("a".into()).await.is_some() && cache.get("c".into()).await.is_some());
    }
}
