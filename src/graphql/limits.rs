//! A guard that runs before anything of async-graphql walks a document: it parses the query
//! once and measures its *expanded* size — every field a fragment adds counted at every place
//! the fragment is spread, but each fragment measured once (memoised), so the measure is linear
//! in the document's text however deeply fragments nest. async-graphql's own recursive-depth
//! and complexity checks walk a fragment again at every spread, before they compare anything:
//! a few hundred bytes of nested spreads would otherwise pin a core for minutes.
//!
//! Refusals are `GRAPHQL_VALIDATION_FAILED` with `extensions.limit` naming the limit.
//!
//! `service` runs it around the persisted-query store (`persisted`): a document sent with its
//! hash is measured before it is stored, and a hash sent alone is measured once the store has
//! resolved it, so no request reaches execution unmeasured.
use std::collections::{HashMap, HashSet};

use async_graphql::{
    Name, Positioned, Request, ServerError, ServerResult,
    parser::{
        parse_query,
        types::{DocumentOperations, ExecutableDocument, FragmentDefinition, Selection, SelectionSet},
    },
};

/// The limits on one GraphQL document (`SMALLPAY_MAX_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// The query text, in bytes.
    pub max_query_bytes: usize,
    /// Fields once every fragment spread is expanded.
    pub max_fields: u64,
    /// Fields at the root of an operation (aliases included), once expanded.
    pub max_root_fields: u64,
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exceeded {
    QueryBytes(usize),
    Fields(u64),
    RootFields(u64),
    FragmentCycle(String),
}

impl Exceeded {
    fn into_error(self, limits: &QueryLimits) -> ServerError {
        let (limit, message) = match self {
            Exceeded::QueryBytes(n) => {
                ("maxQueryBytes", format!("the query has {n} bytes; at most {} are accepted", limits.max_query_bytes))
            }
            Exceeded::Fields(n) => (
                "maxFields",
                format!("the query selects {n} fields once its fragments are expanded; at most {}", limits.max_fields),
            ),
            Exceeded::RootFields(n) => (
                "maxRootFields",
                format!("an operation has {n} root fields; at most {} are accepted", limits.max_root_fields),
            ),
            Exceeded::FragmentCycle(name) => ("fragmentCycle", format!("fragment `{name}` spreads itself")),
        };
        let mut error = ServerError::new(message, None);
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", "GRAPHQL_VALIDATION_FAILED");
        extensions.set("limit", limit);
        error
    }
}

/// Measures `doc`: refuses it if it is larger than `limits` once expanded.
pub fn measure(doc: &ExecutableDocument, limits: &QueryLimits) -> Result<(), Exceeded> {
    let mut sizes = Sizes { doc, memo: HashMap::new(), visiting: HashSet::new() };
    let operations: Vec<&Positioned<SelectionSet>> = match &doc.operations {
        DocumentOperations::Single(op) => vec![&op.node.selection_set],
        DocumentOperations::Multiple(ops) => ops.values().map(|op| &op.node.selection_set).collect(),
    };
    let mut total = 0u64;
    for set in operations {
        let (fields, roots) = sizes.of_set(set)?;
        total = total.saturating_add(fields);
        if total > limits.max_fields {
            return Err(Exceeded::Fields(total));
        }
        if roots > limits.max_root_fields {
            return Err(Exceeded::RootFields(roots));
        }
    }
    Ok(())
}

/// Expanded sizes, one per fragment, computed once.
struct Sizes<'d> {
    doc: &'d ExecutableDocument,
    /// Fragment name → (fields in total, fields at its own top level).
    memo: HashMap<&'d Name, (u64, u64)>,
    visiting: HashSet<&'d Name>,
}

impl<'d> Sizes<'d> {
    /// (every field under `set`, the fields at its top level), fragments expanded.
    fn of_set(&mut self, set: &'d Positioned<SelectionSet>) -> Result<(u64, u64), Exceeded> {
        let (mut all, mut top) = (0u64, 0u64);
        for item in &set.node.items {
            let (a, t) = match &item.node {
                Selection::Field(field) => {
                    let (below, _) = self.of_set(&field.node.selection_set)?;
                    (below.saturating_add(1), 1)
                }
                Selection::InlineFragment(inline) => self.of_set(&inline.node.selection_set)?,
                Selection::FragmentSpread(spread) => self.of_fragment(&spread.node.fragment_name.node)?,
            };
            all = all.saturating_add(a);
            top = top.saturating_add(t);
        }
        Ok((all, top))
    }

    fn of_fragment(&mut self, name: &'d Name) -> Result<(u64, u64), Exceeded> {
        if let Some(size) = self.memo.get(name) {
            return Ok(*size);
        }
        // An unknown fragment is async-graphql's to report; it adds nothing here.
        let Some(fragment): Option<&'d Positioned<FragmentDefinition>> = self.doc.fragments.get(name) else {
            return Ok((0, 0));
        };
        if !self.visiting.insert(name) {
            return Err(Exceeded::FragmentCycle(name.to_string()));
        }
        let size = self.of_set(&fragment.node.selection_set)?;
        self.visiting.remove(name);
        self.memo.insert(name, size);
        Ok(size)
    }
}

/// Measures a document the request sent, before anything stores or runs it: the text's size,
/// then the parsed document's (parsed once here; async-graphql uses this parse instead of
/// parsing again). A request without text (a persisted query's hash alone) passes here and is
/// measured by [`check_resolved`] once its document is known.
pub fn check_sent(request: &mut Request, limits: &QueryLimits) -> ServerResult<()> {
    if request.query.is_empty() {
        return Ok(());
    }
    if request.query.len() > limits.max_query_bytes {
        return Err(Exceeded::QueryBytes(request.query.len()).into_error(limits));
    }
    let doc = parse_query(&request.query)?;
    measure(&doc, limits).map_err(|e| e.into_error(limits))?;
    request.set_parsed_query(doc);
    Ok(())
}

/// Measures the document a hash stood for (with no hash, the empty query fails to parse here).
pub fn check_resolved(request: &mut Request, limits: &QueryLimits) -> ServerResult<()> {
    let doc = request.parsed_query()?;
    measure(doc, limits).map_err(|e| e.into_error(limits))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: QueryLimits = QueryLimits { max_query_bytes: 100_000, max_fields: 2000, max_root_fields: 32 };

    fn check(query: &str) -> Result<(), Exceeded> {
        measure(&parse_query(query).unwrap(), &LIMITS)
    }

    /// `depth` fragments, each spreading the next `fan` times.
    fn bomb(depth: usize, fan: usize) -> String {
        let mut q = String::from("query { ...F0 }\n");
        for i in 0..depth {
            let spreads = (0..fan).map(|_| format!("...F{}", i + 1)).collect::<Vec<_>>().join(" ");
            q.push_str(&format!("fragment F{i} on Query {{ me {{ id }} {spreads} }}\n"));
        }
        q.push_str(&format!("fragment F{depth} on Query {{ me {{ id }} }}\n"));
        q
    }

    #[test]
    fn small_queries_pass() {
        assert_eq!(
            check("{ me { id role } shop { balance } orders(first: 5) { edges { node { orderSn } } } }"),
            Ok(())
        );
        assert_eq!(check("query { ...A } fragment A on Query { me { id } }"), Ok(()));
    }

    #[test]
    fn a_fragment_bomb_is_measured_in_linear_time_and_refused() {
        let started = std::time::Instant::now();
        // 8^40 fields once expanded: measured without expanding anything.
        assert!(matches!(check(&bomb(40, 8)), Err(Exceeded::Fields(_))));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn expanded_fields_count_every_spread() {
        // F0 = 2 + 3 × F1, F1 = 2: 8 fields, under the limit; 2000 is the line.
        assert_eq!(check(&bomb(1, 3)), Ok(()));
        let many = format!("{{ {} }}", (0..31).map(|i| format!("a{i}: me {{ id }}")).collect::<Vec<_>>().join(" "));
        assert_eq!(check(&many), Ok(()));
    }

    #[test]
    fn root_aliases_are_counted() {
        let q = format!("{{ {} }}", (0..33).map(|i| format!("a{i}: me {{ id }}")).collect::<Vec<_>>().join(" "));
        assert_eq!(check(&q), Err(Exceeded::RootFields(33)));
        // Through a fragment at the root too.
        let q = format!(
            "query {{ ...R }} fragment R on Query {{ {} }}",
            (0..40).map(|i| format!("a{i}: me {{ id }}")).collect::<Vec<_>>().join(" ")
        );
        assert_eq!(check(&q), Err(Exceeded::RootFields(40)));
    }

    #[test]
    fn fragment_cycles_are_refused_not_followed() {
        assert_eq!(
            check("query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }"),
            Err(Exceeded::FragmentCycle("A".into()))
        );
    }
}
