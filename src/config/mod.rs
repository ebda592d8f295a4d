//! Typed configuration: every variable of operations.md, each also a flag. Loaded once,
//! validated, and passed down — never read from the environment anywhere else.
//!
//! This file is the command line and the settings; `commands` the subcommands, `choices` the
//! settings that pick one of a few values, `parse` how a setting's text is read, `validate`
//! which settings may not run together, `layers` where each setting comes from.
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use chrono_tz::Tz;
use clap::{Args, Parser};
pub use secrecy::{ExposeSecret, SecretString};

mod choices;
mod commands;
pub mod layers;
mod parse;
mod validate;

pub use choices::{Environment, ForwardedHeader, Gateway, LogFormat, Registration, SqliteSynchronous};
pub use commands::{Command, TokenArgs};
use parse::secret;
pub use parse::{exposed, parse_duration, parse_flag, parse_net};

/// The development HS256 secret: refused in production.
pub const DEV_JWT_SECRET: &str = "smallpay-development-secret-do-not-use-in-production";
/// The development seal key: public, like the development JWT secret.
pub const DEV_SEAL_KEY: &str = "smallpay-development-seal-key-do-not-use-in-production";

#[derive(Debug, Parser)]
#[command(name = "smallpay", version, about = "GraphQL API for a marketplace's small-amount payouts")]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// A TOML file of settings, under the environment and the flags: its keys are the flags'
    /// names with `_` for `-` (`database_url = "postgres://…"`, `max_body_bytes = 262144`).
    #[arg(long = "config", env = "SMALLPAY_CONFIG", global = true)]
    pub config_file: Option<PathBuf>,
    /// `sqlite://…` (embedded default: WAL, busy timeout, foreign keys on) or `postgres://…`;
    /// a secret, as it may hold a password.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://smallpay.db?mode=rwc", value_parser = secret, hide_env_values = true, global = true)]
    pub database_url: SecretString,
    /// PostgreSQL only: a hot standby of `database_url` (`postgres://…`, a secret). Every
    /// query over HTTP (history pages, `payout`/`order`, previews, reports, the audit) and the
    /// CSV export read from it; mutations with the reads in their answers, subscriptions, jobs
    /// and events stay on the primary. An account's reads go to the primary until the standby
    /// has replayed its last mutation; a standby lagging more than `replica_max_lag`, or not
    /// answering, is skipped (docs/operations.md, "Reads from a standby").
    #[arg(long, env = "SMALLPAY_DATABASE_REPLICA_URL", value_parser = secret, hide_env_values = true, global = true)]
    pub database_replica_url: Option<SecretString>,
    /// The most the standby may be behind the primary and still serve reads.
    #[arg(long, env = "SMALLPAY_REPLICA_MAX_LAG", default_value = "5s", value_parser = parse_duration, global = true)]
    pub replica_max_lag: Duration,
    /// Listen address; port 0 picks a free one (`listening on http://HOST:PORT` is printed).
    #[arg(long, env = "SMALLPAY_BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: SocketAddr,
    /// HS256 key, at least 32 bytes (the development secret when unset, with a warning;
    /// refused in production).
    #[arg(long, env = "SMALLPAY_JWT_SECRET", value_parser = secret, hide_env_values = true, global = true)]
    pub jwt_secret: Option<SecretString>,
    /// PEM public key, its text or a file path: switches verification to RS256 (RSA ≥ 2048
    /// bits), ES256 (EC P-256) or ES384 (EC P-384); any other key refuses to start.
    #[arg(long, env = "SMALLPAY_JWT_PUBLIC_KEY", hide_env_values = true, global = true)]
    pub jwt_public_key: Option<String>,
    /// An identity provider's key set (JWKS), `https://…`: tokens are verified with the key
    /// their `kid` names (RSA ≥ 2048 bits, EC P-256/P-384). Neither a secret nor a public key
    /// may be set with it.
    #[arg(long, env = "SMALLPAY_JWT_JWKS_URL", global = true)]
    pub jwt_jwks_url: Option<String>,
    /// How often the key set is fetched again when its answer has no `Cache-Control: max-age`
    /// (a `max-age` is honoured, between the minimum interval and 24 h).
    #[arg(long, env = "SMALLPAY_JWT_JWKS_REFRESH", default_value = "10m", value_parser = parse_duration, global = true)]
    pub jwt_jwks_refresh: Duration,
    /// The least time between two fetches of the key set, also those that a token naming an
    /// unknown key id asks for (at least 1 s).
    #[arg(long, env = "SMALLPAY_JWT_JWKS_MIN_INTERVAL", default_value = "30s", value_parser = parse_duration, global = true)]
    pub jwt_jwks_min_interval: Duration,
    /// Required `iss`.
    #[arg(long, env = "SMALLPAY_JWT_ISSUER", default_value = "smallpay", global = true)]
    pub jwt_issuer: String,
    /// The longest lifetime accepted for a token (`exp` further from now is refused).
    #[arg(long, env = "SMALLPAY_JWT_MAX_LIFETIME", default_value = "24h", value_parser = parse_duration, global = true)]
    pub jwt_max_lifetime: Duration,
    /// A claim holding an object with `role`, `shop_id` and `name` (an identity provider's
    /// namespace, e.g. `https://smallpay.example/claims`); top-level claims otherwise.
    #[arg(long, env = "SMALLPAY_JWT_CLAIMS_NAMESPACE", global = true)]
    pub jwt_claims_namespace: Option<String>,
    /// Required `aud`.
    #[arg(long, env = "SMALLPAY_JWT_AUDIENCE", default_value = "smallpay-api", global = true)]
    pub jwt_audience: String,
    /// `production` refuses the development secret, seal key and the test clock, loads no
    /// demo, and turns GraphiQL, introspection and field suggestions off unless asked.
    #[arg(long = "env", env = "SMALLPAY_ENV", value_enum, default_value = "development", global = true)]
    pub environment: Environment,
    /// Serve GraphiQL (default: on in development, off in production).
    #[arg(long, env = "SMALLPAY_GRAPHIQL", global = true, value_parser = parse_flag)]
    pub graphiql: Option<bool>,
    /// Answer introspection (default: on in development, off in production).
    #[arg(long, env = "SMALLPAY_INTROSPECTION", global = true, value_parser = parse_flag)]
    pub introspection: Option<bool>,
    /// How long subscription events are kept for `afterEventId` replay.
    #[arg(long, env = "SMALLPAY_EVENT_RETENTION", default_value = "7d", value_parser = parse_duration, global = true)]
    pub event_retention: Duration,
    /// How many events a subscriber may fall behind before its subscription ends with an
    /// error it can resume from (`afterEventId`).
    #[arg(long, env = "SMALLPAY_SUBSCRIBER_BUFFER", default_value = "1024", global = true)]
    pub subscriber_buffer: usize,
    /// The default shop time zone: the day boundary for caps and quotas.
    #[arg(long, env = "SMALLPAY_TIMEZONE", default_value = "Asia/Shanghai", global = true)]
    pub timezone: Tz,
    /// The payment channel: `simulated` reports each transfer right after its commit; with
    /// `manual` results arrive only through `reportTransferResult`.
    #[arg(long, env = "SMALLPAY_GATEWAY", value_enum, default_value = "simulated", global = true)]
    pub gateway: Gateway,
    /// SQLite only: `full` (default: durable on power loss) or `normal` (faster, may lose the
    /// last commits on power loss).
    #[arg(long, env = "SMALLPAY_SQLITE_SYNCHRONOUS", value_enum, default_value = "full", global = true)]
    pub sqlite_synchronous: SqliteSynchronous,
    /// The largest request body accepted on `POST /graphql`, in bytes (413 beyond).
    #[arg(long, env = "SMALLPAY_MAX_BODY_BYTES", default_value = "262144", global = true)]
    pub max_body_bytes: usize,
    /// The longest GraphQL query text, in bytes; also the most bytes of a `GET /graphql`'s URL
    /// parameters (414 beyond).
    #[arg(long, env = "SMALLPAY_MAX_QUERY_BYTES", default_value = "32768", global = true)]
    pub max_query_bytes: usize,
    /// The most fields a document may select once its fragments are expanded.
    #[arg(long, env = "SMALLPAY_MAX_FIELDS", default_value = "2000", global = true)]
    pub max_fields: u64,
    /// The most root fields (aliases included) of one operation.
    #[arg(long, env = "SMALLPAY_MAX_ROOT_FIELDS", default_value = "32", global = true)]
    pub max_root_fields: u64,
    /// The most nodes validation and execution may walk for one request: selections, fragment
    /// spreads (known or not), directives and argument values (a variable counted as its
    /// value at every place it is used), once every fragment spread is expanded.
    #[arg(long, env = "SMALLPAY_MAX_NODES", default_value = "20000", global = true)]
    pub max_nodes: u64,
    /// `1`: a clock that moves only by `POST /_test/clock/advance?seconds=N` (never in
    /// production).
    #[arg(long, env = "SMALLPAY_TEST_CLOCK", global = true, value_parser = parse_flag, default_value = "0")]
    pub test_clock: bool,
    /// With the test clock: the instant it starts at (RFC 3339; default: the current second).
    #[arg(long, env = "SMALLPAY_TEST_CLOCK_START", global = true)]
    pub test_clock_start: Option<chrono::DateTime<chrono::Utc>>,
    /// The key that seals buyers' account numbers at rest (≥ 32 bytes; required in
    /// production). Never derived from the JWT keys.
    #[arg(long, env = "SMALLPAY_SEAL_KEY", value_parser = secret, hide_env_values = true, global = true)]
    pub seal_key: Option<SecretString>,
    /// Earlier seal keys, comma-separated: they still open what they sealed (key rotation).
    #[arg(long, env = "SMALLPAY_SEAL_OLD_KEYS", value_parser = secret, hide_env_values = true, value_delimiter = ',', global = true)]
    pub seal_old_keys: Vec<SecretString>,
    /// Development only: listen on a non-loopback address anyway (development mode publishes
    /// its secrets and prints tokens).
    #[arg(long, env = "SMALLPAY_DEV_PUBLIC_BIND", global = true, value_parser = parse_flag, default_value = "0")]
    pub dev_public_bind: bool,
    /// How soon a subscription socket must send `connection_init` (else it is closed, 4408).
    #[arg(long, env = "SMALLPAY_WS_INIT_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub ws_init_timeout: Duration,
    /// Mutations an account may make per second, on average (per instance).
    #[arg(long, env = "SMALLPAY_MUTATION_RATE", default_value = "5", global = true)]
    pub mutation_rate: f64,
    /// Mutations an account may make in a burst (per instance).
    #[arg(long, env = "SMALLPAY_MUTATION_BURST", default_value = "30", global = true)]
    pub mutation_burst: u32,
    /// How long a client may take to send a request's headers (also the keep-alive idle
    /// limit between requests).
    #[arg(long, env = "SMALLPAY_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub header_timeout: Duration,
    /// The longest a GraphQL request may run before it is answered 408.
    #[arg(long, env = "SMALLPAY_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub request_timeout: Duration,
    /// Connections open at once, subscription sockets included; more are closed as they
    /// arrive.
    #[arg(long, env = "SMALLPAY_MAX_CONNECTIONS", default_value = "1024", global = true)]
    pub max_connections: usize,
    /// Connections one client address may hold open at once (an IPv6 address counts with its
    /// /64); default a quarter of `SMALLPAY_MAX_CONNECTIONS`. A trusted proxy's own connections
    /// are not capped; its clients' subscription sockets are, by their forwarded address.
    #[arg(long, env = "SMALLPAY_MAX_CONNECTIONS_PER_CLIENT", global = true)]
    pub max_connections_per_client: Option<usize>,
    /// Proxies (balancers) whose forwarded-address header is believed, as comma-separated
    /// CIDRs or addresses (`10.0.0.0/8,192.0.2.7`); none by default.
    #[arg(long, env = "SMALLPAY_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net, global = true)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header the trusted proxies write the client's address into.
    #[arg(long, env = "SMALLPAY_FORWARDED_HEADER", value_enum, default_value = "x-forwarded-for", global = true)]
    pub forwarded_header: ForwardedHeader,
    /// How long a shutdown waits for open requests and sockets before it closes them.
    #[arg(long, env = "SMALLPAY_SHUTDOWN_GRACE", default_value = "20s", value_parser = parse_duration, global = true)]
    pub shutdown_grace: Duration,
    /// When set, `/metrics` answers only `Authorization: Bearer <this token>`.
    #[arg(long, env = "SMALLPAY_METRICS_TOKEN", value_parser = secret, hide_env_values = true, global = true)]
    pub metrics_token: Option<SecretString>,
    /// A listener of its own for `/metrics` (e.g. `127.0.0.1:9090`, port 0 picks one): then
    /// the public port does not serve it. In production without it or a token, `/metrics` is
    /// off.
    #[arg(long, env = "SMALLPAY_METRICS_BIND", global = true)]
    pub metrics_bind: Option<SocketAddr>,
    /// Subscription sockets one account may hold open at once (more are refused, 4429).
    #[arg(long, env = "SMALLPAY_MAX_SOCKETS_PER_ACCOUNT", default_value = "10", global = true)]
    pub max_sockets_per_account: usize,
    /// Tracing filter (`info`, `smallpay=debug,info`, …).
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log lines as `text` (colours only when stderr is a terminal) or `json` (one object per
    /// line).
    #[arg(long, env = "SMALLPAY_LOG_FORMAT", value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,
    /// Automatic persisted queries: how many documents this instance remembers by hash (least
    /// recently used dropped first); documents sent as text are kept there too, so a repeated
    /// query is parsed once. 0 turns both off.
    #[arg(long, env = "SMALLPAY_PERSISTED_QUERIES", default_value = "1000", global = true)]
    pub persisted_queries: usize,
    /// The persisted-query store's size in bytes of parsed documents (an estimate from their
    /// nodes and text); the least recently used are dropped first beyond it.
    #[arg(long, env = "SMALLPAY_PERSISTED_QUERIES_MAX_BYTES", default_value = "33554432", global = true)]
    pub persisted_queries_max_bytes: usize,
    /// Who may add a document to the persisted-query store: `authenticated` (a request with a
    /// valid token; the default in production) or `anyone` (the default in development).
    /// Anyone may run a stored hash; a document sent by someone who may not store it still
    /// runs, and is not stored.
    #[arg(long, env = "SMALLPAY_PERSISTED_QUERY_REGISTRATION", value_enum, global = true)]
    pub persisted_query_registration: Option<Registration>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "SMALLPAY_ENV=production refuses the development JWT secret: set SMALLPAY_JWT_SECRET, SMALLPAY_JWT_PUBLIC_KEY or SMALLPAY_JWT_JWKS_URL"
    )]
    DevSecretInProduction,
    #[error(
        "SMALLPAY_JWT_JWKS_URL cannot be combined with SMALLPAY_JWT_PUBLIC_KEY or SMALLPAY_JWT_SECRET: tokens are verified with the identity provider's keys only"
    )]
    JwksWithOtherKey,
    #[error("SMALLPAY_JWT_JWKS_URL: {0}")]
    BadJwksUrl(String),
    #[error("SMALLPAY_JWT_JWKS_MIN_INTERVAL must be at least 1s")]
    ShortJwksInterval,
    #[error("SMALLPAY_TEST_CLOCK is never available in production")]
    TestClockInProduction,
    #[error("SMALLPAY_JWT_SECRET must be at least 32 bytes")]
    ShortSecret,
    #[error("SMALLPAY_ENV=production needs SMALLPAY_SEAL_KEY (at least 32 bytes) to seal account numbers")]
    NoSealKeyInProduction,
    #[error("SMALLPAY_SEAL_KEY must be at least 32 bytes")]
    ShortSealKey,
    #[error(
        "development mode listens on loopback addresses only (it publishes its secrets and prints tokens): bind 127.0.0.1, set SMALLPAY_ENV=production, or SMALLPAY_DEV_PUBLIC_BIND=1"
    )]
    PublicBindInDevelopment,
    #[error(
        "SMALLPAY_DATABASE_REPLICA_URL needs PostgreSQL: both DATABASE_URL and the replica URL must be postgres://…"
    )]
    ReplicaNeedsPostgres,
}

impl Config {
    /// A configuration with every default, for tests and tools.
    pub fn defaults() -> Self {
        Cli::parse_from(["smallpay"]).config
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    pub fn graphiql_enabled(&self) -> bool {
        self.graphiql.unwrap_or(!self.is_production())
    }

    pub fn introspection_enabled(&self) -> bool {
        self.introspection.unwrap_or(!self.is_production())
    }

    /// Connections one client address may hold (a quarter of all by default).
    pub fn connections_per_client(&self) -> usize {
        self.max_connections_per_client.unwrap_or(self.max_connections / 4).max(1)
    }

    /// Whether the public port serves `/metrics`: not when it has a listener of its own, nor
    /// in production without a token (it would be open to the internet).
    pub fn metrics_on_public_port(&self) -> bool {
        self.metrics_bind.is_none() && (!self.is_production() || self.metrics_token.is_some())
    }

    /// Who may add documents to the persisted-query store (`authenticated` in production
    /// unless configured).
    pub fn persisted_query_registration(&self) -> Registration {
        self.persisted_query_registration.unwrap_or(if self.is_production() {
            Registration::Authenticated
        } else {
            Registration::Anyone
        })
    }

    /// The seal key, or the development one (never in production: `validate` refuses that).
    pub fn seal_key_or_dev(&self) -> &str {
        exposed(&self.seal_key).unwrap_or(DEV_SEAL_KEY)
    }

    /// The earlier seal keys' text.
    pub fn seal_old_keys_exposed(&self) -> Vec<&str> {
        self.seal_old_keys.iter().map(|k| k.expose_secret()).collect()
    }

    pub fn jwt_secret_or_dev(&self) -> &str {
        exposed(&self.jwt_secret).unwrap_or(DEV_JWT_SECRET)
    }
}

#[cfg(test)]
mod tests;
