//! Fuzzing through the real server: documents from the corpus (`tests/fuzz-corpus/`) mutated
//! byte by byte and token by token, random variables, and mangled tokens, thrown at
//! `POST /graphql` — some with a persisted-query hash, then by their hash alone. Whatever comes in, the answer is JSON with a known code, no internal text
//! leaks, and the server keeps answering. Bounded: `FUZZ_CASES` cases (default 1500), each
//! reproducible from its seed (printed on failure).
use std::time::Duration;

use proptest::{
    prelude::*,
    strategy::ValueTree,
    test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    helpers::{Backend, TestApp},
    payouts::shop,
};

const CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "PERSISTED_QUERY_NOT_FOUND",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "GRAPHQL_VALIDATION_FAILED",
    "IDEMPOTENCY_KEY_REUSED",
    "INVALID_STATE",
    "RATE_LIMITED",
    "UNAVAILABLE",
];

/// Text no answer may contain: internals of the server, the database or the runtime.
const LEAKS: &[&str] =
    &["sqlx", "SELECT ", "INSERT ", "panicked", "thread '", ".rs:", "DbErr", "sea_orm", "internal error"];

fn corpus() -> Vec<String> {
    let dir = format!("{}/tests/fuzz-corpus", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.into_iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
}

/// One mutation of a document: replace, insert or delete a span with GraphQL-ish tokens.
fn mutate(doc: &str, edits: &[(usize, u8, String)]) -> String {
    let mut chars: Vec<char> = doc.chars().collect();
    for (at, kind, text) in edits {
        let at = at % (chars.len() + 1);
        match kind % 3 {
            0 => {
                let end = (at + text.chars().count()).min(chars.len());
                chars.splice(at..end, text.chars());
            }
            1 => {
                chars.splice(at..at, text.chars());
            }
            _ => {
                let end = (at + 1 + text.len() % 8).min(chars.len());
                chars.drain(at..end);
            }
        }
    }
    chars.into_iter().collect()
}

fn token_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("...".to_owned()),
        Just("fragment F on Query { ...F }".to_owned()),
        Just("$v".to_owned()),
        Just("@skip(if: true)".to_owned()),
        Just("__typename".to_owned()),
        Just("\"\\u0000\"".to_owned()),
        Just("1e309".to_owned()),
        Just("-9223372036854775809".to_owned()),
        Just("null".to_owned()),
        "[a-zA-Z_]{1,12}".prop_map(String::from),
        "\\PC{0,6}".prop_map(String::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::from),
        Just(json!("12.50")),
        Just(json!("O-1")),
        Just(json!("BALANCE")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
struct Case {
    doc: usize,
    edits: Vec<(usize, u8, String)>,
    variables: Value,
    token: u8,
    token_edit: (usize, char),
}

fn case(docs: usize) -> impl Strategy<Value = Case> {
    (
        0..docs,
        prop::collection::vec((any::<usize>(), any::<u8>(), token_text()), 0..4),
        json_value(),
        any::<u8>(),
        (any::<usize>(), any::<char>()),
    )
        .prop_map(|(doc, edits, variables, token, token_edit)| Case { doc, edits, variables, token, token_edit })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_documents_variables_and_tokens_never_leak_or_crash() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (admin, cs, _) = shop(&app, "100", json!({})).await;
    app.sync_order("O-1", "s1", json!({})).await;
    let tokens = [admin, cs, app.platform(), String::new()];
    let docs = corpus();
    let cases: u32 = std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1500);
    let seed = std::env::var("FUZZ_SEED").ok().and_then(|n| n.parse().ok()).unwrap_or(20261127u64);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig { cases, ..ProptestConfig::default() },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = case(docs.len());
    for i in 0..cases {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let query = mutate(&docs[case.doc], &case.edits);
        let mut token = tokens[usize::from(case.token) % tokens.len()].clone();
        if case.token.is_multiple_of(5) && !token.is_empty() {
            let at = case.token_edit.0 % token.len();
            if token.is_char_boundary(at) {
                // Only what a header can carry: the server must judge it, not the client.
                let c = case.token_edit.1;
                token.insert(at, if c.is_ascii_graphic() { c } else { '~' });
            }
        }
        let mut bodies = vec![json!({ "query": query, "variables": case.variables })];
        if case.token % 3 == 1 {
            // Registered with its hash, then run by the hash alone.
            let hash: String = hex::encode(Sha256::digest(query.as_bytes()));
            let persisted = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
            bodies[0]["extensions"] = persisted.clone();
            bodies.push(json!({ "variables": case.variables, "extensions": persisted }));
        }
        for body in bodies {
            let mut request = app.http.post(app.url("/graphql")).timeout(Duration::from_secs(10));
            if !token.is_empty() {
                request = request.header("Authorization", format!("Bearer {token}"));
            }
            let answer =
                request.json(&body).send().await.unwrap_or_else(|e| panic!("case {i} (seed {seed}): {e}\n{case:?}"));
            let status = answer.status().as_u16();
            let text = answer.text().await.unwrap();
            let context = format!("case {i} (seed {seed}): {text}\n{case:?}");
            assert_answer_is_sound(status, &text, &context);
        }
    }
    // Still serving.
    assert!(app.http.get(app.url("/healthz")).send().await.unwrap().status().is_success());
    app.ok(&tokens[0], "{ me { id } }", json!({})).await;
}

/// HTTP 200 or 400, JSON, nothing internal in it, and every error with a known code.
fn assert_answer_is_sound(status: u16, text: &str, context: &str) {
    assert!([200, 400].contains(&status), "HTTP {status}: {context}");
    for leak in LEAKS {
        assert!(!text.contains(leak), "leaked {leak:?}: {context}");
    }
    let value: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {context}"));
    for error in value["errors"].as_array().into_iter().flatten() {
        let code = error["extensions"]["code"].as_str().unwrap_or_default();
        let known = CODES.contains(&code)
            || code.ends_with("_REACHED")
            || code.starts_with("ORDER_")
            || code.starts_with("AMOUNT_")
            || code.starts_with("SHOP_")
            || code.contains("QUOTA")
            || code == "INSUFFICIENT_BALANCE"
            || code == "ZERO_ENTRY_NO_DEPOSIT";
        assert!(known, "code {code:?}: {context}");
    }
}
