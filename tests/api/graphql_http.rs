//! GraphQL over HTTP as the specification says (docs/graphql-over-http.md): the media type
//! `Accept` asks for, status codes per media type, queries over GET (never a mutation, by its
//! text or its persisted hash), the persisted-query store read but never written by GET, the
//! refusals before GraphQL starts (415, 400, 413, 414), cache headers, and the document limits
//! and the rate limit on the GET path.
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    helpers::{Backend, TestApp},
    on_both_databases,
};

on_both_databases!(
    accept_chooses_the_media_type,
    status_codes_follow_the_media_type,
    get_runs_queries_with_variables_and_extensions,
    get_never_runs_a_mutation,
    get_reads_the_persisted_store_but_never_writes_it,
    requests_without_json_or_a_query_are_refused,
    cache_headers_keep_accounts_out_of_shared_caches,
    the_document_limits_hold_on_get,
    answers_keep_the_selections_order,
);

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A GET of /graphql with these URL parameters (`variables` and `extensions` as JSON).
fn get(app: &TestApp, params: &[(&str, &str)]) -> RequestBuilder {
    let query = params.iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect::<Vec<_>>().join("&");
    app.http.get(app.url(&format!("/graphql?{query}")))
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn post(app: &TestApp, body: &Value) -> RequestBuilder {
    app.http.post(app.url("/graphql")).json(body)
}

/// Status, `Content-Type` and body of an answer.
async fn read(response: RequestBuilder) -> (u16, String, Value) {
    let response: Response = response.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code: {body}"))
}

async fn accept_chooses_the_media_type(app: TestApp) {
    let admin = app.admin("s1");
    let cases: &[(Option<&str>, u16, &str, &str)] = &[
        (Some(JSON), 200, JSON, "only application/json: the specification's MUST"),
        (Some(GRAPHQL_RESPONSE), 200, GRAPHQL_RESPONSE, "the new type"),
        (Some("application/graphql-response+json, application/json;q=0.9"), 200, GRAPHQL_RESPONSE, "preferred"),
        (Some("application/graphql-response+json;q=0.5, application/json"), 200, JSON, "by quality"),
        (Some("*/*"), 200, JSON, "a wildcard: application/json"),
        (None, 200, JSON, "no Accept: application/json"),
        (Some("application/json, text/plain, */*"), 200, JSON, "axios"),
        (Some("text/plain"), 406, JSON, "nothing the server answers with"),
    ];
    for (accept, status, media, why) in cases {
        for method in [Method::POST, Method::GET] {
            let mut request = if method == Method::POST {
                post(&app, &json!({ "query": "{ me { role } }" }))
            } else {
                get(&app, &[("query", "{ me { role } }")])
            };
            request = request.bearer_auth(&admin);
            if let Some(accept) = accept {
                request = request.header("accept", *accept);
            }
            let (got, content_type, body) = read(request).await;
            assert_eq!((got, content_type.as_str()), (*status, *media), "{why} ({method}): {body}");
            if *status == 200 {
                assert_eq!(body["data"]["me"]["role"], "ADMIN", "{why} ({method})");
            }
        }
    }
}

async fn status_codes_follow_the_media_type(app: TestApp) {
    let admin = app.admin("s1");
    // (body, code): request errors, answered before execution.
    let request_errors = [
        (json!({ "query": "{" }), "GRAPHQL_VALIDATION_FAILED", "a document that does not parse"),
        (json!({ "query": "{ noSuchField }" }), "GRAPHQL_VALIDATION_FAILED", "one that does not validate"),
        (
            json!({ "query": "query($n: Int!) { orders(first: $n) { totalCount } }", "variables": { "n": "ten" } }),
            "BAD_USER_INPUT",
            "variables that do not coerce",
        ),
    ];
    for (body, expected, why) in &request_errors {
        let (status, media, answer) =
            read(post(&app, body).bearer_auth(&admin).header("accept", GRAPHQL_RESPONSE)).await;
        assert_eq!((status, media.as_str(), code(&answer)), (400, GRAPHQL_RESPONSE, *expected), "{why}: {answer}");
        assert!(answer.get("data").is_none(), "{why}: no data entry: {answer}");
        let (status, media, answer) = read(post(&app, body).bearer_auth(&admin).header("accept", JSON)).await;
        assert_eq!(
            (status, media.as_str(), code(&answer)),
            (200, JSON, *expected),
            "{why}, application/json: {answer}"
        );
        assert!(answer.get("data").is_none(), "{why}, application/json: no data entry either: {answer}");
    }
    // An invalid token: 401 with the new type (and how to authenticate), 200 with the old.
    let me = json!({ "query": "{ me { id } }" });
    let response = post(&app, &me).bearer_auth("not-a-jwt").header("accept", GRAPHQL_RESPONSE).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(code(&answer), "UNAUTHENTICATED");
    let (status, _, answer) = read(post(&app, &me).bearer_auth("not-a-jwt").header("accept", JSON)).await;
    assert_eq!((status, code(&answer)), (200, "UNAUTHENTICATED"));
    // An error during execution is not a request error: 200 and data, with either type.
    let cs = app.token(smallpay::auth::Role::Cs, Some("s1"), "cs-1");
    let partial = json!({ "query": "{ me { role } audit { __typename } }" });
    for accept in [GRAPHQL_RESPONSE, JSON] {
        let (status, _, answer) = read(post(&app, &partial).bearer_auth(&cs).header("accept", accept)).await;
        assert_eq!((status, code(&answer)), (200, "FORBIDDEN"), "{accept}: {answer}");
        assert_eq!(answer["data"]["me"]["role"], "CS", "{accept}: {answer}");
    }
}

async fn get_runs_queries_with_variables_and_extensions(app: TestApp) {
    let admin = app.admin("s1");
    app.sync_shop("s1", "10", json!({})).await;
    let query = "query Shop($first: Int) { shop { balance } orders(first: $first) { totalCount } }";
    let (status, _, answer) = read(
        get(
            &app,
            &[("query", query), ("operationName", "Shop"), ("variables", r#"{"first":1}"#), ("extensions", "{}")],
        )
        .bearer_auth(&admin),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["shop"]["balance"], "10.00", "{answer}");
    assert!(answer.get("errors").is_none(), "{answer}");
    // Several operations: the one named runs.
    let two = "query A { me { role } } query B { shop { balance } }";
    let (_, _, answer) = read(get(&app, &[("query", two), ("operationName", "A")]).bearer_auth(&admin)).await;
    assert_eq!(answer["data"], json!({ "me": { "role": "ADMIN" } }));
    // Parameters that are not what they should be: 400.
    for (params, why) in [
        (vec![("query", query), ("variables", "[1]")], "variables not an object"),
        (vec![("query", query), ("variables", "{not json")], "variables not JSON"),
        (vec![("query", query), ("extensions", "\"x\"")], "extensions not an object"),
        (vec![("operationName", "Shop")], "no query"),
        (vec![("query", "")], "an empty query"),
    ] {
        let (status, _, answer) = read(get(&app, &params).bearer_auth(&admin)).await;
        assert_eq!(status, 400, "{why}: {answer}");
        assert!(answer["errors"][0]["extensions"]["code"].is_string(), "{why}: {answer}");
    }
}

async fn get_never_runs_a_mutation(app: TestApp) {
    let platform = app.platform();
    app.sync_shop("s1", "10", json!({})).await;
    let adjust = r#"mutation Adjust { adjustShopBalance(shopId: "s1", amount: "5", reference: "by-get") { balance } }"#;
    let balance =
        || async { app.ok(&app.admin("s1"), "{ shop { balance } }", json!({})).await["shop"]["balance"].clone() };
    for accept in [GRAPHQL_RESPONSE, JSON, "*/*"] {
        let response =
            get(&app, &[("query", adjust)]).bearer_auth(&platform).header("accept", accept).send().await.unwrap();
        assert_eq!(response.status(), 405, "{accept}");
        assert_eq!(response.headers()["allow"], "POST");
    }
    // Named among queries, or alone in a document of several: refused too; a subscription as well.
    let mixed = format!("query Q {{ me {{ role }} }} {adjust}");
    let subscription = "subscription { payoutStatusChanged { id } }";
    for params in [vec![("query", mixed.as_str()), ("operationName", "Adjust")], vec![("query", subscription)]] {
        let response = get(&app, &params).bearer_auth(&platform).send().await.unwrap();
        assert_eq!(response.status(), 405, "{params:?}");
    }
    assert_eq!(balance().await, "10.00", "nothing ran");
    // By its persisted hash: registered by POST (where it runs), refused by GET.
    let hash = sha256(adjust);
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } }).to_string();
    let posted = read(
        post(&app, &json!({ "query": adjust, "extensions": serde_json::from_str::<Value>(&extensions).unwrap() }))
            .bearer_auth(&platform),
    )
    .await;
    assert_eq!(posted.2["data"]["adjustShopBalance"]["balance"], "15.00", "{}", posted.2);
    let response = get(&app, &[("extensions", &extensions)]).bearer_auth(&platform).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(balance().await, "15.00", "the hash ran nothing by GET");
    // Other methods: 405 naming both.
    let response = app.http.put(app.url("/graphql")).send().await.unwrap();
    assert_eq!(response.status(), 405);
}

async fn get_reads_the_persisted_store_but_never_writes_it(app: TestApp) {
    let admin = app.admin("s1");
    let persisted = |hash: &str| json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } }).to_string();
    // A miss: the code Apollo's link retries on (by POST, with the document).
    let query = "query Me { me { role } }";
    let (status, _, miss) = read(get(&app, &[("extensions", &persisted(&sha256(query)))]).bearer_auth(&admin)).await;
    assert_eq!((status, code(&miss)), (200, "PERSISTED_QUERY_NOT_FOUND"), "{miss}");
    let (status, _, miss) = read(
        get(&app, &[("extensions", &persisted(&sha256(query)))]).bearer_auth(&admin).header("accept", GRAPHQL_RESPONSE),
    )
    .await;
    assert_eq!((status, code(&miss)), (400, "PERSISTED_QUERY_NOT_FOUND"), "a request error with the new type: {miss}");
    // The document with its hash by GET runs, but is not stored.
    let (_, _, ran) =
        read(get(&app, &[("query", query), ("extensions", &persisted(&sha256(query)))]).bearer_auth(&admin)).await;
    assert_eq!(ran["data"]["me"]["role"], "ADMIN", "{ran}");
    let (_, _, still) = read(get(&app, &[("extensions", &persisted(&sha256(query)))]).bearer_auth(&admin)).await;
    assert_eq!(code(&still), "PERSISTED_QUERY_NOT_FOUND", "GET registered nothing: {still}");
    // The document alone by GET (the store is also the cache of documents sent as text): runs,
    // is not stored either.
    let (_, _, ran) = read(get(&app, &[("query", query)]).bearer_auth(&admin)).await;
    assert_eq!(ran["data"]["me"]["role"], "ADMIN", "{ran}");
    let (_, _, still) = read(get(&app, &[("extensions", &persisted(&sha256(query)))]).bearer_auth(&admin)).await;
    assert_eq!(code(&still), "PERSISTED_QUERY_NOT_FOUND", "GET kept no text: {still}");
    // A hash that is not the document's: refused.
    let (_, _, wrong) = read(
        get(&app, &[("query", query), ("extensions", &persisted(&sha256("{ shop { id } }")))]).bearer_auth(&admin),
    )
    .await;
    assert_eq!(code(&wrong), "BAD_USER_INPUT", "{wrong}");
    // Registered by POST: a hit by GET, with the GET's own variables.
    let shop = "query Orders($first: Int) { orders(first: $first) { totalCount } }";
    let registered = post(
        &app,
        &json!({ "query": shop, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(shop) } } }),
    );
    let (status, _, first) = read(registered.bearer_auth(&admin)).await;
    assert_eq!((status, first["data"]["orders"]["totalCount"].clone()), (200, json!(0)), "{first}");
    let (status, _, hit) = read(
        get(&app, &[("extensions", &persisted(&sha256(shop))), ("variables", r#"{"first":2}"#)]).bearer_auth(&admin),
    )
    .await;
    assert_eq!((status, &hit), (200, &first), "the hash alone by GET");
}

async fn requests_without_json_or_a_query_are_refused(app: TestApp) {
    let admin = app.admin("s1");
    let body = json!({ "query": "{ me { id } }" }).to_string();
    let send = |content_type: Option<&'static str>, body: String| {
        let mut request = app.http.post(app.url("/graphql")).bearer_auth(&admin).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        read(request)
    };
    for content_type in
        [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/json; charset=utf-16")]
    {
        let (status, _, answer) = send(content_type, body.clone()).await;
        assert_eq!((status, code(&answer)), (415, "BAD_USER_INPUT"), "{content_type:?}: {answer}");
    }
    let (status, _, answer) = send(Some("application/json; charset=utf-8"), body.clone()).await;
    assert_eq!((status, answer["data"]["me"]["id"].is_string()), (200, true), "{answer}");
    for (empty, why) in [
        (json!({ "query": "" }), "an empty query"),
        (json!({}), "no query"),
        (json!({ "qeury": "{ me { id } }" }), "a typo"),
    ] {
        let (status, _, answer) = send(Some(JSON), empty.to_string()).await;
        assert_eq!((status, code(&answer)), (400, "GRAPHQL_VALIDATION_FAILED"), "{why}: {answer}");
    }
    for (invalid, why) in
        [(json!({ "query": 1 }), "a number"), (json!({ "query": "{ me { id } }", "operationName": 0 }), "a name")]
    {
        let (status, _, answer) = send(Some(JSON), invalid.to_string()).await;
        assert_eq!(status, 400, "{why}: {answer}");
    }
    // Too large a body, too long a URL.
    let large = json!({ "query": format!("{{ me {{ id }} }} #{}", "x".repeat(300_000)) }).to_string();
    let (status, _, _) = send(Some(JSON), large).await;
    assert_eq!(status, 413);
    // A GET's URL parameters may take as many bytes as a query's text (SMALLPAY_MAX_QUERY_BYTES).
    let long = format!("{{ me {{ id }} }} #{}", "x".repeat(40_000));
    let (status, _, answer) = read(get(&app, &[("query", &long[..30_000])]).bearer_auth(&admin)).await;
    assert_eq!((status, answer["data"]["me"]["id"].is_string()), (200, true), "just under the limit: {answer}");
    let (status, _, answer) = read(get(&app, &[("query", &long)]).bearer_auth(&admin)).await;
    assert_eq!((status, code(&answer)), (414, "BAD_USER_INPUT"), "{answer}");
}

async fn cache_headers_keep_accounts_out_of_shared_caches(app: TestApp) {
    let admin = app.admin("s1");
    let headers = |response: &Response| {
        let header =
            |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (response.status().as_u16(), header("cache-control"), header("vary"))
    };
    let vary = "Authorization, Accept".to_owned();
    let private = "private, no-store".to_owned();
    // Anonymous and error-free by GET: the same for everyone, a shared cache may keep it a minute.
    let anonymous = get(&app, &[("query", "{ __typename }")]).send().await.unwrap();
    assert_eq!(headers(&anonymous), (200, "public, max-age=60".to_owned(), vary.clone()));
    // With a token, with an error, by POST, refused: never stored.
    let cases = [
        (get(&app, &[("query", "{ me { id } }")]).bearer_auth(&admin), 200, "an account's answer"),
        (get(&app, &[("query", "{ me { id } }")]), 200, "anonymous with an error"),
        (get(&app, &[("query", "{ nope }")]), 200, "anonymous, not valid"),
        (post(&app, &json!({ "query": "{ __typename }" })), 200, "POST"),
        (post(&app, &json!({ "query": "{ me { id } }" })).bearer_auth(&admin), 200, "POST with a token"),
        (get(&app, &[("query", "mutation { __typename }")]), 405, "a mutation by GET"),
        (get(&app, &[]), 400, "no query"),
    ];
    for (request, status, why) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(headers(&response), (status, private.clone(), vary.clone()), "{why}");
    }
    let page = app.http.get(app.url("/graphql")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(headers(&page), (200, "no-store".to_owned(), vary), "GraphiQL's page");
}

async fn the_document_limits_hold_on_get(app: TestApp) {
    let admin = app.admin("s1");
    let limit_of = |answer: &Value| answer["errors"][0]["extensions"]["limit"].as_str().unwrap_or_default().to_owned();
    let wide = format!("{{ {} }}", (0..40).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" "));
    let deep = format!("{{ {}__typename{} }}", "me { ".repeat(40), " }".repeat(40));
    let bomb = {
        let mut fragments = vec!["fragment F0 on Query { __typename }".to_owned()];
        for i in 1..30 {
            fragments.push(format!("fragment F{i} on Query {{ ...F{} ...F{} }}", i - 1, i - 1));
        }
        format!("{{ ...F29 }} {}", fragments.join(" "))
    };
    for (query, limit) in [(&wide, "maxRootFields"), (&deep, "maxNesting"), (&bomb, "maxFields")] {
        for accept in [JSON, GRAPHQL_RESPONSE] {
            let (status, _, answer) =
                read(get(&app, &[("query", query)]).bearer_auth(&admin).header("accept", accept)).await;
            let expected_status = if accept == JSON { 200 } else { 400 };
            assert_eq!((status, limit_of(&answer).as_str()), (expected_status, limit), "{accept}: {answer}");
            assert!(answer.get("data").is_none(), "{answer}");
        }
    }
    // A registered document run by its hash by GET is measured with the GET's variables.
    // (A variable used at 30 places: each place is a copy of its value to check.)
    let placed = format!(
        "query P($n: String!) {{ {} }}",
        (0..30).map(|i| format!("t{i}: __type(name: $n) {{ name }} ")).collect::<String>()
    );
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256(&placed) } });
    let registered = json!({ "query": placed, "extensions": extensions, "variables": { "n": "Query" } });
    let (_, _, first) = read(post(&app, &registered).bearer_auth(&admin)).await;
    assert_eq!(first["data"]["t0"]["name"], "Query", "{first}");
    let variables = json!({ "n": vec![1; 1_000] }).to_string();
    let (_, _, answer) =
        read(get(&app, &[("extensions", &extensions.to_string()), ("variables", &variables)]).bearer_auth(&admin))
            .await;
    assert_eq!(limit_of(&answer), "maxNodes", "{answer}");
}

/// The mutation rate limit cannot be got round by GET: a mutation by GET is refused before it
/// could take a token or run, whether the bucket is full or empty.
async fn the_rate_limit_holds_on_get(backend: Backend) {
    let Some(app) = TestApp::try_spawn_with(backend, |c| {
        c.mutation_rate = 0.01;
        c.mutation_burst = 2;
    })
    .await
    else {
        return;
    };
    app.sync_shop("s1", "100", json!({})).await;
    let admin = app.admin("s1");
    app.ok(&app.token(smallpay::auth::Role::Cs, Some("s1"), "cs-1"), "{ me { id } }", json!({})).await;
    let set = r#"mutation { setQuota(accountId: "cs-1", perPayoutLimit: "10", dailyLimit: "100") { perPayoutLimit } }"#;
    let by_get = || async { get(&app, &[("query", set)]).bearer_auth(&admin).send().await.unwrap().status().as_u16() };
    assert_eq!(by_get().await, 405);
    app.ok(&admin, set, json!({})).await;
    app.ok(&admin, set, json!({})).await;
    assert_eq!(by_get().await, 405, "still refused for its method, not run");
    let limited = app.gql(Some(&admin), set, json!({})).await;
    assert_eq!(code(&limited), "RATE_LIMITED", "{limited}");
    // Queries by GET are not throttled.
    let (status, _, answer) = read(get(&app, &[("query", "{ me { role } }")]).bearer_auth(&admin)).await;
    assert_eq!((status, answer["data"]["me"]["role"].clone()), (200, json!("ADMIN")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_holds_on_get_sqlite() {
    the_rate_limit_holds_on_get(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_holds_on_get_postgres() {
    the_rate_limit_holds_on_get(Backend::Postgres).await;
}

/// An answer's maps are in the order of the selection (the specification's "serialized map
/// ordering"), not sorted by name: on both media types, over POST and GET, with aliases, and
/// a request error's answer has `errors` and no `data`.
async fn answers_keep_the_selections_order(app: TestApp) {
    let admin = app.admin("s1");
    let query = "{ me { role name id } zulu: me { id } alpha: me { role } }";
    for accept in [JSON, GRAPHQL_RESPONSE] {
        for request in [post(&app, &json!({ "query": query })), get(&app, &[("query", query)])] {
            let response = request.bearer_auth(&admin).header("accept", accept).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            let text = response.text().await.unwrap();
            let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle} not in {text}"));
            assert!(
                at("\"data\"") < at("\"me\"") && at("\"me\"") < at("\"zulu\"") && at("\"zulu\"") < at("\"alpha\""),
                "{text}"
            );
            assert!(at("\"role\"") < at("\"name\"") && at("\"name\"") < at("\"id\""), "{text}");
        }
    }
    let response = post(&app, &json!({ "query": "{ me { nope } }" }))
        .bearer_auth(&admin)
        .header("accept", GRAPHQL_RESPONSE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("data").is_none(), "a request error has no data: {body}");
    assert!(body["errors"][0]["message"].is_string(), "{body}");
}
