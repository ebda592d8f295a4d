//! Names the operation in the request's log span: every log line of a request (and the line
//! that reports its duration) carries `operation` — the request's `operationName`, else the
//! name of the document's only operation, else `-`. The span itself is opened by the HTTP
//! layer, with the request id; the HTTP layer records the account and shop, `service` the
//! operation once the document is parsed and the result code once it has run. The span is
//! also the request's trace span (`crate::telemetry`).
use async_graphql::{Request, Response, parser::types::DocumentOperations};

use crate::auth::Viewer;

/// The account and the shop (none for buyers and the platform) in the request's span.
pub fn record_viewer(viewer: &Viewer) {
    let span = tracing::Span::current();
    span.record("account", viewer.account_key().as_str());
    if let Some(shop) = &viewer.shop_id {
        span.record("shop", shop.as_str());
    }
}

/// The result in the request's span: `OK`, or the first error's `extensions.code`.
pub fn record_result(response: &Response) {
    let code = response.errors.first().map_or_else(
        || "OK".to_owned(),
        |e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .map_or_else(|| "-".to_owned(), |c| c.to_string().trim_matches('"').to_owned())
        },
    );
    tracing::Span::current().record("code", code.as_str());
}

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
