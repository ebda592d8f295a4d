//! The processes under test: the real `smallpay` binary (or the bench's own bare server) as
//! a child, found by its `listening on URL` line; and the databases it runs on, created fresh
//! and removed after.
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use sea_orm::ConnectionTrait;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// The HS256 secret the bench's servers run with, so that the bench can mint tokens.
pub const JWT_SECRET: &str = "smallpay-bench-secret-0123456789abcdef0123456789";
const SEAL_KEY: &str = "smallpay-bench-seal-key-0123456789abcdef012345678";

/// A fresh database: a temporary SQLite file, or a PostgreSQL database created for the run and
/// dropped after.
pub enum BenchDb {
    Sqlite {
        dir: PathBuf,
        url: String,
    },
    /// `replica`: the same database on a hot standby of the server `admin_url` names.
    Postgres {
        admin_url: String,
        name: String,
        url: String,
        replica: Option<String>,
    },
}

impl BenchDb {
    pub fn label(&self) -> &'static str {
        match self {
            BenchDb::Sqlite { .. } => "SQLite",
            BenchDb::Postgres { replica: None, .. } => "PostgreSQL",
            BenchDb::Postgres { replica: Some(_), .. } => "PostgreSQL + standby",
        }
    }

    /// The standby's URL for this database, if the run has one.
    pub fn replica(&self) -> Option<&str> {
        match self {
            BenchDb::Postgres { replica, .. } => replica.as_deref(),
            BenchDb::Sqlite { .. } => None,
        }
    }

    pub fn url(&self) -> &str {
        match self {
            BenchDb::Sqlite { url, .. } | BenchDb::Postgres { url, .. } => url,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, BenchDb::Postgres { .. })
    }

    pub fn sqlite() -> BenchDb {
        let dir = std::env::temp_dir().join(format!("smallpay-bench-{}", random_id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
        BenchDb::Sqlite { dir, url }
    }

    /// A new database on `admin_url`'s server; `standby`: a hot standby of that server, on
    /// which the server under test reads (`SMALLPAY_DATABASE_REPLICA_URL`).
    pub async fn postgres(admin_url: &str, standby: Option<&str>) -> BenchDb {
        let name = format!("smallpay_bench_{}", random_id());
        let admin = sea_orm::Database::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {admin_url}: {e}"));
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
        admin.close().await.ok();
        let url = replace_db_name(admin_url, &name);
        let replica = standby.map(|s| replace_db_name(s, &name));
        BenchDb::Postgres { admin_url: admin_url.to_owned(), name, url, replica }
    }

    /// Removes the file or drops the database.
    pub async fn remove(self) {
        match self {
            BenchDb::Sqlite { dir, .. } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            BenchDb::Postgres { admin_url, name, .. } => {
                if let Ok(admin) = sea_orm::Database::connect(admin_url.as_str()).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    admin.close().await.ok();
                }
            }
        }
    }
}

pub fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// `postgres://u@h:p/db?x` with the database name replaced.
fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A child process serving HTTP on 127.0.0.1.
pub struct Proc {
    child: Child,
    pub pid: u32,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    log: PathBuf,
}

/// The environment every smallpay the bench starts runs with: no test clock, a fixed JWT
/// secret, a sealing key, no rate limit on mutations, room for thousands of sockets, quiet logs.
fn server_env(cmd: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("SMALLPAY_") || key == "DATABASE_URL" || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.env("SMALLPAY_ENV", "development")
        .env("SMALLPAY_TEST_CLOCK", "0")
        .env("SMALLPAY_JWT_SECRET", JWT_SECRET)
        .env("SMALLPAY_SEAL_KEY", SEAL_KEY)
        .env("SMALLPAY_MUTATION_RATE", "1000000000")
        .env("SMALLPAY_MUTATION_BURST", "1000000000")
        .env("SMALLPAY_MAX_CONNECTIONS", "20000")
        .env("SMALLPAY_MAX_SOCKETS_PER_ACCOUNT", "100000")
        .env("SMALLPAY_GRAPHIQL", "0")
        .env("RUST_LOG", "warn");
}

/// `smallpay migrate` on `url`.
pub async fn migrate(binary: &Path, url: &str) {
    let mut cmd = Command::new(binary);
    server_env(&mut cmd);
    let out = cmd.arg("--database-url").arg(url).arg("migrate").output().await.expect("run smallpay migrate");
    assert!(
        out.status.success(),
        "smallpay migrate failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `smallpay audit` on `url`: its report, and whether the books are clean.
pub async fn audit(binary: &Path, url: &str) -> (bool, String) {
    let mut cmd = Command::new(binary);
    server_env(&mut cmd);
    let out = cmd.arg("--database-url").arg(url).arg("audit").output().await.expect("run smallpay audit");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

impl Proc {
    /// `smallpay serve --no-demo` on `url`, on a free port.
    pub async fn smallpay(binary: &Path, db: &BenchDb, log_dir: &Path, tag: &str) -> Proc {
        let url = db.url();
        let mut cmd = Command::new(binary);
        server_env(&mut cmd);
        if let Some(replica) = db.replica() {
            cmd.env("SMALLPAY_DATABASE_REPLICA_URL", replica);
        }
        cmd.arg("--bind").arg("127.0.0.1:0").arg("--database-url").arg(url).arg("serve").arg("--no-demo");
        Proc::start(cmd, log_dir.join(format!("{tag}.log"))).await
    }

    /// This binary's hidden `--bare-server BYTES`.
    pub async fn bare(bytes: usize, log_dir: &Path) -> Proc {
        let me = std::env::current_exe().expect("current exe");
        let mut cmd = Command::new(me);
        cmd.arg("--bare-server").arg(bytes.to_string());
        Proc::start(cmd, log_dir.join("bare.log")).await
    }

    async fn start(mut cmd: Command, log: PathBuf) -> Proc {
        let err = std::fs::File::create(&log).expect("log file");
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(err).kill_on_drop(true);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let pid = child.id().expect("pid");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let found = tokio::time::timeout(Duration::from_secs(120), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return Some(url.trim().to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(base) = found else {
            let _ = child.start_kill();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("{cmd:?} printed no `listening on` line; its stderr:\n{text}");
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Proc { child, pid, base, log }
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then up to 30 s for a graceful exit, then SIGKILL.
    pub async fn stop(mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status().await;
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// Waits (up to two minutes) until the standby has replayed everything the primary had
/// written when this was called: the bench's bulk load is there before a read is measured.
pub async fn standby_caught_up(primary: &str, standby: &str) {
    let lsn = |db: sea_orm::DatabaseConnection, sql: &'static str| async move {
        let row = db.query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql)).await;
        row.ok().flatten().and_then(|r| r.try_get_by_index::<String>(0).ok())
    };
    let Ok(p) = sea_orm::Database::connect(primary).await else { return };
    let Some(target) = lsn(p.clone(), "SELECT pg_current_wal_insert_lsn()::text").await else { return };
    p.close().await.ok();
    let Ok(s) = sea_orm::Database::connect(standby).await else {
        eprintln!("   the standby does not answer: reads will go to the primary");
        return;
    };
    // Its processes' CPU apart: the postmaster is the parent of this connection's backend.
    let backend =
        s.query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, "SELECT pg_backend_pid()"));
    if let Some(pid) = backend.await.ok().flatten().and_then(|r| r.try_get_by_index::<i32>(0).ok())
        && let Some(postmaster) = u32::try_from(pid).ok().and_then(crate::cpu::parent_of)
    {
        crate::cpu::set_standby(postmaster);
    }
    let started = std::time::Instant::now();
    let sql = format!("SELECT (pg_last_wal_replay_lsn() >= '{target}'::pg_lsn)::text");
    while started.elapsed() < Duration::from_secs(120) {
        let done = s.query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql.clone())).await;
        if done.ok().flatten().and_then(|r| r.try_get_by_index::<String>(0).ok()).as_deref() == Some("true") {
            eprintln!("   the standby replayed the fill in {:.1} s", started.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.close().await.ok();
}

/// How many queries the server at `base` has answered from the standby (its
/// `graphql_reads_total{database="standby"}`), and from the primary.
pub async fn reads_by_database(base: &str) -> Option<(f64, f64)> {
    let text = metrics_text(base).await?;
    let count = |database: &str| metric_sum(&text, "graphql_reads_total", &format!("database=\"{database}\""));
    Some((count("standby"), count("primary")))
}

/// The server's `/metrics` page.
async fn metrics_text(base: &str) -> Option<String> {
    reqwest::get(format!("{base}/metrics")).await.ok()?.text().await.ok()
}

/// The sum of the samples of metric `name` (every label set whose text contains `labels`;
/// `""` for all) in a Prometheus text page.
fn metric_sum(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| l.split([' ', '{']).next() == Some(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The server's group-commit counters so far (SQLite's commit pipeline; all zero on
/// PostgreSQL), from its `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Batching {
    batches: f64,
    writes: f64,
    /// Seconds the writes waited, summed: between their work's end and their batch's commit;
    /// and before their work began (in the queue).
    in_batch: f64,
    in_queue: f64,
}

impl Batching {
    pub async fn read(base: &str) -> Option<Batching> {
        let text = metrics_text(base).await?;
        let value = |name: &str| metric_sum(&text, name, "");
        Some(Batching {
            batches: value("db_write_batches_total"),
            writes: value("db_write_batch_jobs_total"),
            in_batch: value("db_write_batch_wait_seconds_sum"),
            in_queue: value("db_write_queue_seconds_sum"),
        })
    }

    /// What happened since `before`, as a table note (empty when no batch ran).
    pub fn note_since(&self, before: &Batching) -> String {
        let batches = self.batches - before.batches;
        let writes = self.writes - before.writes;
        if batches < 1.0 || writes < 1.0 {
            return String::new();
        }
        format!(
            "group commit: {:.1} writes a batch; a write waited {:.1} ms in the queue and {:.1} ms in its batch (means)",
            writes / batches,
            (self.in_queue - before.in_queue) * 1e3 / writes,
            (self.in_batch - before.in_batch) * 1e3 / writes,
        )
    }
}

/// The process's CPU time so far (user + system), in milliseconds: `/proc/<pid>/stat`'s
/// `utime` and `stime` in clock ticks (100 a second on Linux, `USER_HZ`).
pub fn cpu_ms(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count the fields after its closing ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10)
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
