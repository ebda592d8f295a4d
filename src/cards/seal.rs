//! Sealing submitted account numbers at rest (AES-256-GCM). The key is derived from the JWT
//! secret (or the development secret); the plain number is read only to retry a transfer and
//! never logged or returned.
use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, AeadCore, OsRng},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};

#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    pub fn new(secret: &str) -> Self {
        let key = Sha256::new().chain_update(b"smallpay account seal v1\0").chain_update(secret.as_bytes()).finalize();
        Sealer { cipher: Aes256Gcm::new(&key) }
    }

    pub fn seal(&self, plain: &str) -> AppResult<String> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed =
            self.cipher.encrypt(&nonce, plain.as_bytes()).map_err(|_| AppError::Internal("seal failed".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(STANDARD.encode(bytes))
    }

    pub fn open(&self, sealed: &str) -> AppResult<String> {
        let bytes = STANDARD.decode(sealed).map_err(|_| AppError::Internal("sealed value is not base64".into()))?;
        if bytes.len() < 12 {
            return Err(AppError::Internal("sealed value too short".into()));
        }
        let (nonce, body) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| AppError::Internal("bad nonce".into()))?;
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), body)
            .map_err(|_| AppError::Internal("sealed value does not open with this key".into()))?;
        String::from_utf8(plain).map_err(|_| AppError::Internal("sealed value is not text".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_round_trip_and_hide_the_number() {
        let sealer = Sealer::new("secret");
        let sealed = sealer.seal("6222020000000000008").unwrap();
        assert!(!sealed.contains("6222020000000000008"));
        assert_ne!(sealed, sealer.seal("6222020000000000008").unwrap(), "a fresh nonce each time");
        assert_eq!(sealer.open(&sealed).unwrap(), "6222020000000000008");
        assert!(Sealer::new("other").open(&sealed).is_err());
    }
}
