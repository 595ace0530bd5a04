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

/// CPU seconds a process used so far, all its threads: user and system apart.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTimes {
    /// User mode.
    pub user: f64,
    /// Kernel mode (system calls, and on loopback much of the TCP work of both ends).
    pub sys: f64,
}

impl CpuTimes {
    /// User + system.
    pub fn total(&self) -> f64 {
        self.user + self.sys
    }
}

/// The parent pid and CPU times in one `/proc/PID/stat` line.
fn parse_stat(stat: &str) -> Option<(u32, CpuTimes)> {
    // The command name (field 2) may hold spaces; fields resume after its `)`.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // Fields 4 (ppid), 14 and 15 (utime, stime) of the whole line are 1, 11 and 12
    // after `)`.
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let ticks = clock_ticks();
    Some((
        ppid,
        CpuTimes {
            user: utime / ticks,
            sys: stime / ticks,
        },
    ))
}

/// CPU times used so far by every thread of process `pid` (`"self"` for this process).
pub fn cpu_times(pid: &str) -> Option<CpuTimes> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?).map(|(_, t)| t)
}

/// User + system CPU seconds used so far by every thread of process `pid`
/// (`"self"` for this process).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    cpu_times(pid).map(|t| t.total())
}

/// CPU times of process `pid` and of every process below it, running now: a server
/// started through a wrapper (a shell, `npm start`) is counted whole. One pass over
/// `/proc`; `None` if `pid` itself is gone.
pub fn tree_cpu_times(pid: &str) -> Option<CpuTimes> {
    let root: u32 = pid.parse().ok()?;
    let own = cpu_times(pid)?;
    let mut procs: Vec<(u32, u32, CpuTimes)> = Vec::new();
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if child == root {
            continue;
        }
        if let Some((ppid, times)) = fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| parse_stat(&stat))
        {
            procs.push((child, ppid, times));
        }
    }
    let mut tree = vec![root];
    let mut total = own;
    let mut grew = true;
    while grew {
        grew = false;
        for (child, ppid, times) in &procs {
            if tree.contains(ppid) && !tree.contains(child) {
                tree.push(*child);
                total.user += times.user;
                total.sys += times.sys;
                grew = true;
            }
        }
    }
    Some(total)
}

/// Resident set size of process `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Open file descriptors of process `pid` (entries of `/proc/PID/fd`).
pub fn fd_count(pid: &str) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// TCP connections in state ESTABLISHED whose local port is `port` (`/proc/net/tcp` and
/// `/proc/net/tcp6`): on loopback, a server's accepted connections on its port (the
/// clients' ends have it as their remote port, and are not counted).
pub fn established_on_port(port: u16) -> Option<usize> {
    let mut count = 0;
    let mut read_any = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        read_any = true;
        count += count_established(&text, port);
    }
    read_any.then_some(count)
}

/// Counts the lines of a `/proc/net/tcp` table in state `01` (ESTABLISHED) with local
/// port `port`.
fn count_established(table: &str, port: u16) -> usize {
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let mut fields = line.split_ascii_whitespace();
            let local = fields.nth(1);
            let state = fields.nth(1);
            state == Some("01")
                && local
                    .and_then(|l| l.rsplit_once(':'))
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                    == Some(port)
        })
        .count()
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

/// CPU seconds of a process (and its children), of this one and of the whole machine,
/// sampled together, to report them over one measurement window.
#[derive(Clone, Copy, Debug)]
pub struct CpuSample {
    server: CpuTimes,
    own: CpuTimes,
    machine: f64,
}

/// CPU use over a window, in cores (1.0 = one core busy all the time).
#[derive(Clone, Copy, Debug)]
pub struct CpuUsage {
    /// The server process and its children, user + system.
    pub server: f64,
    /// The server's user-mode part.
    pub server_user: f64,
    /// The server's kernel-mode part.
    pub server_sys: f64,
    /// This process (the load generator), user + system.
    pub own: f64,
    /// This process's kernel-mode part.
    pub own_sys: f64,
    /// Everything else on the machine.
    pub others: f64,
}

impl CpuSample {
    /// Samples the server `pid` (with the processes below it; several servers as
    /// `pid,pid,..`, added up), this process and the machine now.
    pub fn take(server_pid: &str) -> Self {
        let server =
            server_pid
                .split(',')
                .filter_map(tree_cpu_times)
                .fold(CpuTimes::default(), |sum, t| CpuTimes {
                    user: sum.user + t.user,
                    sys: sum.sys + t.sys,
                });
        Self {
            server,
            own: cpu_times("self").unwrap_or_default(),
            machine: machine_busy_seconds().unwrap_or(0.0),
        }
    }

    /// CPU used since `earlier` over `seconds` of wall time.
    pub fn usage_since(&self, earlier: &CpuSample, seconds: f64) -> CpuUsage {
        let server_user = (self.server.user - earlier.server.user) / seconds;
        let server_sys = (self.server.sys - earlier.server.sys) / seconds;
        let own = (self.own.total() - earlier.own.total()) / seconds;
        let own_sys = (self.own.sys - earlier.own.sys) / seconds;
        let machine = (self.machine - earlier.machine) / seconds;
        let server = server_user + server_sys;
        CpuUsage {
            server,
            server_user,
            server_sys,
            own,
            own_sys,
            others: (machine - server - own).max(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_past_odd_names() {
        let line = "42 (a (b) c) S 7 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        let (ppid, times) = parse_stat(line).unwrap();
        assert_eq!(ppid, 7);
        let ticks = clock_ticks();
        assert_eq!(
            times,
            CpuTimes {
                user: 250.0 / ticks,
                sys: 50.0 / ticks
            }
        );
    }

    #[test]
    fn counts_established_connections_on_a_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue\n\
            0: 0100007F:1F90 00000000:0000 0A 00000000:00000000\n\
            1: 0100007F:1F90 0100007F:9C40 01 00000000:00000000\n\
            2: 0100007F:9C40 0100007F:1F90 01 00000000:00000000\n\
            3: 0100007F:1F90 0100007F:9C41 06 00000000:00000000\n";
        assert_eq!(count_established(table, 8080), 1);
        assert_eq!(count_established(table, 40000), 1);
        assert_eq!(count_established(table, 1), 0);
    }

    #[test]
    fn counts_a_process_descriptors() {
        // Two children that differ by one descriptor: `sleep` as it is, and `sleep`
        // with one more file open (each inherits what the test process passes on, e.g.
        // cargo's jobserver pipes). Not this process: the other tests' threads open
        // files while this one counts.
        let spawn = |script: &str| {
            std::process::Command::new("sh")
                .args(["-c", script])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("sh runs")
        };
        let count = |child: &std::process::Child| {
            // Counted once the shell has become `sleep` (its `exec`) and `sleep` is
            // asleep (state `S`): while it starts it may hold a file open for a moment
            // (its locale), and it opens nothing while it waits.
            let pid = child.id().to_string();
            let exe = format!("/proc/{pid}/exe");
            let stat = format!("/proc/{pid}/stat");
            let asleep = || {
                fs::read_link(&exe).is_ok_and(|p| p.ends_with("sleep"))
                    && fs::read_to_string(&stat).is_ok_and(|s| {
                        // The state follows the command name's closing parenthesis.
                        s.rsplit_once(") ")
                            .is_some_and(|(_, rest)| rest.starts_with('S'))
                    })
            };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !asleep() {
                assert!(std::time::Instant::now() < deadline, "sleep did not start");
                std::thread::yield_now();
            }
            fd_count(&pid)
        };
        let mut plain = spawn("exec sleep 30");
        let mut one_more = spawn("exec sleep 30 3</dev/null");
        let (a, b) = (count(&plain), count(&one_more));
        for child in [&mut plain, &mut one_more] {
            child.kill().expect("sleep ends");
            child.wait().expect("sleep is reaped");
        }
        let a = a.expect("/proc/PID/fd");
        assert!(a >= 3, "stdin, stdout and stderr at least: {a}");
        assert_eq!(b, Some(a + 1));
        assert!(fd_count("self").is_some_and(|n| n >= 3));
        assert_eq!(fd_count("0"), None);
    }

    #[test]
    fn reads_own_process() {
        assert!(cpu_seconds("self").is_some());
        let pid = std::process::id().to_string();
        // The process's own times first: they only grow, and the tree's include them.
        let own = cpu_times(&pid).unwrap();
        let tree = tree_cpu_times(&pid).unwrap();
        assert!(tree.total() >= own.total());
        assert!(tree_cpu_times("999999999").is_none());
        assert!(rss_kib("self").unwrap() > 0);
        assert!(machine_busy_seconds().unwrap() > 0.0);
    }
}
