//! CPU time per request, on each side: every `smallpay` process on the machine (the server
//! instances, however many and whoever started them), every `postgres` process (the backends
//! of the database and its standby, their WAL writer and checkpointer), and the bench itself.
//! The capacity model in BENCHMARKS.md is built from these.
//!
//! Read from `/proc/<pid>/stat` (`utime` + `stime`, 100 ticks a second) before and after a
//! scenario. A process that exits during the scenario takes its time with it (the server's
//! pools keep their connections, so its backends live through a scenario); one that starts
//! during it counts whole. The time is what the processes ran, on whichever cores.
use std::time::Duration;

/// CPU time used so far, by side.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub server: Duration,
    pub database: Duration,
    pub bench: Duration,
}

/// CPU time used between two samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct Used {
    pub server: Duration,
    pub database: Duration,
    pub bench: Duration,
}

impl Sample {
    /// Every process's time now (zero where `/proc` cannot be read).
    pub fn now() -> Sample {
        let mut sample = Sample::default();
        let me = std::process::id();
        let Ok(dir) = std::fs::read_dir("/proc") else { return sample };
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let Some((name, time)) = stat(pid) else { continue };
            if pid == me {
                sample.bench += time;
            } else if name == "smallpay" {
                sample.server += time;
            } else if name == "postgres" {
                sample.database += time;
            }
        }
        sample
    }

    /// What was used from `self` until `later`.
    pub fn until(&self, later: &Sample) -> Used {
        Used {
            server: later.server.saturating_sub(self.server),
            database: later.database.saturating_sub(self.database),
            bench: later.bench.saturating_sub(self.bench),
        }
    }
}

impl Used {
    /// `server / database / bench` milliseconds per `n` (requests, rows, deliveries).
    pub fn per(&self, n: u64) -> String {
        if n == 0 {
            return "—".to_owned();
        }
        let each = |d: Duration| d.as_secs_f64() * 1e3 / n as f64;
        format!("{} / {} / {}", short(each(self.server)), short(each(self.database)), short(each(self.bench)))
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

/// A process's command name and CPU time: `/proc/<pid>/stat`'s `comm`, `utime` and `stime`.
fn stat(pid: u32) -> Option<(String, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((name, Duration::from_millis(ticks * 10)))
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
