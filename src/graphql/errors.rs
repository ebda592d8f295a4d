//! The one place where every error a client receives gets its `extensions.code`: async-graphql's
//! own parse, validation and input-coercion errors included. An error that reaches here
//! without a code came from a library or a bare `?`; its text is logged and replaced.
use async_graphql::{Response, ServerError, Value};

/// Gives every error of `response` a code (`service` applies it to every answer, of a query,
/// a mutation or each event of a subscription).
pub fn with_codes(mut response: Response) -> Response {
    let executed = !matches!(response.data, Value::Null);
    for error in &mut response.errors {
        fill_code(error, executed);
    }
    response
}

/// Gives `error` a code if it has none.
pub fn fill_code(error: &mut ServerError, executed: bool) {
    if error.extensions.as_ref().is_some_and(|e| e.get("code").is_some()) {
        return;
    }
    let message = error.message.as_str();
    let code = if message == "PersistedQueryNotFound" {
        // Apollo's code: a client's persisted-query link retries with the document.
        "PERSISTED_QUERY_NOT_FOUND"
    } else if is_input_error(message) {
        "BAD_USER_INPUT"
    } else if !executed && error.path.is_empty() {
        "GRAPHQL_VALIDATION_FAILED"
    } else {
        tracing::error!(message = %error.message, path = ?error.path, "uncoded error hidden from the client");
        error.message = "internal error".to_owned();
        "INTERNAL"
    };
    error.extensions.get_or_insert_with(Default::default).set("code", code);
}

fn is_input_error(message: &str) -> bool {
    // A required variable the request did not send ("Variable i is not defined.", found by
    // the fuzz test) is the client's input too.
    let undefined_variable = message.starts_with("Variable ") && message.contains("is not defined");
    undefined_variable
        // A persisted query whose hash is not its document's, or a malformed `persistedQuery`.
        || ["provided sha does not match query", "Invalid \"PersistedQuery\"", "Only the \"PersistedQuery\""]
            .iter()
            .any(|p| message.starts_with(p))
        || ["Failed to parse", "Invalid value for argument", "Expected input type", "Invalid value for variable"]
            .iter()
            .any(|p| message.starts_with(p) || message.contains(p))
}
