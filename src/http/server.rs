//! The router's state: what every handler and socket needs.
use std::sync::Arc;

use axum::{http::HeaderMap, response::Response};

use super::{graphiql, graphql};
use crate::{graphql::service::GraphqlService, ratelimit::ClientCounts, state::AppState};

#[derive(Clone)]
pub(super) struct Server {
    pub(super) state: AppState,
    pub(super) graphql: GraphqlService,
    pub(super) demo_tokens: Option<graphiql::DemoTokens>,
    /// Subscription sockets open per client address (the forwarded one behind a trusted proxy).
    pub(super) socket_clients: Arc<ClientCounts>,
}

impl Server {
    /// What `/graphql` needs; GraphiQL's page when it is on (never a token in production,
    /// whoever asked for the page).
    pub(super) fn endpoint<'a>(&'a self, page: &'a (dyn Fn(&HeaderMap) -> Response + Sync)) -> graphql::Endpoint<'a> {
        graphql::Endpoint {
            state: &self.state,
            graphql: &self.graphql,
            graphiql: self.state.config.graphiql_enabled().then_some(page),
        }
    }

    pub(super) fn graphiql_page(&self, headers: &HeaderMap) -> Response {
        let accounts = match &self.demo_tokens {
            Some(mint) if !self.state.config.is_production() => mint(),
            _ => Vec::new(),
        };
        graphiql::page(headers, accounts)
    }
}
