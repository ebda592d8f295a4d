//! Which database a request reads from: a query runs on the standby when there is one that
//! serves its caller now ([`crate::db::replica`]), as a whole — its resolvers ask [`read_db`],
//! and its loaders are built on the same database — and everything else on the primary.
use std::any::TypeId;

use async_graphql::{Context, Executor, Request, Response, ServerError, Variables, parser::types::ExecutableDocument};
use sea_orm::DatabaseConnection;

use crate::{auth::Viewer, db::replica::ReadDb, graphql::loaders::Loader, state::AppState};

/// The database this request reads from: the standby when the request was routed there,
/// else the primary (every mutation, and every operation on a socket).
pub fn read_db<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a DatabaseConnection> {
    match ctx.data_opt::<ReadDb>() {
        Some(ReadDb(db)) => Ok(db),
        None => Ok(&ctx.data::<AppState>()?.db),
    }
}

/// The caller of a request, from its data.
pub fn viewer_of(request: &Request) -> Option<&Viewer> {
    request.data.get(&TypeId::of::<Viewer>()).and_then(|v| v.downcast_ref::<Viewer>())
}

/// Runs a query: on the standby when it serves this caller, again on the primary if it
/// failed there with an internal or unavailable error (the standby is then skipped until its
/// watcher sees it answer again); on the primary otherwise.
pub async fn run_query(state: &AppState, schema: &impl Executor, mut request: Request) -> Response {
    let Some(replica) = state.replica.as_deref() else {
        return schema.execute(request).await;
    };
    let account = viewer_of(&request).map(Viewer::account_key);
    if !replica.serves(account.as_deref()) {
        metrics::counter!("graphql_reads_total", "database" => "primary").increment(1);
        return schema.execute(request).await;
    }
    let again = Again::of(&mut request);
    request.data.insert(ReadDb(replica.db().clone()));
    request.data.insert(Loader::for_request(replica.db().clone()));
    let response = schema.execute(request).await;
    if !response.errors.iter().any(database_failed) {
        metrics::counter!("graphql_reads_total", "database" => "standby").increment(1);
        return response;
    }
    tracing::warn!("a query failed on the standby: it runs again on the primary");
    metrics::counter!("graphql_reads_total", "database" => "primary after the standby failed").increment(1);
    replica.failed();
    schema.execute(again.on(&state.db)).await
}

/// An error that may be the standby's: a database error (`INTERNAL`), the database not
/// answering (`UNAVAILABLE`), or one without a code yet (coded `INTERNAL` later).
fn database_failed(error: &ServerError) -> bool {
    let code = error.extensions.as_ref().and_then(|e| e.get("code"));
    match code {
        Some(async_graphql::Value::String(code)) => code == "INTERNAL" || code == "UNAVAILABLE",
        _ => true,
    }
}

/// What it takes to run a request again: everything but its loaders.
struct Again {
    query: String,
    operation_name: Option<String>,
    variables: Variables,
    extensions: async_graphql::Extensions,
    parsed: Option<ExecutableDocument>,
    introspection_mode: async_graphql::IntrospectionMode,
    viewer: Option<Viewer>,
}

impl Again {
    fn of(request: &mut Request) -> Again {
        Again {
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables: request.variables.clone(),
            extensions: request.extensions.clone(),
            parsed: request.parsed_query().ok().cloned(),
            introspection_mode: request.introspection_mode,
            viewer: viewer_of(request).cloned(),
        }
    }

    fn on(self, db: &DatabaseConnection) -> Request {
        let mut request = Request::new(self.query).variables(self.variables);
        request.operation_name = self.operation_name;
        request.extensions = self.extensions;
        request.introspection_mode = self.introspection_mode;
        if let Some(parsed) = self.parsed {
            request.set_parsed_query(parsed);
        }
        if let Some(viewer) = self.viewer {
            request = request.data(viewer);
        }
        request.data(Loader::for_request(db.clone()))
    }
}
