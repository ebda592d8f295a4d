//! Provisioning accounts from tokens.
use entity::shop;
use sea_orm::EntityTrait;

use super::repo;
use crate::{app::AppState, auth::Viewer, error::AppResult};

/// Makes sure a merchant viewer has an account matching its token. Writes only when the
/// account is new or its name or role changed; does nothing before the shop is synced.
pub async fn provision(state: &AppState, viewer: &Viewer) -> AppResult<()> {
    let Ok(scope) = viewer.shop_scope() else {
        return Ok(());
    };
    if let Some(existing) = repo::find(&state.db, &scope, &viewer.sub).await? {
        if existing.name == viewer.name && existing.role == viewer.role.as_str() {
            return Ok(());
        }
    } else if shop::Entity::find_by_id(scope.id().to_owned()).one(&state.db).await?.is_none() {
        return Ok(());
    }
    repo::upsert(&state.db, &scope, &viewer.sub, &viewer.name, viewer.role, state.clock.now()).await
}
