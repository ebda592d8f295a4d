//! The credentials of an `Authorization` value: `Bearer <token>`, the scheme in any case
//! (RFC 7235 §2.1: `bearer` and `BEARER` are the same scheme), one or more spaces before the
//! token. The one parser for `/graphql`, a socket's `connection_init` and `/metrics`.

/// The token of a `Bearer` credential; `None` for another scheme or an empty token.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_scheme_is_case_insensitive_and_nothing_else_is_a_bearer_token() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("Bearer abc.def.ghi", Some("abc.def.ghi"), "the usual spelling"),
            ("bearer abc", Some("abc"), "lower case"),
            ("BEARER abc", Some("abc"), "upper case"),
            ("bEaReR abc", Some("abc"), "mixed case"),
            ("Bearer    abc  ", Some("abc"), "several spaces, trailing space"),
            ("Basic abc", None, "another scheme"),
            ("Bearerabc", None, "no space after the scheme"),
            ("Bearerx abc", None, "a longer scheme"),
            ("Bearer", None, "the scheme alone"),
            ("Bearer   ", None, "no token"),
            ("abc.def.ghi", None, "a bare token"),
            ("", None, "empty"),
        ];
        for (value, expected, case) in cases {
            assert_eq!(bearer_token(value), *expected, "{case}: {value:?}");
        }
    }
}
