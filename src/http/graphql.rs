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
//!
//! This file is the two handlers and the token check; `media` negotiates the media type,
//! `request` reads the request from a body or a URL, `answer` builds the response.
use async_graphql::{Executor as _, Response as GqlResponse};
use axum::{
    body::Body,
    http::{
        HeaderMap, HeaderValue, StatusCode, Uri,
        header::{ALLOW, AUTHORIZATION},
    },
    response::{IntoResponse, Response},
};

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

mod answer;
mod media;
mod request;

pub use answer::refused_http;
use answer::{answer, not_acceptable, with_vary};
pub use media::{Media, negotiate};
use request::{read_request, request_from_url};

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
