//! Benchmark driver: runs every server through every scenario, one after the other,
//! server pinned to core 0 and load generator to core 1, then writes `BENCHMARKS.md`
//! and a PNG of the ratios against naive tokio-tungstenite. Beside msg/s the report
//! gives each server's CPU-µs per message (user + system over the window), the
//! generator's CPU share, a flag where the generator went above 0.80 cores, and the
//! spread over the repetitions.
//!
//! ```sh
//! cargo build --release -p ws-bench --bins && cargo build --release --examples
//! target/release/bench                 # full run (< 10 minutes), writes BENCHMARKS.md
//! target/release/bench --smoke         # every server and scenario, a few seconds each
//! target/release/bench --soak 300 --scenarios echo-20b --servers ws   # the soak (+6 min)
//! ```
//!
//! Options: `--reps N`, `--duration S`, `--warmup S`, `--servers a,b`, `--scenarios x,y`,
//! `--peer NAME='COMMAND with {port}'` (an external server for a one-off run beside the
//! others: started as `sh -c 'exec COMMAND'`, ready once the port accepts connections,
//! run through every scenario but `json-deflate`, never part of the repository),
//! `--out FILE.md`, `--plot FILE.png`, `--no-pin`, `--ws-examples DIR`, `--max-others C`
//! (a measurement during which other processes used more than C cores, 0.25 by default,
//! is taken again once), `--wait-quiet S` (wait up to S seconds before each measurement
//! until other processes use at most that much: for a shared machine; the time budget
//! then no longer holds), `--soak SECONDS` (after the scenarios, the soak on
//! `--soak-servers` (`ws`): `--soak-conns` idle connections, 10,000, held through SECONDS
//! of churn; `ws-bench/run.sh` passes `--soak 300` unless given `--no-soak`). Binaries are taken from the directory this one is in (ws's
//! from its `examples/` unless `--ws-examples`), so a dev build benchmarks dev binaries.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use ws_bench::procstat;
use ws_bench::record::{Record, Soak};

const BASELINE: &str = "tt-naive";

/// A measurement in which the load generator used more than this many cores is
/// flagged: it may have limited the server (the issue asks for runs in which the server
/// is the bottleneck).
const GENERATOR_LIMIT: f64 = 0.80;

/// A server using at least this many cores is taken as the bottleneck.
const SERVER_BUSY: f64 = 0.90;

/// The spread that the issue allows over repeated runs, ± percent of the median.
const SPREAD_LIMIT_PCT: f64 = 5.0;
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// A server under test.
#[derive(Clone, Copy)]
struct Server {
    name: &'static str,
    label: &'static str,
    /// `--peer NAME=COMMAND`: a server outside this repository, started by this shell
    /// command (`{port}` in it stands for the port).
    external: Option<&'static str>,
}

const SERVERS: &[Server] = &[
    Server {
        name: "tt-naive",
        label: "tokio-tungstenite naive (send per message)",
        external: None,
    },
    Server {
        name: "tt-batched",
        label: "tokio-tungstenite batched (feed, flush once)",
        external: None,
    },
    Server {
        name: "axum",
        label: "axum 0.8 ws",
        external: None,
    },
    Server {
        name: "fastwebsockets",
        label: "fastwebsockets 0.10 (hyper upgrade)",
        external: None,
    },
    Server {
        name: "tokio-websockets",
        label: "tokio-websockets 0.13",
        external: None,
    },
    Server {
        name: "node-ws",
        label: "Node ws 8",
        external: None,
    },
    Server {
        name: "ws",
        label: "ws (this project: examples conformance / chat / deflate)",
        external: None,
    },
];

/// What endpoint a scenario needs from a server.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    Echo,
    Chat,
    DeflateEcho,
    /// A `/chat` broadcast with permessage-deflate.
    DeflateChat,
}

/// A scenario: load generator arguments, full and smoke.
struct Scenario {
    key: &'static str,
    title: &'static str,
    needs: Needs,
    args: &'static [&'static str],
    smoke_args: &'static [&'static str],
}

#[rustfmt::skip]
const SCENARIOS: &[Scenario] = &[
    Scenario {
        key: "echo-20b",
        title: "echo 20 B text, 64 connections x 16 in flight",
        needs: Needs::Echo,
        args: &["echo", "--kind", "text", "--size", "20", "--conns", "64", "--inflight", "16"],
        smoke_args: &["echo", "--kind", "text", "--size", "20", "--conns", "8", "--inflight", "4"],
    },
    Scenario {
        key: "echo-1k",
        title: "echo 1 KiB binary, 64 connections x 16 in flight",
        needs: Needs::Echo,
        args: &["echo", "--kind", "binary", "--size", "1024", "--conns", "64", "--inflight", "16"],
        smoke_args: &["echo", "--kind", "binary", "--size", "1024", "--conns", "8", "--inflight", "4"],
    },
    Scenario {
        key: "echo-64k",
        title: "echo 64 KiB binary, 8 connections x 2 in flight",
        needs: Needs::Echo,
        args: &["echo", "--kind", "binary", "--size", "65536", "--conns", "8", "--inflight", "2"],
        smoke_args: &["echo", "--kind", "binary", "--size", "65536", "--conns", "2", "--inflight", "2"],
    },
    Scenario {
        key: "pingpong",
        title: "ping-pong, 1 connection, 1 message of 20 B in flight",
        needs: Needs::Echo,
        args: &["echo", "--kind", "text", "--size", "20", "--conns", "1", "--inflight", "1", "--latency"],
        smoke_args: &["echo", "--kind", "text", "--size", "20", "--conns", "1", "--inflight", "1", "--latency"],
    },
    Scenario {
        key: "broadcast-max",
        title: "broadcast to 512 listeners at maximum rate (32 messages in flight)",
        needs: Needs::Chat,
        args: &["broadcast", "--listeners", "512", "--rate", "0", "--window", "32"],
        smoke_args: &["broadcast", "--listeners", "16", "--rate", "0", "--window", "8"],
    },
    Scenario {
        key: "broadcast-100",
        title: "broadcast to 512 listeners at 100 msg/s",
        needs: Needs::Chat,
        args: &["broadcast", "--listeners", "512", "--rate", "100"],
        smoke_args: &["broadcast", "--listeners", "16", "--rate", "100"],
    },
    Scenario {
        key: "idle",
        title: "5,000 idle connections, then one 256 KiB echo on each",
        needs: Needs::Echo,
        args: &["idle", "--conns", "5000", "--big", "262144"],
        smoke_args: &["idle", "--conns", "100", "--big", "262144", "--settle", "0.1"],
    },
    Scenario {
        key: "json",
        title: "echo 2 KiB compressible JSON text, 64 x 16, no extension",
        needs: Needs::Echo,
        args: &["echo", "--kind", "json", "--size", "2048", "--conns", "64", "--inflight", "16"],
        smoke_args: &["echo", "--kind", "json", "--size", "2048", "--conns", "4", "--inflight", "4"],
    },
    Scenario {
        key: "json-deflate",
        title: "echo 2 KiB compressible JSON text, 64 x 16, permessage-deflate",
        needs: Needs::DeflateEcho,
        args: &["echo", "--kind", "json", "--size", "2048", "--conns", "64", "--inflight", "16", "--deflate"],
        smoke_args: &["echo", "--kind", "json", "--size", "2048", "--conns", "4", "--inflight", "4", "--deflate"],
    },
    Scenario {
        key: "broadcast-json-max",
        title: "broadcast ~512 B chat JSON to 500 listeners at maximum rate (32 in flight), no extension",
        needs: Needs::Chat,
        args: &["broadcast", "--listeners", "500", "--rate", "0", "--window", "32", "--pad", "512"],
        smoke_args: &["broadcast", "--listeners", "16", "--rate", "0", "--window", "8", "--pad", "512"],
    },
    Scenario {
        key: "broadcast-deflate-max",
        title: "broadcast ~512 B chat JSON to 500 compressed listeners at maximum rate (32 in flight)",
        needs: Needs::DeflateChat,
        args: &["broadcast", "--listeners", "500", "--rate", "0", "--window", "32", "--pad", "512", "--deflate"],
        smoke_args: &["broadcast", "--listeners", "16", "--rate", "0", "--window", "8", "--pad", "512", "--deflate"],
    },
    Scenario {
        key: "broadcast-deflate-100",
        title: "broadcast ~512 B chat JSON to 500 compressed listeners at 100 msg/s",
        needs: Needs::DeflateChat,
        args: &["broadcast", "--listeners", "500", "--rate", "100", "--pad", "512", "--deflate"],
        smoke_args: &["broadcast", "--listeners", "16", "--rate", "100", "--pad", "512", "--deflate"],
    },
    Scenario {
        key: "idle-deflate",
        title: "2,000 compressed connections, one 2 KiB JSON echo each, then idle",
        needs: Needs::DeflateEcho,
        args: &["idle", "--conns", "2000", "--deflate"],
        smoke_args: &["idle", "--conns", "100", "--deflate", "--settle", "0.1"],
    },
];

/// A figure in the report: one value per server taken from one scenario's records.
struct Row {
    label: &'static str,
    short: &'static str,
    scenario: &'static str,
    /// Scenario whose baseline value the ratio is against (usually the same).
    base_scenario: &'static str,
    value: fn(&Record) -> Option<f64>,
    higher_is_better: bool,
    unit: &'static str,
    /// Shown in the plot.
    plotted: bool,
}

fn rate(r: &Record) -> Option<f64> {
    Some(r.rate)
}
fn p50(r: &Record) -> Option<f64> {
    r.p50_us
}
fn p99(r: &Record) -> Option<f64> {
    r.p99_us
}
fn p50_ms(r: &Record) -> Option<f64> {
    r.p50_us.map(|us| us / 1000.0)
}
fn p99_ms(r: &Record) -> Option<f64> {
    r.p99_us.map(|us| us / 1000.0)
}
fn idle_kib(r: &Record) -> Option<f64> {
    r.idle_kib_per_conn
}
fn big_kib(r: &Record) -> Option<f64> {
    r.after_256k_kib_per_conn
}
fn wire(r: &Record) -> Option<f64> {
    r.wire_bytes_per_msg
}

/// `row(label, short name in the plot or "" if not plotted, scenario, value, higher is
/// better, unit)`.
const fn row(
    label: &'static str,
    short: &'static str,
    scenario: &'static str,
    value: fn(&Record) -> Option<f64>,
    higher_is_better: bool,
    unit: &'static str,
) -> Row {
    Row {
        label,
        short,
        scenario,
        base_scenario: scenario,
        value,
        higher_is_better,
        unit,
        plotted: !short.is_empty(),
    }
}

impl Row {
    /// The ratio is against the baseline's figure in another scenario.
    const fn against(self, base_scenario: &'static str) -> Row {
        Row {
            base_scenario,
            ..self
        }
    }
}

#[rustfmt::skip]
const ROWS: &[Row] = &[
    row("echo 20 B text", "echo 20B", "echo-20b", rate, true, "msg/s"),
    row("echo 1 KiB binary", "echo 1KiB", "echo-1k", rate, true, "msg/s"),
    row("echo 64 KiB binary", "echo 64KiB", "echo-64k", rate, true, "msg/s"),
    row("ping-pong round trip p50", "ping p50", "pingpong", p50, false, "µs"),
    row("ping-pong round trip p99", "", "pingpong", p99, false, "µs"),
    row("broadcast max rate: deliveries", "bcast max", "broadcast-max", rate, true, "deliveries/s"),
    row("broadcast max rate: delivery p50", "", "broadcast-max", p50_ms, false, "ms"),
    row("broadcast max rate: delivery p99", "", "broadcast-max", p99_ms, false, "ms"),
    row("broadcast 100 msg/s: deliveries", "", "broadcast-100", rate, true, "deliveries/s"),
    row("broadcast 100 msg/s: delivery p50", "", "broadcast-100", p50_ms, false, "ms"),
    row("broadcast 100 msg/s: delivery p99", "bcast100 p99", "broadcast-100", p99_ms, false, "ms"),
    row("handshakes (128 at a time)", "handshakes", "idle", rate, true, "/s"),
    row("memory per idle connection", "idle KiB", "idle", idle_kib, false, "KiB"),
    row("memory per connection after a 256 KiB echo", "KiB after 256K", "idle", big_kib, false, "KiB"),
    row("echo JSON, no extension", "JSON", "json", rate, true, "msg/s"),
    row("echo JSON, no extension: wire bytes per echo", "", "json", wire, false, "B"),
    row("echo JSON, permessage-deflate", "JSON deflate", "json-deflate", rate, true, "msg/s").against("json"),
    row("echo JSON, permessage-deflate: wire bytes per echo", "", "json-deflate", wire, false, "B").against("json"),
    row("broadcast ~512 B JSON max rate: deliveries", "", "broadcast-json-max", rate, true, "deliveries/s"),
    row("broadcast ~512 B JSON max rate, permessage-deflate: deliveries", "bcast deflate", "broadcast-deflate-max", rate, true, "deliveries/s").against("broadcast-json-max"),
    row("broadcast ~512 B JSON max rate, permessage-deflate: delivery p99", "", "broadcast-deflate-max", p99_ms, false, "ms").against("broadcast-json-max"),
    row("broadcast ~512 B JSON 100 msg/s, permessage-deflate: delivery p99", "", "broadcast-deflate-100", p99_ms, false, "ms").against("broadcast-100"),
    row("memory per compressed session after one 2 KiB JSON echo", "deflate KiB", "idle-deflate", big_kib, false, "KiB").against("idle"),
];

/// Command-line options.
#[derive(Clone)]
struct Options {
    smoke: bool,
    reps: usize,
    duration: f64,
    warmup: f64,
    servers: Vec<&'static Server>,
    scenarios: Vec<&'static Scenario>,
    out: PathBuf,
    plot: PathBuf,
    pin: bool,
    /// A measurement during which other processes used more cores is taken again once.
    max_others: f64,
    /// Seconds to wait before each measurement for other processes to go quiet.
    wait_quiet: f64,
    /// Where ws's examples are, if not next to this binary.
    ws_examples: Option<PathBuf>,
    /// Where the raw results go (JSON), read back by `--report-from`.
    raw: PathBuf,
    /// Write the report from saved raw results instead of running.
    report_from: Option<PathBuf>,
    /// `--soak SECONDS`: run the soak scenario after the others, this long a churn.
    soak: Option<f64>,
    /// Idle connections the soak holds.
    soak_conns: usize,
    /// The servers the soak runs on.
    soak_servers: Vec<String>,
}

/// `--peer NAME=COMMAND`: an external server for a one-off run beside the others.
fn external_peer(spec: &str) -> &'static Server {
    let Some((name, command)) = spec.split_once('=') else {
        fail("--peer NAME='COMMAND with {port}'");
    };
    let (name, command) = (name.trim(), command.trim());
    if name.is_empty() || command.is_empty() || SERVERS.iter().any(|s| s.name == name) {
        fail(&format!("--peer {spec:?}: needs a new NAME and a COMMAND"));
    }
    if !command.contains(PORT_ARG) {
        fail(&format!(
            "--peer {name}: the command must contain {PORT_ARG}"
        ));
    }
    external_server(name, command)
}

/// An external server (named on the command line or read back from raw results). Leaked:
/// a handful per run, alive until the end.
fn external_server(name: &str, command: &str) -> &'static Server {
    let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let command: &'static str = Box::leak(command.to_owned().into_boxed_str());
    Box::leak(Box::new(Server {
        name,
        label: Box::leak(format!("external peer: `{command}`").into_boxed_str()),
        external: Some(command),
    }))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("ws-bench is inside the workspace")
        .to_path_buf()
}

fn parse_options() -> Options {
    let mut args = std::env::args().skip(1);
    let mut smoke = false;
    let (mut reps, mut duration, mut warmup) = (None, None, None);
    let (mut servers, mut scenarios): (Option<String>, Option<String>) = (None, None);
    let (mut out, mut plot) = (None, None);
    let mut pin = true;
    let mut ws_examples = None;
    let mut max_others = None;
    let mut wait_quiet = 0.0;
    let (mut raw, mut report_from) = (None, None);
    let (mut soak, mut soak_conns) = (None, None);
    let mut soak_servers = vec!["ws".to_owned()];
    let mut peers: Vec<&'static Server> = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| fail(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--no-pin" => pin = false,
            "--reps" => reps = Some(value().parse().unwrap_or_else(|_| fail("--reps N"))),
            "--duration" => {
                duration = Some(value().parse().unwrap_or_else(|_| fail("--duration S")))
            }
            "--warmup" => warmup = Some(value().parse().unwrap_or_else(|_| fail("--warmup S"))),
            "--servers" => servers = Some(value()),
            "--peer" => peers.push(external_peer(&value())),
            "--scenarios" => scenarios = Some(value()),
            "--out" => out = Some(PathBuf::from(value())),
            "--plot" => plot = Some(PathBuf::from(value())),
            "--ws-examples" => ws_examples = Some(PathBuf::from(value())),
            "--raw" => raw = Some(PathBuf::from(value())),
            "--report-from" => report_from = Some(PathBuf::from(value())),
            "--soak" => {
                soak = Some(
                    value()
                        .parse::<f64>()
                        .ok()
                        .filter(|s| *s > 0.0)
                        .unwrap_or_else(|| fail("--soak SECONDS")),
                )
            }
            "--soak-conns" => {
                soak_conns = Some(value().parse().unwrap_or_else(|_| fail("--soak-conns N")))
            }
            "--soak-servers" => {
                soak_servers = value().split(',').map(str::to_owned).collect();
            }
            "--wait-quiet" => {
                wait_quiet = value()
                    .parse()
                    .unwrap_or_else(|_| fail("--wait-quiet SECONDS"))
            }
            "--max-others" => {
                max_others = Some(
                    value()
                        .parse()
                        .unwrap_or_else(|_| fail("--max-others CORES")),
                )
            }
            "-h" | "--help" => {
                println!(
                    "bench [--smoke] [--reps N] [--duration S] [--warmup S] [--servers a,b] \
                     [--peer NAME='COMMAND with {{port}}']... [--scenarios x,y] [--out FILE.md] \
                     [--plot FILE.png] [--no-pin] [--ws-examples DIR] [--max-others CORES] \
                     [--wait-quiet SECONDS] [--raw FILE.json] [--report-from FILE.json] \
                     [--soak SECONDS] [--soak-conns N] [--soak-servers a,b]\n\
                     servers: {}\nscenarios: {}\n\
                     --peer: an external server, started as `sh -c 'exec COMMAND'` with \
                     {{port}} replaced by a free port, ready once that port accepts \
                     connections; it must serve /echo (and /chat for the broadcast \
                     scenarios) and is run through every scenario but json-deflate.\n\
                     --soak: after the scenarios, hold --soak-conns idle connections \
                     (10000; 200 with --smoke) and churn beside them for SECONDS, on \
                     --soak-servers (ws), then check that the server gave back memory, \
                     sessions and descriptors.",
                    SERVERS.iter().map(|s| s.name).collect::<Vec<_>>().join(" "),
                    SCENARIOS
                        .iter()
                        .map(|s| s.key)
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                std::process::exit(0);
            }
            other => fail(&format!("unknown option {other:?} (try --help)")),
        }
    }
    let pick = |list: Option<String>, all: Vec<&'static str>| -> Vec<&'static str> {
        match list {
            None => all,
            Some(list) => list
                .split(',')
                .map(|name| {
                    *all.iter()
                        .find(|known| **known == name)
                        .unwrap_or_else(|| fail(&format!("unknown name {name:?}")))
                })
                .collect(),
        }
    };
    let mut all_names: Vec<&'static str> = SERVERS.iter().map(|s| s.name).collect();
    all_names.extend(peers.iter().map(|s| s.name));
    let server_names = pick(servers, all_names);
    let scenario_keys = pick(scenarios, SCENARIOS.iter().map(|s| s.key).collect());
    let smoke_dir = repo_root().join("target/bench-smoke");
    Options {
        smoke,
        reps: reps.unwrap_or(if smoke { 1 } else { 2 }),
        duration: duration.unwrap_or(if smoke { 0.3 } else { 2.5 }),
        warmup: warmup.unwrap_or(if smoke { 0.1 } else { 0.5 }),
        servers: SERVERS
            .iter()
            .chain(peers.iter().copied())
            .filter(|s| server_names.contains(&s.name))
            .collect(),
        scenarios: SCENARIOS
            .iter()
            .filter(|s| scenario_keys.contains(&s.key))
            .collect(),
        out: out.unwrap_or_else(|| {
            if smoke {
                smoke_dir.join("BENCHMARKS.md")
            } else {
                repo_root().join("BENCHMARKS.md")
            }
        }),
        plot: plot.unwrap_or_else(|| {
            if smoke {
                smoke_dir.join("bench-ratios.png")
            } else {
                repo_root().join("docs/bench-ratios.png")
            }
        }),
        pin,
        max_others: max_others.unwrap_or(if smoke { f64::MAX } else { 0.25 }),
        wait_quiet,
        ws_examples,
        raw: raw.unwrap_or_else(|| {
            if smoke {
                smoke_dir.join("results.json")
            } else {
                repo_root().join("target/bench-results.json")
            }
        }),
        report_from,
        soak,
        soak_conns: soak_conns.unwrap_or(if smoke { 200 } else { 10_000 }),
        soak_servers,
    }
}

fn fail(message: &str) -> ! {
    eprintln!("bench: {message}");
    std::process::exit(2);
}

/// Where the binaries are: next to this one.
struct Binaries {
    dir: PathBuf,
    examples: PathBuf,
}

impl Binaries {
    fn peers(&self) -> PathBuf {
        self.dir.join("peers")
    }
    fn loadgen(&self) -> PathBuf {
        self.dir.join("loadgen")
    }
    fn example(&self, name: &str) -> PathBuf {
        self.examples.join(name)
    }
}

/// How to start `server` for a scenario: the command and the path to connect to, or
/// `None` where the server has no such endpoint.
fn launch(bins: &Binaries, server: &Server, needs: Needs) -> Option<(Vec<String>, &'static str)> {
    let port = PORT_ARG.to_owned();
    let path = match needs {
        Needs::Chat | Needs::DeflateChat => "/chat",
        Needs::Echo | Needs::DeflateEcho => "/echo",
    };
    let deflate = matches!(needs, Needs::DeflateEcho | Needs::DeflateChat);
    if let Some(command) = server.external {
        // `exec`: the server itself gets the pid that is measured.
        return (!deflate).then(|| {
            (
                vec!["sh".to_owned(), "-c".to_owned(), format!("exec {command}")],
                path,
            )
        });
    }
    let server = server.name;
    let peer = |name: &str| {
        vec![
            bins.peers().display().to_string(),
            name.to_owned(),
            port.clone(),
        ]
    };
    let command = match (server, needs) {
        _ if deflate && server != "node-ws" && server != "ws" => return None,
        ("fastwebsockets" | "tokio-websockets", Needs::Chat) => return None,
        ("node-ws", _) => {
            let mut command = vec![
                "node".to_owned(),
                repo_root()
                    .join("ws-bench/node/server.js")
                    .display()
                    .to_string(),
                port.clone(),
            ];
            if deflate {
                command.push("--deflate".to_owned());
            }
            command
        }
        ("ws", _) => {
            // `deflate` example when it exists, else `conformance --deflate`.
            let (example, flag) = match needs {
                Needs::Echo => ("conformance", None),
                Needs::Chat => ("chat", None),
                Needs::DeflateEcho if bins.example("deflate").exists() => ("deflate", None),
                Needs::DeflateEcho => ("conformance", Some("--deflate")),
                // The deflate example's `/chat` (in its default memory mode).
                Needs::DeflateChat => ("deflate", None),
            };
            let mut command = vec![
                bins.example(example).display().to_string(),
                "--port".to_owned(),
                port.clone(),
            ];
            command.extend(flag.map(str::to_owned));
            command
        }
        (name, _) => peer(name),
    };
    Some((command, path))
}

/// Retakes of disturbed measurements stop when the run is projected to exceed this.
const TIME_BUDGET_S: f64 = 560.0;

/// Stands for the port in a server's command line until it is started.
const PORT_ARG: &str = "{port}";

/// A running server under test.
struct Running {
    child: Child,
    addr: String,
    pid: u32,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18080)
}

fn pinned(command: &[String], core: u32, pin: bool) -> Command {
    let mut cmd;
    if pin {
        cmd = Command::new("taskset");
        cmd.arg("-c").arg(core.to_string()).args(command);
    } else {
        cmd = Command::new(&command[0]);
        cmd.args(&command[1..]);
    }
    cmd
}

/// Starts a server and waits for its `Listening on http://ADDR` line, or (`wait_port`,
/// for external peers) until `port` accepts connections.
fn start_server(
    command: &[String],
    port: u16,
    log: &Path,
    pin: bool,
    wait_port: bool,
) -> Result<Running, String> {
    let stderr = fs::File::create(log).map_err(|e| format!("log file: {e}"))?;
    let command: Vec<String> = command
        .iter()
        .map(|arg| arg.replace(PORT_ARG, &port.to_string()))
        .collect();
    let mut child = pinned(&command, 0, pin)
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", command[0]))?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("Listening on http://").nth(1) {
                let _ = tx.send(rest.trim().to_owned());
                break;
            }
        }
        // Keep draining so the server never blocks on a full pipe.
        for _ in lines {}
    });
    let mut running = Running {
        child,
        addr: String::new(),
        pid,
    };
    if wait_port {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = running.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before accepting connections (see {})",
                    command[0],
                    log.display()
                ));
            }
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                running.addr = addr.to_string();
                return Ok(running);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "nothing accepted connections on port {port} within 15 s (see {})",
                    log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    match rx.recv_timeout(Duration::from_secs(15)) {
        Ok(addr) => {
            // `localhost:8080` or `0.0.0.0:8080` -> connect over 127.0.0.1.
            let port = addr
                .rsplit(':')
                .next()
                .unwrap_or_default()
                .trim_end_matches('/');
            running.addr = format!("127.0.0.1:{port}");
            Ok(running)
        }
        Err(_) => Err(format!(
            "{} printed no `Listening on http://ADDR` line (see {})",
            command[0],
            log.display()
        )),
    }
}

/// Runs the load generator against a running server; returns its record.
fn run_loadgen(
    bins: &Binaries,
    server: &Running,
    path: &str,
    args: &[&str],
    opts: &Options,
) -> Result<Record, String> {
    let budget = Duration::from_secs_f64(opts.duration + opts.warmup + 90.0);
    run_loadgen_for(bins, server, path, args, opts, budget)
}

/// [`run_loadgen`], killed if it takes longer than `budget`.
fn run_loadgen_for(
    bins: &Binaries,
    server: &Running,
    path: &str,
    args: &[&str],
    opts: &Options,
    budget: Duration,
) -> Result<Record, String> {
    let mut command = vec![bins.loadgen().display().to_string()];
    command.extend(args.iter().map(|a| a.to_string()));
    command.extend([
        "--addr".to_owned(),
        server.addr.clone(),
        "--pid".to_owned(),
        server.pid.to_string(),
        "--path".to_owned(),
        path.to_owned(),
        "--duration".to_owned(),
        opts.duration.to_string(),
        "--warmup".to_owned(),
        opts.warmup.to_string(),
    ]);
    let mut child = pinned(&command, 1, opts.pin)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start loadgen: {e}"))?;
    let deadline = Instant::now() + budget;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("loadgen timed out".to_owned());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    let _ = child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout);
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr);
    if !stderr.trim().is_empty() {
        eprintln!("    loadgen: {}", stderr.trim());
    }
    if !status.success() {
        return Err(format!("loadgen failed: {}", stderr.trim()));
    }
    serde_json::from_str(stdout.trim()).map_err(|e| format!("bad loadgen output {stdout:?}: {e}"))
}

/// Results: (scenario, server) -> one record per repetition.
type Results = BTreeMap<(String, String), Vec<Record>>;

fn main() {
    let mut opts = parse_options();
    if let Some(path) = &opts.report_from {
        let raw: Raw = fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", path.display())));
        write_report(&opts, &raw);
        return;
    }
    if opts.pin && Command::new("taskset").arg("--version").output().is_err() {
        eprintln!("bench: taskset not found: running unpinned (apt-get install util-linux)");
        opts.pin = false;
    }
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let exe = std::env::current_exe().expect("own path");
    let dir = exe.parent().expect("binary directory").to_path_buf();
    let bins = Binaries {
        examples: opts
            .ws_examples
            .clone()
            .unwrap_or_else(|| dir.join("examples")),
        dir,
    };
    for needed in [bins.peers(), bins.loadgen()] {
        if !needed.exists() {
            fail(&format!(
                "{} is missing: cargo build -p ws-bench --bins",
                needed.display()
            ));
        }
    }
    let mut servers = opts.servers.clone();
    servers.retain(|server| match server.name {
        "ws" => {
            let present = ["conformance", "chat"]
                .iter()
                .all(|e| bins.example(e).exists());
            if !present {
                eprintln!("bench: skipping ws: build its examples first (cargo build --examples)");
            }
            present
        }
        "node-ws" => {
            let ok = ensure_node_deps();
            if !ok {
                eprintln!("bench: skipping node-ws (node or npm unavailable)");
            }
            ok
        }
        _ => true,
    });
    let log_dir = repo_root().join("target/bench-logs");
    let _ = fs::create_dir_all(&log_dir);

    let machine = Machine::describe();
    let background = background_load();
    eprintln!(
        "bench: {} servers x {} scenarios x {} reps; background load {:.2} cores, loadavg {}",
        servers.len(),
        opts.scenarios.len(),
        opts.reps,
        background,
        machine.loadavg
    );
    let started = Instant::now();
    let mut results = Results::new();
    let mut failures = Vec::new();
    let mut retried = 0;
    let mut done = 0usize;
    let planned = opts.reps
        * opts
            .scenarios
            .iter()
            .map(|scenario| {
                servers
                    .iter()
                    .filter(|server| launch(&bins, server, scenario.needs).is_some())
                    .count()
            })
            .sum::<usize>();
    for rep in 0..opts.reps {
        for scenario in &opts.scenarios {
            for server in &servers {
                let Some((command, path)) = launch(&bins, server, scenario.needs) else {
                    continue;
                };
                let log = log_dir.join(format!("{}-{}.log", server.name, scenario.key));
                let args = if opts.smoke {
                    scenario.smoke_args
                } else {
                    scenario.args
                };
                let measure = || {
                    wait_for_quiet(&opts);
                    start_server(
                        &command,
                        free_port(),
                        &log,
                        opts.pin,
                        server.external.is_some(),
                    )
                    .and_then(|running| run_loadgen(&bins, &running, path, args, &opts))
                };
                let mut outcome = measure();
                done += 1;
                // Other processes took CPU during the window: measure again once, as
                // long as the run is projected to stay under its time budget.
                let per_measurement = started.elapsed().as_secs_f64() / done as f64;
                let projected = per_measurement * (planned + retried + 1) as f64;
                if let Ok(first) = &outcome
                    && first.other_cpu > opts.max_others
                    && (opts.wait_quiet > 0.0 || projected < TIME_BUDGET_S)
                {
                    eprintln!(
                        "  [{}] {:<14} {:<16} other processes used {:.2} cores: again",
                        rep + 1,
                        scenario.key,
                        server.name,
                        first.other_cpu
                    );
                    std::thread::sleep(Duration::from_secs(1));
                    retried += 1;
                    if let Ok(second) = measure()
                        && second.other_cpu < first.other_cpu
                    {
                        outcome = Ok(second);
                    }
                }
                match outcome {
                    Ok(record) => {
                        eprintln!(
                            "  [{}] {:<14} {:<16} {:>12.0}/s  p50 {:>8}  p99 {:>8}  cpu server {:.2} ({} µs/msg) loadgen {:.2}{} others {:.2}{}",
                            rep + 1,
                            scenario.key,
                            server.name,
                            record.rate,
                            fmt_opt(record.p50_us),
                            fmt_opt(record.p99_us),
                            record.server_cpu,
                            record
                                .cpu_us_per_event(record.server_cpu)
                                .map(human)
                                .unwrap_or_else(|| "-".to_owned()),
                            record.loadgen_cpu,
                            if record.loadgen_cpu > GENERATOR_LIMIT {
                                " (!)"
                            } else {
                                ""
                            },
                            record.other_cpu,
                            if record.errors > 0 {
                                format!("  ERRORS {}", record.errors)
                            } else {
                                String::new()
                            }
                        );
                        results
                            .entry((scenario.key.to_owned(), server.name.to_owned()))
                            .or_default()
                            .push(record);
                    }
                    Err(error) => {
                        eprintln!(
                            "  [{}] {:<14} {:<16} FAILED: {error}",
                            rep + 1,
                            scenario.key,
                            server.name
                        );
                        failures.push(format!(
                            "{} / {} (rep {}): {error}",
                            scenario.key,
                            server.name,
                            rep + 1
                        ));
                    }
                }
            }
        }
    }
    if let Some(churn) = opts.soak {
        for server in servers
            .iter()
            .filter(|s| opts.soak_servers.iter().any(|n| n == s.name))
        {
            let Some((command, path)) = launch(&bins, server, Needs::Echo) else {
                continue;
            };
            let log = log_dir.join(format!("{}-soak.log", server.name));
            let (conns, churn_arg) = (opts.soak_conns.to_string(), churn.to_string());
            let args = ["soak", "--conns", &conns, "--churn", &churn_arg];
            eprintln!(
                "  soak {:<16} {} idle connections, {churn:.0} s of churn",
                server.name, opts.soak_conns
            );
            wait_for_quiet(&opts);
            // Handshakes, the churn, the settling and the idle connections' last echo.
            let budget = Duration::from_secs_f64(churn + 240.0);
            let outcome = start_server(
                &command,
                free_port(),
                &log,
                opts.pin,
                server.external.is_some(),
            )
            .and_then(|running| run_loadgen_for(&bins, &running, path, &args, &opts, budget));
            match outcome {
                Ok(record) => {
                    eprintln!(
                        "  soak {:<16} {:.0} rounds/s; {}",
                        server.name, record.rate, record.note
                    );
                    results
                        .entry(("soak".to_owned(), server.name.to_owned()))
                        .or_default()
                        .push(record);
                }
                Err(error) => {
                    eprintln!("  soak {:<16} FAILED: {error}", server.name);
                    failures.push(format!("soak / {}: {error}", server.name));
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let machine = Machine {
        loadavg_end: loadavg(),
        ..machine
    };
    let raw = Raw {
        machine,
        background: if background.is_finite() {
            background
        } else {
            0.0
        },
        elapsed_s: elapsed.as_secs_f64(),
        retried,
        failures: failures.clone(),
        ws_deflate_example: bins.example("deflate").exists(),
        servers: servers.iter().map(|s| s.name.to_owned()).collect(),
        peers: servers
            .iter()
            .filter_map(|s| Some((s.name.to_owned(), s.external?.to_owned())))
            .collect(),
        scenarios: opts.scenarios.iter().map(|s| s.key.to_owned()).collect(),
        reps: opts.reps,
        duration: opts.duration,
        warmup: opts.warmup,
        wait_quiet: opts.wait_quiet,
        max_others: opts.max_others,
        pin: opts.pin,
        smoke: opts.smoke,
        results: results
            .into_iter()
            .map(|((scenario, server), records)| (scenario, server, records))
            .collect(),
    };
    if let Some(dir) = opts.raw.parent() {
        let _ = fs::create_dir_all(dir);
    }
    match serde_json::to_string_pretty(&raw) {
        Ok(json) => {
            if let Err(e) = fs::write(&opts.raw, json) {
                eprintln!("bench: cannot write {}: {e}", opts.raw.display());
            }
        }
        Err(e) => eprintln!("bench: cannot encode the raw results: {e}"),
    }
    write_report(&opts, &raw);
    eprintln!("bench: {:.0} s in all", elapsed.as_secs_f64());
    if !failures.is_empty() {
        eprintln!("bench: {} measurement(s) failed", failures.len());
        std::process::exit(1);
    }
}

/// Everything a report is made from, saved as JSON after a run (`--raw`) so that the
/// report can be written again without running (`--report-from`).
#[derive(Serialize, Deserialize)]
struct Raw {
    machine: Machine,
    background: f64,
    elapsed_s: f64,
    retried: usize,
    failures: Vec<String>,
    ws_deflate_example: bool,
    servers: Vec<String>,
    /// External peers (`--peer`): name and command.
    #[serde(default)]
    peers: Vec<(String, String)>,
    scenarios: Vec<String>,
    reps: usize,
    duration: f64,
    warmup: f64,
    wait_quiet: f64,
    max_others: f64,
    pin: bool,
    smoke: bool,
    results: Vec<(String, String, Vec<Record>)>,
}

/// Writes the Markdown report and the plot from a run's raw results.
fn write_report(opts: &Options, raw: &Raw) {
    let opts = Options {
        smoke: raw.smoke,
        reps: raw.reps,
        duration: raw.duration,
        warmup: raw.warmup,
        wait_quiet: raw.wait_quiet,
        max_others: raw.max_others,
        pin: raw.pin,
        scenarios: SCENARIOS
            .iter()
            .filter(|s| raw.scenarios.iter().any(|k| k == s.key))
            .collect(),
        ..opts.clone()
    };
    let externals: Vec<&'static Server> = raw
        .peers
        .iter()
        .map(|(name, command)| external_server(name, command))
        .collect();
    let servers: Vec<&'static Server> = SERVERS
        .iter()
        .chain(externals)
        .filter(|s| raw.servers.iter().any(|n| n == s.name))
        .collect();
    let results: Results = raw
        .results
        .iter()
        .map(|(scenario, server, records)| ((scenario.clone(), server.clone()), records.clone()))
        .collect();
    let report = Report {
        retried: raw.retried,
        opts: &opts,
        ws_deflate_example: raw.ws_deflate_example,
        servers: &servers,
        results: &results,
        failures: &raw.failures,
        machine: &raw.machine,
        background: raw.background,
        elapsed: Duration::from_secs_f64(raw.elapsed_s),
    };
    if let Some(dir) = opts.out.parent() {
        let _ = fs::create_dir_all(dir);
    }
    if let Some(dir) = opts.plot.parent() {
        let _ = fs::create_dir_all(dir);
    }
    fs::write(&opts.out, report.markdown())
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", opts.out.display())));
    match report.plot() {
        Ok(()) => eprintln!(
            "bench: wrote {} and {}",
            opts.out.display(),
            opts.plot.display()
        ),
        Err(error) => eprintln!("bench: wrote {}; plot failed: {error}", opts.out.display()),
    }
}

/// `path` as a link from a file in `dir` (Markdown image links are relative).
fn relative_to(path: &Path, dir: Option<&Path>) -> String {
    dir.and_then(|dir| path.strip_prefix(dir).ok())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn fmt_opt(value: Option<f64>) -> String {
    value
        .map(|v| format!("{v:.0}µs"))
        .unwrap_or_else(|| "-".to_owned())
}

/// Installs the Node peer's dependencies if they are missing; false if impossible.
fn ensure_node_deps() -> bool {
    let dir = repo_root().join("ws-bench/node");
    if dir.join("node_modules/ws").exists() {
        return true;
    }
    eprintln!("bench: npm ci in {}", dir.display());
    Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(&dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The machine, as the report describes it.
#[derive(Serialize, Deserialize)]
struct Machine {
    cores: usize,
    cpu: String,
    kernel: String,
    rustc: String,
    node: String,
    date: String,
    loadavg: String,
    loadavg_end: String,
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

impl Machine {
    fn describe() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Self {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            cpu: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
                .unwrap_or_else(|| "unknown".to_owned()),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            rustc: command_output("rustc", &["--version"]),
            node: command_output("node", &["--version"]),
            date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            loadavg: loadavg(),
            loadavg_end: String::new(),
        }
    }
}

/// With `--wait-quiet S`: waits up to S seconds until other processes use at most
/// `--max-others` cores (sampled over half a second; nothing of this run is running).
fn wait_for_quiet(opts: &Options) {
    let deadline = Instant::now() + Duration::from_secs_f64(opts.wait_quiet);
    while Instant::now() < deadline {
        let (Some(busy0), start) = (procstat::machine_busy_seconds(), Instant::now()) else {
            return;
        };
        std::thread::sleep(Duration::from_millis(500));
        let Some(busy1) = procstat::machine_busy_seconds() else {
            return;
        };
        if (busy1 - busy0) / start.elapsed().as_secs_f64() <= opts.max_others {
            return;
        }
    }
}

/// Busy cores over one second before the run, from `/proc/stat` (what else is running).
fn background_load() -> f64 {
    let (Some(busy0), start) = (procstat::machine_busy_seconds(), Instant::now()) else {
        return f64::NAN;
    };
    std::thread::sleep(Duration::from_secs(1));
    match procstat::machine_busy_seconds() {
        Some(busy1) => (busy1 - busy0) / start.elapsed().as_secs_f64(),
        None => f64::NAN,
    }
}

/// Median, min and max of a row's values for one server.
#[derive(Clone, Copy)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

impl Stat {
    /// Half the range as a percentage of the median (±).
    fn spread_pct(&self) -> f64 {
        if self.median.abs() > 0.0 {
            (self.max - self.min) / 2.0 / self.median.abs() * 100.0
        } else {
            0.0
        }
    }
}

/// `median ±p %` (no spread with one value).
fn with_spread(s: &Stat, format: fn(f64) -> String) -> String {
    if s.max > s.min {
        format!("{} ±{:.1} %", format(s.median), s.spread_pct())
    } else {
        format(s.median)
    }
}

fn stat(values: &[f64]) -> Option<Stat> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Some(Stat {
        median,
        min: sorted[0],
        max: sorted[n - 1],
    })
}

struct Report<'a> {
    retried: usize,
    opts: &'a Options,
    ws_deflate_example: bool,
    servers: &'a [&'static Server],
    results: &'a Results,
    failures: &'a [String],
    machine: &'a Machine,
    background: f64,
    elapsed: Duration,
}

/// Formats a figure compactly: 1234567 -> 1.23M, 12.3 -> 12.3.
fn human(value: f64) -> String {
    let abs = value.abs();
    if abs >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if abs >= 1e4 {
        format!("{:.1}k", value / 1e3)
    } else if abs >= 100.0 {
        format!("{value:.0}")
    } else if abs >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

impl Report<'_> {
    fn records(&self, scenario: &str, server: &str) -> &[Record] {
        self.results
            .get(&(scenario.to_owned(), server.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn stat(&self, row: &Row, scenario: &str, server: &str) -> Option<Stat> {
        let values: Vec<f64> = self
            .records(scenario, server)
            .iter()
            .filter_map(row.value)
            .collect();
        stat(&values)
    }

    fn value(&self, row: &Row, server: &str) -> Option<Stat> {
        self.stat(row, row.scenario, server)
    }

    /// Ratio against naive tokio-tungstenite, > 1 is better.
    fn ratio(&self, row: &Row, server: &str) -> Option<f64> {
        let value = self.value(row, server)?.median;
        let base = self.stat(row, row.base_scenario, BASELINE)?.median;
        if value <= 0.0 || base <= 0.0 {
            return None;
        }
        Some(if row.higher_is_better {
            value / base
        } else {
            base / value
        })
    }

    fn markdown(&self) -> String {
        let m = self.machine;
        let mut out = String::new();
        let _ = writeln!(out, "# Benchmarks\n");
        if self.opts.smoke {
            let _ = writeln!(
                out,
                "**Smoke run** (tiny loads, one repetition): these figures mean nothing.\n"
            );
        }
        let _ = writeln!(
            out,
            "`ws` side by side with peer servers, each measured in the same run. Produced by\n\
             `ws-bench/run.sh` (the `ws-bench` crate); regenerate rather than edit.\n\n\
             ![ratios against naive tokio-tungstenite]({})\n",
            relative_to(&self.opts.plot, self.opts.out.parent())
        );
        let _ = writeln!(out, "## Machine\n");
        let _ = writeln!(out, "| | |\n|---|---|");
        let _ = writeln!(out, "| cores (`nproc`) | {} |", m.cores);
        let _ = writeln!(out, "| CPU | {} |", m.cpu);
        let _ = writeln!(out, "| kernel | {} |", m.kernel);
        let _ = writeln!(out, "| rustc | {} |", m.rustc);
        let _ = writeln!(out, "| node | {} |", m.node);
        let _ = writeln!(out, "| date | {} |", m.date);
        let _ = writeln!(
            out,
            "| load before the run | {:.2} busy cores over 1 s; loadavg {} |",
            self.background, m.loadavg
        );
        let _ = writeln!(out, "| loadavg after the run | {} |", m.loadavg_end);
        let others: Vec<f64> = self
            .results
            .values()
            .flatten()
            .map(|r| r.other_cpu)
            .collect();
        let others = stat(&others);
        if let Some(others) = others {
            let retakes = if self.opts.max_others < 100.0 {
                format!(
                    " ({} measurements taken again for using over {:.2})",
                    self.retried, self.opts.max_others
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| other processes during the measurement windows | median {:.2}, max {:.2} busy \
                 cores{retakes} |",
                others.median, others.max
            );
        }
        let _ = writeln!(
            out,
            "| run | {} repetitions x {} s windows (+{} s warm-up), {:.0} s in all{} |\n",
            self.opts.reps,
            self.opts.duration,
            self.opts.warmup,
            self.elapsed.as_secs_f64(),
            if self.opts.wait_quiet > 0.0 {
                format!(
                    "; each measurement waited up to {} s for other processes to go quiet",
                    self.opts.wait_quiet
                )
            } else {
                String::new()
            }
        );
        if let Some(others) = others {
            let _ = writeln!(
                out,
                "{}\n",
                if others.max < 0.1 {
                    "The machine was otherwise idle during every measurement window."
                } else {
                    "**Other processes were running during some measurement windows** (see \
                     above): treat the figures with care."
                }
            );
        }
        let _ = writeln!(out, "## Servers\n");
        let _ = writeln!(out, "| name | what |\n|---|---|");
        for server in self.servers {
            let _ = writeln!(out, "| `{}` | {} |", server.name, server.label);
        }
        if self.servers.iter().any(|s| s.name == "ws") {
            let _ = writeln!(
                out,
                "\n`ws` in the deflate scenario: {}.",
                if self.ws_deflate_example {
                    "the `deflate` example"
                } else {
                    "`conformance --deflate` (there is no `deflate` example yet)"
                }
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "## Scenarios\n");
        for scenario in &self.opts.scenarios {
            let _ = writeln!(out, "- `{}`: {}", scenario.key, scenario.title);
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "## Results\n");
        let _ = writeln!(
            out,
            "Each cell: median over the repetitions, the spread (min–max) below it, and the \
             ratio against `{BASELINE}`, oriented so that **×ratio > 1 is better** (for latency \
             and memory it is baseline ÷ value). `—`: the server has no such endpoint.\n"
        );
        let _ = write!(out, "| figure |");
        for server in self.servers {
            let _ = write!(out, " {} |", server.name);
        }
        let _ = write!(out, "\n|---|");
        for _ in self.servers {
            let _ = write!(out, "---|");
        }
        let _ = writeln!(out);
        for row in ROWS {
            if !self.opts.scenarios.iter().any(|s| s.key == row.scenario) {
                continue;
            }
            let _ = write!(out, "| {} ({}) |", row.label, row.unit);
            for server in self.servers {
                match self.value(row, server.name) {
                    Some(s) => {
                        let ratio = self
                            .ratio(row, server.name)
                            .map(|r| format!(" **×{r:.2}**"))
                            .unwrap_or_default();
                        let spread = if self.opts.reps > 1 {
                            format!("<br>{}–{}", human(s.min), human(s.max))
                        } else {
                            String::new()
                        };
                        let _ = write!(out, " {}{ratio}{spread} |", human(s.median));
                    }
                    None => {
                        let _ = write!(out, " — |");
                    }
                }
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(
            out,
            "\n### CPU during the window (cores: server / load generator, medians)\n"
        );
        let _ = writeln!(
            out,
            "{} A server figure near 1.00 means the server was the bottleneck; ⚠ marks a \
             load generator above {GENERATOR_LIMIT:.2} cores in some repetition, which may \
             have limited the server; both well under 1.00 while other processes were busy \
             means they shared the cores. For `idle` the window is the handshake phase.\n",
            if self.opts.pin {
                "The server is pinned to core 0 and the load generator to core 1."
            } else {
                "**Not pinned** (no `taskset`, or `--no-pin`)."
            }
        );
        let _ = write!(out, "| scenario |");
        for server in self.servers {
            let _ = write!(out, " {} |", server.name);
        }
        let _ = write!(out, "\n|---|");
        for _ in self.servers {
            let _ = write!(out, "---|");
        }
        let _ = writeln!(out);
        for scenario in &self.opts.scenarios {
            let _ = write!(out, "| {} |", scenario.key);
            for server in self.servers {
                let records = self.records(scenario.key, server.name);
                let server_cpu = stat(&records.iter().map(|r| r.server_cpu).collect::<Vec<_>>());
                let loadgen_cpu = stat(&records.iter().map(|r| r.loadgen_cpu).collect::<Vec<_>>());
                match (server_cpu, loadgen_cpu) {
                    (Some(s), Some(l)) => {
                        let flag = if l.max > GENERATOR_LIMIT { " ⚠" } else { "" };
                        let _ = write!(out, " {:.2} / {:.2}{flag} |", s.median, l.median);
                    }
                    _ => {
                        let _ = write!(out, " — |");
                    }
                }
            }
            let _ = writeln!(out);
        }
        out.push_str(&self.cost_tables());
        let errors: Vec<String> = self
            .results
            .iter()
            .filter(|(_, records)| records.iter().any(|r| r.errors > 0))
            .map(|((scenario, server), records)| {
                format!(
                    "{scenario} / {server}: {} wrong or failed",
                    records.iter().map(|r| r.errors).sum::<u64>()
                )
            })
            .collect();
        if !errors.is_empty() || !self.failures.is_empty() {
            let _ = writeln!(out, "\n### Errors\n");
            for line in errors.iter().chain(self.failures) {
                let _ = writeln!(out, "- {line}");
            }
        }
        let notes: Vec<String> = self
            .results
            .iter()
            .filter(|((scenario, _), _)| scenario == "json-deflate")
            .filter_map(|((_, server), records)| {
                records.first().map(|r| format!("{server}: {}", r.note))
            })
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "\nDeflate requests: {}.", notes.join("; "));
        }
        out.push_str(&self.soak_table());
        let _ = writeln!(out, "\n## Targets (issue #6)\n");
        for (met, text) in self.targets() {
            let mark = match met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            };
            let _ = writeln!(out, "- {mark}: {text}");
        }
        out.push_str(METHOD);
        out
    }

    /// The soak scenario's figures, one row per server it ran on (empty without `--soak`).
    fn soak_table(&self) -> String {
        let rows: Vec<(&str, &Record, &Soak)> = self
            .servers
            .iter()
            .filter_map(|server| {
                let record = self.records("soak", server.name).first()?;
                Some((server.name, record, record.soak.as_ref()?))
            })
            .collect();
        let mut out = String::new();
        let Some((_, _, first)) = rows.first() else {
            return out;
        };
        let _ = writeln!(
            out,
            "\n## Soak\n\n\
             {} idle connections held (one ping each every 30 s) while 32 clients churn \
             beside them for {:.0} s, then the server's memory and sessions once the churn's \
             connections are gone (method below). Baseline: RSS with the idle connections \
             open, before the churn. Sessions: the server's ESTABLISHED connections on its \
             port. Bounds: RSS after within 10 % of the baseline, no session or descriptor \
             left over, every idle connection still echoing, no failed round.\n",
            first.idle, first.churn_s
        );
        let _ = writeln!(
            out,
            "| server | churn rounds/s | rounds: echo+close / echo+drop / half frame+FIN / \
             half frame+RST / half handshake | failed rounds | RSS empty → baseline (KiB) | \
             peak | after (vs baseline) | sessions baseline → after (leaked) | descriptors | \
             idle alive | server cores | bounds |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for (name, record, soak) in rows {
            let rounds: Vec<String> = soak.rounds.iter().map(|r| r.to_string()).collect();
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} → {} | {} | {} ({:+.1} %) | {} → {} ({}) | {} → {} | \
                 {}/{} | {:.2} | {} |",
                human(record.rate),
                rounds.join(" / "),
                soak.round_errors,
                soak.rss_empty_kib,
                soak.rss_baseline_kib,
                soak.rss_peak_kib,
                soak.rss_after_kib,
                soak.rss_change_pct(),
                soak.sessions_baseline,
                soak.sessions_after,
                soak.leaked_sessions(),
                soak.fds_baseline,
                soak.fds_after,
                soak.idle_alive,
                soak.idle,
                record.server_cpu,
                if soak.passed() { "met" } else { "**missed**" }
            );
        }
        out
    }

    /// Per scenario: what each server did and what it cost per message, with the spread
    /// over the repetitions and whether the server was the bottleneck.
    fn cost_tables(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n### Server cost per message\n\n\
             Server CPU-µs per message: the server's user + system CPU time (`/proc/PID/stat`, \
             its child processes included) over the measurement window, divided by the \
             messages counted in it (deliveries for broadcast, handshakes for `idle`). Unlike \
             msg/s it does not depend on how fast the load generator is, as long as batches \
             stay alike. On loopback, a write also runs the receiving side's TCP input in the \
             writer's system time, so each side pays for much of the other's receiving. Each \
             figure is the median over the repetitions, ± half the range in % of it (the issue \
             asks for ±{SPREAD_LIMIT_PCT:.0} %). *bound*: `server` where the server used ≥ \
             {SERVER_BUSY:.2} cores and the generator ≤ {GENERATOR_LIMIT:.2} in every \
             repetition; `GENERATOR` where the generator went above {GENERATOR_LIMIT:.2} (the \
             figure may be the generator's limit); `neither` otherwise (latency-bound or \
             fixed-rate). Ratios: msg/s ÷ the reference's, and the reference's CPU-µs/msg ÷ \
             this server's (> 1: cheaper per message).\n"
        );
        let cpu_us = |r: &Record| r.cpu_us_per_event(r.server_cpu);
        let user_us = |r: &Record| r.server_user_cpu.and_then(|c| r.cpu_us_per_event(c));
        let gen_us = |r: &Record| r.cpu_us_per_event(r.loadgen_cpu);
        let series = |records: &[Record], f: &dyn Fn(&Record) -> Option<f64>| {
            stat(&records.iter().filter_map(f).collect::<Vec<_>>())
        };
        for scenario in &self.opts.scenarios {
            if scenario.key == "idle" {
                continue;
            }
            let refs: Vec<&str> = match scenario.key {
                "echo-64k" => vec!["tt-batched", "fastwebsockets"],
                _ => vec!["tt-batched"],
            }
            .into_iter()
            .filter(|r| !self.records(scenario.key, r).is_empty())
            .collect();
            let _ = writeln!(out, "\n**{}** — {}\n", scenario.key, scenario.title);
            let _ = write!(
                out,
                "| server | msg/s | server CPU-µs/msg | user / sys µs | server cores | \
                 generator cores | generator CPU-µs/msg | bound |"
            );
            for r in &refs {
                let _ = write!(out, " ×{r} msg/s | ×{r} CPU/msg |");
            }
            let _ = write!(out, "\n|---|---|---|---|---|---|---|---|");
            for _ in &refs {
                let _ = write!(out, "---|---|");
            }
            let _ = writeln!(out);
            let reference = |name: &str| {
                let records = self.records(scenario.key, name);
                Some((
                    series(records, &|r| Some(r.rate))?.median,
                    series(records, &cpu_us)?.median,
                ))
            };
            for server in self.servers {
                let records = self.records(scenario.key, server.name);
                let (Some(rate), Some(cpu), Some(srv), Some(generator)) = (
                    series(records, &|r| Some(r.rate)),
                    series(records, &cpu_us),
                    series(records, &|r| Some(r.server_cpu)),
                    series(records, &|r| Some(r.loadgen_cpu)),
                ) else {
                    continue;
                };
                let split = match series(records, &user_us) {
                    Some(user) => format!(
                        "{} / {}",
                        human(user.median),
                        human(cpu.median - user.median)
                    ),
                    None => "—".to_owned(),
                };
                let gen_cost = series(records, &gen_us)
                    .map(|g| with_spread(&g, human))
                    .unwrap_or_else(|| "—".to_owned());
                let bound = if generator.max > GENERATOR_LIMIT {
                    "**GENERATOR**"
                } else if srv.min >= SERVER_BUSY {
                    "server"
                } else {
                    "neither"
                };
                let _ = write!(
                    out,
                    "| {} | {} | {} | {split} | {} | {} | {gen_cost} | {bound} |",
                    server.name,
                    with_spread(&rate, human),
                    with_spread(&cpu, human),
                    with_spread(&srv, |v| format!("{v:.2}")),
                    with_spread(&generator, |v| format!("{v:.2}")),
                );
                for r in &refs {
                    match reference(r) {
                        Some((base_rate, base_cpu)) if base_rate > 0.0 && cpu.median > 0.0 => {
                            let _ = write!(
                                out,
                                " ×{:.2} | ×{:.2} |",
                                rate.median / base_rate,
                                base_cpu / cpu.median
                            );
                        }
                        _ => {
                            let _ = write!(out, " — | — |");
                        }
                    }
                }
                let _ = writeln!(out);
            }
        }
        // Which figures moved more than the issue allows over the repetitions.
        if self.opts.reps > 1 {
            let mut wide = Vec::new();
            for scenario in &self.opts.scenarios {
                for server in self.servers {
                    let records = self.records(scenario.key, server.name);
                    for (what, s) in [
                        ("msg/s", series(records, &|r| Some(r.rate))),
                        ("CPU-µs/msg", series(records, &cpu_us)),
                    ] {
                        if let Some(s) = s
                            && s.spread_pct() > SPREAD_LIMIT_PCT
                        {
                            wide.push(format!(
                                "{} / {} {what} ±{:.1} %",
                                scenario.key,
                                server.name,
                                s.spread_pct()
                            ));
                        }
                    }
                }
            }
            let _ = writeln!(
                out,
                "\nOutside ±{SPREAD_LIMIT_PCT:.0} % over the repetitions: {}.",
                if wide.is_empty() {
                    "none".to_owned()
                } else {
                    wide.join("; ")
                }
            );
        }
        out
    }

    fn median(&self, label: &str, server: &str) -> Option<f64> {
        let row = ROWS.iter().find(|r| r.label == label)?;
        self.value(row, server).map(|s| s.median)
    }

    /// Each target of issue #6: met, missed or not measured, with the figures.
    fn targets(&self) -> Vec<(Option<bool>, String)> {
        let mut out = Vec::new();
        let peers: Vec<&str> = self
            .servers
            .iter()
            .map(|s| s.name)
            .filter(|n| *n != "ws")
            .collect();
        // The load generator's CPU where it neared saturation for either server.
        let client_note = |row: &str, other: &str| {
            let scenario = ROWS.iter().find(|r| r.label == row)?.scenario;
            let load = |server: &str| {
                let records = self.records(scenario, server);
                stat(&records.iter().map(|r| r.loadgen_cpu).collect::<Vec<_>>()).map(|s| s.max)
            };
            let (ws, peer) = (load("ws")?, load(other)?);
            (ws.max(peer) > GENERATOR_LIMIT).then(|| {
                format!(
                    "; the load generator used up to {ws:.2} / {peer:.2} cores there (over \
                     {GENERATOR_LIMIT:.2}), so this comparison may be limited by the client"
                )
            })
        };
        // Server CPU-µs per message of both, where the row is a rate.
        let cost_note = |row: &str, other: &str| {
            let row = ROWS
                .iter()
                .find(|r| r.label == row && r.unit.ends_with("/s"))?;
            let cost = |server: &str| {
                let records = self.records(row.scenario, server);
                stat(
                    &records
                        .iter()
                        .filter_map(|r| r.cpu_us_per_event(r.server_cpu))
                        .collect::<Vec<_>>(),
                )
                .map(|s| s.median)
            };
            let (ws, peer) = (cost("ws")?, cost(other)?);
            Some(format!(
                "; server CPU-µs per message ws {} vs {other} {} (ws ÷ {other} ×{:.2})",
                human(ws),
                human(peer),
                ws / peer
            ))
        };
        let against = |row: &str, other: &str, factor: f64, higher: bool, what: &str| {
            let ws = self.median(row, "ws");
            let peer = self.median(row, other);
            let met = match (ws, peer) {
                (Some(ws), Some(peer)) if higher => Some(ws >= peer * factor),
                (Some(ws), Some(peer)) => Some(ws * factor <= peer),
                _ => None,
            };
            (
                met,
                format!(
                    "{what}: ws {} vs {other} {}{}{}{}",
                    ws.map(human).unwrap_or_else(|| "?".into()),
                    peer.map(human).unwrap_or_else(|| "?".into()),
                    match (ws, peer) {
                        (Some(ws), Some(peer)) if peer > 0.0 => format!(" (×{:.2})", ws / peer),
                        _ => String::new(),
                    },
                    cost_note(row, other).unwrap_or_default(),
                    client_note(row, other).unwrap_or_default()
                ),
            )
        };
        out.push(against(
            "echo 20 B text",
            "tt-batched",
            1.2,
            true,
            "echo 20 B ≥ 1.2× batched tokio-tungstenite (msg/s)",
        ));
        out.push(against(
            "echo 1 KiB binary",
            "tt-batched",
            1.2,
            true,
            "echo 1 KiB ≥ 1.2× batched tokio-tungstenite (msg/s)",
        ));
        out.push(against(
            "echo 64 KiB binary",
            "fastwebsockets",
            1.0,
            true,
            "echo 64 KiB ahead of fastwebsockets (msg/s)",
        ));
        out.push(against(
            "broadcast max rate: deliveries",
            "tt-batched",
            1.2,
            true,
            "broadcast at max rate ≥ 1.2× batched tokio-tungstenite (deliveries/s)",
        ));
        out.push(against(
            "handshakes (128 at a time)",
            "tokio-websockets",
            1.0,
            true,
            "handshakes/s ahead of tokio-websockets",
        ));
        let best = |label: &str| {
            peers
                .iter()
                .filter_map(|p| self.median(label, p).map(|v| (v, *p)))
                .min_by(|a, b| a.0.total_cmp(&b.0))
        };
        for (label, what, unit) in [
            (
                "broadcast 100 msg/s: delivery p99",
                "p99 delivery latency at 100 msg/s below every peer",
                "ms",
            ),
            (
                "ping-pong round trip p50",
                "ping-pong p50 latency no worse than the best peer",
                "µs",
            ),
        ] {
            let ws = self.median(label, "ws");
            let best = best(label);
            let met = match (ws, best) {
                (Some(ws), Some((best, _))) if label.starts_with("broadcast") => Some(ws < best),
                (Some(ws), Some((best, _))) => Some(ws <= best),
                _ => None,
            };
            out.push((
                met,
                format!(
                    "{what}: ws {} {unit}, best peer {}",
                    ws.map(human).unwrap_or_else(|| "?".into()),
                    best.map(|(v, p)| format!("{p} {} {unit}", human(v)))
                        .unwrap_or_else(|| "?".into())
                ),
            ));
        }
        let idle = self.median("memory per idle connection", "ws");
        out.push((
            idle.map(|kib| kib <= 6.0),
            format!(
                "memory per idle connection ≤ 6 KiB: ws {} KiB (after one 256 KiB echo each: {} KiB)",
                idle.map(human).unwrap_or_else(|| "?".into()),
                self.median("memory per connection after a 256 KiB echo", "ws")
                    .map(human)
                    .unwrap_or_else(|| "?".into())
            ),
        ));
        out
    }

    fn plot(&self) -> Result<(), String> {
        use plotters::prelude::*;
        use plotters::style::{FontStyle, register_font};

        let font = fs::read(FONT)
            .map_err(|e| format!("font {FONT}: {e} (apt-get install fonts-dejavu-core)"))?;
        let font: &'static [u8] = Box::leak(font.into_boxed_slice());
        register_font("sans-serif", FontStyle::Normal, font)
            .map_err(|_| "bad font file".to_owned())?;

        let rows: Vec<&Row> = ROWS
            .iter()
            .filter(|r| r.plotted && self.opts.scenarios.iter().any(|s| s.key == r.scenario))
            .collect();
        let servers: Vec<&Server> = self
            .servers
            .iter()
            .copied()
            .filter(|s| s.name != BASELINE)
            .collect();
        let mut lo: f64 = 0.5;
        let mut hi: f64 = 2.0;
        for row in &rows {
            for server in &servers {
                if let Some(r) = self.ratio(row, server.name) {
                    lo = lo.min(r / 1.3);
                    hi = hi.max(r * 3.0); // headroom for the legend
                }
            }
        }
        let palette = [
            RGBColor(0x4c, 0x72, 0xb0),
            RGBColor(0x55, 0xa8, 0x68),
            RGBColor(0x81, 0x72, 0xb3),
            RGBColor(0xcc, 0xb9, 0x74),
            RGBColor(0x64, 0xb5, 0xcd),
            RGBColor(0xc4, 0x4e, 0x52),
            RGBColor(0xdd, 0x84, 0x52),
            RGBColor(0x93, 0x78, 0x60),
        ];
        let draw_error = |e: DrawingAreaErrorKind<_>| format!("plot: {e:?}");
        let root = BitMapBackend::new(&self.opts.plot, (1600, 760)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Ratio against naive tokio-tungstenite (log scale, > 1 is better) — {}",
                    self.machine.date
                ),
                ("sans-serif", 24),
            )
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..rows.len() as f64, (lo..hi).log_scale())
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("× naive tokio-tungstenite")
            .y_label_formatter(&|v| format!("{v:.1}"))
            .label_style(("sans-serif", 16))
            .draw()
            .map_err(draw_error)?;
        let width = 0.8 / servers.len() as f64;
        for (index, server) in servers.iter().enumerate() {
            let color = palette[index % palette.len()];
            let bars: Vec<Rectangle<(f64, f64)>> = rows
                .iter()
                .enumerate()
                .filter_map(|(i, row)| {
                    let ratio = self.ratio(row, server.name)?;
                    let x0 = i as f64 + 0.1 + index as f64 * width;
                    Some(Rectangle::new(
                        [(x0, 1.0), (x0 + width * 0.9, ratio)],
                        color.filled(),
                    ))
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(draw_error)?
                .label(server.name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
                });
        }
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 1.0), (rows.len() as f64, 1.0)],
                BLACK.stroke_width(1),
            )))
            .map_err(draw_error)?;
        for (i, row) in rows.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64 + 0.5, lo));
            let style = TextStyle::from(("sans-serif", 17).into_font()).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Top,
                ),
            );
            root.draw(&Text::new(row.short.to_owned(), (x, y + 10), style))
                .map_err(draw_error)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .draw()
            .map_err(draw_error)?;
        root.present().map_err(draw_error)?;
        Ok(())
    }
}

const METHOD: &str = r#"
## Method

**Run-to-run variation is larger than the spread within one run.** On the 2-core
virtual machine these figures were first taken on, two idle runs 10 minutes apart with
the same binaries gave `ws` echo 1 KiB 410k–466k msg/s and then 673k–697k msg/s, and
isolated runs right after gave 342k–445k; other figures moved by up to ±20 %. Compare
ratios from one run, and run again before concluding from a difference under ~25 %.

- **One run, every server.** The `bench` driver starts each server afresh for every
  measurement (`taskset -c 0`), waits for its `Listening on http://ADDR` line, runs the
  load generator (`taskset -c 1`), then kills the server. Repetitions are interleaved
  (all servers for a scenario, then the next scenario, then the whole sequence again),
  so slow drift of the machine spreads over all servers alike.
- **Servers.** The peers are written the way each crate's own examples write them
  (`ws-bench/src/bin/peers.rs`, `ws-bench/node/server.js`), with `TCP_NODELAY` set as
  `ws` sets it, on `#[tokio::main]` (pinned to one core: one worker thread).
  `tt-naive` calls `send` (write + flush) per message; `tt-batched` `feed`s every
  message already received and flushes once. Their `/chat` keeps one unbounded channel
  and one writer task per client (tokio-tungstenite's `server.rs` example); axum's
  `/chat` is its chat example's `broadcast` channel. tokio-tungstenite zero-fills its
  128 KiB read buffer before every read attempt, and the batched loop makes one extra
  attempt per flush (to see whether more is ready), which is the likely reason the
  batched peer is CPU-bound at half the naive peer's rate on 64 KiB messages. `ws` is measured through its own
  examples exactly as users run them: `conformance` (`/echo`), `chat` (`/chat`,
  which prefixes `[userN]: `) and `deflate`.
- **Load generator** (`ws-bench/src/bin/loadgen.rs`): one thread, its own minimal
  client. Handshakes run on a tokio current-thread runtime; then the echo and
  broadcast scenarios drive every socket from one hand-written `mio` (epoll) loop: no
  task or waker per message, one clock reading per wake-up. Requests are encoded and
  masked once (constant mask key) into a buffer holding a window of them twice over,
  and every write sends a slice of it; replies are read 64 KiB at a time into one
  shared buffer and counted by walking frame headers, payloads untouched unless the
  scenario needs them, and long payloads (64 KiB echo) discarded in the kernel with
  `recv(MSG_TRUNC)` without being copied. What it still costs is almost all kernel
  time: on loopback a `write` runs the TCP input of the receiving side too, so the
  generator pays about what a server pays in the kernel per message, and for a server
  that spends little in user space (uWebSockets) it nears a core of its own. Its CPU
  is reported next to the server's (both from `/proc/PID/stat` over the same window,
  the server's with its child processes), and so is what every other process used
  (`/proc/stat` minus both): a window in which other processes used more than 0.25
  cores is measured again once. A measurement in which the generator used more than
  0.80 cores is flagged (⚠, **GENERATOR**): its msg/s may be the generator's limit;
  the server's CPU-µs per message is the figure to compare there.
- **Echo**: each connection keeps *k* messages in flight, refilled per read: after
  each read, as many new requests as it brought replies go out in one write. Between
  wake-ups the generator lets replies gather: it sleeps (at most 2 ms) until about a
  quarter of all messages in flight should have been answered, so the server always
  has at least three quarters of the window queued and never waits for work, while a
  server that writes each reply on its own no longer makes the generator read and
  write once per message (against fastwebsockets this cut the generator from 0.82 to
  0.28 cores). Requests then reach the server in larger batches, which lowers the
  CPU-µs per message of servers that read per message too: compare runs made with
  the same generator.
  Replies are counted over the window after a warm-up, each checked for its length.
  Ping-pong is the same with one connection and one message in flight, each round trip
  timed (HdrHistogram, 3 significant digits).
- **Broadcast**: 512 listeners and one sender on `/chat`; each message carries its
  sequence number and send time, each listener records the delivery latency (one
  clock reading per read: every message in it counts as arrived then; only the
  sequence number is parsed, the send time is looked up by it).
  *Max rate*: the sender keeps 32 messages not yet delivered to every listener in
  flight (below `ws`'s default outgoing queue bound of 64, so its slow-client policy,
  close with 1008, never fires; tokio-tungstenite's queues are unbounded, axum's
  broadcast channel holds 1,024). *100 msg/s*: a fixed 10 ms interval. Deliveries/s
  counts every listener's copy. At 100 msg/s every message is 512 separate socket
  writes on the server and 512 reads on the client, so a few milliseconds of delivery
  latency is the fan-out itself.
- **Idle connections**: the server's RSS (`/proc/PID/status` `VmRSS`) before, after
  opening 5,000 connections (128 handshakes at a time: that phase gives handshakes/s),
  and after each connection echoed one 256 KiB binary message (128 at a time), each
  increase divided by 5,000. Each RSS is read after 1.5 s without traffic, so a server
  that releases buffers when a connection goes idle (ws does, after 0.5 s) is measured
  idle. RSS is what the process holds, allocator caches included; kernel socket
  buffers are not in it.
- **Deflate**: the load generator offers `permessage-deflate; client_no_context_takeover`,
  sends each of 16 distinct ~2 KiB JSON documents compressed (level 6, compressed once
  since without context takeover the bytes are the same each time), inflates every
  reply with one inflater per connection and checks its length. "Wire bytes per echo"
  is what the client wrote plus read per echoed message. Its ratios are against
  `tt-naive` echoing the same JSON uncompressed. Only `ws` and Node `ws` offer the
  extension.
- **Soak** (`--soak SECONDS`; `ws-bench/run.sh` runs it for 300 s on `ws`, `--no-soak`
  skips it): the load generator raises its own descriptor soft limit to the hard one
  (the driver does the same before starting the server), opens 10,000 idle connections
  (128 handshakes at a time) and holds them, each sending a ping every 30 s and
  reading the pong (the server's `idle_timeout`, 5 minutes, counts pings); once the
  server holds them all (its ESTABLISHED connections on its port, `/proc/net/tcp`,
  reach 10,000) and 2 s have passed, it reads the baseline: RSS, session count,
  descriptors (`/proc/PID/fd`). Then 32 clients churn beside them for the given time,
  round after round, each kind in turn: connect, echo a message, close handshake (read
  until the server ends the connection); connect, echo, drop the socket; connect, half
  of a 4 KiB binary frame, drop (FIN); the same with `SO_LINGER` 0 (RST); half a
  handshake request, drop. RSS is sampled every second for the peak. After the churn it
  waits (at most 60 s) until the session count is back to the baseline, 2 s more, and
  reads RSS, sessions and descriptors again; then every idle connection echoes one
  message. The bounds: RSS after within 10 % of the baseline, no session or
  descriptor left over, every idle connection alive, no failed round. Rounds/s is what
  32 clients on one core of the generator reach against the server on the other; it
  is a load, not a figure to compare.
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let s = stat(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(stat(&[1.0, 4.0]).unwrap().median, 2.5);
        assert!(stat(&[]).is_none());
    }

    #[test]
    fn figures_read_compactly() {
        assert_eq!(human(1_234_567.0), "1.23M");
        assert_eq!(human(12_345.0), "12.3k");
        assert_eq!(human(512.4), "512");
        assert_eq!(human(12.34), "12.3");
        assert_eq!(human(4.567), "4.57");
    }

    #[test]
    fn plot_link_is_relative_to_the_report() {
        let plot = Path::new("/repo/docs/bench-ratios.png");
        assert_eq!(
            relative_to(plot, Some(Path::new("/repo"))),
            "docs/bench-ratios.png"
        );
        assert_eq!(
            relative_to(plot, Some(Path::new("/elsewhere"))),
            "/repo/docs/bench-ratios.png"
        );
    }

    #[test]
    fn every_row_names_a_scenario() {
        for row in ROWS {
            assert!(
                SCENARIOS.iter().any(|s| s.key == row.scenario),
                "{}",
                row.label
            );
            assert!(
                SCENARIOS.iter().any(|s| s.key == row.base_scenario),
                "{}",
                row.label
            );
        }
    }
}
