//! CPU time per request, on each side: every `smallpay` process on the machine (the server
//! instances, however many and whoever started them) and `haproxy` (a balancer in front of
//! them), every `postgres` process (the backends of the database, its WAL writer and
//! checkpointer, the WAL sender), those of a hot standby apart (its startup process replaying
//! the WAL and its backends answering reads: [`set_standby`]), and the bench itself. The
//! capacity model in BENCHMARKS.md is built from these.
//!
//! Read from `/proc/<pid>/stat` (`utime` + `stime`, 100 ticks a second) before and after a
//! scenario. A process that exits during the scenario takes its time with it (the server's
//! pools keep their connections, so its backends live through a scenario); one that starts
//! during it counts whole. The time is what the processes ran, on whichever cores.
use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

/// The standby's postmaster (0: none): its children's time counts as the standby's.
static STANDBY: AtomicU32 = AtomicU32::new(0);

/// The standby's postmaster is `pid` (the parent of any of its backends).
pub fn set_standby(pid: u32) {
    STANDBY.store(pid, Ordering::Relaxed);
}

/// The parent of a backend whose pid `pg_backend_pid()` gave.
pub fn parent_of(pid: u32) -> Option<u32> {
    stat(pid).map(|s| s.parent)
}

/// CPU time used so far, by side.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub server: Duration,
    pub database: Duration,
    pub standby: Duration,
    pub bench: Duration,
}

/// CPU time used between two samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct Used {
    pub server: Duration,
    pub database: Duration,
    pub standby: Duration,
    pub bench: Duration,
}

impl Sample {
    /// Every process's time now (zero where `/proc` cannot be read).
    pub fn now() -> Sample {
        let mut sample = Sample::default();
        let me = std::process::id();
        let standby = STANDBY.load(Ordering::Relaxed);
        let Ok(dir) = std::fs::read_dir("/proc") else { return sample };
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let Some(stat) = stat(pid) else { continue };
            match stat.name.as_str() {
                _ if pid == me => sample.bench += stat.time,
                "smallpay" | "haproxy" => sample.server += stat.time,
                "postgres" if standby != 0 && (pid == standby || stat.parent == standby) => {
                    sample.standby += stat.time;
                }
                "postgres" => sample.database += stat.time,
                _ => {}
            }
        }
        sample
    }

    /// What was used from `self` until `later`.
    pub fn until(&self, later: &Sample) -> Used {
        Used {
            server: later.server.saturating_sub(self.server),
            database: later.database.saturating_sub(self.database),
            standby: later.standby.saturating_sub(self.standby),
            bench: later.bench.saturating_sub(self.bench),
        }
    }
}

impl Used {
    /// `server / database / bench` milliseconds per `n` (requests, rows, deliveries); the
    /// database's as `primary + standby` when a standby ran.
    pub fn per(&self, n: u64) -> String {
        if n == 0 {
            return "—".to_owned();
        }
        let each = |d: Duration| d.as_secs_f64() * 1e3 / n as f64;
        let database = if self.standby.is_zero() {
            short(each(self.database))
        } else {
            format!("{} + {}", short(each(self.database)), short(each(self.standby)))
        };
        format!("{} / {database} / {}", short(each(self.server)), short(each(self.bench)))
    }
}

/// Milliseconds with three significant digits.
fn short(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{ms:.1}")
    } else if ms >= 1.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.3}")
    }
}

struct Stat {
    name: String,
    parent: u32,
    time: Duration,
}

/// A process's command name, parent and CPU time: `/proc/<pid>/stat`'s `comm`, `ppid`,
/// `utime` and `stime`.
fn stat(pid: u32) -> Option<Stat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // ppid is field 4 of the line, utime and stime 14 and 15: 1, 11 and 12 after the name.
    let parent = fields.get(1)?.parse().ok()?;
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Stat { name, parent, time: Duration::from_millis(ticks * 10) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_counts_its_own_time() {
        let before = Sample::now();
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let used = before.until(&Sample::now());
        assert!(used.bench >= Duration::from_millis(20), "{used:?}");
        assert_eq!(Used { bench: Duration::from_millis(30), ..Used::default() }.per(3), "0.000 / 0.000 / 10.0");
    }
}
