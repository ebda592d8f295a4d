//! DataLoaders: one `Loader` over the database, one key type per batched lookup, so a page
//! of N parents costs one query per relation instead of N.
use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, Loader as LoaderTrait};
use entity::platform_compensation;
use sea_orm::DatabaseConnection;

use crate::{error::AppError, orders};

pub struct Loader {
    db: DatabaseConnection,
}

impl Loader {
    /// A loader for one request (its cache lives as long as the request).
    pub fn for_request(db: DatabaseConnection) -> DataLoader<Loader> {
        DataLoader::new(Loader { db }, tokio::spawn)
    }
}

/// Errors must be `Clone`; the message is what the client sees (`internal error` for a
/// database error).
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

/// The platform compensations of one order.
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
        let mut out: HashMap<CompensationsByOrder, Self::Value> = HashMap::new();
        for row in orders::repo::compensations_of(&self.db, &sns).await? {
            out.entry(CompensationsByOrder(row.order_sn.clone())).or_default().push(row);
        }
        Ok(out)
    }
}
