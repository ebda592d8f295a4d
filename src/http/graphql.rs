//! `/graphql` over HTTP, as the GraphQL-over-HTTP specification says (docs/graphql-over-http.md):
//! - **Content negotiation**: the answer is `application/graphql-response+json` or
//!   `application/json`, whichever `Accept` prefers (`application/json` when `Accept` is
//!   missing or only `*/*`); GraphiQL's page for a `GET` that prefers `text/html` (a browser);
//!   406 when `Accept` allows none of them.
//! - **Status codes**: with `application/graphql-response+json`, a request that fails before
//!   execution (a document that does not parse or validate, variables that do not coerce, a
//!   limit crossed, an invalid token) is answered 4xx (5xx for the server's own faults); with
//!   `application/json`, 200 as before. Either way a request error has no `data` entry.
//!   Whatever is refused before GraphQL starts has its own status: 400 (no query, not a
//!   GraphQL request), 413 (body), 414 (URL), 415 (`Content-Type`).
//! - **`GET`** runs queries only (a mutation or subscription, sent or by its persisted hash:
//!   405 with `Allow: POST`), with `variables` and `extensions` as URL-encoded JSON; it never
//!   registers a persisted document (registration is by `POST`).
//! - **`POST`** needs `Content-Type: application/json` (UTF-8): anything else, or none, is
//!   refused with 415 before the body is read, which also keeps a browser's simple cross-site
//!   requests (`text/plain`, forms) out.
//! - **Cache headers**: `Vary: Authorization, Accept` on every answer; `Cache-Control: public,
//!   max-age=60` only on an anonymous `GET` answered 200 without an error, `private, no-store`
//!   on everything else (an account's data never reaches a shared cache).
use async_graphql::{Executor as _, Response as GqlResponse, Value as GqlValue};
use axum::{
    Json,
    body::Body,
    http::{
        HeaderMap, HeaderValue, StatusCode, Uri,
        header::{ACCEPT, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, VARY, WWW_AUTHENTICATE},
    },
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use crate::{
    accounts,
    auth::Viewer,
    error::AppError,
    graphql::{
        loaders::Loader,
        service::{GraphqlService, NotAQuery},
    },
    state::AppState,
};

/// How long a shared cache may keep an anonymous, error-free `GET` answer.
const PUBLIC_MAX_AGE: &str = "public, max-age=60";
/// Everything else: never stored, by a shared cache or the browser's.
const NOT_STORED: &str = "private, no-store";

/// A media type `/graphql` answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/graphql-response+json`: status codes tell request errors apart.
    GraphqlResponse,
    /// `application/json`: 200 for every well-formed GraphQL request, as before the
    /// specification's watershed.
    Json,
    /// GraphiQL's page (a `GET` only).
    Html,
}

impl Media {
    fn essence(self) -> (&'static str, &'static str) {
        match self {
            Media::GraphqlResponse => ("application", "graphql-response+json"),
            Media::Json => ("application", "json"),
            Media::Html => ("text", "html"),
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Media::GraphqlResponse => "application/graphql-response+json",
            Media::Json => "application/json",
            Media::Html => "text/html; charset=utf-8",
        })
    }
}

/// The media type to answer with, of `offers`: the one `Accept` gives the highest quality,
/// each judged by the most specific range that matches it (RFC 9110 §12.5.1). At equal
/// quality a range that names the type beats a wildcard; among types matched alike,
/// `application/graphql-response+json` is preferred when named, `application/json` when only a
/// wildcard matched (as the specification asks of `*/*`). No `Accept`, or none that reads as
/// a media range: `application/json`. `None`: `Accept` allows none of `offers` (406).
pub fn negotiate(headers: &HeaderMap, offers: &[Media]) -> Option<Media> {
    let ranges: Vec<(mime::Mime, u16)> = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter(|r| !r.trim().is_empty())
        .filter_map(|r| {
            let range: mime::Mime = r.trim().parse().ok()?;
            let quality = range.get_param("q").map_or(Some(1000), |q| quality(q.as_str()))?;
            Some((range, quality))
        })
        .collect();
    if ranges.is_empty() {
        return offers.contains(&Media::Json).then_some(Media::Json);
    }
    let judged = offers.iter().filter_map(|&offer| {
        let (kind, sub) = offer.essence();
        let (specificity, q) = ranges
            .iter()
            .filter_map(|(range, q)| {
                // `essence_str`, not `subtype`: mime reads `+json` as a suffix apart.
                let (t, s) = range.essence_str().split_once('/')?;
                let specificity = match (t, s) {
                    (t, s) if t.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(sub) => 2,
                    (t, "*") if t.eq_ignore_ascii_case(kind) => 1,
                    ("*", "*") => 0,
                    _ => return None,
                };
                Some((specificity, *q))
            })
            .max_by_key(|(specificity, _)| *specificity)?;
        let preference = match (offer, specificity) {
            (Media::GraphqlResponse, 2) | (Media::Json, 0 | 1) => 2,
            (Media::Json, _) | (Media::GraphqlResponse, _) => 1,
            (Media::Html, _) => 0,
        };
        (q > 0).then_some((q, specificity, preference, offer))
    });
    judged.max_by_key(|&(q, specificity, preference, _)| (q, specificity, preference)).map(|(.., offer)| offer)
}

/// A `q` parameter in thousandths (`0` to `1` with up to three decimals); `None` when it is
/// not one.
fn quality(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// What `/graphql` needs of the server.
pub struct Endpoint<'a> {
    pub state: &'a AppState,
    pub graphql: &'a GraphqlService,
    /// GraphiQL's page for a browser's `GET`, when GraphiQL is on.
    pub graphiql: Option<&'a (dyn Fn(&HeaderMap) -> Response + Sync)>,
}

/// `POST /graphql`.
pub async fn post(endpoint: Endpoint<'_>, headers: HeaderMap, body: Body) -> Response {
    let answer = async {
        let media = negotiate(&headers, &[Media::GraphqlResponse, Media::Json]).ok_or_else(not_acceptable)?;
        let request = read_request(&headers, body, endpoint.state.config.max_body_bytes).await?;
        let (request, _) = with_viewer(endpoint.state, &headers, request, media).await?;
        Ok::<_, Response>(answer(media, endpoint.graphql.execute(request).await, false))
    };
    with_vary(answer.await.unwrap_or_else(|refused| refused))
}

/// `GET /graphql`: GraphiQL for a browser, a query for everyone else.
pub async fn get(endpoint: Endpoint<'_>, headers: HeaderMap, uri: Uri) -> Response {
    let answer = async {
        let offers: &[Media] = if endpoint.graphiql.is_some() {
            &[Media::GraphqlResponse, Media::Json, Media::Html]
        } else {
            &[Media::GraphqlResponse, Media::Json]
        };
        let media = negotiate(&headers, offers).ok_or_else(not_acceptable)?;
        if let (Media::Html, Some(page)) = (media, endpoint.graphiql) {
            return Ok(page(&headers));
        }
        // As long as a query's text may be: a larger document goes by POST (or by its hash).
        let limit = endpoint.state.config.max_query_bytes;
        if uri.query().is_some_and(|q| q.len() > limit) {
            return Err(refused_http(
                StatusCode::URI_TOO_LONG,
                "BAD_USER_INPUT",
                &format!("the URL's query string is longer than {limit} bytes: send the request with POST"),
            ));
        }
        let request = request_from_url(&uri).map_err(IntoResponse::into_response)?;
        let (request, anonymous) = with_viewer(endpoint.state, &headers, request, media).await?;
        match endpoint.graphql.execute_query_only(request).await {
            Ok(response) => Ok(answer(media, response, anonymous)),
            Err(NotAQuery) => {
                let mut refused = refused_http(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "GRAPHQL_VALIDATION_FAILED",
                    "GET runs queries only: send a mutation with POST",
                );
                refused.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
                Err(refused)
            }
        }
    };
    with_vary(answer.await.unwrap_or_else(|refused| refused))
}

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
fn request_from_url(uri: &Uri) -> Result<async_graphql::Request, Refusal> {
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
struct Refusal(StatusCode, &'static str, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        refused_http(self.0, self.1, &self.2)
    }
}

/// Verifies the bearer token, if any. A present but invalid token refuses the request.
pub fn authenticate(state: &AppState, header: Option<&str>) -> Result<Option<Viewer>, AppError> {
    let Some(value) = header else {
        return Ok(None);
    };
    let token = crate::auth::bearer_token(value)
        .ok_or_else(|| AppError::Unauthenticated("the Authorization header must be `Bearer <jwt>`".into()))?;
    state.keys.verify(token).map(Some)
}

/// The request with its viewer (a token verified, its account provisioned) and its loaders;
/// `true` when it came without a token. An invalid token, or an account that cannot be
/// provisioned, answers the request.
async fn with_viewer(
    state: &AppState,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
    media: Media,
) -> Result<(async_graphql::Request, bool), Response> {
    let header = headers.get(AUTHORIZATION).and_then(|h| h.to_str().ok());
    let refused = |e: &AppError| {
        answer(media, GqlResponse::from_errors(vec![e.to_graphql().into_server_error(Default::default())]), false)
    };
    let anonymous = match authenticate(state, header) {
        Ok(Some(viewer)) => {
            crate::graphql::logging::record_viewer(&viewer);
            if let Err(e) = accounts::service::provision(state.deps(), &state.provisioned, &viewer).await {
                return Err(refused(&e));
            }
            request = request.data(viewer);
            false
        }
        Ok(None) => true,
        Err(e) => {
            metrics::counter!("auth_refused_total").increment(1);
            return Err(refused(&e));
        }
    };
    Ok((request.data(Loader::for_request(state.db.clone())), anonymous))
}

/// A GraphQL answer in `media`. A request error (no execution: no data, and no error with a
/// path) has no `data` entry, and with `application/graphql-response+json` a 4xx status (5xx
/// for the server's own faults). `cacheable`: an anonymous `GET`, which may be stored by a
/// shared cache for a minute if it has no error.
fn answer(media: Media, response: GqlResponse, cacheable: bool) -> Response {
    let request_error = matches!(response.data, GqlValue::Null)
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let status = match media {
        Media::GraphqlResponse if request_error => request_error_status(&response),
        _ => StatusCode::OK,
    };
    let cache =
        if cacheable && status == StatusCode::OK && response.errors.is_empty() { PUBLIC_MAX_AGE } else { NOT_STORED };
    let mut body = match serde_json::to_value(&response) {
        Ok(body) => body,
        Err(_) => return refused_http(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error"),
    };
    if request_error && let Some(fields) = body.as_object_mut() {
        fields.remove("data");
    }
    let mut answer = (status, Json(body)).into_response();
    let headers = answer.headers_mut();
    headers.insert(CONTENT_TYPE, media.content_type());
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    answer
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
fn with_vary(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(VARY, HeaderValue::from_static("Authorization, Accept"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(NOT_STORED));
    }
    response
}

fn not_acceptable() -> Response {
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
async fn read_request(headers: &HeaderMap, body: Body, limit: usize) -> Result<async_graphql::Request, Response> {
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

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    const ALL: &[Media] = &[Media::GraphqlResponse, Media::Json, Media::Html];

    #[test]
    fn accept_picks_the_answers_media_type() {
        let cases: &[(&str, &[Media], Option<Media>, &str)] = &[
            ("application/json", ALL, Some(Media::Json), "only JSON"),
            ("application/graphql-response+json", ALL, Some(Media::GraphqlResponse), "only the new type"),
            ("application/graphql-response+json, application/json", ALL, Some(Media::GraphqlResponse), "both named"),
            ("application/graphql-response+json;q=0.9, application/json", ALL, Some(Media::Json), "by quality"),
            ("*/*", ALL, Some(Media::Json), "the specification: */* is application/json"),
            ("application/*", ALL, Some(Media::Json), "a type wildcard alike"),
            ("", ALL, Some(Media::Json), "empty: as if missing"),
            (
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                ALL,
                Some(Media::Html),
                "a browser's navigation",
            ),
            (
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                &[Media::GraphqlResponse, Media::Json],
                Some(Media::Json),
                "a browser with GraphiQL off",
            ),
            ("application/json, text/plain, */*", ALL, Some(Media::Json), "axios"),
            ("text/html", &[Media::GraphqlResponse, Media::Json], None, "html only, GraphiQL off: 406"),
            ("text/plain", ALL, None, "nothing offered"),
            ("application/json;q=0", ALL, None, "refused by q=0"),
            ("application/json;q=0, */*", ALL, Some(Media::GraphqlResponse), "q=0 excludes a type a wildcard allows"),
            ("application/json; charset=utf-8", ALL, Some(Media::Json), "parameters"),
            ("application/json;q=2", ALL, Some(Media::Json), "a q out of range is not read: as if missing"),
            ("text/html;q=2, text/plain", ALL, None, "the readable ranges decide"),
        ];
        for (header, offers, expected, why) in cases {
            assert_eq!(negotiate(&accept(header), offers), *expected, "{why}: {header:?}");
        }
        assert_eq!(negotiate(&HeaderMap::new(), ALL), Some(Media::Json), "no Accept");
    }

    #[test]
    fn quality_reads_up_to_three_decimals() {
        let cases =
            [("1", Some(1000)), ("1.000", Some(1000)), ("0.5", Some(500)), ("0.123", Some(123)), ("0", Some(0))];
        for (text, expected) in cases {
            assert_eq!(quality(text), expected, "{text}");
        }
        for bad in ["1.5", "0.1234", "2", "x", "-1", ".5"] {
            assert_eq!(quality(bad), None, "{bad}");
        }
    }

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
