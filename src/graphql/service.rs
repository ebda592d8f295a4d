//! The GraphQL service the transports run (`POST /graphql`, `GET /graphql` for queries only,
//! and every WebSocket subscription):
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
    parser::types::{DocumentOperations, OperationType},
};

use crate::graphql::{
    errors,
    limits::{self, QueryLimits},
    logging,
    persisted::{self, DocumentCache, PendingDocument},
    reads,
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
    /// For the standby's routing ([`reads`]).
    state: AppState,
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
            schema: build_schema(Some(state.clone()), config.introspection_enabled()),
            state,
            limits,
            persisted,
            registration: config.persisted_query_registration(),
        }
    }

    /// What the extensions did before execution, in their order: a sent document measured
    /// (before anything else walks it), the persisted query resolved, a document known only by
    /// its hash measured, the operation named. A sent document with its hash comes back as a
    /// [`PendingDocument`], to store once it has validated, when this request may register one
    /// (never one that came by GET: `registers` false).
    fn prepare(
        &self,
        mut request: Request,
        session: Option<&Data>,
        registers: bool,
    ) -> ServerResult<(Request, Option<PendingDocument>)> {
        let sent_a_document = !request.query.is_empty();
        // A document sent as text is looked up by its hash (within the size limit: nothing
        // larger is hashed); a stored one is not parsed again.
        let (sent_hash, stored) = match &self.persisted {
            Some(cache) if request.query.len() <= self.limits.max_query_bytes => {
                persisted::look_up(cache, &request).map_or((None, None), |(hash, doc)| (Some(hash), doc))
            }
            _ => (None, None),
        };
        let parsed_here = stored.is_none();
        limits::check_sent(&mut request, &self.limits, stored)?;
        let mut registration = None;
        if let Some(cache) = &self.persisted {
            let may_register = registers
                && match self.registration {
                    Registration::Anyone => true,
                    Registration::Authenticated => [Some(&request.data), session].into_iter().flatten().any(has_viewer),
                };
            (request, registration) = persisted::resolve(cache, request, may_register)?;
            // A document sent as text, parsed here, is kept under its hash once it has
            // validated, under the rule a document sent with its hash is kept by.
            if let (Some(hash), true, true) = (sent_hash, parsed_here, may_register) {
                registration = Some(persisted::pending(hash, &mut request)?);
            }
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

    /// A request that came by GET: a query runs as [`Executor::execute`] runs it, except that
    /// no document is registered in the persisted-query store; a mutation or a subscription,
    /// sent or known by its persisted hash, does not run: `Err(NotAQuery)`. The limits and
    /// the persisted-query checks come first, as for every request.
    pub async fn execute_query_only(&self, request: Request) -> Result<Response, NotAQuery> {
        let response = match self.prepare(request, None, false) {
            Ok((mut request, _)) => {
                if !selects_a_query(&mut request) {
                    return Err(NotAQuery);
                }
                self.run(request).await
            }
            Err(error) => Response::from_errors(vec![error]),
        };
        let response = errors::with_codes(response);
        logging::record_result(&response);
        Ok(response)
    }
}

impl GraphqlService {
    /// Runs a request that came by HTTP: a query where [`reads`] routes it (the standby or the
    /// primary); anything else on the primary, and a mutation by an account sends that
    /// account's next reads to the primary until the standby has it.
    async fn run(&self, mut request: Request) -> Response {
        match operation_of(&mut request) {
            Some(OperationType::Query) => reads::run_query(&self.state, &self.schema, request).await,
            Some(OperationType::Mutation) => {
                let account = reads::viewer_of(&request).map(Viewer::account_key);
                let response = self.schema.execute(request).await;
                if let (Some(replica), Some(account)) = (&self.state.replica, account) {
                    replica.wrote(&account);
                }
                response
            }
            _ => self.schema.execute(request).await,
        }
    }
}

/// The operation a GET asked for is a mutation or a subscription (GET runs queries only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAQuery;

/// Whether the operation `request` selects is a query. A document that does not parse, or
/// whose operation cannot be told (no name among several, an unknown name), counts as one:
/// execution then answers with the error, and runs nothing.
fn selects_a_query(request: &mut Request) -> bool {
    let name = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else { return true };
    if let (DocumentOperations::Multiple(operations), None) = (&doc.operations, &name) {
        // No name: async-graphql runs the only operation, or none of several.
        return operations.values().all(|op| op.node.ty == OperationType::Query);
    }
    operation_of(request).is_none_or(|ty| ty == OperationType::Query)
}

/// The type of the operation `request` runs; `None` when it cannot be told (a document that
/// does not parse, no name among several operations, an unknown name).
fn operation_of(request: &mut Request) -> Option<OperationType> {
    let name = request.operation_name.clone();
    let doc = request.parsed_query().ok()?;
    let operation = match (&doc.operations, name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name.as_str()),
        (DocumentOperations::Multiple(operations), None) => {
            let mut all = operations.values();
            all.next().filter(|_| all.next().is_none())
        }
    };
    operation.map(|op| op.node.ty)
}

/// The request (or its socket) carries a verified token.
fn has_viewer(data: &Data) -> bool {
    data.contains_key(&TypeId::of::<Viewer>())
}

impl Executor for GraphqlService {
    async fn execute(&self, request: Request) -> Response {
        let response = match self.prepare(request, None, true) {
            Ok((request, registration)) => {
                let response = self.run(request).await;
                self.register(registration, &response);
                response
            }
            Err(error) => Response::from_errors(vec![error]),
        };
        let response = errors::with_codes(response);
        logging::record_result(&response);
        response
    }

    fn execute_stream(&self, request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        match self.prepare(request, session_data.as_deref(), true) {
            Ok((mut request, mut registration)) => {
                let service = self.clone();
                // A mutation on a socket sends its account's next reads over HTTP to the
                // primary as one over HTTP does.
                let mut writer = match operation_of(&mut request) {
                    Some(OperationType::Mutation) => [Some(&request.data), session_data.as_deref()]
                        .into_iter()
                        .flatten()
                        .find_map(|data| data.get(&TypeId::of::<Viewer>()))
                        .and_then(|viewer| viewer.downcast_ref::<Viewer>())
                        .map(Viewer::account_key),
                    _ => None,
                };
                Executor::execute_stream(&self.schema, request, session_data)
                    .map(move |response| {
                        // The first answer tells whether the document validated.
                        service.register(registration.take(), &response);
                        if let (Some(replica), Some(account)) = (&service.state.replica, writer.take()) {
                            replica.wrote(&account);
                        }
                        errors::with_codes(response)
                    })
                    .boxed()
            }
            Err(error) => stream::once(async move { errors::with_codes(Response::from_errors(vec![error])) }).boxed(),
        }
    }
}
