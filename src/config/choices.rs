//! The settings that pick one of a few named values: the environment, the payment channel,
//! SQLite's durability, who may register persisted queries, the log format and the forwarded
//! header.
use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Gateway {
    /// In-process channel that reports each transfer right after its commit.
    Simulated,
    /// Results arrive only through `reportTransferResult`.
    Manual,
}

/// SQLite's `synchronous` setting: how much a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqliteSynchronous {
    /// A commit reaches the disk before it is acknowledged: an acknowledged payout survives a
    /// power loss (the default).
    Full,
    /// WAL checkpoints are synced, commits are not: a power loss may lose the last commits
    /// (never corrupts). Faster writes.
    Normal,
}

/// Who may add documents to the persisted-query store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Registration {
    /// Any client, with a token or without.
    Anyone,
    /// Only a request with a valid token: an anonymous client cannot fill the store.
    Authenticated,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; ANSI colours only when stderr is a terminal.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (the message and the
    /// event's fields), `span` (the request's `request_id`, `account`, `operation`, …).
    Json,
}

/// The header a trusted proxy names the client in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (HAProxy's `option forwardfor`, nginx, most
    /// balancers).
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}
