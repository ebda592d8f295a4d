//! Building the answer: the status a request error gets, the cache headers, and the refusals
//! sent before GraphQL starts.
use std::collections::BTreeMap;

use async_graphql::{Response as GqlResponse, ServerError, Value as GqlValue};
use axum::{
    Json,
    http::{
        HeaderValue, StatusCode,
        header::{CACHE_CONTROL, CONTENT_TYPE, VARY, WWW_AUTHENTICATE},
    },
    response::{IntoResponse, Response},
};

use serde::Serialize;

use super::media::Media;

/// How long a shared cache may keep an anonymous, error-free `GET` answer.
const PUBLIC_MAX_AGE: &str = "public, max-age=60";
/// Everything else: never stored, by a shared cache or the browser's.
const NOT_STORED: &str = "private, no-store";

/// A GraphQL answer in `media`. A request error (no execution: no data, and no error with a
/// path) has no `data` entry, and with `application/graphql-response+json` a 4xx status (5xx
/// for the server's own faults). `cacheable`: an anonymous `GET`, which may be stored by a
/// shared cache for a minute if it has no error.
pub(super) fn answer(media: Media, response: GqlResponse, cacheable: bool) -> Response {
    let request_error = matches!(response.data, GqlValue::Null)
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let status = match media {
        Media::GraphqlResponse if request_error => request_error_status(&response),
        _ => StatusCode::OK,
    };
    let cache =
        if cacheable && status == StatusCode::OK && response.errors.is_empty() { PUBLIC_MAX_AGE } else { NOT_STORED };
    // Written straight to bytes: the response's maps keep their order (the selection's, as the
    // GraphQL specification asks), and no `serde_json::Value` tree is built and dropped on the
    // way (3–5 % of a history page's CPU, BENCHMARKS.md 2026-12-08).
    let body = if request_error {
        serde_json::to_vec(&WithoutData { extensions: &response.extensions, errors: &response.errors })
    } else {
        serde_json::to_vec(&response)
    };
    let body = match body {
        Ok(body) => body,
        Err(_) => return refused_http(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error"),
    };
    let mut answer = (status, body).into_response();
    let headers = answer.headers_mut();
    headers.insert(CONTENT_TYPE, media.content_type());
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    answer
}

/// A request error's answer: [`GqlResponse`]'s fields, less `data`.
#[derive(Serialize)]
struct WithoutData<'a> {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, GqlValue>,
    errors: &'a [ServerError],
}

/// The status of a request error with `application/graphql-response+json`, by its first code.
fn request_error_status(response: &GqlResponse) -> StatusCode {
    let code = response
        .errors
        .first()
        .and_then(|e| e.extensions.as_ref())
        .and_then(|e| e.get("code"))
        .and_then(|c| match c {
            GqlValue::String(code) => Some(code.as_str()),
            _ => None,
        })
        .unwrap_or("");
    match code {
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "FORBIDDEN" => StatusCode::FORBIDDEN,
        "RATE_LIMITED" => StatusCode::TOO_MANY_REQUESTS,
        "UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        "INTERNAL" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// `Vary: Authorization, Accept` (the answer depends on both), and `Cache-Control: private,
/// no-store` unless the answer set its own.
pub(super) fn with_vary(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(VARY, HeaderValue::from_static("Authorization, Accept"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(NOT_STORED));
    }
    response
}

pub(super) fn not_acceptable() -> Response {
    refused_http(
        StatusCode::NOT_ACCEPTABLE,
        "BAD_USER_INPUT",
        "Accept allows none of application/graphql-response+json and application/json",
    )
}

/// A client error answered before GraphQL starts: an HTTP status and a GraphQL-shaped body.
pub fn refused_http(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, Json(body)).into_response()
}
