//! JWT verification: one configured algorithm (HS256 by default, RS256/ES256/ES384 with a
//! public key), or an identity provider's key set (JWKS, see [`super::jwks`]) where each key
//! has its own; required `iss`/`aud`/`exp`/`sub`, `nbf` honoured, `iat` not in the future, 60 s
//! leeway. A header or claims set that names a member twice is refused (see
//! [`super::unique_json`]), and so is a header with `crit`. Every refusal says why.
//!
//! This file is the keys and the verification; `claims` the claims and the viewer they make,
//! `token` what is read of a token beside jsonwebtoken, `public_key` the configured public
//! key's checks.
use std::sync::Arc;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};

use super::{
    jwks::{JwksCache, Lookup, Timing},
    unique_json,
    viewer::{Role, Viewer},
};
use crate::{config::Config, error::AppError};

mod claims;
mod public_key;
mod token;

pub use claims::Claims;
use claims::{claims_reason, viewer_from_claims};
pub use public_key::KeyError;
use public_key::algorithm_of;
use token::{check_header, header_alg, json_reason, token_part};

pub const LEEWAY_SECONDS: u64 = 60;

#[derive(Clone)]
pub struct JwtKeys {
    /// The algorithm of the shared secret or public key (and of `sign`). With a JWKS each key
    /// has its own; this is RS256 then, nominally.
    algorithm: Algorithm,
    verifier: Verifier,
    /// Present with a shared secret only: the service can mint development tokens.
    encoding: Option<EncodingKey>,
    issuer: String,
    audience: String,
    /// The longest a token may live from now (`exp` further away is refused).
    max_lifetime: i64,
    /// Where an identity provider put `role`, `shop_id` and `name`, if not at the top level.
    claims_namespace: Option<String>,
}

/// What verifies a token's signature.
#[derive(Clone)]
enum Verifier {
    /// A shared secret or a public key, for `algorithm` only.
    Fixed(DecodingKey),
    /// The identity provider's key set: the key the token's `kid` names.
    Jwks(Arc<JwksCache>),
}

impl JwtKeys {
    pub fn from_config(config: &Config) -> Result<Self, KeyError> {
        let issuer = config.jwt_issuer.clone();
        let audience = config.jwt_audience.clone();
        let max_lifetime = i64::try_from(config.jwt_max_lifetime.as_secs()).unwrap_or(i64::MAX);
        let claims_namespace = config.jwt_claims_namespace.clone();
        if let Some(url) = &config.jwt_jwks_url {
            let timing = Timing { refresh: config.jwt_jwks_refresh, min_interval: config.jwt_jwks_min_interval };
            let cache = JwksCache::new(url, timing).map_err(KeyError::Jwks)?;
            return Ok(JwtKeys {
                algorithm: Algorithm::RS256,
                verifier: Verifier::Jwks(Arc::new(cache)),
                encoding: None,
                issuer,
                audience,
                max_lifetime,
                claims_namespace,
            });
        }
        if let Some(pem) = &config.jwt_public_key {
            let pem = if pem.trim_start().starts_with("-----BEGIN") {
                pem.clone()
            } else {
                std::fs::read_to_string(pem).map_err(|e| KeyError::Unreadable(pem.clone(), e))?
            };
            let (algorithm, decoding) = algorithm_of(&pem)?;
            return Ok(JwtKeys {
                algorithm,
                verifier: Verifier::Fixed(decoding),
                encoding: None,
                issuer,
                audience,
                max_lifetime,
                claims_namespace,
            });
        }
        let secret = config.jwt_secret_or_dev().as_bytes();
        Ok(JwtKeys {
            algorithm: Algorithm::HS256,
            verifier: Verifier::Fixed(DecodingKey::from_secret(secret)),
            encoding: Some(EncodingKey::from_secret(secret)),
            issuer,
            audience,
            max_lifetime,
            claims_namespace,
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The identity provider's key set, when tokens are verified with one.
    pub fn jwks(&self) -> Option<&Arc<JwksCache>> {
        match &self.verifier {
            Verifier::Jwks(cache) => Some(cache),
            Verifier::Fixed(_) => None,
        }
    }

    /// With a JWKS: fetches the first key set (start-up fails when it cannot be had, or holds
    /// no usable key). Nothing to do with a secret or a public key.
    pub async fn fetch_key_set(&self) -> Result<(), KeyError> {
        if let Some(cache) = self.jwks() {
            let keys = cache.refresh_now().await.map_err(|e| KeyError::Jwks(e.to_string()))?;
            tracing::info!(url = %cache.url(), keys, "JWKS: key set loaded");
        }
        Ok(())
    }

    /// Verifies a token and builds the viewer it names.
    pub fn verify(&self, token: &str) -> Result<Viewer, AppError> {
        self.verify_with_expiry(token).map(|(viewer, _)| viewer)
    }

    /// Like [`JwtKeys::verify`], also answering the token's `exp` (seconds since the epoch).
    pub fn verify_with_expiry(&self, token: &str) -> Result<(Viewer, i64), AppError> {
        let refuse = |why: &str| AppError::Unauthenticated(format!("invalid token: {why}"));
        check_header(token).map_err(|why| refuse(&why))?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            if header_alg(token).is_some_and(|alg| alg.eq_ignore_ascii_case("none")) {
                refuse("unsigned tokens (alg none) are refused")
            } else {
                refuse("not a well-formed JWT")
            }
        })?;
        let from_set;
        let (algorithms, decoding) = match &self.verifier {
            Verifier::Fixed(decoding) => (std::slice::from_ref(&self.algorithm), decoding),
            Verifier::Jwks(cache) => {
                // Never an HMAC: the set's public keys must not become shared secrets.
                if !is_asymmetric(header.alg) {
                    return Err(refuse(&format!(
                        "algorithm {:?} is not accepted: tokens are verified with the identity provider's public keys",
                        header.alg
                    )));
                }
                from_set = cache.find(header.kid.as_deref()).map_err(|lookup| match lookup {
                    Lookup::Unknown => refuse(
                        "its signing key (kid) is not in the identity provider's key set (the set is fetched again shortly)",
                    ),
                    Lookup::Unusable(why) => refuse(&why),
                })?;
                (from_set.algorithms.as_slice(), &from_set.decoding)
            }
        };
        if !algorithms.contains(&header.alg) {
            let expected: Vec<String> = algorithms.iter().map(|a| format!("{a:?}")).collect();
            return Err(refuse(&format!(
                "algorithm {:?} is not accepted; expected {}",
                header.alg,
                expected.join(" or ")
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Read here, where a member named twice is refused, rather than as jsonwebtoken reads
        // them (the last one winning, but for the claims it validates).
        let mut raw = token_part(token, 1).ok_or_else(|| refuse("not a well-formed JWT")).and_then(|bytes| {
            unique_json::parse(&bytes).map_err(|e| refuse(&format!("claims: {}", json_reason(&e))))
        })?;
        // The signature, and the time, issuer and audience claims.
        jsonwebtoken::decode::<serde::de::IgnoredAny>(token, decoding, &validation).map_err(|e| {
            refuse(&match e.kind() {
                ErrorKind::InvalidSignature => "bad signature".to_owned(),
                ErrorKind::ExpiredSignature => "expired (exp)".to_owned(),
                ErrorKind::ImmatureSignature => "not valid yet (nbf)".to_owned(),
                ErrorKind::InvalidIssuer => format!("issuer (iss) must be `{}`", self.issuer),
                ErrorKind::InvalidAudience => format!("audience (aud) must include `{}`", self.audience),
                ErrorKind::MissingRequiredClaim(c) => format!("missing claim `{c}`"),
                ErrorKind::InvalidAlgorithm => "algorithm not accepted".to_owned(),
                ErrorKind::Json(err) => format!("claims: {}", json_reason(err)),
                _ => "not a well-formed JWT".to_owned(),
            })
        })?;
        // An identity provider may put smallpay's claims in a namespace object (as Hasura's
        // `claims_namespace`): its `role`, `shop_id` and `name` are read from there.
        if let Some(inner) = self
            .claims_namespace
            .as_ref()
            .and_then(|namespace| raw.get(namespace))
            .and_then(serde_json::Value::as_object)
            .cloned()
        {
            for claim in ["role", "shop_id", "name"] {
                if let (Some(value), Some(top)) = (inner.get(claim), raw.as_object_mut()) {
                    top.insert(claim.to_owned(), value.clone());
                }
            }
        }
        let claims: Claims = serde_path_to_error::deserialize(raw).map_err(|e| refuse(&claims_reason(&e)))?;
        let exp = claims.exp;
        let now = Utc::now().timestamp();
        if claims.iat.is_some_and(|iat| iat > now.saturating_add(LEEWAY_SECONDS as i64)) {
            return Err(refuse(&format!("issued in the future (iat), beyond the {LEEWAY_SECONDS} s leeway")));
        }
        if exp.saturating_sub(now) > self.max_lifetime.saturating_add(LEEWAY_SECONDS as i64) {
            return Err(refuse(&format!(
                "its lifetime (exp) is longer than the {} s accepted (SMALLPAY_JWT_MAX_LIFETIME)",
                self.max_lifetime
            )));
        }
        Ok((viewer_from_claims(claims)?, exp))
    }

    /// Signs claims with the shared secret (development tokens, tests).
    pub fn sign(&self, claims: &Claims) -> Option<String> {
        let key = self.encoding.as_ref()?;
        jsonwebtoken::encode(&Header::new(self.algorithm), claims, key).ok()
    }

    /// Claims for a token of `role` valid for `ttl` from now (real time).
    pub fn claims(
        &self,
        role: Role,
        shop_id: Option<&str>,
        sub: &str,
        name: Option<&str>,
        ttl: std::time::Duration,
    ) -> Claims {
        let now = Utc::now().timestamp();
        Claims {
            sub: sub.to_owned(),
            role: role.claim().to_owned(),
            shop_id: shop_id.map(str::to_owned),
            name: name.map(str::to_owned),
            iss: self.issuer.clone(),
            aud: serde_json::Value::String(self.audience.clone()),
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            iat: Some(now),
            nbf: None,
        }
    }
}

fn is_asymmetric(algorithm: Algorithm) -> bool {
    !matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::from_config(&Config::defaults()).unwrap()
    }

    #[test]
    fn a_signed_token_round_trips_into_a_viewer() {
        let keys = keys();
        let token =
            keys.sign(&keys.claims(Role::Cs, Some("s1"), "alice", Some("Alice"), Duration::from_secs(60))).unwrap();
        let viewer = keys.verify(&token).unwrap();
        assert_eq!(
            viewer,
            Viewer { sub: "alice".into(), role: Role::Cs, shop_id: Some("s1".into()), name: "Alice".into() }
        );
    }

    #[test]
    fn merchant_roles_need_a_shop_and_roles_must_be_known() {
        let keys = keys();
        let no_shop = keys.sign(&keys.claims(Role::Admin, None, "a", None, Duration::from_secs(60))).unwrap();
        assert!(keys.verify(&no_shop).unwrap_err().message().contains("shop_id"));
        let mut claims = keys.claims(Role::Buyer, None, "b", None, Duration::from_secs(60));
        claims.role = "superuser".into();
        let token = keys.sign(&claims).unwrap();
        assert!(keys.verify(&token).unwrap_err().message().contains("unknown role"));
    }

    #[test]
    fn alg_none_is_named_when_refused() {
        use base64::Engine;
        let enc = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let token = format!(
            "{}.{}.",
            enc(serde_json::json!({"alg": "none", "typ": "JWT"})),
            enc(serde_json::json!({"sub": "x"}))
        );
        let err = keys().verify(&token).unwrap_err();
        assert!(err.message().contains("alg none"), "{err:?}");
    }

    /// A token of raw JSON texts signed with the development secret: members may repeat.
    fn raw(keys: &JwtKeys, header: &str, claims: &str) -> String {
        use base64::Engine;
        let enc = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        let message = format!("{}.{}", enc(header), enc(claims));
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), keys.encoding.as_ref().unwrap(), keys.algorithm);
        format!("{message}.{}", signature.unwrap())
    }

    /// A CS agent's claims as JSON text, `extra` members appended.
    fn cs_claims(keys: &JwtKeys, extra: &str) -> String {
        let claims = keys.claims(Role::Cs, Some("s1"), "cs-1", None, Duration::from_secs(60));
        let text = serde_json::to_string(&claims).unwrap();
        format!("{}{extra}}}", text.strip_suffix('}').unwrap())
    }

    const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    #[test]
    fn a_member_named_twice_refuses_the_token_instead_of_the_last_one_winning() {
        let keys = keys();
        let honest = keys.verify(&raw(&keys, HEADER, &cs_claims(&keys, ""))).unwrap();
        assert_eq!(honest.role, Role::Cs);
        for (case, header, claims, names) in [
            ("a second role", HEADER, cs_claims(&keys, r#","role":"admin""#), "`role`"),
            ("a second shop", HEADER, cs_claims(&keys, r#","shop_id":"s2""#), "`shop_id`"),
            ("a header member twice", r#"{"alg":"HS256","alg":"HS256"}"#, cs_claims(&keys, ""), "`alg`"),
        ] {
            let err = keys.verify(&raw(&keys, header, &claims)).unwrap_err();
            assert!(err.message().contains("more than once") && err.message().contains(names), "{case}: {err:?}");
        }
    }

    #[test]
    fn any_crit_refuses_the_token() {
        let keys = keys();
        for header in [
            r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
            r#"{"alg":"HS256","crit":["x-ext"],"x-ext":1}"#,
            r#"{"alg":"HS256","crit":[]}"#,
            r#"{"alg":"HS256","crit":[1]}"#,
        ] {
            let err = keys.verify(&raw(&keys, header, &cs_claims(&keys, ""))).unwrap_err();
            assert!(err.message().contains("crit"), "{header}: {err:?}");
        }
    }

    #[test]
    fn unread_claims_may_be_of_any_type_and_read_ones_are_named_when_malformed() {
        let keys = keys();
        for extra in [r#","jti":12345"#, r#","jti":{"a":[1]}"#, r#","sid":null"#, r#","auth_time":1.5"#] {
            assert_eq!(keys.verify(&raw(&keys, HEADER, &cs_claims(&keys, extra))).unwrap().role, Role::Cs, "{extra}");
        }
        let mut claims: serde_json::Value = serde_json::from_str(&cs_claims(&keys, "")).unwrap();
        claims["iat"] = serde_json::json!("now");
        let err = keys.verify(&raw(&keys, HEADER, &claims.to_string())).unwrap_err();
        assert!(err.message().contains("`iat`"), "{err:?}");
    }

    #[test]
    fn a_token_issued_in_the_future_is_refused_beyond_the_leeway() {
        let keys = keys();
        let now = Utc::now().timestamp();
        let leeway = LEEWAY_SECONDS as i64;
        let mut claims = keys.claims(Role::Cs, Some("s1"), "cs-1", None, Duration::from_secs(600));
        // The margins (a quarter of the leeway) keep the test apart from the second it runs in.
        for (iat, accepted) in [(now - 3600, true), (now + leeway - 15, true), (now + leeway + 15, false)] {
            claims.iat = Some(iat);
            let verdict = keys.verify(&keys.sign(&claims).unwrap());
            assert_eq!(verdict.is_ok(), accepted, "iat now{:+}: {verdict:?}", iat - now);
            if let Err(err) = verdict {
                assert!(err.message().contains("iat"), "{err:?}");
            }
        }
    }

    #[test]
    fn merchant_tokens_may_not_name_another_kind_of_actor() {
        let keys = keys();
        let token = |role, shop, sub| keys.sign(&keys.claims(role, shop, sub, None, Duration::from_secs(60))).unwrap();
        for sub in ["system", "platform", "buyer:b-1", "SYSTEM"] {
            for role in Role::MERCHANT {
                let err = keys.verify(&token(*role, Some("s1"), sub)).unwrap_err();
                assert!(err.message().contains("reserved"), "{role:?} {sub}: {err:?}");
            }
            // A buyer is shown as `buyer:<sub>` and the platform as `platform`: no clash.
            assert!(keys.verify(&token(Role::Buyer, None, sub)).is_ok(), "buyer {sub}");
            assert!(keys.verify(&token(Role::Platform, None, sub)).is_ok(), "platform {sub}");
        }
    }
}
