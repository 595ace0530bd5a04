//! Cross-node broadcast benchmark: the `chat` example on one node against two
//! `chat_cluster` nodes sharing a `redis-server` (started here on a free port), with
//! the listeners spread over both nodes and the sender on the first, at maximum rate
//! and at 100 msg/s. Servers (the nodes and Redis) run on core 0, the load generator on
//! core 1, as in `bench`. Prints a Markdown table: deliveries/s and delivery p99, each
//! the median of the repetitions with its spread, and the cross-node figures beside the
//! single-node ones.
//!
//! ```sh
//! cargo build --release -p ws-bench --bins && cargo build --release --examples
//! target/release/cluster                 # 3 repetitions, about 1 minute
//! target/release/cluster --smoke         # a moment each (scripts/test-bench-smoke.sh)
//! ```
//!
//! Options: `--reps N`, `--duration S`, `--warmup S`, `--listeners N` (500), `--no-pin`,
//! `--wait-quiet S` (before each measurement, wait up to S seconds until other
//! processes use under 0.25 cores: for a shared machine), `--out FILE.md` (default
//! `target/bench-cluster.md`). `REDIS_SERVER` names the Redis
//! binary (default `redis-server` on `PATH`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ws_bench::record::Record;

struct Options {
    smoke: bool,
    reps: usize,
    duration: f64,
    warmup: f64,
    listeners: usize,
    pin: bool,
    wait_quiet: f64,
    out: PathBuf,
}

fn fail(message: &str) -> ! {
    eprintln!("cluster: {message}");
    std::process::exit(2);
}

fn parse_options() -> Options {
    let mut args = std::env::args().skip(1);
    let mut opts = Options {
        smoke: false,
        reps: 3,
        duration: 3.0,
        warmup: 0.5,
        listeners: 500,
        pin: true,
        wait_quiet: 0.0,
        out: repo_root().join("target/bench-cluster.md"),
    };
    let mut out = None;
    let (mut reps, mut duration, mut warmup, mut listeners) = (None, None, None, None);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| fail(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--smoke" => opts.smoke = true,
            "--no-pin" => opts.pin = false,
            "--reps" => reps = Some(value().parse().unwrap_or_else(|_| fail("--reps N"))),
            "--duration" => {
                duration = Some(value().parse().unwrap_or_else(|_| fail("--duration S")))
            }
            "--warmup" => warmup = Some(value().parse().unwrap_or_else(|_| fail("--warmup S"))),
            "--listeners" => {
                listeners = Some(value().parse().unwrap_or_else(|_| fail("--listeners N")))
            }
            "--out" => out = Some(PathBuf::from(value())),
            "--wait-quiet" => {
                opts.wait_quiet = value()
                    .parse()
                    .unwrap_or_else(|_| fail("--wait-quiet SECONDS"))
            }
            "-h" | "--help" => {
                println!(
                    "cluster [--smoke] [--reps N] [--duration S] [--warmup S] [--listeners N] \
                     [--no-pin] [--wait-quiet S] [--out FILE.md]"
                );
                std::process::exit(0);
            }
            other => fail(&format!("unknown option {other:?}")),
        }
    }
    if opts.smoke {
        opts.reps = 1;
        opts.duration = 0.3;
        opts.warmup = 0.1;
        opts.listeners = 16;
        opts.out = repo_root().join("target/bench-smoke/cluster.md");
    }
    opts.reps = reps.unwrap_or(opts.reps).max(1);
    opts.duration = duration.unwrap_or(opts.duration);
    opts.warmup = warmup.unwrap_or(opts.warmup);
    opts.listeners = listeners.unwrap_or(opts.listeners).max(2);
    opts.out = out.unwrap_or(opts.out);
    opts
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("ws-bench is inside the workspace")
        .to_path_buf()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| fail(&format!("no free port: {e}")))
}

/// A process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn command(program: &Path, core: u32, pin: bool) -> Command {
    if pin {
        let mut cmd = Command::new("taskset");
        cmd.arg("-c").arg(core.to_string()).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// Starts an example and waits for its `Listening on` line.
fn start_example(path: &Path, args: &[String], pin: bool) -> Result<(Running, SocketAddr), String> {
    let mut child = command(path, 0, pin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let running = Running(child);
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
        for _ in lines {}
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(15))
        .map_err(|_| format!("{} printed no `Listening on` line", path.display()))?;
    let port: u16 = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .ok_or_else(|| format!("bad address {addr}"))?;
    Ok((running, SocketAddr::from(([127, 0, 0, 1], port))))
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

fn redis_binary() -> PathBuf {
    let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
    let ok = Command::new(&binary)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        fail(&format!(
            "`{binary}` not found: apt-get install -y redis-server (scripts/ensure-redis.sh)"
        ));
    }
    PathBuf::from(binary)
}

/// The servers of one measurement: their addresses and pids (CPU is summed over them).
struct Servers {
    _processes: Vec<Running>,
    addrs: Vec<SocketAddr>,
    pids: Vec<u32>,
}

fn single(examples: &Path, pin: bool) -> Result<Servers, String> {
    let args = vec!["--port".to_owned(), "0".to_owned()];
    let (running, addr) = start_example(&examples.join("chat"), &args, pin)?;
    let pid = running.0.id();
    Ok(Servers {
        _processes: vec![running],
        addrs: vec![addr],
        pids: vec![pid],
    })
}

fn cluster(examples: &Path, redis: &Path, pin: bool, n: usize) -> Result<Servers, String> {
    let port = free_port();
    let redis_process = Running(
        command(redis, 0, pin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?,
    );
    let mut servers = Servers {
        pids: vec![redis_process.0.id()],
        _processes: vec![redis_process],
        addrs: Vec::new(),
    };
    let url = format!("redis://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("redis-server did not listen within 10 s".to_owned());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..n {
        let args = ["--port", "0", "--redis", &url, "--prefix", "bench"].map(str::to_owned);
        let (running, addr) = start_example(&examples.join("chat_cluster"), &args, pin)?;
        servers.pids.push(running.0.id());
        servers._processes.push(running);
        servers.addrs.push(addr);
    }
    for addr in &servers.addrs {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !http_get(*addr, "/stats").contains("\"broker\":\"Connected\"") {
            if Instant::now() > deadline {
                return Err(format!("node {addr} did not connect to Redis within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(servers)
}

fn run_loadgen(
    loadgen: &Path,
    servers: &Servers,
    rate: u32,
    opts: &Options,
) -> Result<Record, String> {
    let mut args = vec![
        "broadcast".to_owned(),
        "--addr".to_owned(),
        servers.addrs[0].to_string(),
        "--pid".to_owned(),
        servers
            .pids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
        "--listeners".to_owned(),
        opts.listeners.to_string(),
        "--rate".to_owned(),
        rate.to_string(),
        "--window".to_owned(),
        if opts.smoke { "8" } else { "32" }.to_owned(),
        "--duration".to_owned(),
        opts.duration.to_string(),
        "--warmup".to_owned(),
        opts.warmup.to_string(),
    ];
    if let Some(second) = servers.addrs.get(1) {
        args.extend(["--addr2".to_owned(), second.to_string()]);
    }
    let output = command(loadgen, 1, opts.pin)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run loadgen: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "loadgen failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).map_err(|e| format!("bad loadgen output {stdout:?}: {e}"))
}

/// Waits up to `limit` seconds until the machine is quiet (other processes under 0.25
/// cores over half a second).
fn wait_for_quiet(limit: f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(limit);
    while Instant::now() < deadline {
        let before = ws_bench::procstat::machine_busy_seconds().unwrap_or(0.0);
        std::thread::sleep(Duration::from_millis(500));
        let busy = (ws_bench::procstat::machine_busy_seconds().unwrap_or(0.0) - before) / 0.5;
        if busy < 0.25 {
            return;
        }
    }
}

/// Median and spread (± half the range, in % of the median).
fn summary(values: &[f64]) -> (f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    let spread =
        (sorted[sorted.len() - 1] - sorted[0]) / 2.0 / median.max(f64::MIN_POSITIVE) * 100.0;
    (median, spread)
}

fn main() {
    let mut opts = parse_options();
    if opts.pin && Command::new("taskset").arg("--version").output().is_err() {
        eprintln!("cluster: taskset not found: running unpinned");
        opts.pin = false;
    }
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let exe = std::env::current_exe().expect("own path");
    let dir = exe.parent().expect("binary directory").to_path_buf();
    let examples = dir.join("examples");
    let loadgen = dir.join("loadgen");
    for needed in [
        examples.join("chat"),
        examples.join("chat_cluster"),
        loadgen.clone(),
    ] {
        if !needed.exists() {
            fail(&format!(
                "{} is missing: cargo build -p ws-bench --bins && cargo build --examples",
                needed.display()
            ));
        }
    }
    let redis = redis_binary();
    // (key, title, nodes (0: the single-node `chat`), rate)
    let scenarios: [(&str, &str, usize, u32); 4] = [
        ("single-max", "one node (`chat`), max rate", 0, 0),
        ("cluster-max", "two nodes over Redis, max rate", 2, 0),
        ("single-100", "one node (`chat`), 100 msg/s", 0, 100),
        ("cluster-100", "two nodes over Redis, 100 msg/s", 2, 100),
    ];
    let mut results: Vec<Vec<Record>> = vec![Vec::new(); scenarios.len()];
    let mut failures = 0;
    for rep in 0..opts.reps {
        for (i, (key, _, nodes, rate)) in scenarios.iter().enumerate() {
            if opts.wait_quiet > 0.0 {
                wait_for_quiet(opts.wait_quiet);
            }
            let servers = if *nodes == 0 {
                single(&examples, opts.pin)
            } else {
                cluster(&examples, &redis, opts.pin, *nodes)
            };
            let outcome = servers.and_then(|servers| run_loadgen(&loadgen, &servers, *rate, &opts));
            match outcome {
                Ok(record) => {
                    eprintln!(
                        "  [{}] {key:<12} {:>10.0} deliveries/s  p99 {:>8.2} ms  server cpu {:.2}  loadgen {:.2}  others {:.2}{}",
                        rep + 1,
                        record.rate,
                        record.p99_us.unwrap_or(f64::NAN) / 1000.0,
                        record.server_cpu,
                        record.loadgen_cpu,
                        record.other_cpu,
                        if record.errors > 0 {
                            format!("  ERRORS {}", record.errors)
                        } else {
                            String::new()
                        }
                    );
                    results[i].push(record);
                }
                Err(error) => {
                    eprintln!("  [{}] {key:<12} FAILED: {error}", rep + 1);
                    failures += 1;
                }
            }
        }
    }
    let mut report = String::new();
    report.push_str(&format!(
        "# Cross-node broadcast\n\n{} listeners ({} per node in the cluster), one sender on the first node; \
         servers (nodes and redis-server) on core {}, the load generator on the other; \
         {} repetitions of {} s. Median, and spread as ± half the range in % of the median.\n\n",
        opts.listeners,
        opts.listeners / 2,
        if opts.pin { "0" } else { "any" },
        opts.reps,
        opts.duration
    ));
    report.push_str("| scenario | deliveries/s | spread | p50 ms | p99 ms | p99 spread | server CPU (cores) | loadgen CPU | others' CPU |\n|---|---|---|---|---|---|---|---|---|\n");
    let mut medians = Vec::new();
    for (i, (_, title, _, _)) in scenarios.iter().enumerate() {
        let records = &results[i];
        if records.is_empty() {
            report.push_str(&format!("| {title} | failed | | | | | | | |\n"));
            medians.push((f64::NAN, f64::NAN));
            continue;
        }
        let (rate, rate_spread) = summary(&records.iter().map(|r| r.rate).collect::<Vec<_>>());
        let p99s: Vec<f64> = records
            .iter()
            .filter_map(|r| r.p99_us)
            .map(|us| us / 1000.0)
            .collect();
        let p50s: Vec<f64> = records
            .iter()
            .filter_map(|r| r.p50_us)
            .map(|us| us / 1000.0)
            .collect();
        let (p99, p99_spread) = if p99s.is_empty() {
            (f64::NAN, 0.0)
        } else {
            summary(&p99s)
        };
        let (p50, _) = if p50s.is_empty() {
            (f64::NAN, 0.0)
        } else {
            summary(&p50s)
        };
        let (cpu, _) = summary(&records.iter().map(|r| r.server_cpu).collect::<Vec<_>>());
        let (gen_cpu, _) = summary(&records.iter().map(|r| r.loadgen_cpu).collect::<Vec<_>>());
        let others = records.iter().map(|r| r.other_cpu).fold(0.0, f64::max);
        report.push_str(&format!(
            "| {title} | {rate:.0} | ±{rate_spread:.1} % | {p50:.2} | {p99:.2} | ±{p99_spread:.1} % | {cpu:.2} | {gen_cpu:.2} | ≤ {others:.2} |\n"
        ));
        medians.push((rate, p99));
    }
    let ratio = medians[1].0 / medians[0].0;
    report.push_str(&format!(
        "\nCross-node throughput / single-node: ×{ratio:.2} (target ≥ ×0.50: {}); cross-node p99 at 100 msg/s: {:.2} ms (target < 2 ms: {}); single-node p99 at 100 msg/s: {:.2} ms.\n",
        if ratio >= 0.5 { "met" } else { "missed" },
        medians[3].1,
        if medians[3].1 < 2.0 { "met" } else { "missed" },
        medians[2].1,
    ));
    println!("{report}");
    if let Some(parent) = opts.out.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Err(e) = std::fs::write(&opts.out, &report) {
        eprintln!("cluster: cannot write {}: {e}", opts.out.display());
    }
    if failures > 0 {
        eprintln!("cluster: {failures} measurement(s) failed");
        std::process::exit(1);
    }
}
