//! Input checks shared by every use case: strings are trimmed, non-blank and length-limited.
use crate::{
    domain::money::Cny,
    error::{AppError, AppResult},
};

/// Trims `value`; refuses it when blank or longer than `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(AppError::bad_input(field, format!("`{field}` must not be blank")));
    }
    if trimmed.chars().count() > max {
        return Err(AppError::bad_input(field, format!("`{field}` must be at most {max} characters")));
    }
    Ok(trimmed.to_owned())
}

/// Like [`text`], for an optional value: blank becomes `None`.
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

/// An identifier: 1..=64 characters, no control characters or spaces inside.
pub fn id(field: &str, value: &str) -> AppResult<String> {
    let v = text(field, value, 64)?;
    if v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(AppError::bad_input(field, format!("`{field}` must not contain spaces or control characters")));
    }
    Ok(v)
}

pub fn positive(field: &str, amount: Cny) -> AppResult<Cny> {
    if amount.is_positive() {
        Ok(amount)
    } else {
        Err(AppError::bad_input(field, format!("`{field}` must be positive")))
    }
}

pub fn non_negative(field: &str, amount: Cny) -> AppResult<Cny> {
    if amount.is_negative() {
        Err(AppError::bad_input(field, format!("`{field}` must not be negative")))
    } else {
        Ok(amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(text("r", "  hi ", 5).unwrap(), "hi");
        assert_eq!(text("r", "   ", 5).unwrap_err().code(), "BAD_USER_INPUT");
        assert!(text("r", "你好你好你好", 5).is_err());
        assert!(text("r", "你好你好你", 5).is_ok());
        assert_eq!(optional_text("n", Some("  "), 5).unwrap(), None);
    }

    #[test]
    fn ids_refuse_inner_spaces() {
        assert!(id("shopId", "shop 1").is_err());
        assert_eq!(id("shopId", " shop-1 ").unwrap(), "shop-1");
    }

    #[test]
    fn sign_checks() {
        assert!(positive("a", Cny::ZERO).is_err());
        assert!(positive("a", Cny::from_fen(1)).is_ok());
        assert!(non_negative("a", Cny::ZERO).is_ok());
        assert!(non_negative("a", Cny::from_fen(-1)).is_err());
    }
}
