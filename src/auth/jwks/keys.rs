//! The keys of a fetched set: which JWKs are usable for verification, the set made of them,
//! and the key a token's header names.
//!
//! A key is usable when it is a signature key (`use` absent or `sig`, `key_ops` absent or with
//! `verify`) of one of these kinds: RSA of 2048 to 4096 bits (RS256/RS384/RS512 when the key
//! names no `alg`, else its `alg`, PS256/384/512 included), EC on P-256 (ES256) or P-384
//! (ES384). Symmetric (`oct`) keys are never taken from a key set (a public URL must not be a
//! source of shared secrets), nor are other kinds. Unusable keys are skipped, and logged once.
use std::{collections::HashMap, sync::Arc};

use base64::Engine as _;
use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse},
};

/// RSA keys smaller than this are skipped.
const MIN_RSA_BITS: usize = 2048;
/// ... and larger than this (the RSA implementation's own limit).
const MAX_RSA_BITS: usize = 4096;

/// A verification key of the set.
pub struct SetKey {
    pub kid: Option<String>,
    /// The algorithms a token signed with this key may name.
    pub algorithms: Vec<Algorithm>,
    pub decoding: DecodingKey,
}

/// One fetched set: its usable keys, and why the others were skipped.
#[derive(Default)]
pub struct KeySet {
    by_kid: HashMap<String, Arc<SetKey>>,
    /// Usable keys without a `kid`.
    unnamed: Vec<Arc<SetKey>>,
    /// `kid` → why that key is not used.
    skipped: HashMap<String, String>,
}

impl KeySet {
    pub fn len(&self) -> usize {
        self.by_kid.len() + self.unnamed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads a JWKS document: a JSON object with a `keys` array. Each key that cannot be used
    /// is skipped with its reason (`skipped`, and in the answer's second part, unnamed ones
    /// included, for the log).
    pub fn parse(body: &[u8]) -> Result<(KeySet, Vec<String>), String> {
        let document: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON ({e})"))?;
        let keys = document
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| "the answer is not a key set (no `keys` array)".to_owned())?;
        let mut set = KeySet::default();
        let mut reasons = Vec::new();
        for raw in keys {
            let kid = raw.get("kid").and_then(serde_json::Value::as_str).map(str::to_owned);
            let usable = serde_json::from_value::<Jwk>(raw.clone())
                .map_err(|e| format!("not a JWK ({e})"))
                .and_then(|jwk| usable_key(&jwk));
            match (usable, kid) {
                (Ok(key), Some(kid)) => {
                    if let std::collections::hash_map::Entry::Vacant(entry) = set.by_kid.entry(kid.clone()) {
                        entry.insert(Arc::new(key));
                    } else {
                        reasons.push(format!("key `{kid}`: a second key with the same kid (the first is used)"));
                    }
                }
                (Ok(key), None) => set.unnamed.push(Arc::new(key)),
                (Err(why), kid) => {
                    reasons.push(format!("key `{}`: {why}", kid.as_deref().unwrap_or("(no kid)")));
                    if let Some(kid) = kid {
                        set.skipped.entry(kid).or_insert(why);
                    }
                }
            }
        }
        // A kid held by a usable key is not reported as skipped.
        set.skipped.retain(|kid, _| !set.by_kid.contains_key(kid));
        Ok((set, reasons))
    }

    /// The key a token's header names.
    pub fn find(&self, kid: Option<&str>) -> Result<Arc<SetKey>, Lookup> {
        match kid {
            Some(kid) => {
                if let Some(key) = self.by_kid.get(kid) {
                    Ok(key.clone())
                } else if let Some(why) = self.skipped.get(kid) {
                    Err(Lookup::Unusable(format!("its signing key `{kid}` is not accepted: {why}")))
                } else {
                    Err(Lookup::Unknown)
                }
            }
            None if self.len() == 1 => {
                self.by_kid.values().chain(self.unnamed.iter()).next().cloned().ok_or(Lookup::Unknown)
            }
            None => Err(Lookup::Unusable(format!(
                "its header names no key id (kid), and the identity provider's key set holds {} keys",
                self.len()
            ))),
        }
    }
}

/// Why no key was found for a token.
#[derive(Debug)]
pub enum Lookup {
    /// The `kid` is not in the set (it may be new: an early fetch is asked for).
    Unknown,
    /// The set cannot verify this token, and fetching it again will not change that.
    Unusable(String),
}

/// What the JWK says it verifies, checked against its kind and size.
fn usable_key(jwk: &Jwk) -> Result<SetKey, String> {
    if let Some(usage) = &jwk.common.public_key_use
        && *usage != PublicKeyUse::Signature
    {
        return Err("not a signature key (`use` is not `sig`)".to_owned());
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err("its `key_ops` do not include `verify`".to_owned());
    }
    let named = match jwk.common.key_algorithm {
        None => None,
        Some(alg) => {
            Some(signature_algorithm(alg).ok_or_else(|| format!("`alg` {alg:?} is not a signature algorithm"))?)
        }
    };
    let algorithms = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let bits = rsa_bits(&rsa.n, &rsa.e)?;
            if bits < MIN_RSA_BITS {
                return Err(format!("a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required"));
            }
            if bits > MAX_RSA_BITS {
                return Err(format!("a {bits}-bit RSA key; at most {MAX_RSA_BITS} bits are supported"));
            }
            match named {
                None => vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
                Some(
                    alg @ (Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512),
                ) => vec![alg],
                Some(alg) => return Err(format!("`alg` {alg:?} does not fit an RSA key")),
            }
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            let algorithm = match ec.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                ref other => return Err(format!("an EC key on {other:?}; P-256 (ES256) or P-384 (ES384) only")),
            };
            if named.is_some_and(|alg| alg != algorithm) {
                return Err(format!("`alg` {named:?} does not fit an EC key on {:?}", ec.curve));
            }
            ec_point_is_valid(&ec.curve, &ec.x, &ec.y)?;
            vec![algorithm]
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err("a symmetric (oct) key: never accepted from a key set".to_owned());
        }
        AlgorithmParameters::OctetKeyPair(_) => return Err("an OKP (EdDSA) key: not supported".to_owned()),
        _ => return Err("an unknown key type (kty)".to_owned()),
    };
    let decoding = DecodingKey::from_jwk(jwk).map_err(|e| format!("malformed ({e})"))?;
    Ok(SetKey { kid: jwk.common.key_id.clone(), algorithms, decoding })
}

/// The asymmetric signature algorithm a JWK's `alg` names, if it names one.
fn signature_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        _ => return None,
    })
}

fn b64(field: &str, value: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| format!("`{field}` is not base64url"))
}

/// The size of an RSA modulus, checked to be a valid public key.
fn rsa_bits(n: &str, e: &str) -> Result<usize, String> {
    use rsa::traits::PublicKeyParts as _;
    let n = rsa::BigUint::from_bytes_be(&b64("n", n)?);
    let e = rsa::BigUint::from_bytes_be(&b64("e", e)?);
    let bits = n.bits();
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Ok(bits);
    }
    let key = rsa::RsaPublicKey::new(n, e).map_err(|e| format!("not a valid RSA public key ({e})"))?;
    Ok(key.n().bits())
}

fn ec_point_is_valid(curve: &EllipticCurve, x: &str, y: &str) -> Result<(), String> {
    let mut point = vec![0x04];
    point.extend(b64("x", x)?);
    point.extend(b64("y", y)?);
    let valid = match curve {
        EllipticCurve::P256 => p256::PublicKey::from_sec1_bytes(&point).is_ok(),
        EllipticCurve::P384 => p384::PublicKey::from_sec1_bytes(&point).is_ok(),
        _ => false,
    };
    if valid { Ok(()) } else { Err("its x/y are not a point of its curve".to_owned()) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rsa_jwk(kid: &str, pem: &str) -> serde_json::Value {
        let key = DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let mut jwk = serde_json::to_value(Jwk::from_decoding_key(&key, Some(Algorithm::RS256)).unwrap()).unwrap();
        jwk["kid"] = json!(kid);
        jwk
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn unusable_keys_are_skipped_with_their_reason() {
        let good = rsa_jwk("good", &fixture("rsa_public.pem"));
        let short = rsa_jwk("short", &fixture("rsa1024_public.pem"));
        let mut enc = good.clone();
        enc["kid"] = json!("enc");
        enc["use"] = json!("enc");
        let mut confused = good.clone();
        confused["kid"] = json!("confused");
        confused["alg"] = json!("HS256");
        let body = json!({ "keys": [
            good, short, enc, confused,
            { "kty": "oct", "kid": "secret", "k": "c2VjcmV0" },
            { "kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA" },
            { "kty": "whatever", "kid": "odd" },
        ]});
        let (set, reasons) = KeySet::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 1, "{reasons:?}");
        assert!(set.find(Some("good")).is_ok());
        assert!(set.find(None).is_ok(), "a token without kid: the only key");
        for (kid, says) in [
            ("short", "1024-bit"),
            ("enc", "signature"),
            ("confused", "signature algorithm"),
            ("secret", "symmetric"),
            ("p521", "P-256"),
            ("odd", "kty"),
        ] {
            match set.find(Some(kid)) {
                Err(Lookup::Unusable(why)) => assert!(why.contains(says), "{kid}: {why}"),
                other => panic!("{kid}: {:?}", other.map(|_| ())),
            }
        }
        assert!(matches!(set.find(Some("new")), Err(Lookup::Unknown)));
        assert!(KeySet::parse(b"{\"keys\": 3}").is_err());
        assert!(KeySet::parse(b"<html>").is_err());
    }
}
