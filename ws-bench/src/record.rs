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
