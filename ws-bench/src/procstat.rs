//! CPU time and resident memory of a process, read from `/proc`.

use std::fs;
use std::process::Command;
use std::sync::OnceLock;

/// Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`, 100 if unknown).
fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|ticks| *ticks > 0.0)
            .unwrap_or(100.0)
    })
}

/// User + system CPU seconds used so far by every thread of process `pid`
/// (`"self"` for this process).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields resume after its `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // Fields 14 and 15 of the whole line (utime, stime) are 11 and 12 after `)`.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Resident set size of process `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU seconds the whole machine has been busy (all cores, `/proc/stat`).
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .split_ascii_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: all but idle and iowait.
    let idle = fields.get(3)? + fields.get(4)?;
    Some((fields.iter().take(8).sum::<f64>() - idle) / clock_ticks())
}

/// CPU seconds of a process, of this one and of the whole machine, sampled together,
/// to report them over one measurement window.
#[derive(Clone, Copy, Debug)]
pub struct CpuSample {
    server: f64,
    own: f64,
    machine: f64,
}

/// CPU use over a window, in cores (1.0 = one core busy all the time).
#[derive(Clone, Copy, Debug)]
pub struct CpuUsage {
    /// The server process.
    pub server: f64,
    /// This process (the load generator).
    pub own: f64,
    /// Everything else on the machine.
    pub others: f64,
}

impl CpuSample {
    /// Samples the server `pid`, this process and the machine now.
    pub fn take(server_pid: &str) -> Self {
        Self {
            server: cpu_seconds(server_pid).unwrap_or(0.0),
            own: cpu_seconds("self").unwrap_or(0.0),
            machine: machine_busy_seconds().unwrap_or(0.0),
        }
    }

    /// CPU used since `earlier` over `seconds` of wall time.
    pub fn usage_since(&self, earlier: &CpuSample, seconds: f64) -> CpuUsage {
        let server = (self.server - earlier.server) / seconds;
        let own = (self.own - earlier.own) / seconds;
        let machine = (self.machine - earlier.machine) / seconds;
        CpuUsage {
            server,
            own,
            others: (machine - server - own).max(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        assert!(cpu_seconds("self").is_some());
        assert!(rss_kib("self").unwrap() > 0);
        assert!(machine_busy_seconds().unwrap() > 0.0);
    }
}
