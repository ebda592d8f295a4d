//! Relay-style cursors over increasing integer ids: a page is "ids below the cursor, highest
//! first" (newest first), so new rows never shift a page a client is walking through.
use async_graphql::SimpleObject;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::error::{AppError, AppResult};

pub const DEFAULT_PAGE: i32 = 20;
pub const MAX_PAGE: i32 = 100;

/// Where a page ends and whether more follow.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct PageInfo {
    /// More items follow this page.
    pub has_next_page: bool,
    /// The last edge's cursor: pass it as `after` for the next page. Null when the page is empty.
    pub end_cursor: Option<String>,
}

/// A validated page request: at most `limit` rows past `after` (an id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u64,
    pub after: Option<i64>,
}

impl PageRequest {
    /// `first` in 0..=100 (default 20); `after` a cursor of the same `kind`.
    pub fn parse(kind: &str, first: Option<i32>, after: Option<&str>) -> AppResult<Self> {
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(0..=MAX_PAGE).contains(&first) {
            return Err(AppError::bad_input("first", format!("`first` must be between 0 and {MAX_PAGE}")));
        }
        let after = after.map(|c| decode_cursor(kind, c)).transpose()?;
        Ok(PageRequest { limit: u64::try_from(first).unwrap_or(0), after })
    }
}

pub fn encode_cursor(kind: &str, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}

pub fn decode_cursor(kind: &str, cursor: &str) -> AppResult<i64> {
    let bad = || AppError::bad_input("after", "not a cursor from this list");
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (k, id) = text.split_once(':').ok_or_else(bad)?;
    if k != kind {
        return Err(bad());
    }
    id.parse().map_err(|_| bad())
}

/// Splits a fetch of `limit + 1` rows into the page and whether more follow.
pub fn split_page<T>(mut rows: Vec<T>, limit: u64) -> (Vec<T>, bool) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    (rows, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_kinds() {
        let c = encode_cursor("order", 42);
        assert_eq!(decode_cursor("order", &c).unwrap(), 42);
        assert!(decode_cursor("payout", &c).is_err());
        assert!(decode_cursor("order", "garbage!").is_err());
    }

    #[test]
    fn first_is_bounded() {
        assert_eq!(PageRequest::parse("o", None, None).unwrap().limit, 20);
        assert_eq!(PageRequest::parse("o", Some(100), None).unwrap().limit, 100);
        assert_eq!(PageRequest::parse("o", Some(0), None).unwrap().limit, 0);
        assert!(PageRequest::parse("o", Some(101), None).is_err());
        assert!(PageRequest::parse("o", Some(-1), None).is_err());
    }

    #[test]
    fn split_page_reports_more() {
        assert_eq!(split_page(vec![1, 2, 3], 2), (vec![1, 2], true));
        assert_eq!(split_page(vec![1, 2], 2), (vec![1, 2], false));
    }
}
