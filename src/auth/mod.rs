//! Who is asking: JWT verification, the `Viewer` built from its claims, role guards, and the
//! shop scope that every tenant-confined query takes.
pub mod guards;
pub mod jwks;
pub mod jwt;
pub mod provisioned;
pub mod viewer;

pub use guards::RoleGuard;
pub use jwt::{Claims, JwtKeys};
pub use provisioned::Provisioned;
pub use viewer::{Role, ShopScope, Viewer};
