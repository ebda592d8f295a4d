//! The GraphQL service both transports run (`POST /graphql` and every WebSocket subscription):
//! the schema, with the service's own steps around it — the document limits, the
//! persisted-query store, the operation's name in the log span, and a code on every error.
//!
//! These steps were async-graphql extensions. An extension — any, even one that hooks only
//! the request — makes async-graphql resolve every field and every list item through the
//! extension chain (a registry lookup, a `ResolveInfo` and a boxed future each; with four
//! extensions, four wrappers per field: BENCHMARKS.md's profile of the history page). Here the
//! schema has no extension, so fields resolve directly, and each step runs once per request.
use std::{num::NonZeroUsize, sync::Arc};

use async_graphql::{
    Data, Executor, Request, Response, ServerResult,
    futures_util::{
        StreamExt as _,
        stream::{self, BoxStream},
    },
};

use crate::graphql::{
    errors,
    limits::{self, QueryLimits},
    logging,
    persisted::{self, DocumentCache},
    schema::{AppSchema, build_schema},
};
use crate::state::AppState;

#[derive(Clone)]
pub struct GraphqlService {
    schema: AppSchema,
    limits: QueryLimits,
    /// The persisted-query store (`None`: `SMALLPAY_PERSISTED_QUERIES=0`, hashes ignored).
    persisted: Option<DocumentCache>,
}

impl GraphqlService {
    /// The schema with the service's state, and the steps around it (limits, persisted
    /// queries, error codes). Introspection and the limits come from the
    /// state's configuration.
    pub fn build(state: AppState) -> GraphqlService {
        let config = state.config.clone();
        let limits = QueryLimits {
            max_query_bytes: config.max_query_bytes,
            max_fields: config.max_fields,
            max_root_fields: config.max_root_fields,
        };
        let persisted = NonZeroUsize::new(config.persisted_queries).map(DocumentCache::new);
        GraphqlService { schema: build_schema(Some(state), config.introspection_enabled()), limits, persisted }
    }

    /// What the extensions did before execution, in their order: a sent document measured
    /// (before it can be stored), the persisted query resolved, a document known only by its
    /// hash measured, the operation named.
    fn prepare(&self, mut request: Request) -> ServerResult<Request> {
        let sent_a_document = !request.query.is_empty();
        limits::check_sent(&mut request, &self.limits)?;
        if let Some(cache) = &self.persisted {
            request = persisted::resolve(cache, request)?;
        }
        if !sent_a_document {
            limits::check_resolved(&mut request, &self.limits)?;
        }
        logging::record_operation(&mut request);
        Ok(request)
    }
}

impl Executor for GraphqlService {
    async fn execute(&self, request: Request) -> Response {
        let response = match self.prepare(request) {
            Ok(request) => self.schema.execute(request).await,
            Err(error) => Response::from_errors(vec![error]),
        };
        errors::with_codes(response)
    }

    fn execute_stream(&self, request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let responses = match self.prepare(request) {
            Ok(request) => Executor::execute_stream(&self.schema, request, session_data),
            Err(error) => stream::once(async move { Response::from_errors(vec![error]) }).boxed(),
        };
        responses.map(errors::with_codes).boxed()
    }
}
