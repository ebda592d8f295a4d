//! The authenticated caller and its tenant scope.
use async_graphql::Enum;

use crate::error::{AppError, AppResult};

/// What a caller may do: its token's `role` claim (rules.md "Actors").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
pub enum Role {
    /// Shop administrator (管理员): pays from the balance without a quota, sets quotas,
    /// approves and rejects requests.
    Admin,
    /// Customer-service administrator (客服管理员): pays from the balance without a quota
    /// unless the admin set one on it; cannot approve.
    CsAdmin,
    /// Customer-service agent (客服): pays from the balance only within its quota; otherwise
    /// by scan or by requesting approval.
    Cs,
    /// Any other shop role: like CS.
    Staff,
    /// A consumer: sees its own account cards and notices, submits a receiving account.
    Buyer,
    /// The marketplace's service token: syncs shops and orders, adjusts balances, records its
    /// own compensations, reports payment-channel results.
    Platform,
}

impl Role {
    pub const MERCHANT: &'static [Role] = &[Role::Admin, Role::CsAdmin, Role::Cs, Role::Staff];

    /// The JWT claim's spelling.
    pub fn from_claim(s: &str) -> Option<Role> {
        Some(match s {
            "admin" => Role::Admin,
            "cs_admin" => Role::CsAdmin,
            "cs" => Role::Cs,
            "staff" => Role::Staff,
            "buyer" => Role::Buyer,
            "platform" => Role::Platform,
            _ => return None,
        })
    }

    pub fn claim(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CsAdmin => "cs_admin",
            Role::Cs => "cs",
            Role::Staff => "staff",
            Role::Buyer => "buyer",
            Role::Platform => "platform",
        }
    }

    /// The database's and the contract's spelling (`CS_ADMIN`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::CsAdmin => "CS_ADMIN",
            Role::Cs => "CS",
            Role::Staff => "STAFF",
            Role::Buyer => "BUYER",
            Role::Platform => "PLATFORM",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::from_claim(&s.to_ascii_lowercase())
    }

    pub fn is_merchant(self) -> bool {
        Role::MERCHANT.contains(&self)
    }
}

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
    /// The shop a merchant may see; other roles have none.
    pub fn shop_scope(&self) -> AppResult<ShopScope> {
        match (&self.shop_id, self.role.is_merchant()) {
            (Some(shop), true) => Ok(ShopScope(shop.clone())),
            _ => Err(AppError::Forbidden("only merchant roles act within a shop".into())),
        }
    }
}
