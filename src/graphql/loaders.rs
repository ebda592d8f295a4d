//! DataLoaders: one `Loader` over the database, one key type per batched lookup, so a page
//! of N parents costs one query per relation instead of N. Keys are reached through objects
//! that were already confined to the caller's shop.
use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader as LoaderTrait};

/// The request's loader type, as stored in the request data.
pub type RequestLoader = DataLoader<Loader, HashMapCache>;
use entity::{account, account_card, order, payout, payout_transition, platform_compensation, shop};
use sea_orm::DatabaseConnection;

use crate::{accounts, cards, error::AppError, orders, payouts, shops};

pub struct Loader {
    db: DatabaseConnection,
}

impl Loader {
    /// A loader for one request, with a cache that lives as long as the request: what a
    /// list resolver prefetches for its page is then served from memory.
    pub fn for_request(db: DatabaseConnection) -> DataLoader<Loader, HashMapCache> {
        DataLoader::with_cache(Loader { db }, tokio::spawn, HashMapCache::default())
    }

    /// A loader for a subscription socket: batching without the cache, so every event shows
    /// its payout as it is at that moment.
    pub fn for_connection(db: DatabaseConnection) -> DataLoader<Loader, HashMapCache> {
        let loader = Loader::for_request(db);
        loader.enable_all_cache(false);
        loader
    }
}

/// Errors must be `Clone`; the client sees the error's code and message (`internal error`
/// for a database error).
#[derive(Clone)]
pub struct LoadError(Arc<AppError>);

impl From<LoadError> for async_graphql::Error {
    fn from(e: LoadError) -> Self {
        e.0.to_graphql()
    }
}

impl From<AppError> for LoadError {
    fn from(e: AppError) -> Self {
        LoadError(Arc::new(e))
    }
}

impl From<sea_orm::DbErr> for LoadError {
    fn from(e: sea_orm::DbErr) -> Self {
        AppError::from(e).into()
    }
}

/// Groups rows by key, with an empty list for every asked key that has none (so that "none"
/// is cached too).
fn group<K: std::hash::Hash + Eq + Clone, V>(keys: &[K], rows: Vec<V>, key: impl Fn(&V) -> K) -> HashMap<K, Vec<V>> {
    let mut out: HashMap<K, Vec<V>> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
    for row in rows {
        out.entry(key(&row)).or_default().push(row);
    }
    out
}

/// The platform compensations of one order, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CompensationsByOrder(pub String);

impl LoaderTrait<CompensationsByOrder> for Loader {
    type Value = Vec<platform_compensation::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[CompensationsByOrder],
    ) -> Result<HashMap<CompensationsByOrder, Self::Value>, LoadError> {
        let sns: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = orders::repo::compensations_of(&self.db, &sns).await?;
        Ok(group(keys, rows, |r| CompensationsByOrder(r.order_sn.clone())))
    }
}

/// The payouts of one order, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PayoutsByOrder(pub String);

impl LoaderTrait<PayoutsByOrder> for Loader {
    type Value = Vec<payout::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[PayoutsByOrder]) -> Result<HashMap<PayoutsByOrder, Self::Value>, LoadError> {
        let sns: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = payouts::repo::of_orders(&self.db, &sns).await?;
        Ok(group(keys, rows, |r| PayoutsByOrder(r.order_sn.clone())))
    }
}

/// A payout's history, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransitionsByPayout(pub i64);

impl LoaderTrait<TransitionsByPayout> for Loader {
    type Value = Vec<payout_transition::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[TransitionsByPayout]) -> Result<HashMap<TransitionsByPayout, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = payouts::repo::transitions_of(&self.db, &ids).await?;
        Ok(group(keys, rows, |r| TransitionsByPayout(r.payout_id)))
    }
}

/// A payout by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PayoutById(pub i64);

impl LoaderTrait<PayoutById> for Loader {
    type Value = payout::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[PayoutById]) -> Result<HashMap<PayoutById, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        Ok(payouts::repo::find_many_any_shop(&self.db, &ids)
            .await?
            .into_iter()
            .map(|p| (PayoutById(p.id), p))
            .collect())
    }
}

/// An order by its number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderBySn(pub String);

impl LoaderTrait<OrderBySn> for Loader {
    type Value = order::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[OrderBySn]) -> Result<HashMap<OrderBySn, Self::Value>, LoadError> {
        let sns: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = orders::repo::find_many_any_shop(&self.db, &sns).await?;
        Ok(rows.into_iter().map(|o| (OrderBySn(o.order_sn.clone()), o)).collect())
    }
}

/// An account by (shop, id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountKey {
    pub shop_id: String,
    pub id: String,
}

impl LoaderTrait<AccountKey> for Loader {
    type Value = account::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[AccountKey]) -> Result<HashMap<AccountKey, Self::Value>, LoadError> {
        let pairs: Vec<(String, String)> = keys.iter().map(|k| (k.shop_id.clone(), k.id.clone())).collect();
        let rows = accounts::repo::find_by_keys(&self.db, &pairs).await?;
        Ok(rows.into_iter().map(|a| (AccountKey { shop_id: a.shop_id.clone(), id: a.id.clone() }, a)).collect())
    }
}

/// The newest account card of a payout (`None` cached too: most payouts have none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CardByPayout(pub i64);

impl LoaderTrait<CardByPayout> for Loader {
    type Value = Option<account_card::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[CardByPayout]) -> Result<HashMap<CardByPayout, Self::Value>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = cards::repo::of_payouts(&self.db, &ids).await?;
        let mut out: HashMap<CardByPayout, Self::Value> = keys.iter().map(|k| (*k, None)).collect();
        // Ascending ids: the last card of each payout wins.
        for card in rows {
            out.insert(CardByPayout(card.payout_id), Some(card));
        }
        Ok(out)
    }
}

/// A shop by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShopById(pub String);

impl LoaderTrait<ShopById> for Loader {
    type Value = shop::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[ShopById]) -> Result<HashMap<ShopById, Self::Value>, LoadError> {
        let ids: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = shops::repo::find_many_any_shop(&self.db, &ids).await?;
        Ok(rows.into_iter().map(|s| (ShopById(s.id.clone()), s)).collect())
    }
}

/// Loads `keys` at once, in one query, into the request's cache, and returns what was found:
/// for a list resolver's look-ahead prefetch. (`load_many` would hand them to the batcher,
/// which runs them in a spawned task after a 1 ms delay — time a page waited once per
/// relation.) Keys already cached are loaded again; prefetches ask each relation once.
pub async fn prefetch<K>(
    loader: &RequestLoader,
    keys: impl IntoIterator<Item = K>,
) -> Result<HashMap<K, <Loader as LoaderTrait<K>>::Value>, LoadError>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    Loader: LoaderTrait<K, Error = LoadError>,
{
    let keys: Vec<K> = keys.into_iter().collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let found = loader.loader().load(&keys).await?;
    loader.feed_many(found.iter().map(|(k, v)| (k.clone(), v.clone()))).await;
    Ok(found)
}
