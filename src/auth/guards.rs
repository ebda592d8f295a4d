//! Role guards for GraphQL fields: no viewer → `UNAUTHENTICATED`, another role → `FORBIDDEN`.
use async_graphql::{Context, ErrorExtensions, Guard, Result};

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

/// Every mutation field of a merchant or a buyer: one token of the caller's bucket (`RATE_LIMITED` with
/// `extensions.retryAfterMs` when it is empty; see [`crate::ratelimit`]).
pub struct Throttle;

impl Guard for Throttle {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let viewer = viewer(ctx)?;
        // The platform is a service, not a person: its calls are not throttled.
        if viewer.role == Role::Platform {
            return Ok(());
        }
        let Some(state) = ctx.data_opt::<crate::state::AppState>() else { return Ok(()) };
        state.limiter.take(&viewer.account_key()).map_err(|wait| {
            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            AppError::RateLimited(format!("too many mutations from this account; retry in {ms} ms"))
                .to_graphql()
                .extend_with(|_, e| e.set("retryAfterMs", ms))
        })
    }
}

/// The request's viewer, or `UNAUTHENTICATED`.
pub fn viewer<'a>(ctx: &Context<'a>) -> Result<&'a Viewer, AppError> {
    ctx.data_opt::<Viewer>()
        .ok_or_else(|| AppError::Unauthenticated("missing bearer token: send `Authorization: Bearer <jwt>`".into()))
}
