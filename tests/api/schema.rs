//! The schema under test: `schema.graphql` is `smallpay export-schema`'s output, and the SDL
//! offers everything of the client contract (`tests/contract.graphql`) except what
//! `tests/contract_pending.txt` lists — each entry of which must still be missing.
use std::collections::{BTreeMap, BTreeSet};

use async_graphql_parser::types::{TypeKind, TypeSystemDefinition};
use serde_json::json;

use crate::helpers::{Backend, TestApp};

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn schema_graphql_is_the_exported_schema() {
    assert_eq!(
        read("schema.graphql"),
        smallpay::graphql::schema::sdl(),
        "schema.graphql is stale: run `cargo run -- export-schema > schema.graphql`"
    );
}

/// Every contract item as `Type`, `Type.field`, `Type.field(arg)` or `Enum.VALUE`, with its
/// type written out (empty for types and enum values).
fn items(sdl: &str) -> BTreeMap<String, String> {
    let doc = async_graphql_parser::parse_schema(sdl).expect("SDL parses");
    let mut out = BTreeMap::new();
    for def in doc.definitions {
        let TypeSystemDefinition::Type(t) = def else { continue };
        let t = t.node;
        let name = t.name.node.to_string();
        let kind = match &t.kind {
            TypeKind::Scalar => "scalar",
            TypeKind::Object(_) => "type",
            TypeKind::Interface(_) => "interface",
            TypeKind::Union(_) => "union",
            TypeKind::Enum(_) => "enum",
            TypeKind::InputObject(_) => "input",
        };
        out.insert(name.clone(), kind.to_owned());
        match t.kind {
            TypeKind::Object(o) => {
                for f in o.fields {
                    let f = f.node;
                    let field = format!("{name}.{}", f.name.node);
                    for a in &f.arguments {
                        out.insert(format!("{field}({})", a.node.name.node), a.node.ty.node.to_string());
                    }
                    out.insert(field, f.ty.node.to_string());
                }
            }
            TypeKind::InputObject(i) => {
                for f in i.fields {
                    out.insert(format!("{name}.{}", f.node.name.node), f.node.ty.node.to_string());
                }
            }
            TypeKind::Enum(e) => {
                for v in e.values {
                    out.insert(format!("{name}.{}", v.node.value.node), String::new());
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn the_schema_offers_the_client_contract() {
    let contract = items(&read("tests/contract.graphql"));
    let ours = items(&smallpay::graphql::schema::sdl());
    let pending: BTreeSet<String> = read("tests/contract_pending.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let mut problems = Vec::new();
    for (item, ty) in &contract {
        let field = item.split('(').next().unwrap_or(item);
        let type_name = item.split('.').next().unwrap_or(item);
        let pending_here = [item.as_str(), field, type_name].iter().any(|p| pending.contains(*p));
        match ours.get(item) {
            Some(our_ty) if our_ty == ty => {
                if pending.contains(item) {
                    problems.push(format!("{item} is done: remove it from tests/contract_pending.txt"));
                }
            }
            Some(our_ty) => problems.push(format!("{item}: contract says `{ty}`, schema has `{our_ty}`")),
            None if pending_here => {}
            None => problems.push(format!("{item} ({ty}) is missing")),
        }
    }
    for item in &pending {
        if !contract.contains_key(item) {
            problems.push(format!("{item} in contract_pending.txt is not in the contract"));
        }
    }
    assert!(problems.is_empty(), "schema vs contract:\n  {}", problems.join("\n  "));
}

/// What a browser sends when it opens a page.
const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

#[tokio::test]
async fn production_turns_off_introspection_graphiql_and_the_test_clock() {
    let dev = TestApp::spawn(Backend::Sqlite).await;
    let page = dev.http.get(dev.url("/graphql")).header("accept", BROWSER).send().await.unwrap();
    assert!(page.status().is_success());
    let html = page.text().await.unwrap();
    assert!(html.contains("graphiql") && html.contains("/graphql/ws"), "GraphiQL wired to the socket");
    let intro = dev.gql(None, "{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(intro["data"]["__schema"]["queryType"]["name"], "Query");

    let prod = TestApp::try_spawn_with(Backend::Sqlite, |c| {
        c.environment = smallpay::config::Environment::Production;
        c.test_clock = false;
    })
    .await
    .unwrap();
    // No page for a browser: its GET is a GraphQL request without a query.
    let page = prod.http.get(prod.url("/graphql")).header("accept", BROWSER).send().await.unwrap();
    assert_eq!((page.status().as_u16(), page.headers()["content-type"].to_str().unwrap()), (400, "application/json"));
    let intro = prod.gql(None, "{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(intro["data"]["__schema"], json!(null), "introspection is off: {intro}");
    let advance = prod.http.post(prod.url("/_test/clock/advance?seconds=1")).send().await.unwrap();
    assert_eq!(advance.status(), 404);

    let asked = TestApp::try_spawn_with(Backend::Sqlite, |c| {
        c.environment = smallpay::config::Environment::Production;
        c.test_clock = false;
        c.introspection = Some(true);
        c.graphiql = Some(true);
    })
    .await
    .unwrap();
    let page = asked.http.get(asked.url("/graphql")).header("accept", BROWSER).send().await.unwrap();
    assert!(page.status().is_success() && page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let intro = asked.gql(None, "{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(intro["data"]["__schema"]["queryType"]["name"], "Query");
}
