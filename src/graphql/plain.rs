//! Objects read from a row in hand, resolved without a future per field.
//!
//! async-graphql resolves an object's selection by boxing one future per selected field and
//! polling them all in a `FuturesUnordered` (`resolver_utils::resolve_container`), also for a
//! field that only copies a column. On the history page (50 payouts, each with its applicant,
//! its order and about three status changes) that is about 1,700 boxed futures for some 150
//! that wait for anything (BENCHMARKS.md, 2026-12-07 (later), "pages without per-row overhead").
//!
//! An object that implements [`Plain`] answers its plain fields — those computed from the row
//! alone — as it walks the selection, in the selection's order; only the others (relations,
//! which go through the request's DataLoader) run as futures, joined, and their results and
//! errors are handled as `resolve_container` handles them. A selection with anything else — a
//! fragment, a directive, `__typename`, one response key twice — takes async-graphql's own
//! path unchanged, so what a client sees never depends on which path answered
//! (`tests/api/plain.rs` compares the two on every field of the objects that use this). The
//! schema has no extension (`service` explains why); an extension's per-field hook would not
//! see the plain fields.
use async_graphql::{
    ContainerType, ContextSelectionSet, Name, Positioned, ServerResult, Value,
    futures_util::future::{BoxFuture, join_all},
    indexmap::IndexMap,
    parser::types::{Field, Selection},
    resolver_utils::resolve_container,
};

/// An object whose plain fields can be read without resolving them.
pub trait Plain: ContainerType {
    /// The value of the plain field named `name` (its GraphQL name), exactly as the object's
    /// resolver would give it; `None` for a field that must be resolved (a relation).
    fn plain(&self, name: &str) -> Option<Value>;
}

/// Resolves `object`'s selection: plain fields read directly, the others resolved and
/// joined; the whole selection through `resolve_container` when it is not only fields.
///
/// Boxed, and made here where `T` is generic: the objects nest one another (a payout's history
/// names its payout), and a future cannot contain itself.
pub fn resolve<'a, T: Plain + 'a>(ctx: &'a ContextSelectionSet<'a>, object: T) -> BoxFuture<'a, ServerResult<Value>> {
    Box::pin(async move { resolve_fields(ctx, &object).await })
}

async fn resolve_fields<T: Plain>(ctx: &ContextSelectionSet<'_>, object: &T) -> ServerResult<Value> {
    let Some(fields) = only_fields(ctx) else {
        return resolve_container(ctx, object).await;
    };
    let mut results: IndexMap<Name, Value> = IndexMap::with_capacity(fields.len());
    let mut resolved: Vec<&Positioned<Field>> = Vec::new();
    for field in fields {
        let key = field.node.response_key().node.clone();
        match object.plain(field.node.name.node.as_str()) {
            Some(value) => {
                results.insert(key, value);
            }
            None => {
                // Its place in the answer, filled when it is resolved.
                results.insert(key, Value::Null);
                resolved.push(field);
            }
        }
    }
    if !resolved.is_empty() {
        let answers =
            join_all(resolved.iter().map(|field| async move { object.resolve_field(&ctx.with_field(field)).await }))
                .await;
        for (field, answer) in resolved.into_iter().zip(answers) {
            let key = &field.node.response_key().node;
            match answer {
                Ok(value) => {
                    results.insert(key.clone(), value.unwrap_or_default());
                }
                Err(error) => {
                    // As `resolve_container` does: the error is recorded, the key left out.
                    results.shift_remove(key);
                    ctx.add_error(error);
                }
            }
        }
    }
    Ok(if results.is_empty() { Value::Null } else { Value::Object(results) })
}

/// The selection's fields, when it is nothing but fields without directives, none of them
/// `__typename`, each under its own response key.
fn only_fields<'a>(ctx: &ContextSelectionSet<'a>) -> Option<Vec<&'a Positioned<Field>>> {
    let items = &ctx.item.node.items;
    let mut fields: Vec<&Positioned<Field>> = Vec::with_capacity(items.len());
    for item in items {
        let Selection::Field(field) = &item.node else { return None };
        if !field.node.directives.is_empty() || field.node.name.node == "__typename" {
            return None;
        }
        let key = &field.node.response_key().node;
        if fields.iter().any(|f| f.node.response_key().node == *key) {
            return None;
        }
        fields.push(field);
    }
    Some(fields)
}

/// `impl OutputType for $object` — a wrapper of a row (`$object(pub Model)`) — as the
/// object `$fields` (the `#[Object]` over `&Model`, which holds the GraphQL type's name,
/// description and every resolver) answered through [`resolve`].
macro_rules! plain_object {
    ($object:ty, $fields:ident) => {
        impl async_graphql::OutputType for $object {
            fn type_name() -> std::borrow::Cow<'static, str> {
                <$fields<'static> as async_graphql::OutputType>::type_name()
            }

            fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
                <$fields<'static> as async_graphql::OutputType>::create_type_info(registry)
            }

            async fn resolve(
                &self,
                ctx: &async_graphql::ContextSelectionSet<'_>,
                _field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
            ) -> async_graphql::ServerResult<async_graphql::Value> {
                $crate::graphql::plain::resolve(ctx, $fields(&self.0)).await
            }
        }
    };
}
pub(crate) use plain_object;

/// A scalar's or an enum's value as its resolver gives it.
pub fn scalar<T: async_graphql::ScalarType>(value: &T) -> Value {
    value.to_value()
}

/// An optional scalar's value (`null` for `None`).
pub fn optional<T>(value: Option<T>, to_value: impl FnOnce(T) -> Value) -> Value {
    value.map_or(Value::Null, to_value)
}
