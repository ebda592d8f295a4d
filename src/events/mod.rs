//! Live events. Every payout transition is an event (its id is `PayoutTransition.id`): the
//! transitions table is the outbox, written in the transaction of the change. Each shop's
//! events are delivered in commit order, and a publisher never skips an event a slower
//! transaction is still writing:
//! - on SQLite writers hold the database's write lock from their first statement (`BEGIN
//!   IMMEDIATE`): ids are in commit order, and the publisher reads `id > last`;
//! - on PostgreSQL a transaction that may record a shop's transition takes that shop's
//!   advisory lock as its first statement (`db::begin_shop_write`), so one shop's writers get
//!   their transaction ids, event ids and commits in one order; the publisher reads in
//!   `(transaction id, event id)` order and only events of transactions older than the
//!   oldest one still running (`pg_snapshot_xmin`) — they can no longer change. Writers of
//!   different shops never wait for each other; a long transaction delays delivery (never
//!   loses an event) until it ends.
//!
//! One publisher per process reads new events and fans them out to its subscribers (a
//! bounded broadcast channel). PostgreSQL wakes it with `NOTIFY smallpay_events` (sent at
//! commit, empty payload); it also polls, so a missed notification delays an event, never
//! loses it. Any number of `smallpay serve` processes can share a database.
pub mod bus;
pub mod graphql;
pub mod publisher;
pub mod repo;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "smallpay_events";
