//! The measure of a parsed document: what async-graphql's validation and execution would
//! walk, counted without expanding anything.
//!
//! What is measured, each fragment once (memoised), so the measure is linear in the text:
//! - *fields* once every spread is expanded, and the *root fields* of each operation;
//! - *nodes*: every selection (field, fragment spread — known or not —, inline fragment),
//!   directive and argument value (a variable counted as the size of its value) met while
//!   expanding each operation, plus every selection set's width (its selections with the
//!   fragments it spreads flattened, as the overlapping-fields rule walks them) and every
//!   argument value of the text once (as the other rules walk them);
//! - *nesting*: fields, spreads and inline fragments inside one another, refused beyond
//!   [`MAX_NESTING`] (async-graphql's own limit, which it checks only after walking), so no
//!   walk here or after recurses deeper;
//! - fragment cycles.
use std::collections::{HashMap, HashSet};

use async_graphql::{
    Name, Positioned, Variables,
    parser::types::{Directive, ExecutableDocument, FragmentDefinition, Selection, SelectionSet},
};
use async_graphql_value::{ConstValue, Value};

/// Fields, fragment spreads and inline fragments nested in one another: async-graphql's own
/// recursive-depth limit (its default, 32), checked here before anything walks that deep.
pub const MAX_NESTING: usize = 32;

/// The limits on one GraphQL document (`SMALLPAY_MAX_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// The query text, in bytes.
    pub max_query_bytes: usize,
    /// Fields once every fragment spread is expanded.
    pub max_fields: u64,
    /// Fields at the root of an operation (aliases included), once expanded.
    pub max_root_fields: u64,
    /// Nodes that validation and execution walk (the module's doc says which).
    pub max_nodes: u64,
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exceeded {
    QueryBytes(usize),
    Fields(u64),
    RootFields(u64),
    Nodes(u64),
    Nesting,
    FragmentCycle(String),
}

/// Measures `doc` as it would run with `variables`: refuses it if anything after this guard
/// would walk more than `limits` allow.
pub fn measure(doc: &ExecutableDocument, variables: &Variables, limits: &QueryLimits) -> Result<(), Exceeded> {
    let mut sizes = Sizes::new(doc, variables);
    let (mut fields, mut nodes) = (0u64, 0u64);
    for (_, operation) in doc.operations.iter() {
        let operation = &operation.node;
        sizes.text = sizes.text.saturating_add(sizes.directives(&operation.directives));
        for definition in &operation.variable_definitions {
            let default = definition.node.default_value.as_ref().map_or(0, |v| const_nodes(&v.node));
            sizes.text = sizes.text.saturating_add(default);
        }
        let size = sizes.of_set(&operation.selection_set, 0)?;
        fields = fields.saturating_add(size.fields);
        if fields > limits.max_fields {
            return Err(Exceeded::Fields(fields));
        }
        if size.top > limits.max_root_fields {
            return Err(Exceeded::RootFields(size.top));
        }
        nodes = nodes.saturating_add(size.nodes);
    }
    // Fragments no operation spreads: validation walks them too (and then refuses them).
    for name in doc.fragments.keys() {
        sizes.of_fragment(name, 0)?;
    }
    let work = nodes.saturating_add(sizes.text);
    if work > limits.max_nodes {
        return Err(Exceeded::Nodes(work));
    }
    Ok(())
}

/// What a selection set (or a fragment) amounts to once its spreads are expanded.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    /// Fields, at every depth.
    fields: u64,
    /// Fields at its own top level.
    top: u64,
    /// Selections, directives and argument values, at every depth.
    nodes: u64,
    /// Selections at its top level with the fragments it spreads flattened: what the
    /// overlapping-fields rule walks for this set.
    width: u64,
    /// How many sets deep it nests below itself.
    nesting: usize,
}

/// Expanded sizes, one per fragment, computed once.
struct Sizes<'d> {
    doc: &'d ExecutableDocument,
    variables: &'d Variables,
    /// Fragment name → its size.
    memo: HashMap<&'d Name, Size>,
    visiting: HashSet<&'d Name>,
    /// Variable name → the nodes of its value.
    variable_nodes: HashMap<&'d str, u64>,
    /// What the rules walk once per place in the text: every set's width, every argument's
    /// value (variables put in), every directive.
    text: u64,
}

impl<'d> Sizes<'d> {
    /// A variable the request does not send stands for its default value (the largest, if
    /// several operations define it), which execution puts in at every place it is used.
    fn new(doc: &'d ExecutableDocument, variables: &'d Variables) -> Self {
        let mut variable_nodes: HashMap<&'d str, u64> = HashMap::new();
        for (_, operation) in doc.operations.iter() {
            for definition in &operation.node.variable_definitions {
                let name = definition.node.name.node.as_str();
                let size = match (variables.get(name), &definition.node.default_value) {
                    (Some(value), _) => const_nodes(value),
                    (None, Some(default)) => const_nodes(&default.node),
                    (None, None) => 1,
                };
                let entry = variable_nodes.entry(name).or_insert(size);
                *entry = (*entry).max(size);
            }
        }
        Sizes { doc, variables, memo: HashMap::new(), visiting: HashSet::new(), variable_nodes, text: 0 }
    }

    /// The size of `set`, which sits `depth` sets below its operation.
    fn of_set(&mut self, set: &'d Positioned<SelectionSet>, depth: usize) -> Result<Size, Exceeded> {
        if depth > MAX_NESTING {
            return Err(Exceeded::Nesting);
        }
        let mut size = Size::default();
        for item in &set.node.items {
            let mut own = self.directives(item.node.directives());
            let below = match &item.node {
                Selection::Field(field) => {
                    own = own.saturating_add(self.arguments(&field.node.arguments[..]));
                    size.fields = size.fields.saturating_add(1);
                    size.top = size.top.saturating_add(1);
                    size.width = size.width.saturating_add(1);
                    let set = &field.node.selection_set;
                    if set.node.items.is_empty() { None } else { Some(self.of_set(set, depth + 1)?) }
                }
                Selection::InlineFragment(inline) => {
                    let inner = self.of_set(&inline.node.selection_set, depth + 1)?;
                    size.top = size.top.saturating_add(inner.top);
                    size.width = size.width.saturating_add(inner.width);
                    Some(inner)
                }
                Selection::FragmentSpread(spread) => {
                    let inner = self.of_fragment(&spread.node.fragment_name.node, depth + 1)?;
                    let (top, width) = inner.map_or((0, 0), |s| (s.top, s.width));
                    size.top = size.top.saturating_add(top);
                    size.width = size.width.saturating_add(1).saturating_add(width);
                    inner
                }
            };
            self.text = self.text.saturating_add(own);
            size.nodes = size.nodes.saturating_add(1).saturating_add(own);
            if let Some(below) = below {
                size.fields = size.fields.saturating_add(below.fields);
                size.nodes = size.nodes.saturating_add(below.nodes);
                size.nesting = size.nesting.max(below.nesting + 1);
            }
        }
        self.text = self.text.saturating_add(size.width);
        Ok(size)
    }

    /// The size of fragment `name` spread where its set sits `depth` sets deep; `None` for an
    /// unknown fragment (async-graphql's to report; the spread itself is counted).
    fn of_fragment(&mut self, name: &'d Name, depth: usize) -> Result<Option<Size>, Exceeded> {
        if let Some(size) = self.memo.get(name) {
            if depth + size.nesting > MAX_NESTING {
                return Err(Exceeded::Nesting);
            }
            return Ok(Some(*size));
        }
        let Some(fragment): Option<&'d Positioned<FragmentDefinition>> = self.doc.fragments.get(name) else {
            return Ok(None);
        };
        if !self.visiting.insert(name) {
            return Err(Exceeded::FragmentCycle(name.to_string()));
        }
        let own = self.directives(&fragment.node.directives);
        self.text = self.text.saturating_add(own);
        let size = self.of_set(&fragment.node.selection_set, depth)?;
        self.visiting.remove(name);
        self.memo.insert(name, size);
        Ok(Some(size))
    }

    fn directives(&mut self, directives: &'d [Positioned<Directive>]) -> u64 {
        directives.iter().fold(0u64, |n, d| n.saturating_add(1).saturating_add(self.arguments(&d.node.arguments[..])))
    }

    fn arguments(&mut self, arguments: &'d [(Positioned<Name>, Positioned<Value>)]) -> u64 {
        arguments.iter().fold(0u64, |n, (_, value)| n.saturating_add(self.value_nodes(&value.node)))
    }

    /// The nodes of `value` with the request's variables put in (as the rules and resolvers
    /// see it); iterative, since a value can nest as deep as the parser lets it.
    fn value_nodes(&mut self, value: &'d Value) -> u64 {
        let mut stack = vec![value];
        let mut n = 0u64;
        while let Some(value) = stack.pop() {
            match value {
                Value::Variable(name) => {
                    let variables = self.variables;
                    let size = *self
                        .variable_nodes
                        .entry(name.as_str())
                        .or_insert_with(|| variables.get(name).map_or(1, const_nodes));
                    n = n.saturating_add(size);
                }
                Value::List(items) => {
                    n = n.saturating_add(1);
                    stack.extend(items);
                }
                Value::Object(entries) => {
                    n = n.saturating_add(1);
                    stack.extend(entries.values());
                }
                _ => n = n.saturating_add(1),
            }
        }
        n
    }
}

/// The nodes of a constant value (a variable's, or a default); iterative like `value_nodes`.
fn const_nodes(value: &ConstValue) -> u64 {
    let mut stack = vec![value];
    let mut n = 0u64;
    while let Some(value) = stack.pop() {
        n = n.saturating_add(1);
        match value {
            ConstValue::List(items) => stack.extend(items),
            ConstValue::Object(entries) => stack.extend(entries.values()),
            _ => {}
        }
    }
    n
}

/// The nodes of `doc` as it is written (no spread expanded, a variable one node): its
/// operations, fragments, selections, directives, variable definitions and every value in
/// them. What a parsed document holds in memory grows with it (`persisted` weighs by it).
pub fn document_nodes(doc: &ExecutableDocument) -> u64 {
    fn set_nodes<'d>(sizes: &mut Sizes<'d>, set: &'d Positioned<SelectionSet>) -> u64 {
        set.node.items.iter().fold(0u64, |n, item| {
            let own = 1u64.saturating_add(sizes.directives(item.node.directives()));
            let below = match &item.node {
                Selection::Field(field) => sizes
                    .arguments(&field.node.arguments[..])
                    .saturating_add(set_nodes(sizes, &field.node.selection_set)),
                Selection::InlineFragment(inline) => set_nodes(sizes, &inline.node.selection_set),
                Selection::FragmentSpread(_) => 0,
            };
            n.saturating_add(own).saturating_add(below)
        })
    }
    let none = Variables::default();
    let mut sizes = Sizes::new(doc, &none);
    let mut n = 0u64;
    for (_, operation) in doc.operations.iter() {
        let operation = &operation.node;
        for definition in &operation.variable_definitions {
            let default = definition.node.default_value.as_ref().map_or(0, |v| const_nodes(&v.node));
            n = n
                .saturating_add(1)
                .saturating_add(sizes.directives(&definition.node.directives))
                .saturating_add(default);
        }
        n = n.saturating_add(1).saturating_add(sizes.directives(&operation.directives));
        n = n.saturating_add(set_nodes(&mut sizes, &operation.selection_set));
    }
    for fragment in doc.fragments.values() {
        n = n.saturating_add(1).saturating_add(sizes.directives(&fragment.node.directives));
        n = n.saturating_add(set_nodes(&mut sizes, &fragment.node.selection_set));
    }
    n
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    const LIMITS: QueryLimits =
        QueryLimits { max_query_bytes: 100_000, max_fields: 2000, max_root_fields: 32, max_nodes: 20_000 };

    fn check(query: &str) -> Result<(), Exceeded> {
        check_with(query, serde_json::json!({}))
    }

    fn check_with(query: &str, variables: serde_json::Value) -> Result<(), Exceeded> {
        measure(&parse_query(query).unwrap(), &Variables::from_json(variables), &LIMITS)
    }

    /// `depth` fragments, each spreading the next `fan` times; the last selects `leaf`.
    fn bomb_of(depth: usize, fan: usize, leaf: &str) -> String {
        let mut q = String::from("query { ...F0 }\n");
        for i in 0..depth {
            let spreads = (0..fan).map(|_| format!("...F{}", i + 1)).collect::<Vec<_>>().join(" ");
            q.push_str(&format!("fragment F{i} on Query {{ {spreads} }}\n"));
        }
        q.push_str(&format!("fragment F{depth} on Query {{ {leaf} }}\n"));
        q
    }

    fn bomb(depth: usize, fan: usize) -> String {
        bomb_of(depth, fan, "me { id }")
    }

    #[test]
    fn small_queries_pass() {
        assert_eq!(
            check("{ me { id role } shop { balance } orders(first: 5) { edges { node { orderSn } } } }"),
            Ok(())
        );
        assert_eq!(check("query { ...A } fragment A on Query { me { id } }"), Ok(()));
        let q = "query($s: [PayoutStatus!]) { payouts(filter: {status: $s}) { edges { node { id } } } }";
        assert_eq!(check_with(q, serde_json::json!({ "s": ["PAYING", "PAID"] })), Ok(()));
    }

    #[test]
    fn a_fragment_bomb_is_measured_in_linear_time_and_refused() {
        let started = std::time::Instant::now();
        // 8^30 fields once expanded: measured without expanding anything.
        assert!(matches!(check(&bomb(30, 8)), Err(Exceeded::Fields(_))));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn spreads_count_as_they_expand_whatever_they_lead_to() {
        // No known field at all: an unknown fragment, or inline fragments around one, at the
        // end of 8^6 spreads. Each spread is a node at every place it expands.
        for leaf in ["...Nope", "... on Query { ...Nope }", "... @skip(if: true) { ...Nope }"] {
            assert!(matches!(check(&bomb_of(6, 8, leaf)), Err(Exceeded::Nodes(_))), "{leaf}");
        }
        // Directives and their arguments too: 100 spreads of a fragment with 300 directives.
        let directives = "@include(if: true) ".repeat(300);
        let q = format!(
            "{{ me {{ ...A }} }} fragment A on Account {{ ...B ...B ...B ...B ...B ...B ...B ...B ...B ...B }}
             fragment B on Account {{ ...C ...C ...C ...C ...C ...C ...C ...C ...C ...C }}
             fragment C on Account {{ id {directives} }}"
        );
        let measured = check(&q);
        assert!(matches!(measured, Err(Exceeded::Nodes(_))), "{measured:?}");
        // A small chain passes: 8 + 64 + 512 spreads.
        assert_eq!(check(&bomb_of(3, 8, "...Nope")), Ok(()));
    }

    #[test]
    fn a_variable_counts_at_every_place_it_is_used() {
        let q = format!("query($v: Boolean!) {{ me {{ {} }} }}", "id @include(if: $v) ".repeat(100));
        assert_eq!(check_with(&q, serde_json::json!({ "v": true })), Ok(()));
        // The rules put the value in at each place: 100 × 1,000 items.
        assert!(matches!(check_with(&q, serde_json::json!({ "v": vec![1; 1000] })), Err(Exceeded::Nodes(_))));
        // A default value too, when the request does not send the variable.
        let q = format!(
            "query($v: [Int] = [{}]) {{ me {{ {} }} }}",
            vec!["1"; 1000].join(","),
            "id @include(if: $v) ".repeat(100)
        );
        assert!(matches!(check(&q), Err(Exceeded::Nodes(_))));
    }

    #[test]
    fn fragments_no_operation_spreads_are_measured_too() {
        // Each unused fragment spreads a wide one: the overlapping-fields rule flattens it
        // for each of them.
        let mut q = format!("{{ __typename }} fragment H on Query {{ {} }}", "__typename ".repeat(1000));
        for i in 0..100 {
            q.push_str(&format!(" fragment G{i} on Query {{ ...H }}"));
        }
        assert!(matches!(check(&q), Err(Exceeded::Nodes(_))));
    }

    #[test]
    fn nesting_is_refused_before_it_is_walked() {
        // 1,000 fragments, each spreading the next once: 1,000 deep.
        let mut q = String::from("{ ...F0 }");
        for i in 0..1000 {
            q.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
        }
        q.push_str(" fragment F1000 on Query { __typename }");
        assert_eq!(check(&q), Err(Exceeded::Nesting));
        // 32 deep is async-graphql's own limit, and fine.
        let ok = format!("{{ {}__typename{} }}", "... on Query { ".repeat(32), " }".repeat(32));
        assert_eq!(check(&ok), Ok(()));
        let deep = format!("{{ {}__typename{} }}", "... on Query { ".repeat(33), " }".repeat(33));
        assert_eq!(check(&deep), Err(Exceeded::Nesting));
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
