//! Role guards for GraphQL fields: no viewer → `UNAUTHENTICATED`, another role → `FORBIDDEN`.
use async_graphql::{Context, Guard, Result};

use super::viewer::{Role, Viewer};
use crate::error::AppError;

pub struct RoleGuard {
    roles: &'static [Role],
}

impl RoleGuard {
    pub fn new(roles: &'static [Role]) -> Self {
        RoleGuard { roles }
    }

    pub fn merchant() -> Self {
        RoleGuard::new(Role::MERCHANT)
    }

    pub fn admin() -> Self {
        RoleGuard::new(&[Role::Admin])
    }

    pub fn platform() -> Self {
        RoleGuard::new(&[Role::Platform])
    }

    pub fn authenticated() -> Self {
        RoleGuard::new(&[Role::Admin, Role::CsAdmin, Role::Cs, Role::Staff, Role::Buyer, Role::Platform])
    }
}

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let viewer = viewer(ctx)?;
        if self.roles.contains(&viewer.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("role {} may not use this field", viewer.role.as_str())).into())
        }
    }
}

/// The request's viewer, or `UNAUTHENTICATED`.
pub fn viewer<'a>(ctx: &Context<'a>) -> Result<&'a Viewer, AppError> {
    ctx.data_opt::<Viewer>()
        .ok_or_else(|| AppError::Unauthenticated("missing bearer token: send `Authorization: Bearer <jwt>`".into()))
}
