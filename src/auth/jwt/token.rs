//! A compact token's parts read before (or beside) jsonwebtoken: its header's own refusals
//! (a member named twice, `crit`), its `alg` to name `none`, and serde's reasons without
//! their positions.
use crate::auth::unique_json;

pub(super) fn json_reason(err: &serde_json::Error) -> String {
    // serde's messages name the field ("unknown field `x`", "missing field `role`"); drop the
    // position suffix.
    let text = err.to_string();
    text.split(" at line ").next().unwrap_or("malformed").to_owned()
}

/// One base64url part of a compact token (0 the header, 1 the claims), decoded.
pub(super) fn token_part(token: &str, index: usize) -> Option<Vec<u8>> {
    use base64::Engine;
    let part = token.split('.').nth(index)?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()
}

/// The header's own refusals, before anything in it is used: a member named twice (which
/// `alg` or `kid` would be read?), and `crit` (RFC 7515 §4.1.11: the extensions it lists must
/// be understood, or the token refused — smallpay implements none, not even `b64`, RFC 7797).
/// A header that is not JSON at all is left to jsonwebtoken, which says so.
pub(super) fn check_header(token: &str) -> Result<(), String> {
    let Some(bytes) = token_part(token, 0) else { return Ok(()) };
    let header = match unique_json::parse(&bytes) {
        Ok(header) => header,
        Err(e) if e.is_data() => return Err(format!("header: {}", json_reason(&e))),
        Err(_) => return Ok(()),
    };
    let Some(crit) = header.get("crit") else { return Ok(()) };
    let names: Option<Vec<&str>> =
        crit.as_array().and_then(|list| list.iter().map(serde_json::Value::as_str).collect());
    Err(match names {
        Some(names) if !names.is_empty() => format!(
            "its header marks {} as critical (crit): an extension this server does not understand",
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        ),
        _ => "its header's `crit` is not a list of extension names".to_owned(),
    })
}

/// The `alg` of a token's header, read leniently (to name `none` when refusing it).
pub(super) fn header_alg(token: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(&token_part(token, 0)?).ok()?;
    value.get("alg")?.as_str().map(str::to_owned)
}
