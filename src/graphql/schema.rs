//! The schema: the merged roots of every domain (`service` runs it, with the limits, the
//! persisted-query store and error codes around it).
use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::{
    accounts::graphql::AccountsQuery,
    approvals::graphql::{ApprovalsMutation, ApprovalsQuery},
    audit::graphql::AuditQuery,
    cards::graphql::{CardsMutation, CardsQuery},
    events::graphql::Subscription as EventsSubscription,
    orders::graphql::{OrdersMutation, OrdersQuery},
    payouts::graphql::roots::{PayoutsMutation, PayoutsQuery},
    quotas::graphql::{QuotasMutation, QuotasQuery},
    reports::{graphql::ReportsQuery, live::ReportsSubscription},
    shops::graphql::{ShopMutation, ShopQuery},
    state::AppState,
};

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct Query(
    AccountsQuery,
    ShopQuery,
    OrdersQuery,
    PayoutsQuery,
    QuotasQuery,
    ApprovalsQuery,
    CardsQuery,
    AuditQuery,
    ReportsQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct Mutation(ShopMutation, OrdersMutation, PayoutsMutation, QuotasMutation, ApprovalsMutation, CardsMutation);

#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct Subscription(EventsSubscription, ReportsSubscription);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Deepest query accepted (nested selections, leaves counted): 15, the depth of the
/// introspection query that GraphiQL and Apollo's tools send (graphql-js 16's
/// `getIntrospectionQuery`: a `TypeRef` nests `ofType` eight times under
/// `__schema { types { fields { args { type …`). With 12, GraphiQL got "Query is nested too
/// deep" and showed no schema.
pub const MAX_DEPTH: usize = 15;
/// Costliest query accepted (one per field, list fields counted once).
pub const MAX_COMPLEXITY: usize = 2000;

/// The schema, with the service's state when it will execute requests (`None` to print SDL).
/// No extension: see `service` for why.
pub fn build_schema(state: Option<AppState>, introspection: bool) -> AppSchema {
    let mut builder = Schema::build(Query::default(), Mutation::default(), Subscription::default())
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY);
    if !introspection {
        // Without introspection, "Did you mean …?" suggestions would leak the schema too.
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.finish()
}

/// The SDL that `schema.graphql` holds.
pub fn sdl() -> String {
    build_schema(None, true).sdl()
}
