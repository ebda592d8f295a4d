//! `smallpay-bench`: starts the real smallpay binary on a fresh database (a temporary SQLite
//! file; a PostgreSQL database it creates and drops), fills it (shops and a sample of orders
//! through the API, order pools and ≥ 100,000 historical payouts directly), drives it over
//! HTTP and WebSocket with N concurrent connections, checks every answer, and prints one
//! Markdown table with the baselines measured in the same run and each scenario's ratio to its
//! baseline. Nothing asserts a time: it exits non-zero only when a scenario got errors or lost
//! events. `--url` drives an already running deployment instead (e.g. behind a load balancer).
#![expect(clippy::expect_used, reason = "a benchmark tool stops on any setup failure")]

mod baseline;
mod cpu;
mod fanout;
mod fill;
mod load;
mod server;

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

use crate::{
    fill::{FAN, HIST, HOT, History, Pool, SHOPS, Tokens},
    load::{Outcome, Req, quantile},
    server::{BenchDb, Proc},
};

#[derive(Debug, Parser)]
#[command(name = "smallpay-bench", about = "Measures smallpay against a real server process, with baselines")]
struct Cli {
    /// The smallpay binary to start (build it first, e.g. `cargo build --release`).
    #[arg(long)]
    server: Option<PathBuf>,
    /// Also run on PostgreSQL: a URL the bench can create databases with; it creates
    /// `smallpay_bench_<random>` and drops it after.
    #[arg(long)]
    postgres: Option<String>,
    /// With --postgres: a hot standby of that server (e.g. `postgres://postgres@127.0.0.1:5433/postgres`,
    /// scripts/standby.sh starts a primary and one): the PostgreSQL run's server reads from it
    /// (`SMALLPAY_DATABASE_REPLICA_URL`), and the table's database column says so.
    #[arg(long, requires = "postgres")]
    postgres_standby: Option<String>,
    /// Skip the SQLite run (with --postgres).
    #[arg(long)]
    no_sqlite: bool,
    /// `full` (the BENCHMARKS.md table) or `tiny` (every scenario, a few requests: CI).
    #[arg(long, value_enum, default_value = "full")]
    size: Size,
    /// Comma-separated subset of: create, create-shops, preview, history, filters, report,
    /// summary, export, me, fanout, ryw, baselines (default: all).
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// How long each scenario runs (default 10s; tiny 1s).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Subscribers per server instance in the fan-out (default 1000; tiny 20).
    #[arg(long)]
    subscribers: Option<usize>,
    /// Payouts per second during the fan-out (default 20): lower it to measure the CPU per
    /// delivery at many subscribers without saturating the cores.
    #[arg(long)]
    fan_rate: Option<f64>,
    /// Run `smallpay audit` on the database after the scenarios (always at `--size tiny`).
    #[arg(long)]
    audit: bool,
    /// Drive an already running deployment at this base URL (e.g. `http://127.0.0.1:8080`)
    /// instead of starting a server: needs --jwt-secret.
    #[arg(long)]
    url: Option<String>,
    /// With --url: the deployment's HS256 secret (SMALLPAY_JWT_SECRET), to mint tokens.
    #[arg(long)]
    jwt_secret: Option<String>,
    /// With --url: the deployment's database, to load the order pools directly (without it
    /// they go through `syncOrder`).
    #[arg(long)]
    database_url: Option<String>,
    /// With --database-url and without --url, before the deployment starts: load the history
    /// shop into that database, describe it in this file and exit. With --url afterwards: run
    /// the history scenarios on the history the file describes. (The history goes in before any
    /// instance starts: a running publisher would replay every transition as new.)
    #[arg(long)]
    history_file: Option<PathBuf>,
    /// With --url: what the table's database column says.
    #[arg(long, default_value = "deployment")]
    label: String,
    /// Internal: serve a bare axum handler answering BYTES-byte bodies (a baseline).
    #[arg(long, hide = true)]
    bare_server: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Size {
    Tiny,
    Full,
}

/// How big a run is.
struct Plan {
    duration: Duration,
    hist_payouts: usize,
    hot_orders: usize,
    shop_orders: usize,
    fan_orders: usize,
    /// Orders of the hot shop created through `syncOrder` (the rest directly).
    api_orders: usize,
    subscribers: usize,
    fan_rate: f64,
    fan_duration: Duration,
    /// The most connections any scenario uses (tiny: a few, for a debug server in CI).
    max_conns: usize,
    audit: bool,
}

impl Plan {
    fn new(cli: &Cli) -> Plan {
        let mut plan = match cli.size {
            Size::Full => Plan {
                duration: Duration::from_secs(10),
                hist_payouts: 100_000,
                hot_orders: 60_000,
                shop_orders: 6_000,
                fan_orders: 1_000,
                api_orders: 500,
                subscribers: 1_000,
                fan_rate: 20.0,
                fan_duration: Duration::from_secs(10),
                max_conns: usize::MAX,
                audit: cli.audit,
            },
            Size::Tiny => Plan {
                duration: Duration::from_millis(500),
                hist_payouts: 2_000,
                hot_orders: 3_000,
                shop_orders: 300,
                fan_orders: 100,
                api_orders: 40,
                subscribers: 20,
                fan_rate: 20.0,
                fan_duration: Duration::from_secs(1),
                max_conns: 8,
                audit: true,
            },
        };
        if let Some(d) = cli.duration {
            plan.duration = d;
        }
        if let Some(n) = cli.subscribers {
            plan.subscribers = n;
        }
        if let Some(r) = cli.fan_rate.filter(|r| *r > 0.0) {
            plan.fan_rate = r;
        }
        plan
    }

    fn conns(&self, wanted: usize) -> usize {
        wanted.min(self.max_conns)
    }
}

const ALL: &[&str] = &[
    "create",
    "create-shops",
    "preview",
    "history",
    "filters",
    "report",
    "summary",
    "export",
    "me",
    "fanout",
    "ryw",
    "baselines",
];
/// The scenarios that read the bulk-loaded history shop.
const ON_HISTORY: &[&str] = &["history", "filters", "report", "summary", "export"];

pub const CREATE: &str = "mutation($i: CreatePayoutInput!) { createPayout(input: $i) { id status } }";
const PREVIEW: &str = "query($o: String!) { payoutPreview(orderSn: $o, amount: \"5.00\") { allowed blockers balanceAllowed balanceBlockers remainingAttempts perPayoutLimit remainingQuotaToday duplicates { source payoutId amount status at } } }";
/// The history page: 50 payouts with order, applicant and history.
const PAGE: &str = "query($f: PayoutFilter) { payouts(first: 50, filter: $f) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id orderSn amount status type funding createdAt deductedAt applicant { id name role } order { orderSn goodsName buyerId } history { from to at actor note } } } } }";
const ME: &str = "{ me { id name role } }";
/// Every account's days of the history shop (ADMIN).
const REPORT: &str = "query($from: Date!, $to: Date!) { accountDailyReport(from: $from, to: $to) { account { id } day payouts amount fromBalance byScan byType { type count amount } requested approved rejected expired quotaPerPayout quotaDaily quotaUsed refunded } }";
/// The history page with the filter's totals.
const SUMMARY: &str = "query($f: PayoutFilter) { payouts(first: 50, filter: $f) { totalCount summary { count amount byStatus { status count amount } byFunding { funding count amount } } pageInfo { hasNextPage endCursor } edges { cursor node { id orderSn amount status type funding createdAt deductedAt } } } }";

pub fn create_input(sn: &str) -> Value {
    json!({ "orderSn": sn, "type": "SHIPPING_FEE", "amount": "1.00", "reason": "运费补偿",
            "message": "运费已退，请查收", "funding": "BALANCE" })
}

fn body(query: &str, variables: Value) -> String {
    json!({ "query": query, "variables": variables }).to_string()
}

/// A read scenario's n-th request: (token, body).
type MakeRead = Arc<dyn Fn(u64) -> (Arc<str>, String) + Send + Sync>;

/// What a row is compared with.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Base {
    Inserts(usize),
    /// A bare handler at (connections, body bytes rounded to 256).
    Bare(usize, usize),
}

struct Row {
    scenario: String,
    database: String,
    conns: String,
    requests: u64,
    per_second: f64,
    p50: Option<Duration>,
    p99: Option<Duration>,
    errors: u64,
    base: Option<Base>,
    vs: String,
    /// CPU milliseconds per request (or row, or delivery): server / database / bench.
    cpu: String,
    notes: String,
}

impl Row {
    fn new(scenario: impl Into<String>, database: &str, conns: usize, o: &Outcome) -> Row {
        Row {
            scenario: scenario.into(),
            database: database.to_owned(),
            conns: conns.to_string(),
            requests: o.requests,
            per_second: o.per_second(),
            p50: quantile(&o.lat, 0.5),
            p99: quantile(&o.lat, 0.99),
            errors: o.errors,
            base: None,
            vs: String::new(),
            cpu: o.cpu.map(|c| c.per(o.requests)).unwrap_or_default(),
            notes: if o.exhausted { "stopped early: its order pool ran out".to_owned() } else { String::new() },
        }
    }
}

/// Everything a run collects.
#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    /// Each failing scenario's first error.
    failures: Vec<String>,
    /// Baselines already measured, by key: their throughput.
    baselines: HashMap<(String, Base), f64>,
}

impl Report {
    fn push(&mut self, mut row: Row, o: &Outcome) {
        eprintln!(
            "  {} [{}] {} conns: {} requests, {:.0}/s, p50 {}, p99 {}, {} errors",
            row.scenario,
            row.database,
            row.conns,
            row.requests,
            row.per_second,
            ms(row.p50),
            ms(row.p99),
            row.errors
        );
        if let Some(e) = &o.first_error {
            eprintln!("    first error: {e}");
            self.failures.push(format!("{} [{}]: {e}", row.scenario, row.database));
        } else if o.errors > 0 {
            self.failures.push(format!("{} [{}]: {} errors", row.scenario, row.database, o.errors));
        }
        if row.requests == 0 && row.errors == 0 {
            row.notes = join(&row.notes, "no request completed");
        }
        self.rows.push(row);
    }
}

/// Body sizes for the bare baseline: 256-byte steps up to 4 KiB, then 4 KiB steps (so pages of
/// about the same size share one baseline run).
fn bucket(bytes: usize) -> usize {
    if bytes <= 4096 { bytes.div_ceil(256).max(1) * 256 } else { (bytes + 2048) / 4096 * 4096 }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}; {b}"),
    }
}

fn ms(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.2} ms", d.as_secs_f64() * 1e3),
        None => "—".to_owned(),
    }
}

fn thousands(n: f64) -> String {
    let n = n.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(bytes) = cli.bare_server {
        return baseline::bare_server(bytes);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let plan = Plan::new(&cli);
    let selected: BTreeSet<String> = if cli.scenarios.is_empty() {
        ALL.iter().map(|s| (*s).to_owned()).collect()
    } else {
        cli.scenarios.iter().map(|s| s.trim().to_owned()).collect()
    };
    if let Some(unknown) = selected.iter().find(|s| !ALL.contains(&s.as_str())) {
        eprintln!("unknown scenario `{unknown}`; known: {}", ALL.join(", "));
        return ExitCode::from(2);
    }
    let mut report = Report::default();
    let started = Instant::now();
    if let (Some(file), Some(db), None) = (&cli.history_file, &cli.database_url, &cli.url) {
        let h = fill::bulk_history(db, plan.hist_payouts).await;
        std::fs::write(file, h.to_lines()).expect("write --history-file");
        eprintln!("{} payouts of history loaded; described in {}", h.payouts, file.display());
        return ExitCode::SUCCESS;
    }
    if let Some(url) = &cli.url {
        let Some(secret) = &cli.jwt_secret else {
            eprintln!("--url needs --jwt-secret (the deployment's SMALLPAY_JWT_SECRET)");
            return ExitCode::from(2);
        };
        let history = cli.history_file.as_ref().map(|file| {
            let text = std::fs::read_to_string(file).expect("read --history-file");
            fill::History::from_lines(&text).expect("a --history-file this bench wrote")
        });
        let target = Target::Deployment { base: url.trim_end_matches('/').to_owned() };
        run_target(&cli, &plan, &selected, &Tokens::new(secret), target, history, &mut report).await;
    } else {
        let Some(binary) = cli.server.clone() else {
            eprintln!("give --server PATH (the smallpay binary) or --url of a running deployment");
            return ExitCode::from(2);
        };
        let mut dbs = Vec::new();
        if !cli.no_sqlite {
            dbs.push(None);
        }
        if let Some(pg) = &cli.postgres {
            dbs.push(Some(pg.clone()));
        }
        for pg in dbs {
            let db = match &pg {
                None => BenchDb::sqlite(),
                Some(admin) => BenchDb::postgres(admin, cli.postgres_standby.as_deref()).await,
            };
            let tokens = Tokens::new(server::JWT_SECRET);
            run_owned(&cli, &plan, &selected, &tokens, &binary, db, &mut report).await;
        }
    }
    print_table(&cli, &report, started.elapsed());
    if report.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The servers a run talks to.
enum Target<'a> {
    /// Started by the bench: (instance, database, binary, log directory).
    Owned {
        server: &'a mut Proc,
        db: &'a BenchDb,
        binary: &'a Path,
        logs: &'a Path,
    },
    Deployment {
        base: String,
    },
}

impl Target<'_> {
    fn base(&self) -> String {
        match self {
            Target::Owned { server, .. } => server.base.clone(),
            Target::Deployment { base } => base.clone(),
        }
    }

    fn label(&self, cli: &Cli) -> String {
        match self {
            Target::Owned { db, .. } => db.label().to_owned(),
            Target::Deployment { .. } => cli.label.clone(),
        }
    }
}

async fn run_owned(
    cli: &Cli,
    plan: &Plan,
    selected: &BTreeSet<String>,
    tokens: &Tokens,
    binary: &Path,
    db: BenchDb,
    report: &mut Report,
) {
    let logs = std::env::temp_dir().join(format!("smallpay-bench-logs-{}", server::random_id()));
    std::fs::create_dir_all(&logs).expect("log dir");
    eprintln!("== {}: migrating {}", db.label(), db.url());
    server::migrate(binary, db.url()).await;
    // The history goes straight into the database before the server starts (its event
    // publisher would otherwise replay every transition as new).
    let history = if ON_HISTORY.iter().any(|s| selected.contains(*s)) {
        let t = Instant::now();
        let h = fill::bulk_history(db.url(), plan.hist_payouts).await;
        eprintln!("   {} payouts with their transitions loaded in {:.1} s", h.payouts, t.elapsed().as_secs_f64());
        Some(h)
    } else {
        None
    };
    if let Some(replica) = db.replica() {
        server::standby_caught_up(db.url(), replica).await;
    }
    let mut server = Proc::smallpay(binary, &db, &logs, "a").await;
    eprintln!("   server {} (pid {}), logs in {}", server.base, server.pid, logs.display());
    {
        let target = Target::Owned { server: &mut server, db: &db, binary, logs: &logs };
        run_target(cli, plan, selected, tokens, target, history, report).await;
    }
    let died = !server.alive();
    if died {
        report.failures.push(format!("[{}] the server died; its log:\n{}", db.label(), server.log_tail()));
    }
    server.stop().await;
    if plan.audit {
        let t = Instant::now();
        let (clean, text) = server::audit(binary, db.url()).await;
        eprintln!(
            "   smallpay audit: {} ({:.1} s)",
            if clean { "clean" } else { "VIOLATIONS" },
            t.elapsed().as_secs_f64()
        );
        if !clean {
            let head: Vec<&str> = text.lines().take(30).collect();
            report.failures.push(format!("[{}] smallpay audit after the run:\n{}", db.label(), head.join("\n")));
        }
    }
    db.remove().await;
    if report.failures.is_empty() {
        let _ = std::fs::remove_dir_all(&logs);
    }
}

/// Fill, every selected scenario, then the baselines.
async fn run_target(
    cli: &Cli,
    plan: &Plan,
    selected: &BTreeSet<String>,
    tokens: &Tokens,
    mut target: Target<'_>,
    history: Option<History>,
    report: &mut Report,
) {
    let label = target.label(cli);
    let base = target.base();
    let run_id = server::random_id();
    let on = |s: &str| selected.contains(s);

    let graphql_url = format!("{base}/graphql");

    // Shops through the API; orders: a sample through syncOrder, the rest directly.
    let client = load::client();
    let hot = Arc::new(Pool::new(&format!("P-{run_id}-hot"), plan.hot_orders));
    let fan = Arc::new(Pool::new(&format!("P-{run_id}-fan"), plan.fan_orders));
    let shop_pools: Vec<Arc<Pool>> =
        (0..SHOPS).map(|i| Arc::new(Pool::new(&format!("P-{run_id}-s{i:02}"), plan.shop_orders))).collect();
    let mut shops = vec![HOT.to_owned(), FAN.to_owned()];
    shops.extend((0..SHOPS).map(fill::shop));
    let t = Instant::now();
    for shop in &shops {
        fill::sync_shop(&client, &base, tokens, shop).await;
    }
    eprintln!("   {} shops synced in {:.1} s", shops.len(), t.elapsed().as_secs_f64());
    let grouped = chrono::Utc::now() - chrono::TimeDelta::days(1);
    let api_orders: Vec<String> = hot.all()[..plan.api_orders.min(plan.hot_orders)].to_vec();
    let sync = {
        let platform = tokens.platform();
        let api_orders = Arc::new(api_orders);
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        load::drive(&graphql_url, 8, Duration::from_secs(600), u64::MAX, move |_, _| {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let sn = api_orders.get(i)?;
            Some(Req {
                token: Some(platform.clone()),
                body: body(fill::SYNC_ORDER, json!({ "i": fill::order_input(sn, HOT, grouped) })),
            })
        })
        .await
    };
    let mut sync_row = Row::new("fill: `syncOrder` (platform), hot shop", &label, 8, &sync);
    sync_row.notes = "informational: the fill's API part".to_owned();
    report.push(sync_row, &sync);
    let direct_url = match &target {
        Target::Owned { db, .. } => Some(db.url().to_owned()),
        Target::Deployment { .. } => cli.database_url.clone(),
    };
    let mut rest: Vec<(&str, &[String])> = vec![(HOT, &hot.all()[plan.api_orders.min(plan.hot_orders)..])];
    rest.push((FAN, fan.all()));
    let shop_names: Vec<String> = (0..SHOPS).map(fill::shop).collect();
    for (i, pool) in shop_pools.iter().enumerate() {
        rest.push((&shop_names[i], pool.all()));
    }
    let t = Instant::now();
    let total: usize = rest.iter().map(|(_, sns)| sns.len()).sum();
    if let Some(url) = direct_url {
        let db = fill::connect(&url).await;
        for (shop, sns) in &rest {
            fill::bulk_orders(&db, shop, sns).await;
        }
        db.close().await.ok();
        eprintln!("   {total} orders loaded directly in {:.1} s", t.elapsed().as_secs_f64());
    } else {
        let platform = tokens.platform();
        let work: Arc<Vec<(String, String)>> = Arc::new(
            rest.iter().flat_map(|(shop, sns)| sns.iter().map(|sn| ((*shop).to_owned(), sn.clone()))).collect(),
        );
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let o = load::drive(&graphql_url, 16, Duration::from_secs(3600), u64::MAX, move |_, _| {
            let (shop, sn) = work.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))?;
            Some(Req {
                token: Some(platform.clone()),
                body: body(fill::SYNC_ORDER, json!({ "i": fill::order_input(sn, shop, grouped) })),
            })
        })
        .await;
        eprintln!("   {total} orders synced in {:.1} s", t.elapsed().as_secs_f64());
        if o.errors > 0 {
            report.failures.push(format!("fill [{label}]: {}", o.first_error.unwrap_or_default()));
        }
    }

    let d = plan.duration;
    let check = |report: &mut Report, target: &mut Target<'_>| {
        if let Target::Owned { server, .. } = target
            && !server.alive()
        {
            report.failures.push(format!("[{label}] the server died; its log:\n{}", server.log_tail()));
            return false;
        }
        true
    };

    // createPayout: every request a real creation on an order of its own.
    if on("create") {
        for conns in [1, plan.conns(16)] {
            let admin = tokens.admin(HOT);
            let pool = hot.clone();
            let batching = server::Batching::read(&base).await;
            let o = load::drive(&graphql_url, conns, d, u64::MAX, move |_, _| {
                let sn = pool.take()?;
                Some(Req { token: Some(admin.clone()), body: body(CREATE, json!({ "i": create_input(sn) })) })
            })
            .await;
            let mut row = Row::new("`createPayout` BALANCE, one hot shop", &label, conns, &o);
            row.base = Some(Base::Inserts(conns));
            row.notes = join(&row.notes, &batching_since(&base, batching).await);
            report.push(row, &o);
            if !check(report, &mut target) {
                return;
            }
        }
    }
    if on("create-shops") {
        let admins: Vec<Arc<str>> = (0..SHOPS).map(|i| tokens.admin(&fill::shop(i))).collect();
        let pools = shop_pools.clone();
        let conns = plan.conns(SHOPS);
        let batching = server::Batching::read(&base).await;
        let o = load::drive(&graphql_url, conns, d, u64::MAX, move |w, _| {
            let sn = pools[w % SHOPS].take()?;
            Some(Req { token: Some(admins[w % SHOPS].clone()), body: body(CREATE, json!({ "i": create_input(sn) })) })
        })
        .await;
        let mut row = Row::new(
            format!("`createPayout` BALANCE, {} shops (one per connection)", conns.min(SHOPS)),
            &label,
            conns,
            &o,
        );
        row.base = Some(Base::Inserts(conns));
        row.notes = join(&row.notes, &batching_since(&base, batching).await);
        report.push(row, &o);
        if !check(report, &mut target) {
            return;
        }
    }
    // Reads whose baseline is a bare handler with a body of the same size.
    let mut reads: Vec<(String, usize, MakeRead)> = Vec::new();
    if on("preview") {
        let admin = tokens.admin(HOT);
        let pool = hot.clone();
        reads.push((
            "`payoutPreview` (hot shop)".to_owned(),
            64,
            Arc::new(move |n| {
                (admin.clone(), body(PREVIEW, json!({ "o": pool.nth(usize::try_from(n % 1000).unwrap_or(0)) })))
            }),
        ));
    }
    if let Some(h) = &history {
        let admin = tokens.admin(HIST);
        if on("history") {
            for conns in [1, 64] {
                let admin = admin.clone();
                reads.push((
                    format!("history `payouts(first: 50)` + order, applicant, history ({} payouts)", h.payouts),
                    conns,
                    Arc::new(move |_| (admin.clone(), body(PAGE, json!({ "f": null })))),
                ));
            }
        }
        if on("filters") {
            let filters = [
                ("status: [REJECTED]", json!({ "status": ["REJECTED"] })),
                ("orderSn", json!({ "orderSn": h.order_sn })),
                ("applicantId", json!({ "applicantId": h.applicant })),
                ("goodsId", json!({ "goodsId": h.goods })),
                (
                    "deducted in one week",
                    json!({ "deductedFrom": h.deducted_from.to_rfc3339(), "deductedTo": h.deducted_to.to_rfc3339() }),
                ),
            ];
            for (name, filter) in filters {
                let admin = admin.clone();
                reads.push((
                    format!("history page of 50, filter {name}"),
                    64,
                    Arc::new(move |_| (admin.clone(), body(PAGE, json!({ "f": filter })))),
                ));
            }
        }
        if on("report") {
            // The last 31 days of the shop's zone (Asia/Shanghai, no daylight saving).
            let to = (chrono::Utc::now() + chrono::TimeDelta::hours(8)).date_naive();
            let from = to - chrono::TimeDelta::days(30);
            let admin = admin.clone();
            let vars = json!({ "from": from.to_string(), "to": to.to_string() });
            reads.push((
                format!(
                    "`accountDailyReport` over 31 days as ADMIN ({} accounts, {} payouts)",
                    fill::hist_accounts().len(),
                    h.payouts
                ),
                16,
                Arc::new(move |_| (admin.clone(), body(REPORT, vars.clone()))),
            ));
        }
        if on("summary") {
            let week =
                json!({ "deductedFrom": h.deducted_from.to_rfc3339(), "deductedTo": h.deducted_to.to_rfc3339() });
            for (name, filter) in [("none", json!(null)), ("deducted in one week", week)] {
                let admin = admin.clone();
                reads.push((
                    format!("history page of 50 + `summary`, filter {name} ({} payouts)", h.payouts),
                    16,
                    Arc::new(move |_| (admin.clone(), body(SUMMARY, json!({ "f": filter })))),
                ));
            }
        }
    } else if ON_HISTORY.iter().any(|s| on(s)) {
        eprintln!("   history scenarios skipped: with --url they need --history-file (see --help)");
    }
    if on("me") {
        let admin = tokens.admin(HOT);
        reads.push((
            "`{ me { id name role } }`".to_owned(),
            64,
            Arc::new(move |_| (admin.clone(), body(ME, json!({})))),
        ));
    }
    for (name, conns, make) in reads {
        let conns = plan.conns(conns);
        let reads_before = server::reads_by_database(&base).await;
        let o = load::drive(&graphql_url, conns, d, u64::MAX, move |_, n| {
            let (token, body) = make(n);
            Some(Req { token: Some(token), body })
        })
        .await;
        let mut row = Row::new(name, &label, conns, &o);
        row.base = Some(Base::Bare(conns, bucket(o.mean_body())));
        // With a standby: where the reads went, by the server's own count.
        if let (Some((s0, p0)), Some((s1, p1))) = (reads_before, server::reads_by_database(&base).await)
            && s1 + p1 > s0 + p0
        {
            let share = (s1 - s0) * 100.0 / (s1 + p1 - s0 - p0);
            row.notes = join(&row.notes, &format!("{share:.0} % of the queries answered by the standby"));
        }
        report.push(row, &o);
        if !check(report, &mut target) {
            return;
        }
    }

    if on("export")
        && let Some(h) = &history
    {
        export(&base, plan, tokens, h.payouts, &label, report).await;
        if !check(report, &mut target) {
            return;
        }
    }

    if on("ryw") {
        read_your_writes(&graphql_url, plan, tokens, &shop_pools, &label, report).await;
        if !check(report, &mut target) {
            return;
        }
    }

    if on("fanout") {
        fan_out(cli, plan, tokens, &mut target, fan.clone(), &label, report).await;
        if !check(report, &mut target) {
            return;
        }
    }

    if on("baselines") {
        baselines(plan, &target, &label, report).await;
    }
}

async fn fan_out(
    _cli: &Cli,
    plan: &Plan,
    tokens: &Tokens,
    target: &mut Target<'_>,
    pool: Arc<Pool>,
    label: &str,
    report: &mut Report,
) {
    let mut second = None;
    let targets = match target {
        Target::Owned { server, db, binary, logs } => {
            let mut targets = vec![fanout::Target { base: server.base.clone(), pid: Some(server.pid) }];
            if db.is_postgres() {
                let b = Proc::smallpay(binary, db, logs, "b").await;
                targets.push(fanout::Target { base: b.base.clone(), pid: Some(b.pid) });
                second = Some(b);
            }
            targets
        }
        Target::Deployment { base } => vec![fanout::Target { base: base.clone(), pid: None }],
    };
    let mutate = targets[0].base.clone();
    let instances = targets.len();
    let cpu = cpu::Sample::now();
    let f = fanout::run(
        &targets,
        &mutate,
        tokens,
        pool,
        plan.subscribers,
        plan.fan_rate,
        plan.fan_duration,
        &server::random_id(),
    )
    .await;
    let used = cpu.until(&cpu::Sample::now());
    if let Some(b) = second {
        b.stop().await;
    }
    let mut o = f.outcome;
    let lost = f.expected.saturating_sub(f.delivered);
    if lost > 0 {
        o.error(format!("{lost} of {} events not delivered", f.expected));
    }
    if f.duplicates > 0 {
        o.error(format!("{} events delivered twice", f.duplicates));
    }
    let scenario = if instances > 1 {
        format!("fan-out: `payoutStatusChanged`, {instances} instances, mutations on one; p50/p99 = answer → receipt")
    } else {
        "fan-out: `payoutStatusChanged`; p50/p99 = mutation's answer → receipt".to_owned()
    };
    let mut row = Row::new(scenario, label, f.subscribers, &o);
    row.conns = format!("{} subscribers", f.subscribers);
    // The CPU column per delivered message (each payout's share included).
    row.cpu = used.per(f.received_all);
    row.per_second = f.created as f64 / o.wall.as_secs_f64().max(1e-9);
    row.requests = f.created;
    let pct = if f.expected == 0 { 0.0 } else { f.delivered as f64 * 100.0 / f.expected as f64 };
    row.notes = format!(
        "delivered {}/{} ({pct:.1} %) at {:.0} payouts/s; from the request's start p50 {}, p99 {}; {}",
        f.delivered,
        f.expected,
        plan.fan_rate,
        ms(quantile(&f.from_request, 0.5)),
        ms(quantile(&f.from_request, 0.99)),
        match f.kib_per_subscriber {
            Some(k) => format!("{k:.0} KiB server memory (VmRSS) per idle subscriber"),
            None => "memory: n/a (not started by the bench)".to_owned(),
        }
    );
    if let Some(cpu) = f.cpu_ms {
        // Per payout (its two events, every subscriber's share and the mutation itself), and
        // per delivery: flat per delivery as subscribers grow means the fan-out is linear.
        let payouts = f.created.max(1) as f64;
        row.notes.push_str(&format!(
            "; server CPU {:.1} ms per payout, {:.1} µs per delivery",
            cpu as f64 / payouts,
            cpu as f64 * 1000.0 / f.received_all.max(1) as f64
        ));
    }
    if instances > 1 {
        // Where the tail is: the instance that ran the mutations, or one that learnt of them
        // from the database.
        let each: Vec<String> = f
            .by_target
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{} {} / {}", i + 1, ms(quantile(l, 0.5)), ms(quantile(l, 0.99))))
            .collect();
        row.notes.push_str(&format!("; p50 / p99 by instance (1 ran the mutations): {}", each.join(", ")));
    }
    report.push(row, &o);
}

/// Read-your-writes: each connection is an admin of its own (`ryw-<n>`, the shops in turn)
/// that creates a payout and then reads it back by id, for the scenario's time; a read that
/// does not find the payout its reader was just told about is an error. With a standby
/// (`--postgres-standby`, or a deployment with `SMALLPAY_DATABASE_REPLICA_URL` behind a
/// balancer that keeps an account on one instance: scripts/cluster.sh) this is the check that
/// no read is answered from a standby older than its reader's own last write.
async fn read_your_writes(
    graphql_url: &str,
    plan: &Plan,
    tokens: &Tokens,
    pools: &[Arc<Pool>],
    label: &str,
    report: &mut Report,
) {
    const READ: &str = "query($id: ID!) { payout(id: $id) { id status } }";
    let conns = plan.conns(16);
    let cpu = cpu::Sample::now();
    let started = Instant::now();
    let deadline = started + plan.duration;
    let mut workers = Vec::new();
    for w in 0..conns {
        let pool = pools[w % SHOPS].clone();
        let token = tokens.token(smallpay::auth::Role::Admin, Some(&fill::shop(w % SHOPS)), &format!("ryw-{w}"));
        let url = graphql_url.to_owned();
        workers.push(tokio::spawn(async move {
            let client = load::client();
            let mut out = Outcome::default();
            while Instant::now() < deadline {
                let Some(sn) = pool.take() else {
                    out.exhausted = true;
                    break;
                };
                let t = Instant::now();
                let create = Req { token: Some(token.clone()), body: body(CREATE, json!({ "i": create_input(sn) })) };
                let created = load::send(&client, &url, &create).await.and_then(|b| {
                    let v: Value = serde_json::from_slice(&b).map_err(|e| format!("{e}"))?;
                    v["data"]["createPayout"]["id"].as_str().map(str::to_owned).ok_or_else(|| format!("no id: {v}"))
                });
                let answer = match created {
                    Ok(id) => {
                        let read = Req { token: Some(token.clone()), body: body(READ, json!({ "id": id })) };
                        match load::send(&client, &url, &read).await {
                            Ok(b) if load::contains(&b, id.as_bytes()) => Ok(b.len()),
                            Ok(b) => Err(format!(
                                "a read missed its reader's own write (payout {id}): {}",
                                String::from_utf8_lossy(&b)
                            )),
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                };
                out.lat.push(load::micros(t.elapsed()));
                out.requests += 1;
                match answer {
                    Ok(bytes) => out.bytes += bytes as u64,
                    Err(e) => out.error(e),
                }
            }
            out
        }));
    }
    let mut o = Outcome::gather(workers, started).await;
    o.cpu = Some(cpu.until(&cpu::Sample::now()));
    let mut row = Row::new(
        format!("read-your-writes: `createPayout`, then `payout(id)` by the same account ({conns} accounts)"),
        label,
        conns,
        &o,
    );
    row.notes = join(&row.notes, "requests = write-then-read pairs; an error = a read that missed its own write");
    report.push(row, &o);
}

/// `GET /exports/payouts.csv` of the whole history shop, one file after another for the
/// scenario's time (at least one), each checked to hold every payout once (by its row count);
/// the row's throughput is in rows per second, its notes give files and megabytes per second.
/// Each file is asked for by an admin token of its own: the export's rate limit (5 an account,
/// then one per 12 s) is not what is measured.
async fn export(base: &str, plan: &Plan, tokens: &Tokens, payouts: usize, label: &str, report: &mut Report) {
    let client = load::client();
    let url = format!("{base}/exports/payouts.csv");
    let mut o = load::Outcome::default();
    let cpu = cpu::Sample::now();
    let started = Instant::now();
    let mut rows_total = 0u64;
    while o.requests == 0 || started.elapsed() < plan.duration {
        let token = tokens.token(smallpay::auth::Role::Admin, Some(HIST), &format!("bench-export-{}", o.requests));
        let t = Instant::now();
        let answer = client.get(&url).bearer_auth(&*token).send().await;
        let file = match answer {
            Ok(r) if r.status().is_success() => r.bytes().await.map_err(|e| format!("read: {e}")),
            Ok(r) => Err(format!("HTTP {}: {}", r.status(), r.text().await.unwrap_or_default())),
            Err(e) => Err(format!("send: {e}")),
        };
        o.lat.push(load::micros(t.elapsed()));
        o.requests += 1;
        match file {
            Ok(file) => {
                // Rows: the lines but the header (no cell of this file holds a line break).
                let rows = file.iter().filter(|b| **b == b'\n').count().saturating_sub(1);
                o.bytes += file.len() as u64;
                rows_total += rows as u64;
                if rows != payouts {
                    o.error(format!("a file of {rows} rows; the history holds {payouts}"));
                }
            }
            Err(e) => o.error(e),
        }
    }
    o.wall = started.elapsed();
    o.lat.sort_unstable();
    let mut row = Row::new(format!("`GET /exports/payouts.csv`, whole history ({payouts} payouts)"), label, 1, &o);
    // The CPU column per row exported.
    row.cpu = cpu.until(&cpu::Sample::now()).per(rows_total);
    let seconds = o.wall.as_secs_f64().max(1e-9);
    // The throughput column in rows; the files in the notes.
    row.per_second = rows_total as f64 / seconds;
    row.notes = join(
        &row.notes,
        &format!(
            "throughput and CPU per row; requests = files ({:.1} MB each, {:.1} MB/s, {:.2} files/s)",
            o.bytes as f64 / 1e6 / o.requests.max(1) as f64,
            o.bytes as f64 / 1e6 / seconds,
            o.requests as f64 / seconds
        ),
    );
    report.push(row, &o);
}

/// Raw inserts at 1 and 16 connections, and a bare handler for every read row's size.
async fn baselines(plan: &Plan, target: &Target<'_>, label: &str, report: &mut Report) {
    let d = plan.duration;
    let wanted: BTreeSet<Base> = report.rows.iter().filter(|r| r.database == label).filter_map(|r| r.base).collect();
    let mut bare: HashMap<usize, Proc> = HashMap::new();
    for key in wanted {
        let o = match key {
            Base::Inserts(conns) => {
                let Target::Owned { db, .. } = target else { continue };
                let o = baseline::raw_inserts(db.url(), conns, d).await;
                let row = Row::new(
                    "baseline: raw single-row INSERT + COMMIT transactions (server's pool settings)",
                    label,
                    conns,
                    &o,
                );
                report.push(row, &o);
                o
            }
            Base::Bare(conns, bytes) => {
                let Target::Owned { logs, .. } = target else { continue };
                if let std::collections::hash_map::Entry::Vacant(e) = bare.entry(bytes) {
                    e.insert(Proc::bare(bytes, logs).await);
                }
                let url = format!("{}/graphql", bare[&bytes].base);
                let o = load::drive(&url, conns, d, u64::MAX, |_, _| Some(Req { token: None, body: "{}".to_owned() }))
                    .await;
                let row = Row::new(format!("baseline: bare axum handler, {bytes}-byte body"), label, conns, &o);
                report.push(row, &o);
                o
            }
        };
        report.baselines.insert((label.to_owned(), key), o.per_second());
    }
    for (_, p) in bare {
        p.stop().await;
    }
}

fn print_table(cli: &Cli, report: &Report, took: Duration) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!();
    println!(
        "smallpay-bench, size {:?}, {} per scenario, {} on {cores} cores ({cpu}), took {:.0} s",
        cli.size,
        humantime::format_duration(Plan::new(cli).duration),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        took.as_secs_f64()
    );
    println!();
    println!(
        "| scenario | database | connections | requests | throughput | p50 | p99 | errors | vs baseline | CPU ms each: server / db / bench | notes |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &report.rows {
        let vs = match r.base.and_then(|b| report.baselines.get(&(r.database.clone(), b))) {
            Some(b) if *b > 0.0 => format!("{:.1} % of {}/s", r.per_second * 100.0 / b, thousands(*b)),
            _ => r.vs.clone(),
        };
        println!(
            "| {} | {} | {} | {} | {}/s | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.database,
            r.conns,
            thousands(r.requests as f64),
            thousands(r.per_second),
            ms(r.p50),
            ms(r.p99),
            r.errors,
            vs,
            r.cpu,
            r.notes
        );
    }
    if !report.failures.is_empty() {
        println!();
        println!("Failures (the first error of each):");
        for f in &report.failures {
            println!("- {f}");
        }
    }
}

/// The group-commit note of a creation row: how the server's batches went since `before`.
async fn batching_since(base: &str, before: Option<server::Batching>) -> String {
    match (before, server::Batching::read(base).await) {
        (Some(before), Some(after)) => after.note_since(&before),
        _ => String::new(),
    }
}
