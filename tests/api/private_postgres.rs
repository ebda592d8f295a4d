//! A PostgreSQL server of a test's own: `initdb` into a temporary directory, its own port on
//! 127.0.0.1 (never the shared server on 5432), and a hot standby of it (`pg_basebackup -R`).
//! The outage test crashes one; the standby tests read from one.
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

/// A PostgreSQL server of the test's own, in a temporary directory owned by the `postgres` OS
/// user when the test runs as root. Dropping it stops the server and removes the directory.
pub struct PrivatePostgres {
    bin: PathBuf,
    root: PathBuf,
    port: u16,
    /// `runuser`, when the test runs as root (initdb and postgres refuse root).
    runuser: Option<PathBuf>,
}

impl PrivatePostgres {
    /// `initdb` and start; `None` (with a notice) when the tools or the user are missing.
    pub async fn start() -> Option<PrivatePostgres> {
        let pg = PrivatePostgres::place("smallpay-pg")?;
        let mut initdb = pg.command("initdb");
        initdb.arg("-D").arg(pg.data()).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]);
        run(initdb, Duration::from_secs(120), "initdb").await.unwrap_or_else(|e| panic!("{e}"));
        pg.pg_ctl_start().await;
        Some(pg)
    }

    /// A hot standby of this server, streaming from it: `pg_basebackup -R` into a directory
    /// and port of its own, started. `None` (with a notice) as for [`PrivatePostgres::start`].
    pub async fn standby(&self) -> Option<PrivatePostgres> {
        let standby = PrivatePostgres::place("smallpay-standby")?;
        let mut backup = standby.command("pg_basebackup");
        backup.arg("-D").arg(standby.data()).args([
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
        ]);
        backup.arg("-p").arg(self.port.to_string());
        run(backup, Duration::from_secs(120), "pg_basebackup").await.unwrap_or_else(|e| panic!("{e}"));
        // Every statement in the standby's log: a test counts the reads it served.
        let settings = standby.data().join("postgresql.auto.conf");
        let mut auto = std::fs::read_to_string(&settings).expect("pg_basebackup -R writes postgresql.auto.conf");
        auto.push_str("log_statement = 'all'\n");
        std::fs::write(&settings, auto).expect("write postgresql.auto.conf");
        standby.pg_ctl_start().await;
        Some(standby)
    }

    /// A temporary directory (owned by `postgres` when the test runs as root) and a free port.
    fn place(prefix: &str) -> Option<PrivatePostgres> {
        let Some(bin) = postgres_bin() else {
            eprintln!("notice: initdb/pg_ctl not found (PATH, /usr/lib/postgresql/*/bin); skipping this test");
            return None;
        };
        let (runuser, ids) = if is_root() {
            let Some(runuser) =
                which("runuser").or_else(|| Some(PathBuf::from("/usr/sbin/runuser")).filter(|p| p.is_file()))
            else {
                eprintln!("notice: running as root without runuser; skipping this test");
                return None;
            };
            let Some(ids) = postgres_ids() else {
                eprintln!("notice: running as root and there is no `postgres` OS user; skipping this test");
                return None;
            };
            (Some(runuser), Some(ids))
        } else {
            (None, None)
        };
        let root = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&root).expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port();
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(&root, Some(uid), Some(gid)).expect("chown the temp dir to postgres");
        }
        Some(PrivatePostgres { bin, root, port, runuser })
    }

    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn log(&self) -> PathBuf {
        self.root.join("server.log")
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// `program` of the PostgreSQL binaries, as the server's user.
    pub fn std_command(&self, program: &str) -> std::process::Command {
        let program = self.bin.join(program);
        let mut command = match &self.runuser {
            Some(runuser) => {
                let mut c = std::process::Command::new(runuser);
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            }
            None => std::process::Command::new(program),
        };
        command.current_dir(&self.root).stdin(Stdio::null());
        command
    }

    pub fn command(&self, program: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::from(self.std_command(program));
        command.kill_on_drop(true);
        command
    }

    pub async fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c shared_buffers=16MB -c max_connections=50",
            self.port,
            self.root.display()
        );
        let mut start = self.command("pg_ctl");
        start.arg("-D").arg(self.data()).arg("-o").arg(options).arg("-l").arg(self.log());
        start.args(["-w", "-t", "30", "start"]);
        if let Err(e) = run(start, Duration::from_secs(40), "pg_ctl start").await {
            panic!("{e}\n{}", self.log_tail());
        }
    }

    /// A crash-like stop: the server is killed, not shut down.
    pub async fn stop_immediate(&self) {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "-t", "20", "stop"]);
        if let Err(e) = run(stop, Duration::from_secs(30), "pg_ctl stop").await {
            panic!("{e}\n{}", self.log_tail());
        }
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!("server log (tail):\n{}", lines[lines.len().saturating_sub(40)..].join("\n"))
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
        // Bounded by pg_ctl's own -t; a server already stopped makes it fail, which is fine.
        let mut stop = self.std_command("pg_ctl");
        stop.arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "-t", "10", "stop"]);
        let _ = stop.stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Runs `command` to completion within `limit` (killed after it).
pub async fn run(mut command: tokio::process::Command, limit: Duration, what: &str) -> Result<(), String> {
    let output = tokio::time::timeout(limit, command.output())
        .await
        .map_err(|_| format!("{what}: no answer within {limit:?}"))?
        .map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what}: {}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// A directory holding `initdb`, `pg_ctl` and `pg_basebackup`: on PATH, else Debian's newest.
fn postgres_bin() -> Option<PathBuf> {
    let both = |dir: &Path| ["initdb", "pg_ctl", "pg_basebackup"].iter().all(|p| dir.join(p).is_file());
    if let Some(dir) = which("pg_ctl").and_then(|p| p.parent().map(Path::to_owned)).filter(|d| both(d)) {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, dir)| both(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The `postgres` user's uid and gid.
fn postgres_ids() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = std::process::Command::new("id").args([flag, "postgres"]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())?
    };
    Some((id("-u")?, id("-g")?))
}
