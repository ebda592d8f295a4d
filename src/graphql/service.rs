//! The GraphQL service both transports run (`POST /graphql` and every WebSocket subscription):
//! the schema, with the service's own steps around it — the document limits, the
//! persisted-query store, the operation's name in the log span, and a code on every error.
//!
//! These steps were async-graphql extensions. An extension — any, even one that hooks only
//! the request — makes async-graphql resolve every field and every list item through the
//! extension chain (a registry lookup, a `ResolveInfo` and a boxed future each; with four
//! extensions, four wrappers per field: BENCHMARKS.md's profile of the history page). Here the
//! schema has no extension, so fields resolve directly, and each step runs once per request.
use std::{any::TypeId, num::NonZeroUsize, sync::Arc};

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
    persisted::{self, DocumentCache, PendingDocument},
    schema::{AppSchema, build_schema},
};
use crate::{auth::Viewer, config::Registration, state::AppState};

#[derive(Clone)]
pub struct GraphqlService {
    schema: AppSchema,
    limits: QueryLimits,
    /// The persisted-query store (`None`: `SMALLPAY_PERSISTED_QUERIES=0`, hashes ignored).
    persisted: Option<DocumentCache>,
    registration: Registration,
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
            max_nodes: config.max_nodes,
        };
        let persisted = NonZeroUsize::new(config.persisted_queries)
            .map(|count| DocumentCache::new(count, config.persisted_queries_max_bytes));
        GraphqlService {
            schema: build_schema(Some(state), config.introspection_enabled()),
            limits,
            persisted,
            registration: config.persisted_query_registration(),
        }
    }

    /// What the extensions did before execution, in their order: a sent document measured
    /// (before anything else walks it), the persisted query resolved, a document known only by
    /// its hash measured, the operation named. A sent document with its hash comes back as a
    /// [`PendingDocument`], to store once it has validated, when this request may register one.
    fn prepare(
        &self,
        mut request: Request,
        session: Option<&Data>,
    ) -> ServerResult<(Request, Option<PendingDocument>)> {
        let sent_a_document = !request.query.is_empty();
        limits::check_sent(&mut request, &self.limits)?;
        let mut registration = None;
        if let Some(cache) = &self.persisted {
            let may_register = match self.registration {
                Registration::Anyone => true,
                Registration::Authenticated => [Some(&request.data), session].into_iter().flatten().any(has_viewer),
            };
            (request, registration) = persisted::resolve(cache, request, may_register)?;
        }
        if !sent_a_document {
            limits::check_resolved(&mut request, &self.limits)?;
        }
        logging::record_operation(&mut request);
        Ok((request, registration))
    }

    /// Stores a sent document once async-graphql has run it, if it validated: an error without
    /// a path (parsing, validation, the request's variables) means it did not, or may not.
    fn register(&self, registration: Option<PendingDocument>, response: &Response) {
        if let (Some(cache), Some(registration)) = (&self.persisted, registration)
            && response.errors.iter().all(|e| !e.path.is_empty())
        {
            registration.store_in(cache);
        }
    }
}

/// The request (or its socket) carries a verified token.
fn has_viewer(data: &Data) -> bool {
    data.contains_key(&TypeId::of::<Viewer>())
}

impl Executor for GraphqlService {
    async fn execute(&self, request: Request) -> Response {
        let response = match self.prepare(request, None) {
            Ok((request, registration)) => {
                let response = self.schema.execute(request).await;
                self.register(registration, &response);
                response
            }
            Err(error) => Response::from_errors(vec![error]),
        };
        errors::with_codes(response)
    }

    fn execute_stream(&self, request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        match self.prepare(request, session_data.as_deref()) {
            Ok((request, mut registration)) => {
                let service = self.clone();
                Executor::execute_stream(&self.schema, request, session_data)
                    .map(move |response| {
                        // The first answer tells whether the document validated.
                        service.register(registration.take(), &response);
                        errors::with_codes(response)
                    })
                    .boxed()
            }
            Err(error) => stream::once(async move { errors::with_codes(Response::from_errors(vec![error])) }).boxed(),
        }
    }
}
