//! A guard that runs before anything of async-graphql walks a document: it parses the query
//! once and measures the work everything after it would do — async-graphql's validation, its
//! complexity and depth passes, and execution — so that this work is bounded whatever the
//! document holds. async-graphql's recursive-depth check and its complexity, depth and
//! cache-control passes walk a fragment again at every spread, whether or not the fragment
//! exists, before they compare anything; its rules walk every argument with the request's
//! variables put in (a clone of the variable's value at every place it is used); and its
//! overlapping-fields rule expands the fragments of every selection set again. A few hundred
//! bytes of nested spreads, or a large variable used at many places, would otherwise pin a core.
//!
//! Refusals are `GRAPHQL_VALIDATION_FAILED` with `extensions.limit` naming the limit.
//!
//! `service` runs it around the persisted-query store (`persisted`): a document sent with its
//! hash is measured before it runs (and is stored only once it validated), and a hash sent
//! alone is measured once the store has resolved it, with that request's variables, so no
//! request reaches async-graphql unmeasured.
//!
//! `measure` holds the measure and the limits it is held to; this file, the checks on a
//! request and the refusals they answer.
use async_graphql::{
    Request, ServerError, ServerResult,
    parser::{parse_query, types::ExecutableDocument},
};

mod measure;

pub use measure::{Exceeded, MAX_NESTING, QueryLimits, document_nodes, measure};

impl Exceeded {
    fn into_error(self, limits: &QueryLimits) -> ServerError {
        let (limit, message) = match self {
            Exceeded::QueryBytes(n) => {
                ("maxQueryBytes", format!("the query has {n} bytes; at most {} are accepted", limits.max_query_bytes))
            }
            Exceeded::Fields(n) => (
                "maxFields",
                format!("the query selects {n} fields once its fragments are expanded; at most {}", limits.max_fields),
            ),
            Exceeded::RootFields(n) => (
                "maxRootFields",
                format!("an operation has {n} root fields; at most {} are accepted", limits.max_root_fields),
            ),
            Exceeded::Nodes(n) => (
                "maxNodes",
                format!(
                    "the query has {n} nodes (selections, directives, argument values and the variables in them) \
                     once its fragments are expanded; at most {}",
                    limits.max_nodes
                ),
            ),
            Exceeded::Nesting => (
                "maxNesting",
                format!("fields, fragment spreads and inline fragments are nested more than {MAX_NESTING} deep"),
            ),
            Exceeded::FragmentCycle(name) => ("fragmentCycle", format!("fragment `{name}` spreads itself")),
        };
        let mut error = ServerError::new(message, None);
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", "GRAPHQL_VALIDATION_FAILED");
        extensions.set("limit", limit);
        error
    }
}

/// Measures a document the request sent, before anything stores or runs it: the text's size,
/// then the parsed document's (parsed once here, or `parsed` — the same text's parse, from
/// the store —; async-graphql uses this parse instead of parsing again). A request without
/// text (a persisted query's hash alone) passes here and is measured by [`check_resolved`]
/// once its document is known. The measure takes the request's variables: it runs for every
/// request, a stored parse or not.
pub fn check_sent(request: &mut Request, limits: &QueryLimits, parsed: Option<ExecutableDocument>) -> ServerResult<()> {
    if request.query.is_empty() {
        return Ok(());
    }
    if request.query.len() > limits.max_query_bytes {
        return Err(Exceeded::QueryBytes(request.query.len()).into_error(limits));
    }
    let doc = match parsed {
        Some(doc) => doc,
        None => parse_query(&request.query)?,
    };
    measure(&doc, &request.variables, limits).map_err(|e| e.into_error(limits))?;
    request.set_parsed_query(doc);
    Ok(())
}

/// Measures the document a hash stood for, with this request's variables (with no hash, the
/// empty query fails to parse here).
pub fn check_resolved(request: &mut Request, limits: &QueryLimits) -> ServerResult<()> {
    let variables = std::mem::take(&mut request.variables);
    let measured = request.parsed_query().map(|doc| measure(doc, &variables, limits));
    request.variables = variables;
    measured?.map_err(|e| e.into_error(limits))
}
