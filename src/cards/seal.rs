//! Sealing submitted account numbers at rest (AES-256-GCM). The key is its own secret,
//! `SMALLPAY_SEAL_KEY` (required in production; a development key otherwise) — never derived
//! from the JWT material, which may be a public key. Each sealed value carries the id of its
//! key (`<key id>:<base64>`), so keys can rotate: the current key seals, any listed old key
//! still opens. The plain number is read only to retry a transfer and never logged or returned.
use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, AeadCore, OsRng},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};

struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl Key {
    fn derive(secret: &str, context: &[u8]) -> Aes256Gcm {
        let key = Sha256::new().chain_update(context).chain_update(secret.as_bytes()).finalize();
        Aes256Gcm::new(&key)
    }

    fn new(secret: &str) -> Key {
        let digest = Sha256::new().chain_update(b"smallpay seal key id\0").chain_update(secret.as_bytes()).finalize();
        let id = hex::encode(&digest[..4]);
        Key { id, cipher: Key::derive(secret, b"smallpay account seal v2\0") }
    }
}

#[derive(Clone)]
pub struct Sealer {
    keys: std::sync::Arc<Vec<Key>>,
    /// Opens values sealed before key ids existed (keyed from the HS256 secret then).
    legacy: Option<Aes256Gcm>,
}

impl Sealer {
    /// Seals with `current`; opens with it and with each of `old`. `legacy_secret` opens
    /// values sealed before keys had ids.
    pub fn new(current: &str, old: &[&str], legacy_secret: Option<&str>) -> Self {
        let keys = std::iter::once(current).chain(old.iter().copied()).map(Key::new).collect();
        let legacy = legacy_secret.map(|s| Key::derive(s, b"smallpay account seal v1\0"));
        Sealer { keys: std::sync::Arc::new(keys), legacy }
    }

    /// The id of the key new values are sealed with.
    pub fn key_id(&self) -> &str {
        self.keys.first().map_or("", |k| k.id.as_str())
    }

    pub fn seal(&self, plain: &str) -> AppResult<String> {
        let key = self.keys.first().ok_or_else(|| AppError::Internal("no seal key".into()))?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed =
            key.cipher.encrypt(&nonce, plain.as_bytes()).map_err(|_| AppError::Internal("seal failed".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(format!("{}:{}", key.id, STANDARD.encode(bytes)))
    }

    pub fn open(&self, sealed: &str) -> AppResult<String> {
        let (cipher, body) = match sealed.split_once(':') {
            Some((id, body)) => {
                let key = self.keys.iter().find(|k| k.id == id).ok_or_else(|| {
                    AppError::Internal(format!(
                        "sealed with key {id}, which is not configured (SMALLPAY_SEAL_OLD_KEYS)"
                    ))
                })?;
                (&key.cipher, body)
            }
            None => (self.legacy.as_ref().ok_or_else(|| AppError::Internal("a legacy sealed value".into()))?, sealed),
        };
        let bytes = STANDARD.decode(body).map_err(|_| AppError::Internal("sealed value is not base64".into()))?;
        if bytes.len() < 12 {
            return Err(AppError::Internal("sealed value too short".into()));
        }
        let (nonce, body) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| AppError::Internal("bad nonce".into()))?;
        let plain = cipher
            .decrypt(&Nonce::from(nonce), body)
            .map_err(|_| AppError::Internal("sealed value does not open with its key".into()))?;
        String::from_utf8(plain).map_err(|_| AppError::Internal("sealed value is not text".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_round_trip_and_hide_the_number() {
        let sealer = Sealer::new("secret", &[], None);
        let sealed = sealer.seal("6222020000000000008").unwrap();
        assert!(!sealed.contains("6222020000000000008"));
        assert!(sealed.starts_with(&format!("{}:", sealer.key_id())));
        assert_ne!(sealed, sealer.seal("6222020000000000008").unwrap(), "a fresh nonce each time");
        assert_eq!(sealer.open(&sealed).unwrap(), "6222020000000000008");
        assert!(Sealer::new("other", &[], None).open(&sealed).is_err());
    }

    #[test]
    fn keys_rotate() {
        let before = Sealer::new("key-2025", &[], None).seal("13800138000").unwrap();
        let rotated = Sealer::new("key-2026", &["key-2025"], None);
        assert_eq!(rotated.open(&before).unwrap(), "13800138000");
        assert!(rotated.seal("13800138000").unwrap().starts_with(&format!("{}:", rotated.key_id())));
        assert!(Sealer::new("key-2026", &[], None).open(&before).is_err(), "a key no longer listed opens nothing");
    }

    #[test]
    fn values_sealed_before_key_ids_still_open() {
        let legacy = Key::derive("hs-secret", b"smallpay account seal v1\0");
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut bytes = nonce.to_vec();
        bytes.extend(legacy.encrypt(&nonce, b"13800138000".as_slice()).unwrap());
        let old = STANDARD.encode(bytes);
        assert_eq!(Sealer::new("new-key", &[], Some("hs-secret")).open(&old).unwrap(), "13800138000");
    }
}
