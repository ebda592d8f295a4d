//! The authenticated caller and its tenant scope.
pub use crate::domain::vocab::Role;
use crate::error::{AppError, AppResult};

/// A shop id that came from a merchant token: the only way to build a tenant-confined
/// query, so that a resolver cannot forget the shop filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShopScope(String);

impl ShopScope {
    pub fn id(&self) -> &str {
        &self.0
    }

    /// For the platform's own service calls, which name the shop explicitly.
    pub fn platform(shop_id: &str) -> Self {
        ShopScope(shop_id.to_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub sub: String,
    pub role: Role,
    pub shop_id: Option<String>,
    pub name: String,
}

impl Viewer {
    /// The key of the caller's own limits (rate bucket, open sockets): shop and subject.
    pub fn account_key(&self) -> String {
        format!("{}/{}", self.shop_id.as_deref().unwrap_or("-"), self.sub)
    }

    /// The applicant of a payout, or the admin: who may see and continue its recharge.
    pub fn is_applicant_or_admin(&self, applicant_id: &str) -> bool {
        self.role == Role::Admin || self.sub == applicant_id
    }

    /// The shop a merchant may see; other roles have none.
    pub fn shop_scope(&self) -> AppResult<ShopScope> {
        match (&self.shop_id, self.role.is_merchant()) {
            (Some(shop), true) => Ok(ShopScope(shop.clone())),
            _ => Err(AppError::Forbidden("only merchant roles act within a shop".into())),
        }
    }
}
