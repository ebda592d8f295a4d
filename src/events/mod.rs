//! Live events. Every payout transition is an event (its id is `PayoutTransition.id`): the
//! transitions table is the outbox, written in the transaction of the change. Event ids are in
//! commit order — on SQLite because writers hold the database's write lock from their first
//! statement (`BEGIN IMMEDIATE`), on PostgreSQL because a transaction takes a transaction-level
//! advisory lock just before it inserts a transition and keeps it until it commits — so a
//! reader that asks for `id > last` never skips an event a slower transaction is still writing.
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
