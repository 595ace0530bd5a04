//! The result of one measurement: the load generator prints it as one JSON line, the
//! driver reads it back.

use serde::{Deserialize, Serialize};

use crate::procstat::CpuUsage;

/// One measurement of one scenario against one server.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Record {
    /// Scenario name (`echo-20b`, `broadcast-max`, ...).
    pub scenario: String,
    /// Length of the measurement window, seconds.
    pub seconds: f64,
    /// Events counted in the window: echoed messages, deliveries or handshakes.
    pub count: u64,
    /// `count / seconds`.
    pub rate: f64,
    /// Latency percentiles in microseconds (round trip or delivery), where measured.
    pub p50_us: Option<f64>,
    /// 99th percentile, microseconds.
    pub p99_us: Option<f64>,
    /// Server CPU over the window, in cores (1.0 = one core busy all the time): user +
    /// system, the server's process and those below it.
    pub server_cpu: f64,
    /// The user-mode part of `server_cpu` (absent in records from before the split).
    #[serde(default)]
    pub server_user_cpu: Option<f64>,
    /// The kernel-mode part of `server_cpu`.
    #[serde(default)]
    pub server_sys_cpu: Option<f64>,
    /// Load generator CPU over the window, in cores.
    pub loadgen_cpu: f64,
    /// The kernel-mode part of `loadgen_cpu`.
    #[serde(default)]
    pub loadgen_sys_cpu: Option<f64>,
    /// CPU used by every other process on the machine over the window, in cores.
    #[serde(default)]
    pub other_cpu: f64,
    /// Bytes the client wrote plus read, per echoed message (deflate scenarios).
    pub wire_bytes_per_msg: Option<f64>,
    /// Server RSS increase per open idle connection, KiB.
    pub idle_kib_per_conn: Option<f64>,
    /// Server RSS increase per connection after each exchanged one 256 KiB message, KiB.
    pub after_256k_kib_per_conn: Option<f64>,
    /// Server RSS at the end of the window, KiB.
    pub server_rss_kib: Option<u64>,
    /// Wrong or missing replies seen (should be 0).
    pub errors: u64,
    /// Free-form remark (negotiated extension, connections opened, ...).
    pub note: String,
    /// The `soak` scenario's figures (absent in other scenarios).
    #[serde(default)]
    pub soak: Option<Soak>,
}

/// What the `soak` scenario measured: idle connections held through a churn of short
/// and broken ones, and what the server kept afterwards.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Soak {
    /// Idle connections opened before the churn and held through it.
    pub idle: usize,
    /// Seconds of churn.
    pub churn_s: f64,
    /// Churn rounds completed, by kind: echo then close handshake; echo then the socket
    /// dropped; half a frame then dropped (FIN); half a frame then reset (RST); half a
    /// handshake request then dropped.
    pub rounds: [u64; 5],
    /// Rounds that failed (connect, handshake or echo errors).
    pub round_errors: u64,
    /// Server RSS before any connection, KiB.
    pub rss_empty_kib: u64,
    /// Server RSS with the idle connections open, before the churn (the baseline), KiB.
    pub rss_baseline_kib: u64,
    /// Highest server RSS sampled (once a second) during the churn, KiB.
    pub rss_peak_kib: u64,
    /// Server RSS after the churn, once its sessions were back to the idle count, KiB.
    pub rss_after_kib: u64,
    /// Server-side ESTABLISHED connections on its port with only the idle ones open,
    /// before the churn.
    pub sessions_baseline: usize,
    /// The same after the churn (a leak shows as more; a dropped idle one as fewer).
    pub sessions_after: usize,
    /// Seconds after the churn until the count was back (or the wait gave up).
    pub sessions_settle_s: f64,
    /// Server file descriptors before and after the churn.
    pub fds_baseline: usize,
    /// See `fds_baseline`.
    pub fds_after: usize,
    /// Idle connections that still echoed a message after the churn.
    pub idle_alive: usize,
}

impl Soak {
    /// Rounds of every kind.
    pub fn total_rounds(&self) -> u64 {
        self.rounds.iter().sum()
    }

    /// RSS after the churn against the baseline, in percent (+: grew).
    pub fn rss_change_pct(&self) -> f64 {
        (self.rss_after_kib as f64 / self.rss_baseline_kib.max(1) as f64 - 1.0) * 100.0
    }

    /// Sessions the churn left behind (negative: idle ones lost).
    pub fn leaked_sessions(&self) -> i64 {
        self.sessions_after as i64 - self.sessions_baseline as i64
    }

    /// Whether the run met its bounds: RSS back within 10 % of the baseline, the
    /// session and descriptor counts back, every idle connection alive, no failed round.
    pub fn passed(&self) -> bool {
        self.rss_change_pct() <= 10.0
            && self.leaked_sessions() == 0
            && self.sessions_baseline >= self.idle
            && self.fds_after <= self.fds_baseline
            && self.idle_alive == self.idle
            && self.round_errors == 0
    }
}

impl Record {
    /// Sets the CPU fields from the window's usage.
    pub fn set_cpu(&mut self, usage: &CpuUsage) {
        self.server_cpu = usage.server;
        self.server_user_cpu = Some(usage.server_user);
        self.server_sys_cpu = Some(usage.server_sys);
        self.loadgen_cpu = usage.own;
        self.loadgen_sys_cpu = Some(usage.own_sys);
        self.other_cpu = usage.others;
    }

    /// The record with the CPU fields set from `usage`.
    pub fn with_cpu(mut self, usage: &CpuUsage) -> Self {
        self.set_cpu(usage);
        self
    }

    /// CPU-µs per counted event (`cores` × window ÷ count), for the server's
    /// `server_cpu` or another CPU figure of this record.
    pub fn cpu_us_per_event(&self, cores: f64) -> Option<f64> {
        (self.count > 0 && self.seconds > 0.0)
            .then(|| cores * self.seconds * 1e6 / self.count as f64)
    }
}
