//! How a setting's text becomes its value (durations, flags, addresses, secrets), and a
//! secret's text back.
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};

/// A secret's text, where one is set.
pub fn exposed(secret: &Option<SecretString>) -> Option<&str> {
    secret.as_ref().map(|s| s.expose_secret())
}

/// A secret setting: kept as a [`SecretString`], which `Debug` prints as `[REDACTED]`.
pub(super) fn secret(s: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(s))
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("not a duration like `7d` or `1h`: {e}"))
}

/// A CIDR (`10.0.0.0/8`) or a single address (`192.0.2.7`, `::1`).
pub fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{s}` is not an address or a CIDR like 10.0.0.0/8"))
}

pub fn parse_flag(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" | "" => Ok(false),
        other => Err(format!("`{other}` is not 1/0, true/false, on/off")),
    }
}
