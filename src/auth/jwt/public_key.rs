//! The configured public key (`SMALLPAY_JWT_PUBLIC_KEY`), checked for the algorithm it
//! verifies, and why the configured keys cannot be used (`KeyError`).
use jsonwebtoken::{Algorithm, DecodingKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("SMALLPAY_JWT_JWKS_URL: {0}")]
    Jwks(String),
    #[error("SMALLPAY_JWT_PUBLIC_KEY is neither an RSA nor an EC public key in PEM form")]
    BadPublicKey,
    #[error("cannot read SMALLPAY_JWT_PUBLIC_KEY file {0}: {1}")]
    Unreadable(String, std::io::Error),
    #[error("SMALLPAY_JWT_PUBLIC_KEY is a {0}-bit RSA key; at least 2048 bits are required")]
    ShortRsaKey(usize),
    #[error("SMALLPAY_JWT_PUBLIC_KEY is an EC key on a curve other than P-256 (ES256) or P-384 (ES384)")]
    UnsupportedCurve,
}

/// The algorithm a public key verifies, checked: RSA of at least 2048 bits (RS256), EC on
/// P-256 (ES256) or P-384 (ES384).
pub(super) fn algorithm_of(pem: &str) -> Result<(Algorithm, DecodingKey), KeyError> {
    use p256::pkcs8::DecodePublicKey as _;
    use rsa::traits::PublicKeyParts as _;
    if let Ok(key) = rsa::RsaPublicKey::from_public_key_pem(pem) {
        let bits = key.size() * 8;
        if bits < 2048 {
            return Err(KeyError::ShortRsaKey(bits));
        }
        return DecodingKey::from_rsa_pem(pem.as_bytes())
            .map(|k| (Algorithm::RS256, k))
            .map_err(|_| KeyError::BadPublicKey);
    }
    let algorithm = if p256::PublicKey::from_public_key_pem(pem).is_ok() {
        Algorithm::ES256
    } else if p384::PublicKey::from_public_key_pem(pem).is_ok() {
        Algorithm::ES384
    } else if DecodingKey::from_ec_pem(pem.as_bytes()).is_ok() {
        return Err(KeyError::UnsupportedCurve);
    } else {
        return Err(KeyError::BadPublicKey);
    };
    DecodingKey::from_ec_pem(pem.as_bytes()).map(|k| (algorithm, k)).map_err(|_| KeyError::BadPublicKey)
}
