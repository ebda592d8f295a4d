//! Settings that must never run together: `Config::validate`, which refuses them before
//! anything starts.
use std::time::Duration;

use super::{Config, ConfigError, DEV_JWT_SECRET, DEV_SEAL_KEY, ExposeSecret, parse::exposed};

impl Config {
    /// Refuses settings that must never run together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_jwks()?;
        if self.is_production() {
            if self.verifies_with_shared_secret() && exposed(&self.jwt_secret).is_none_or(|s| s == DEV_JWT_SECRET) {
                return Err(ConfigError::DevSecretInProduction);
            }
            if self.test_clock {
                return Err(ConfigError::TestClockInProduction);
            }
            if exposed(&self.seal_key).is_none_or(|k| k == DEV_SEAL_KEY) {
                return Err(ConfigError::NoSealKeyInProduction);
            }
        } else if !self.bind.ip().is_loopback() && !self.dev_public_bind {
            return Err(ConfigError::PublicBindInDevelopment);
        }
        if exposed(&self.seal_key).is_some_and(|k| k.len() < 32) {
            return Err(ConfigError::ShortSealKey);
        }
        if exposed(&self.jwt_secret).is_some_and(|s| s.len() < 32) {
            return Err(ConfigError::ShortSecret);
        }
        let postgres = |url: &str| url.starts_with("postgres://") || url.starts_with("postgresql://");
        if exposed(&self.database_replica_url)
            .is_some_and(|replica| !postgres(replica) || !postgres(self.database_url.expose_secret()))
        {
            return Err(ConfigError::ReplicaNeedsPostgres);
        }
        Ok(())
    }

    /// An HS256 secret verifies tokens (neither a public key nor a JWKS is configured).
    pub fn verifies_with_shared_secret(&self) -> bool {
        self.jwt_public_key.is_none() && self.jwt_jwks_url.is_none()
    }

    /// A JWKS URL alone (no secret, no public key), http(s); in production https, or http
    /// to the same machine only (a key set read in clear text could be swapped in transit).
    fn validate_jwks(&self) -> Result<(), ConfigError> {
        let Some(url) = &self.jwt_jwks_url else {
            return Ok(());
        };
        if self.jwt_public_key.is_some() || self.jwt_secret.is_some() {
            return Err(ConfigError::JwksWithOtherKey);
        }
        if self.jwt_jwks_min_interval < Duration::from_secs(1) {
            return Err(ConfigError::ShortJwksInterval);
        }
        let bad = |why: &str| Err(ConfigError::BadJwksUrl(format!("`{url}` {why}")));
        let Ok(parsed) = url.parse::<hyper::Uri>() else {
            return bad("is not a URL");
        };
        let Some(host) = parsed.host().map(|h| h.trim_matches(['[', ']'])) else {
            return bad("is not an http(s) URL");
        };
        match parsed.scheme_str().unwrap_or_default() {
            "https" => Ok(()),
            "http" if !self.is_production() => Ok(()),
            "http" => {
                let loopback = host.eq_ignore_ascii_case("localhost")
                    || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
                if loopback { Ok(()) } else { bad("must be https in production (http only to localhost)") }
            }
            _ => bad("is not an http(s) URL"),
        }
    }
}
