//! The claims smallpay reads, and the viewer they make once the token is verified.
use serde::{Deserialize, Serialize};

use super::token::json_reason;
use crate::{
    auth::viewer::{Role, Viewer},
    domain::actor,
    error::AppError,
};

/// The claims smallpay reads. Other claims (an identity provider's `scope`, `azp`, `typ`,
/// `sid`, `jti`…) are ignored, whatever their JSON type; a claim smallpay reads must be
/// well-formed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub iss: String,
    /// A string or an array of strings.
    pub aud: serde_json::Value,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

pub(super) fn viewer_from_claims(claims: Claims) -> Result<Viewer, AppError> {
    let refuse = |why: String| AppError::Unauthenticated(format!("invalid token: {why}"));
    let role = Role::from_claim(&claims.role).ok_or_else(|| refuse(format!("unknown role `{}`", claims.role)))?;
    let sub = claims.sub.trim();
    if sub.is_empty() || sub.len() > 128 {
        return Err(refuse("claim `sub` must be 1 to 128 characters".into()));
    }
    if role.is_merchant() && actor::is_reserved_for_another_kind(sub) {
        return Err(refuse(format!(
            "claim `sub` `{sub}` is reserved for another kind of actor: `system`, `platform` and `buyer:…` \
             name the system, the platform and buyers in a payout's history"
        )));
    }
    let shop_id = claims.shop_id.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if role.is_merchant() && shop_id.is_none() {
        return Err(refuse(format!("role `{}` needs claim `shop_id`", claims.role)));
    }
    let name = claims
        .name
        .map(|n| n.trim().chars().take(200).collect::<String>())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| sub.to_owned());
    Ok(Viewer { sub: sub.to_owned(), role, shop_id: if role.is_merchant() { shop_id } else { None }, name })
}

/// Why the claims are not smallpay's, naming the claim when one is malformed.
pub(super) fn claims_reason(err: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let reason = json_reason(err.inner());
    match err.path().to_string().as_str() {
        "." => format!("claims: {reason}"),
        claim => format!("claims: `{claim}`: {reason}"),
    }
}
