//! Automatic persisted queries (Apollo's protocol, as async-graphql's `ApolloPersistedQueries`
//! speaks it, applied by `service` rather than as an extension):
//! a client sends `extensions.persistedQuery.sha256Hash` alone; an unknown hash answers
//! `PERSISTED_QUERY_NOT_FOUND`, the client sends the document with its hash once, and from
//! then on the hash alone runs it.
//!
//! The store is this instance's memory, an LRU bounded by count and by bytes: on several
//! instances (PostgreSQL) each learns a document the first time a client sends it there, at
//! the cost of one extra round trip — the protocol's own retry. Nothing is written to the
//! database, so an anonymous client cannot make the service write by sending documents.
//!
//! A parsed document takes far more memory than its text (a list of 16,000 numbers, 32 KB of
//! text, parses to about 1.3 MB), so an entry weighs what [`weight`] estimates from its nodes.
//! Only a document that passed validation is stored (`service` stores it after running it),
//! and only when the request may register documents (`SMALLPAY_PERSISTED_QUERY_REGISTRATION`:
//! by default in production, only a request with a valid token).
use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex},
};

use async_graphql::{Request, ServerError, ServerResult, parser::types::ExecutableDocument};
use lru::LruCache;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::graphql::limits;

/// Bytes a parsed document holds per node (a selection, a directive, a value…), beyond its
/// text. Measured (the growth of the resident set over 100 parses of 30 KB documents of one
/// kind each): a number in a list 73, an object in a list 243, a field 220–250, an inline
/// fragment with its field 485 for the two, a fragment definition with its field 523 for
/// the two; this is above every one of them, so the estimate is an upper bound.
const BYTES_PER_NODE: usize = 600;

/// The bytes a parsed document of `text_len` bytes of text is estimated to hold: an upper
/// bound, so a store's budget is never exceeded in fact.
pub fn weight(doc: &ExecutableDocument, text_len: usize) -> usize {
    let nodes = usize::try_from(limits::document_nodes(doc)).unwrap_or(usize::MAX);
    text_len.saturating_add(nodes.saturating_mul(BYTES_PER_NODE))
}

/// At most `capacity` parsed documents and `max_bytes` of their estimated weight, the least
/// recently used dropped first.
#[derive(Clone)]
pub struct DocumentCache(Arc<Mutex<Store>>);

struct Store {
    entries: LruCache<String, (ExecutableDocument, usize)>,
    bytes: usize,
    max_bytes: usize,
}

impl DocumentCache {
    pub fn new(capacity: NonZeroUsize, max_bytes: usize) -> Self {
        DocumentCache(Arc::new(Mutex::new(Store { entries: LruCache::new(capacity), bytes: 0, max_bytes })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<ExecutableDocument> {
        self.lock().entries.get(key).map(|(doc, _)| doc.clone())
    }

    /// Stores `doc` under `key`, weighing `bytes`; drops the least recently used entries until
    /// the store is within its budget again. A document heavier than the whole budget is not
    /// stored.
    pub fn set(&self, key: String, doc: ExecutableDocument, bytes: usize) {
        let mut store = self.lock();
        if bytes > store.max_bytes {
            return;
        }
        // `push` hands back the entry it replaced (same key) or evicted (over the count).
        if let Some((_, (_, dropped))) = store.entries.push(key, (doc, bytes)) {
            store.bytes -= dropped;
        }
        store.bytes += bytes;
        while store.bytes > store.max_bytes {
            let Some((_, (_, dropped))) = store.entries.pop_lru() else { break };
            store.bytes -= dropped;
        }
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The estimated bytes of the documents held.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// `extensions.persistedQuery` as Apollo's clients send it.
#[derive(Deserialize)]
struct PersistedQuery {
    version: i32,
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

/// A document sent with its hash: what `service` stores once the document has validated.
pub struct PendingDocument {
    hash: String,
    doc: ExecutableDocument,
    bytes: usize,
}

impl PendingDocument {
    pub fn store_in(self, cache: &DocumentCache) {
        cache.set(self.hash, self.doc, self.bytes);
    }
}

/// Apollo's protocol, with async-graphql's messages (which `errors` turns into codes): a hash
/// alone runs the stored document or answers `PersistedQueryNotFound`; a document with its
/// hash is checked against the hash (already parsed and measured by `limits`) and, when
/// `may_register`, handed back to be stored once it has validated.
/// A request without `persistedQuery` passes unchanged.
pub fn resolve(
    cache: &DocumentCache,
    mut request: Request,
    may_register: bool,
) -> ServerResult<(Request, Option<PendingDocument>)> {
    let Some(value) = request.extensions.remove("persistedQuery") else { return Ok((request, None)) };
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
        return Ok((request, None));
    }
    let hash = hash(&request.query);
    if persisted.sha256_hash != hash {
        return Err(ServerError::new("provided sha does not match query", None));
    }
    if !may_register {
        return Ok((request, None));
    }
    let pending = pending(hash, &mut request)?;
    Ok((request, Some(pending)))
}

/// The key a document is stored under: the hex SHA-256 of its text, as Apollo's clients
/// compute it.
pub fn hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A document sent as text without `persistedQuery`, looked up in the store: its hash and,
/// when the store holds it, its parse (so the request is not parsed again). The store is
/// also the service's cache of parsed documents: a document a client sends as text is kept
/// under its hash as one sent with its hash is (same registration rule, same budget), so a
/// client that repeats a query — every client without the protocol — costs one parse, not
/// one a request. `None` for a request without text or with `persistedQuery` ([`resolve`]
/// handles those).
pub fn look_up(cache: &DocumentCache, request: &Request) -> Option<(String, Option<ExecutableDocument>)> {
    if request.query.is_empty() || request.extensions.contains_key("persistedQuery") {
        return None;
    }
    let hash = hash(&request.query);
    let stored = cache.get(&hash);
    Some((hash, stored))
}

/// `request`'s parsed document, to store under `hash` once it has validated.
pub fn pending(hash: String, request: &mut Request) -> ServerResult<PendingDocument> {
    let text_len = request.query.len();
    let doc = request.parsed_query()?.clone();
    let bytes = weight(&doc, text_len);
    Ok(PendingDocument { hash, doc, bytes })
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn doc() -> ExecutableDocument {
        parse_query("{ me { id } }").unwrap()
    }

    #[test]
    fn the_cache_is_bounded_and_drops_the_least_recently_used() {
        let cache = DocumentCache::new(NonZeroUsize::new(2).unwrap(), 1000);
        for key in ["a", "b"] {
            cache.set(key.into(), doc(), 10);
        }
        assert!(cache.get("a").is_some(), "a is now the most recent");
        cache.set("c".into(), doc(), 10);
        assert_eq!((cache.len(), cache.bytes()), (2, 20));
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
    }

    #[test]
    fn the_cache_is_bounded_by_bytes() {
        let cache = DocumentCache::new(NonZeroUsize::new(100).unwrap(), 1000);
        for key in ["a", "b", "c"] {
            cache.set(key.into(), doc(), 400);
        }
        assert_eq!((cache.len(), cache.bytes()), (2, 800), "the third pushed out the first");
        assert!(cache.get("a").is_none());
        cache.set("b".into(), doc(), 100);
        assert_eq!((cache.len(), cache.bytes()), (2, 500), "a replaced entry gives its bytes back");
        cache.set("huge".into(), doc(), 1001);
        assert!(cache.get("huge").is_none(), "heavier than the whole budget: not stored");
        assert_eq!(cache.bytes(), 500, "and nothing dropped for it");
    }

    #[test]
    fn a_parsed_list_weighs_far_more_than_its_text() {
        let text = format!("{{ me(x: [{}]) {{ id }} }}", vec!["1"; 16_000].join(","));
        let bytes = weight(&parse_query(&text).unwrap(), text.len());
        assert!(bytes > 16_000 * 64, "{bytes} bytes estimated for {} bytes of text", text.len());
    }
}
