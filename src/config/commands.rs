//! The subcommands (`serve`, `migrate`, `token`, …) and their arguments.
use std::time::Duration;

use clap::{Args, Subcommand};

use super::parse::parse_duration;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, start the HTTP server and the background jobs (the default).
    Serve {
        /// Do not load demo data into an empty development database.
        #[arg(long)]
        no_demo: bool,
    },
    /// Apply pending migrations and exit.
    Migrate,
    /// Print a signed JWT for development and scripts, with the configured secret.
    Token(TokenArgs),
    /// Load the demo shops, staff and orders (idempotent), then print ready tokens.
    Demo,
    /// Print the GraphQL SDL (`schema.graphql` is its output).
    ExportSchema,
    /// Check the books as a whole, read-only, and print a report: exit 0 when clean, 1 on any
    /// violation, 2 when the audit could not run (database unreachable or not migrated).
    Audit,
    /// Ask the server this configuration names (`bind`; an unspecified address is asked on
    /// loopback) for `/healthz` — or `/readyz` with `--ready` — and exit 0 when it answers 200
    /// within 2 s, 1 otherwise: the container image's health check (it has no curl).
    Healthcheck {
        /// Ask `/readyz` (the database too) instead of `/healthz`.
        #[arg(long)]
        ready: bool,
    },
    /// Print the settings in force as TOML, each with where it came from (default, config file,
    /// environment, command line); a secret's value is never shown.
    Settings {
        /// Print every setting instead, as the Markdown table of docs/operations.md.
        #[arg(long)]
        reference: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// admin, cs_admin, cs, staff, buyer or platform.
    #[arg(long)]
    pub role: String,
    /// The shop, for merchant roles.
    #[arg(long)]
    pub shop: Option<String>,
    /// The account or buyer id (default: the role's name).
    #[arg(long)]
    pub sub: Option<String>,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Lifetime, e.g. `1h`, `30m`, `7d`.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub ttl: Duration,
}
