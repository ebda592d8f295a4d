//! GraphQL: `Viewer` (`me`), `Account` and the admin's `accounts`.
use async_graphql::{Context, ID, Object, Result, Value, resolver_utils::enum_value};
use entity::account;

use super::repo;
use crate::graphql::reads::read_db;
use crate::{
    auth::{Role, RoleGuard, Viewer, guards::viewer},
    error::AppError,
    graphql::{
        enums,
        plain::{Plain, plain_object},
    },
    quotas::{self, graphql::Quota},
    shops::{self, graphql::Shop},
    state::AppState,
};

/// The caller, as its token names it.
pub struct ViewerObject(pub Viewer);

/// The caller, as its token names it.
#[Object(name = "Viewer")]
impl ViewerObject {
    /// The token's `sub`.
    async fn id(&self) -> ID {
        ID(self.0.sub.clone())
    }

    /// The token's `name` claim (trimmed, at most 200 characters); the `sub` when it has none.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The token's `role` claim.
    async fn role(&self) -> enums::Role {
        self.0.role.into()
    }

    /// The caller's shop (merchant roles; null before the platform synced it).
    async fn shop(&self, ctx: &Context<'_>) -> Result<Option<Shop>> {
        let Ok(scope) = self.0.shop_scope() else {
            return Ok(None);
        };
        Ok(shops::repo::find(read_db(ctx)?, &scope).await?.map(Shop))
    }

    /// The caller's own quota (merchant roles that have one).
    async fn quota(&self, ctx: &Context<'_>) -> Result<Option<Quota>> {
        let Ok(scope) = self.0.shop_scope() else {
            return Ok(None);
        };
        let state = ctx.data::<AppState>()?;
        Ok(quotas::service::of_account(state.deps_on(read_db(ctx)?), &scope, &self.0.sub).await?.map(Quota))
    }
}

/// A merchant account of the shop; `id` is its token's `sub`.
pub struct Account(pub account::Model);

plain_object!(Account, AccountFields);

/// `Account`'s resolvers (its plain fields are read by [`Plain`] as well).
struct AccountFields<'a>(&'a account::Model);

/// A merchant account of the shop, created on its first authenticated request; its name and
/// role follow its latest token.
#[Object(name = "Account")]
impl AccountFields<'_> {
    /// Its token's `sub`; pass it as `accountId` to setQuota and clearQuota.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The name from its latest token (the `sub` when that token had none).
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The role from its latest token.
    async fn role(&self) -> enums::Role {
        self.0.role.into()
    }

    /// The account's quota. ADMIN, or the account itself; others get null with FORBIDDEN.
    async fn quota(&self, ctx: &Context<'_>) -> Result<Option<Quota>> {
        let me = viewer(ctx)?;
        if me.role != Role::Admin && me.sub != self.0.id {
            return Err(AppError::Forbidden("only the admin or the account itself sees its quota".into()).into());
        }
        let state = ctx.data::<AppState>()?;
        let scope = me.shop_scope()?;
        Ok(quotas::service::of_account(state.deps_on(read_db(ctx)?), &scope, &self.0.id).await?.map(Quota))
    }
}

#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// Who is asking. Any authenticated caller.
    #[graphql(guard = "RoleGuard::authenticated()")]
    async fn me(&self, ctx: &Context<'_>) -> Result<ViewerObject> {
        Ok(ViewerObject(viewer(ctx)?.clone()))
    }

    /// The shop's accounts (everyone who has signed in). ADMIN.
    #[graphql(guard = "RoleGuard::admin()")]
    async fn accounts(&self, ctx: &Context<'_>) -> Result<Vec<Account>> {
        let scope = viewer(ctx)?.shop_scope()?;
        Ok(repo::list(read_db(ctx)?, &scope).await?.into_iter().map(Account).collect())
    }
}

impl Plain for AccountFields<'_> {
    fn plain(&self, name: &str) -> Option<Value> {
        let a = self.0;
        Some(match name {
            "id" => Value::String(a.id.clone()),
            "name" => Value::String(a.name.clone()),
            "role" => enum_value(enums::Role::from(a.role)),
            _ => return None,
        })
    }
}
