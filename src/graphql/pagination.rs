//! Relay connections (`async_graphql::connection`) over lists keyed by increasing integer
//! ids, both ways: `first`/`after` walk forward, `last`/`before` backward (see
//! [`crate::keyset`]). New rows never shift a page a client is walking through.
//!
//! The arguments are checked here rather than by `connection::query` so that every refusal is
//! `BAD_USER_INPUT` naming its argument: `first`/`last` in 0..=[`MAX_PAGE`], not both (nor
//! `after` with `last`, `before` with `first`), a cursor of this list's kind. Without `first`
//! or `last` a page holds [`DEFAULT_PAGE`] items (applied here, so the schema shows the
//! contract's plain `first: Int`).
use std::fmt;

use async_graphql::{
    Context, OutputType,
    connection::{
        Connection, CursorType, DefaultConnectionName, DefaultEdgeName, DisableNodesField, Edge, EmptyFields,
    },
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::{
    error::{AppError, AppResult},
    keyset::{Page, PageRequest},
};

pub const DEFAULT_PAGE: i32 = 20;
pub const MAX_PAGE: i32 = 100;

/// A list's connection: `edges`, `pageInfo` and the list's own fields `F` (`totalCount`, …),
/// named after the node (`PayoutConnection`, `PayoutEdge`), without the `nodes` shortcut.
pub type ListConnection<N, F> =
    Connection<Cursor, N, F, EmptyFields, DefaultConnectionName, DefaultEdgeName, DisableNodesField>;

/// What a cursor points into: a cursor of one list is refused by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    /// `orders`.
    Order,
    /// `payouts` and `pendingApprovals` (both keyed by the payout id).
    Payout,
}

impl CursorKind {
    const ALL: [CursorKind; 2] = [CursorKind::Order, CursorKind::Payout];

    fn as_str(self) -> &'static str {
        match self {
            CursorKind::Order => "order",
            CursorKind::Payout => "payout",
        }
    }
}

/// An item's place in its list: `base64url("<kind>:<id>")`, opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub kind: CursorKind,
    pub id: i64,
}

/// A string that is no cursor.
#[derive(Debug)]
pub struct NotACursor;

impl fmt::Display for NotACursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a cursor from this list")
    }
}

impl CursorType for Cursor {
    type Error = NotACursor;

    fn decode_cursor(s: &str) -> Result<Self, NotACursor> {
        let bytes = URL_SAFE_NO_PAD.decode(s.trim()).map_err(|_| NotACursor)?;
        let text = String::from_utf8(bytes).map_err(|_| NotACursor)?;
        let (kind, id) = text.split_once(':').ok_or(NotACursor)?;
        let kind = CursorKind::ALL.into_iter().find(|k| k.as_str() == kind).ok_or(NotACursor)?;
        Ok(Cursor { kind, id: id.parse().map_err(|_| NotACursor)? })
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.kind.as_str(), self.id))
    }
}

/// The id in a cursor of `kind`, given as argument `field`.
fn decode(kind: CursorKind, field: &str, cursor: &str) -> AppResult<i64> {
    match Cursor::decode_cursor(cursor) {
        Ok(c) if c.kind == kind => Ok(c.id),
        _ => Err(AppError::bad_input(field, format!("`{field}` is not a cursor from this list"))),
    }
}

fn size(field: &str, n: i32) -> AppResult<u64> {
    if !(0..=MAX_PAGE).contains(&n) {
        return Err(AppError::bad_input(field, format!("`{field}` must be between 0 and {MAX_PAGE}")));
    }
    Ok(u64::try_from(n).unwrap_or(0))
}

/// A list's paging arguments as the client gave them.
#[derive(Debug, Default, Clone, Copy)]
pub struct PageArgs<'a> {
    pub first: Option<i32>,
    pub after: Option<&'a str>,
    pub last: Option<i32>,
    pub before: Option<&'a str>,
}

impl PageArgs<'_> {
    /// The validated request over a list of cursors of `kind`.
    pub fn parse(self, kind: CursorKind) -> AppResult<PageRequest> {
        let PageArgs { first, after, last, before } = self;
        if first.is_some() && last.is_some() {
            return Err(AppError::bad_input("last", "give `first` or `last`, not both"));
        }
        let backward = last.is_some() || before.is_some();
        if backward && (first.is_some() || after.is_some()) {
            let field = if after.is_some() { "after" } else { "before" };
            return Err(AppError::bad_input(field, "`first`/`after` page forward, `last`/`before` backward: not both"));
        }
        if backward {
            Ok(PageRequest::Backward {
                last: size("last", last.unwrap_or(DEFAULT_PAGE))?,
                before: before.map(|c| decode(kind, "before", c)).transpose()?,
            })
        } else {
            Ok(PageRequest::Forward {
                first: size("first", first.unwrap_or(DEFAULT_PAGE))?,
                after: after.map(|c| decode(kind, "after", c)).transpose()?,
            })
        }
    }
}

/// What a page of up to `first` or `last` items (20 without either) costs in the complexity
/// budget: both directions cost the same.
pub fn cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let size = first.or(last).unwrap_or(DEFAULT_PAGE).max(last.unwrap_or(0)).clamp(0, MAX_PAGE);
    5 + usize::try_from(size).unwrap_or(0) * child_complexity
}

/// Whether the query reads the flag of the side `request` was not walked from
/// (`pageInfo.hasPreviousPage` going forward, `hasNextPage` going backward): only then is it
/// worked out (a `LIMIT 1` probe).
pub fn wants_far_side(ctx: &Context<'_>, request: PageRequest) -> bool {
    let flag = if request.is_forward() { "hasPreviousPage" } else { "hasNextPage" };
    ctx.look_ahead().field("pageInfo").field(flag).exists()
}

/// The connection of a page: an edge per row, its cursor of `kind` from the row's id.
pub fn connection<M, N: OutputType, F: async_graphql::ObjectType>(
    page: Page<M>,
    kind: CursorKind,
    id: impl Fn(&M) -> i64,
    node: impl Fn(M) -> N,
    fields: F,
) -> ListConnection<N, F> {
    let mut c = ListConnection::with_additional_fields(page.has_previous_page, page.has_next_page, fields);
    c.edges = page.rows.into_iter().map(|m| Edge::new(Cursor { kind, id: id(&m) }, node(m))).collect();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(first: Option<i32>, after: Option<&str>) -> AppResult<PageRequest> {
        PageArgs { first, after, ..Default::default() }.parse(CursorKind::Order)
    }

    fn backward(last: Option<i32>, before: Option<&str>) -> AppResult<PageRequest> {
        PageArgs { last, before, ..Default::default() }.parse(CursorKind::Order)
    }

    #[test]
    fn cursors_round_trip_and_refuse_other_kinds() {
        let c = Cursor { kind: CursorKind::Order, id: 42 }.encode_cursor();
        assert_eq!(c, URL_SAFE_NO_PAD.encode("order:42"), "the cursors clients already hold stay valid");
        assert_eq!(decode(CursorKind::Order, "after", &c).unwrap(), 42);
        assert!(decode(CursorKind::Payout, "after", &c).is_err());
        assert!(decode(CursorKind::Order, "after", "garbage!").is_err());
        assert!(decode(CursorKind::Order, "after", &URL_SAFE_NO_PAD.encode("order:x")).is_err());
    }

    #[test]
    fn sizes_are_bounded_and_default_forward() {
        assert_eq!(PageArgs::default().parse(CursorKind::Order).unwrap(), PageRequest::forward(20, None));
        assert_eq!(forward(Some(100), None).unwrap(), PageRequest::forward(100, None));
        assert_eq!(forward(Some(0), None).unwrap(), PageRequest::forward(0, None));
        assert!(forward(Some(101), None).is_err());
        assert!(forward(Some(-1), None).is_err());
        assert_eq!(backward(Some(5), None).unwrap(), PageRequest::Backward { last: 5, before: None });
        assert_eq!(backward(None, None).unwrap(), PageRequest::forward(20, None));
        assert!(backward(Some(101), None).is_err());
        assert!(backward(Some(-1), None).is_err());
    }

    #[test]
    fn directions_do_not_mix() {
        let c = Cursor { kind: CursorKind::Order, id: 7 }.encode_cursor();
        let before = PageArgs { before: Some(&c), ..Default::default() }.parse(CursorKind::Order).unwrap();
        assert_eq!(before, PageRequest::Backward { last: 20, before: Some(7) }, "before alone pages backward");
        for (args, what) in [
            (PageArgs { first: Some(1), last: Some(1), ..Default::default() }, "first and last"),
            (PageArgs { first: Some(1), before: Some(&c), ..Default::default() }, "first and before"),
            (PageArgs { last: Some(1), after: Some(&c), ..Default::default() }, "last and after"),
            (PageArgs { after: Some(&c), before: Some(&c), ..Default::default() }, "after and before"),
        ] {
            assert!(args.parse(CursorKind::Order).is_err(), "{what}");
        }
    }

    #[test]
    fn a_page_costs_its_size_either_way() {
        assert_eq!(cost(Some(10), None, 3), cost(None, Some(10), 3));
        assert_eq!(cost(None, None, 3), 5 + 20 * 3);
        assert_eq!(cost(Some(1), Some(100), 1), 105, "the larger when both are given (refused anyway)");
        assert_eq!(cost(Some(1000), None, 1), 105);
    }
}
