//! Reading the GraphQL request: a `POST`'s JSON body (its `Content-Type` and size checked
//! first) or a `GET`'s URL parameters.
use axum::{
    body::Body,
    http::{
        HeaderMap, StatusCode, Uri,
        header::{CONTENT_LENGTH, CONTENT_TYPE},
    },
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::answer::refused_http;

/// The URL's parameters of a `GET`, as the specification names them: `variables` and
/// `extensions` are JSON, URL-encoded.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UrlParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// The GraphQL request a `GET`'s URL carries: 400 when a parameter is not what it should be,
/// or when there is neither a query nor a persisted query's hash.
pub(super) fn request_from_url(uri: &Uri) -> Result<async_graphql::Request, Refusal> {
    let bad = |message: &str| Refusal(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message.to_owned());
    let params: UrlParams = axum::extract::Query::try_from_uri(uri).map(|q| q.0).map_err(|_| {
        bad("the URL's parameters are not a GraphQL request (query, operationName, variables, extensions)")
    })?;
    let json_object = |name: &str, text: Option<String>| -> Result<serde_json::Value, Refusal> {
        let Some(text) = text.filter(|t| !t.is_empty()) else { return Ok(serde_json::Value::Null) };
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(value @ (serde_json::Value::Object(_) | serde_json::Value::Null)) => Ok(value),
            _ => Err(bad(&format!("`{name}` must be a JSON object, URL-encoded"))),
        }
    };
    let body = serde_json::json!({
        "query": params.query.unwrap_or_default(),
        "operationName": params.operation_name,
        "variables": json_object("variables", params.variables)?,
        "extensions": json_object("extensions", params.extensions)?,
    });
    let request: async_graphql::Request =
        serde_json::from_value(body).map_err(|_| bad("the URL's parameters are not a GraphQL request"))?;
    require_a_document(request)
}

/// A request with an empty `query` and no persisted query's hash: 400.
fn require_a_document(request: async_graphql::Request) -> Result<async_graphql::Request, Refusal> {
    if request.query.trim().is_empty() && !request.extensions.contains_key("persistedQuery") {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "GRAPHQL_VALIDATION_FAILED",
            "the request has no query (and no persisted query's hash)".to_owned(),
        ));
    }
    Ok(request)
}

/// A request refused before GraphQL starts: its status, code and message.
pub(super) struct Refusal(StatusCode, &'static str, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        refused_http(self.0, self.1, &self.2)
    }
}

/// Whether a `Content-Type` is JSON in UTF-8 (`application/json`, with no charset or
/// `charset=utf-8`).
fn is_json_utf8(content_type: &str) -> bool {
    let Ok(media) = content_type.parse::<mime::Mime>() else { return false };
    media.essence_str() == "application/json"
        && media.get_param(mime::CHARSET).is_none_or(|charset| charset.as_str().eq_ignore_ascii_case("utf-8"))
}

/// Reads one GraphQL request from a JSON body of at most `limit` bytes: 415 unless the body is
/// declared `application/json` in UTF-8 (multipart included: the API takes no uploads), 413
/// beyond the limit (before anything is parsed), 400 for a batch, a body that is not a GraphQL
/// request, or one with no query (and no persisted query's hash).
pub(super) async fn read_request(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<async_graphql::Request, Response> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !is_json_utf8(content_type) {
        let message = if content_type.starts_with("multipart/") {
            "uploads are not accepted: send application/json"
        } else {
            "send the request as `Content-Type: application/json` (UTF-8)"
        };
        return Err(refused_http(StatusCode::UNSUPPORTED_MEDIA_TYPE, "BAD_USER_INPUT", message));
    }
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        refused_http(StatusCode::PAYLOAD_TOO_LARGE, "BAD_USER_INPUT", &format!("the body is larger than {limit} bytes"))
    };
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(refused_http(
            StatusCode::BAD_REQUEST,
            "GRAPHQL_VALIDATION_FAILED",
            "batched requests are not accepted: send one request",
        ));
    }
    let request = serde_json::from_slice(&bytes).map_err(|_| {
        refused_http(
            StatusCode::BAD_REQUEST,
            "GRAPHQL_VALIDATION_FAILED",
            "the body is not a GraphQL request (JSON with `query`)",
        )
    })?;
    require_a_document(request).map_err(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_in_utf8_is_read() {
        for ok in ["application/json", "application/json; charset=utf-8", "Application/JSON; charset=UTF-8"] {
            assert!(is_json_utf8(ok), "{ok}");
        }
        for refused in ["", "text/plain", "application/json; charset=utf-16", "multipart/form-data; boundary=x"] {
            assert!(!is_json_utf8(refused), "{refused}");
        }
    }
}
