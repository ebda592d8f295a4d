//! Who is asking: JWT verification, the `Viewer` built from its claims, role guards, and the
//! shop scope that every tenant-confined query takes.
pub mod bearer;
pub mod guards;
pub mod jwks;
pub mod jwt;
pub mod provisioned;
mod unique_json;
pub mod viewer;

pub use bearer::bearer_token;
pub use guards::RoleGuard;
pub use jwt::{Claims, JwtKeys};
pub use provisioned::Provisioned;
pub use viewer::{Role, ShopScope, Viewer};
