//! `smallpay`: parse the command line, then serve, migrate, mint a token, load the demo,
//! print the schema or audit the books.
use std::{io::IsTerminal, process::ExitCode, sync::Arc};

use smallpay::{
    app::App,
    auth::Role,
    config::{self, Cli, Command, Config, DEV_JWT_SECRET, ExposeSecret as _, LogFormat, TokenArgs},
    demo, graphql,
    http::graphiql::DemoAccount,
    telemetry,
};
use tokio::net::TcpListener;

/// mimalloc instead of glibc's allocator: per-thread free lists, no arena lock contention
/// between Tokio's workers (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::{
    EnvFilter, Layer as _,
    filter::{LevelFilter, Targets},
    layer::SubscriberExt as _,
    util::SubscriberInitExt as _,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match config::layers::load() {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Some(Command::Settings { reference }) = cli.command {
        if reference {
            print!("{}", config::layers::reference_markdown());
            return ExitCode::SUCCESS;
        }
        return match config::layers::show_toml(std::env::args_os()) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => e.exit(),
        };
    }
    let traces = match init_logging(&cli.config) {
        Ok(traces) => traces,
        Err(message) => {
            eprintln!("smallpay: {message}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(Command::Healthcheck { ready }) = cli.command {
        return healthcheck(&cli.config, ready).await;
    }
    if matches!(cli.command, Some(Command::Audit)) {
        return audit(&cli.config).await;
    }
    let outcome = run(cli).await;
    if let Some(traces) = traces {
        // The SDK's thread sends what is still batched; not on a runtime worker.
        let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("smallpay: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `smallpay healthcheck`: one HTTP/1.0 request to the configured address, 200 or not.
async fn healthcheck(config: &Config, ready: bool) -> ExitCode {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut addr = config.bind;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let path = if ready { "/readyz" } else { "/healthz" };
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
        let mut status = [0u8; 12];
        stream.read_exact(&mut status).await?;
        Ok::<bool, std::io::Error>(status.ends_with(b" 200"))
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), probe).await {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        outcome => {
            eprintln!("smallpay healthcheck: http://{addr}{path}: {outcome:?}");
            ExitCode::FAILURE
        }
    }
}

/// Log lines go to stderr: text (coloured only on a terminal) or one JSON object per line.
/// `RUST_LOG` filters them, under [`socket_frames_cap`] whatever it says.
///
/// With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans also go out as traces ([`telemetry`]), each
/// layer with its own filter: `RUST_LOG` chooses log lines, not spans, and SeaORM's statement
/// spans reach the traces only.
fn init_logging(config: &Config) -> Result<Option<telemetry::Traces>, String> {
    let mut directives = config.log.clone();
    if !directives.contains("sea_orm") {
        directives.push_str(",sea_orm::database=warn");
    }
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info,sea_orm::database=warn"));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = match config.log_format {
        LogFormat::Text => lines.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => lines.json().flatten_event(true).with_current_span(true).with_span_list(false).boxed(),
    };
    let (traces, exporter) = match telemetry::layer()? {
        Some((layer, traces)) => (Some(layer), Some(traces)),
        None => (None, None),
    };
    tracing_subscriber::registry().with(socket_frames_cap()).with(lines.with_filter(filter)).with(traces).init();
    Ok(exporter)
}

/// WebSocket libraries log every frame's content at trace level — a `connection_init` with its
/// token, a submitted account number — so their trace level is off whatever `RUST_LOG` says
/// (a separate filter: no directive, however specific, or span filter, gets past it).
fn socket_frames_cap() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("tungstenite", LevelFilter::DEBUG)
        .with_target("tokio_tungstenite", LevelFilter::DEBUG)
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve { no_demo: false }) {
        Command::ExportSchema => {
            print!("{}", graphql::schema::sdl());
            Ok(())
        }
        Command::Token(args) => {
            let keys = smallpay::auth::JwtKeys::from_config(&config).map_err(|e| e.to_string())?;
            println!("{}", mint(&keys, &args)?);
            Ok(())
        }
        Command::Migrate => {
            config.validate().map_err(|e| e.to_string())?;
            let db = smallpay::db::connect(config.database_url.expose_secret(), config.sqlite_synchronous)
                .await
                .map_err(|e| e.to_string())?;
            smallpay::db::migrate(&db).await.map_err(|e| e.to_string())?;
            println!("migrations applied");
            Ok(())
        }
        Command::Demo => {
            let app = App::build(config).await.map_err(|e| e.to_string())?;
            demo::load(&app.state).await.map_err(|e| e.message())?;
            print_tokens(&app.state.keys, &app.state.config);
            Ok(())
        }
        Command::Serve { no_demo } => serve(config, no_demo).await,
        Command::Audit | Command::Settings { .. } | Command::Healthcheck { .. } => {
            Err("`audit`, `settings` and `healthcheck` run on their own".to_owned())
        }
    }
}

/// `smallpay audit`: 0 when the books are clean, 1 on any violation, 2 when it cannot run.
/// Reads only: it neither migrates nor writes.
async fn audit(config: &Config) -> ExitCode {
    const CANNOT_RUN: u8 = 2;
    let report = async {
        let db = smallpay::db::connect(config.database_url.expose_secret(), config.sqlite_synchronous)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        if !smallpay::db::is_ready(&db).await {
            return Err("the database is unreachable or not migrated (run `smallpay migrate`)".to_owned());
        }
        let clock = smallpay::clock::Clock::System;
        let gate = smallpay::db::WriteGate::new(&db);
        let deps = smallpay::db::Deps { db: &db, clock: &clock, gate: &gate, default_zone: config.timezone };
        let report = smallpay::audit::service::run(deps, None).await.map_err(|e| format!("{e:?}"));
        db.close().await.ok();
        report
    };
    match report.await {
        Ok(report) => {
            print!("{}", report.render());
            if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(message) => {
            eprintln!("smallpay audit: {message}");
            ExitCode::from(CANNOT_RUN)
        }
    }
}

async fn serve(config: Config, no_demo: bool) -> Result<(), String> {
    warn_on_dev_secret(&config);
    let bind = config.bind;
    let mut app = App::build(config).await.map_err(|e| e.to_string())?;
    let state = app.state.clone();
    if !state.config.is_production() {
        // GraphiQL offers the demo accounts, with tokens minted when the page is served.
        let keys = state.keys.clone();
        app.demo_tokens = Some(Arc::new(move || {
            demo_tokens(&keys)
                .into_iter()
                .filter_map(|(role, sub, token)| Some(DemoAccount { role: role.to_owned(), sub, token: token? }))
                .collect()
        }));
    }
    if !state.config.is_production() && !no_demo && demo::is_empty(&state).await.map_err(|e| e.message())? {
        demo::load(&state).await.map_err(|e| e.message())?;
        tracing::info!("demo data loaded into the empty database");
    }
    let listener = TcpListener::bind(bind).await.map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if state.config.graphiql_enabled() {
        println!("GraphiQL: http://{addr}/graphql");
    }
    // Demo tokens need the shared secret (not with a public key or a JWKS).
    if !state.config.is_production() && state.config.verifies_with_shared_secret() {
        print_tokens(&state.keys, &state.config);
    }
    app.serve(listener, shutdown_signal()).await.map_err(|e| e.to_string())
}

fn warn_on_dev_secret(config: &Config) {
    if config.verifies_with_shared_secret() && config::exposed(&config.jwt_secret).is_none_or(|s| s == DEV_JWT_SECRET) {
        tracing::warn!(
            "SMALLPAY_JWT_SECRET is not set: using the DEVELOPMENT secret. Anyone can mint tokens. Never run production like this."
        );
    }
}

fn mint(keys: &smallpay::auth::JwtKeys, args: &TokenArgs) -> Result<String, String> {
    let role = Role::from_claim(&args.role).ok_or_else(|| format!("unknown role `{}`", args.role))?;
    if role.is_merchant() && args.shop.is_none() {
        return Err(format!("role `{}` needs --shop", args.role));
    }
    let sub = args.sub.clone().unwrap_or_else(|| role.claim().replace('_', "-"));
    let claims = keys.claims(role, args.shop.as_deref(), &sub, args.name.as_deref(), args.ttl);
    keys.sign(&claims).ok_or_else(|| "tokens can only be minted with a shared secret (SMALLPAY_JWT_SECRET)".to_owned())
}

/// (role, sub, token) of every demo account, valid 12 h; no token without a shared secret.
fn demo_tokens(keys: &smallpay::auth::JwtKeys) -> Vec<(&'static str, String, Option<String>)> {
    let ttl = std::time::Duration::from_secs(12 * 3600);
    let mut lines = Vec::new();
    for (sub, name, role) in demo::STAFF {
        let claims = keys.claims(*role, Some(demo::DEMO_SHOP), sub, Some(name), ttl);
        lines.push((role.claim(), sub.to_string(), keys.sign(&claims)));
    }
    let buyer = keys.claims(Role::Buyer, None, demo::DEMO_BUYER, None, ttl);
    lines.push(("buyer", demo::DEMO_BUYER.to_owned(), keys.sign(&buyer)));
    let platform = keys.claims(Role::Platform, None, "marketplace", None, ttl);
    lines.push(("platform", "marketplace".to_owned(), keys.sign(&platform)));
    lines
}

fn print_tokens(keys: &smallpay::auth::JwtKeys, config: &Config) {
    let lines = demo_tokens(keys);
    println!(
        "Demo tokens (valid 12 h; iss={}, aud={}); send as `Authorization: Bearer <token>`:",
        config.jwt_issuer, config.jwt_audience
    );
    for (role, sub, token) in lines {
        if let Some(token) = token {
            println!("  {role:<9} {sub:<12} {token}");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    #[test]
    fn socket_frames_are_never_logged_at_trace() {
        let cap = socket_frames_cap();
        for target in ["tungstenite::protocol", "tungstenite::protocol::frame", "tokio_tungstenite::compat"] {
            assert!(!cap.would_enable(target, &Level::TRACE), "{target}");
            assert!(cap.would_enable(target, &Level::DEBUG), "{target} still logs its debug lines");
        }
        assert!(cap.would_enable("smallpay::http", &Level::TRACE), "everything else as RUST_LOG says");
    }
}
