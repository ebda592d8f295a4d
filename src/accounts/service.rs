//! Provisioning accounts from tokens.

use super::repo;
use crate::{
    auth::{Provisioned, Role, Viewer},
    db::{self, Deps},
    error::AppResult,
    quotas,
};

/// Makes sure a merchant viewer has an account matching its token. Writes only when the
/// account is new or its name or role changed; does nothing before the shop is synced.
///
/// An admin never has a quota (rules.md "Actors"): an account that turns ADMIN loses its
/// quota in the transaction that records the new role, so no read ever shows one, and the
/// quota does not come back should the account turn CS again (the admin sets a new one).
/// `quotas::service::set` locks the account row and refuses an ADMIN, so a quota set
/// concurrently is either refused or deleted here.
///
/// `known` remembers accounts this process found or wrote as the token says, so a request
/// whose token matches one makes no query at all (see [`Provisioned`]).
pub async fn provision(deps: Deps<'_>, known: &Provisioned, viewer: &Viewer) -> AppResult<()> {
    let Ok(scope) = viewer.shop_scope() else {
        return Ok(());
    };
    if known.matches(viewer) {
        return Ok(());
    }
    if let Some(existing) = repo::find(deps.db, &scope, &viewer.sub).await? {
        if existing.name == viewer.name && existing.role == viewer.role {
            known.remember(viewer);
            return Ok(());
        }
    } else if crate::shops::repo::find_any_shop(deps.db, scope.id()).await?.is_none() {
        return Ok(());
    }
    deps.write(|| async {
        let tx = db::begin_write(deps.db).await?;
        repo::upsert(&tx, &scope, &viewer.sub, &viewer.name, viewer.role, deps.clock.now()).await?;
        if viewer.role == Role::Admin && quotas::repo::delete(&tx, &scope, &viewer.sub).await? {
            // The report's quota history: the quota ended with the promotion.
            quotas::repo::record_change(&tx, &scope, &viewer.sub, deps.clock.now(), None, "system").await?;
        }
        tx.commit().await?;
        Ok(())
    })
    .await?;
    known.remember(viewer);
    Ok(())
}
