//! Provisioning accounts from tokens.

use super::repo;
use crate::{auth::Viewer, db::Ctx, error::AppResult};

/// Makes sure a merchant viewer has an account matching its token. Writes only when the
/// account is new or its name or role changed; does nothing before the shop is synced.
pub async fn provision(cx: Ctx<'_>, viewer: &Viewer) -> AppResult<()> {
    let Ok(scope) = viewer.shop_scope() else {
        return Ok(());
    };
    if let Some(existing) = repo::find(cx.db, &scope, &viewer.sub).await? {
        if existing.name == viewer.name && existing.role == viewer.role {
            return Ok(());
        }
    } else if crate::shops::repo::find_by_id(cx.db, scope.id()).await?.is_none() {
        return Ok(());
    }
    repo::upsert(cx.db, &scope, &viewer.sub, &viewer.name, viewer.role, cx.clock.now()).await
}
