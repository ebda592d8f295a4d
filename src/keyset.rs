//! Keyset pages over a list ordered by an integer key (an id), both ways: a forward page is
//! the first `n` items after a cursor, a backward page the last `n` before one. Neither uses
//! `OFFSET`: each is one indexed range read of `n + 1` rows, so rows added while a client walks
//! the list never shift a page.
//!
//! The flag of the side a page was not walked from (`hasPreviousPage` going forward,
//! `hasNextPage` going backward) is whether the list has an item at or beyond the cursor on
//! that side — one `LIMIT 1` probe, run only when the caller asks for it. Without a cursor the
//! page starts at the list's end it was walked from, and the flag is false.
//!
//! A list whose filter is a range ([`Keyset::sorting_matches`]: no index gives its matches in
//! key order) reads a page's keys first and its rows second, in one statement (`… WHERE key IN
//! (SELECT key FROM (SELECT key … WHERE filter OFFSET 0) ORDER BY key LIMIT n + 1) ORDER BY key`):
//! the database sorts the matching keys from the range's index alone and reads only the page's
//! rows, instead of reading and sorting every matching row (SQLite), or walking the primary key
//! backwards testing each row (PostgreSQL's plan: it estimates the matches spread evenly over
//! the ids — wrong for a range of dates, whose matches are one run of ids: 46,000 rows read for
//! a week in the middle of 100,000 payouts). The `OFFSET 0` keeps PostgreSQL from merging the
//! two steps (BENCHMARKS.md, 2026-12-06: the history's week filter 2–3× the pages per second on
//! both databases). Other lists walk the key's index (their filter's index gives the key order).
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Select,
    sea_query::{Alias, Query, SimpleExpr},
};

use crate::error::AppResult;

/// What a client asked for (validated: see `graphql::pagination`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageRequest {
    /// The first `first` items after the key `after` (from the list's start without one).
    Forward { first: u64, after: Option<i64> },
    /// The last `last` items before the key `before` (up to the list's end without one).
    Backward { last: u64, before: Option<i64> },
}

impl PageRequest {
    pub fn forward(first: u64, after: Option<i64>) -> Self {
        PageRequest::Forward { first, after }
    }

    pub fn is_forward(&self) -> bool {
        matches!(self, PageRequest::Forward { .. })
    }
}

/// Which way a list runs over its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOrder {
    /// Oldest first (ids rising).
    Ascending,
    /// Newest first (ids falling).
    Descending,
}

/// The key column of a list and the way the list runs over it.
#[derive(Debug, Clone, Copy)]
pub struct Keyset<C> {
    pub key: C,
    pub order: ListOrder,
    /// Read every matching key and sort them, rather than walk the key's index.
    pub sort_matches: bool,
}

/// A page's rows in list order, and whether the list goes on before and after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<M> {
    pub rows: Vec<M>,
    pub has_previous_page: bool,
    pub has_next_page: bool,
}

impl<C: ColumnTrait + Copy> Keyset<C> {
    pub fn new(key: C, order: ListOrder) -> Self {
        Keyset { key, order, sort_matches: false }
    }

    /// For a list whose filter is a range, which no index gives in key order: its matching
    /// keys are read in full (from the range's index) and sorted, not found by walking the
    /// key's index.
    pub fn sorting_matches(self, yes: bool) -> Self {
        Keyset { sort_matches: yes, ..self }
    }

    /// Keys strictly past `cursor` in list order.
    fn past(&self, cursor: i64) -> SimpleExpr {
        match self.order {
            ListOrder::Ascending => self.key.gt(cursor),
            ListOrder::Descending => self.key.lt(cursor),
        }
    }

    /// Keys strictly before `cursor` in list order.
    fn ahead_of(&self, cursor: i64) -> SimpleExpr {
        match self.order {
            ListOrder::Ascending => self.key.lt(cursor),
            ListOrder::Descending => self.key.gt(cursor),
        }
    }

    /// The cursor's key and those before it.
    fn not_past(&self, cursor: i64) -> SimpleExpr {
        match self.order {
            ListOrder::Ascending => self.key.lte(cursor),
            ListOrder::Descending => self.key.gte(cursor),
        }
    }

    /// The cursor's key and those past it.
    fn not_ahead_of(&self, cursor: i64) -> SimpleExpr {
        match self.order {
            ListOrder::Ascending => self.key.gte(cursor),
            ListOrder::Descending => self.key.lte(cursor),
        }
    }

    fn list_order(&self) -> Order {
        match self.order {
            ListOrder::Ascending => Order::Asc,
            ListOrder::Descending => Order::Desc,
        }
    }

    fn reverse_order(&self) -> Order {
        match self.order {
            ListOrder::Ascending => Order::Desc,
            ListOrder::Descending => Order::Asc,
        }
    }

    /// The page of `list` (unordered: the filters only) that `request` asks for. `probe`:
    /// also find out whether the list goes on on the side the page was not walked from
    /// (otherwise that flag is false).
    pub async fn page<E>(
        &self,
        db: &impl ConnectionTrait,
        list: Select<E>,
        request: PageRequest,
        probe: bool,
    ) -> AppResult<Page<E::Model>>
    where
        E: EntityTrait<Column = C>,
    {
        match request {
            PageRequest::Forward { first, after } => {
                let mut q = list.clone();
                if let Some(after) = after {
                    q = q.filter(self.past(after));
                }
                let mut rows = self.rows(db, q, self.list_order(), first.saturating_add(1)).await?;
                let has_next_page = truncate(&mut rows, first);
                let has_previous_page = match after {
                    // The cursor's own item, or any before it.
                    Some(after) if probe => self.exists(db, list.filter(self.not_past(after))).await?,
                    _ => false,
                };
                Ok(Page { rows, has_previous_page, has_next_page })
            }
            PageRequest::Backward { last, before } => {
                let mut q = list.clone();
                if let Some(before) = before {
                    q = q.filter(self.ahead_of(before));
                }
                let mut rows = self.rows(db, q, self.reverse_order(), last.saturating_add(1)).await?;
                let has_previous_page = truncate(&mut rows, last);
                rows.reverse();
                let has_next_page = match before {
                    Some(before) if probe => self.exists(db, list.filter(self.not_ahead_of(before))).await?,
                    _ => false,
                };
                Ok(Page { rows, has_previous_page, has_next_page })
            }
        }
    }

    /// The first `limit` rows of `q` in `order` of the key (the matching keys sorted first when
    /// [`Keyset::sort_matches`]).
    async fn rows<E>(
        &self,
        db: &impl ConnectionTrait,
        q: Select<E>,
        order: Order,
        limit: u64,
    ) -> AppResult<Vec<E::Model>>
    where
        E: EntityTrait<Column = C>,
    {
        if !self.sort_matches {
            return Ok(q.order_by(self.key, order).limit(limit).all(db).await?);
        }
        let mut matches = q.select_only().column(self.key).into_query();
        if db.get_database_backend() == DbBackend::Postgres {
            matches.offset(0);
        }
        let key = Alias::new(self.key.as_str());
        let keys = Query::select()
            .column(key.clone())
            .from_subquery(matches, Alias::new("matches"))
            .order_by(key, order.clone())
            .limit(limit)
            .to_owned();
        Ok(E::find().filter(self.key.in_subquery(keys)).order_by(self.key, order).all(db).await?)
    }

    /// Whether `q` selects any row: its first key, `LIMIT 1`.
    async fn exists<E>(&self, db: &impl ConnectionTrait, q: Select<E>) -> AppResult<bool>
    where
        E: EntityTrait<Column = C>,
    {
        let row: Option<i64> = q.select_only().column(self.key).limit(1).into_tuple().one(db).await?;
        Ok(row.is_some())
    }
}

/// Keeps the first `limit` of `limit + 1` fetched rows; true when there was one more.
fn truncate<T>(rows: &mut Vec<T>, limit: u64) -> bool {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    more
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_reports_one_more() {
        let mut rows = vec![1, 2, 3];
        assert!(truncate(&mut rows, 2));
        assert_eq!(rows, vec![1, 2]);
        assert!(!truncate(&mut rows, 2));
        let mut none: Vec<i32> = vec![1];
        assert!(truncate(&mut none, 0), "a page of 0 still tells whether items follow");
        assert!(none.is_empty());
    }
}
