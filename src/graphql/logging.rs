//! Names the operation in the request's log span: every log line of a request (and the line
//! that reports its duration) carries `operation` — the request's `operationName`, else the
//! name of the document's only operation, else `-`. The span itself is opened by the HTTP
//! layer, with the request id and the account; `service` calls this once the document is
//! parsed.
use async_graphql::{Request, parser::types::DocumentOperations};

pub fn record_operation(request: &mut Request) {
    let name = match (request.operation_name.clone(), request.parsed_query()) {
        (Some(name), _) => name,
        (None, Ok(doc)) => match &doc.operations {
            DocumentOperations::Multiple(ops) if ops.len() == 1 => {
                ops.keys().next().map_or_else(|| "-".to_owned(), |n| n.to_string())
            }
            _ => "-".to_owned(),
        },
        (None, Err(_)) => "-".to_owned(),
    };
    tracing::Span::current().record("operation", name.as_str());
}
