//! Load generator: one measurement of one scenario against one running server; prints
//! one JSON [`Record`] line.
//!
//! ```sh
//! loadgen echo      --addr A --pid P [--path /echo] [--kind text|binary|json] [--size B]
//!                   [--conns N] [--inflight K] [--deflate] [--latency] [--messages N]
//! loadgen broadcast --addr A --pid P [--path /chat] [--listeners N] [--rate R|0] [--window W]
//! loadgen idle      --addr A --pid P [--path /echo] [--conns N] [--big BYTES]
//! common:           [--warmup S] [--duration S]
//! ```
//!
//! Single-threaded on purpose (pin it to one core): every connection is a task on one
//! current-thread runtime. Requests are encoded once and copied; replies are parsed in
//! place and payloads skipped unless the scenario reads them. Its own CPU time and the
//! server's (`--pid`) are sampled over the same window.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, LocalSet};
use ws_bench::deflate::{self, Inflater};
use ws_bench::procstat::{self, CpuSample};
use ws_bench::record::Record;
use ws_bench::wire::{self, Conn, OP_BINARY, OP_TEXT};

/// Parsed `--key value` options (flags get the value `"true"`).
struct Args {
    scenario: String,
    options: HashMap<String, String>,
}

impl Args {
    fn parse() -> Self {
        let mut raw = std::env::args().skip(1);
        let scenario = raw.next().unwrap_or_else(|| usage("missing scenario"));
        let mut options = HashMap::new();
        let mut raw = raw.peekable();
        while let Some(key) = raw.next() {
            let Some(key) = key.strip_prefix("--") else {
                usage(&format!("unexpected argument {key:?}"));
            };
            let value = match raw.peek() {
                Some(next) if !next.starts_with("--") => raw.next().unwrap(),
                _ => "true".to_owned(),
            };
            options.insert(key.to_owned(), value);
        }
        Self { scenario, options }
    }

    fn get<T: std::str::FromStr>(&self, key: &str, default: T) -> T {
        match self.options.get(key) {
            Some(value) => value
                .parse()
                .unwrap_or_else(|_| usage(&format!("bad value for --{key}: {value:?}"))),
            None => default,
        }
    }

    fn string(&self, key: &str, default: &str) -> String {
        self.options
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    }

    fn flag(&self, key: &str) -> bool {
        self.options.contains_key(key)
    }
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "loadgen: {problem}\nusage: loadgen echo|broadcast|idle --addr HOST:PORT --pid PID [options]"
    );
    std::process::exit(2);
}

/// Counters shared by the connection tasks (one thread: plain cells).
#[derive(Default)]
struct Shared {
    measuring: Cell<bool>,
    stop: Cell<bool>,
    count: Cell<u64>,
    wire_bytes: Cell<u64>,
    errors: Cell<u64>,
    latency: RefCell<Option<Histogram<u64>>>,
}

impl Shared {
    fn add(cell: &Cell<u64>, n: u64) {
        cell.set(cell.get() + n);
    }

    fn record_latency(&self, nanos: u64) {
        if let Some(hist) = self.latency.borrow_mut().as_mut() {
            let _ = hist.record(nanos.max(1));
        }
    }
}

/// Nanoseconds since this process's clock epoch (the timestamp in broadcast messages).
fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn main() {
    let args = Args::parse();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = LocalSet::new();
    match local.block_on(&runtime, run(args)) {
        Ok(record) => {
            println!(
                "{}",
                serde_json::to_string(&record).expect("record serializes")
            );
            // Open connections are dropped with the process; the driver stops the server.
            std::process::exit(0);
        }
        Err(error) => {
            eprintln!("loadgen: {error}");
            std::process::exit(1);
        }
    }
}

async fn run(args: Args) -> io::Result<Record> {
    let addr: SocketAddr = args
        .string("addr", "")
        .parse()
        .unwrap_or_else(|_| usage("--addr HOST:PORT is required"));
    let pid = args.string("pid", "");
    if pid.is_empty() {
        usage("--pid PID of the server is required");
    }
    let warmup = Duration::from_secs_f64(args.get("warmup", 0.5));
    let duration = Duration::from_secs_f64(args.get("duration", 3.0));
    let window = Window {
        pid,
        warmup,
        duration,
    };
    match args.scenario.as_str() {
        "echo" => echo(&args, addr, &window).await,
        "broadcast" => broadcast(&args, addr, &window).await,
        "idle" => idle(&args, addr, &window.pid).await,
        other => usage(&format!("unknown scenario {other:?}")),
    }
}

/// The measurement window: warm up, then count for `duration`.
struct Window {
    pid: String,
    warmup: Duration,
    duration: Duration,
}

impl Window {
    /// Runs the window over `shared`'s counters and fills the common record fields.
    async fn measure(&self, shared: &Shared, record: &mut Record) {
        tokio::time::sleep(self.warmup).await;
        let (count0, bytes0) = (shared.count.get(), shared.wire_bytes.get());
        let cpu0 = CpuSample::take(&self.pid);
        let start = Instant::now();
        shared.measuring.set(true);
        tokio::time::sleep(self.duration).await;
        shared.measuring.set(false);
        let seconds = start.elapsed().as_secs_f64();
        let cpu1 = CpuSample::take(&self.pid);
        shared.stop.set(true);
        let count = shared.count.get() - count0;
        let usage = cpu1.usage_since(&cpu0, seconds);
        record.seconds = seconds;
        record.count = count;
        record.rate = count as f64 / seconds;
        record.server_cpu = usage.server;
        record.loadgen_cpu = usage.own;
        record.other_cpu = usage.others;
        record.server_rss_kib = procstat::rss_kib(&self.pid);
        record.errors = shared.errors.get();
        if count > 0 {
            let bytes = shared.wire_bytes.get() - bytes0;
            record.wire_bytes_per_msg = Some(bytes as f64 / count as f64);
        }
        if let Some(hist) = shared.latency.borrow().as_ref()
            && !hist.is_empty()
        {
            record.p50_us = Some(hist.value_at_quantile(0.50) as f64 / 1000.0);
            record.p99_us = Some(hist.value_at_quantile(0.99) as f64 / 1000.0);
        }
    }
}

/// Spawns a connection task; a failure before the window ends counts as an error and
/// the first one is printed.
fn spawn_counted(
    shared: Rc<Shared>,
    task: impl Future<Output = io::Result<()>> + 'static,
) -> JoinHandle<()> {
    tokio::task::spawn_local(async move {
        if let Err(error) = task.await
            && !shared.stop.get()
        {
            if shared.errors.get() == 0 {
                eprintln!("loadgen: connection failed: {error}");
            }
            Shared::add(&shared.errors, 1);
        }
    })
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

/// Runs `job(index)` for every index below `n`, `parallel` at a time.
async fn for_each_parallel<F, Fut>(n: usize, parallel: usize, job: F) -> io::Result<()>
where
    F: Fn(usize) -> Fut + 'static,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    let next = Rc::new(Cell::new(0usize));
    let job = Rc::new(job);
    let workers: Vec<JoinHandle<io::Result<()>>> = (0..parallel.min(n))
        .map(|_| {
            let (next, job) = (next.clone(), job.clone());
            tokio::task::spawn_local(async move {
                loop {
                    let index = next.get();
                    if index >= n {
                        return Ok(());
                    }
                    next.set(index + 1);
                    job(index).await?;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker task")?;
    }
    Ok(())
}

/// Opens `n` connections, `parallel` handshakes at a time.
async fn connect_many(
    addr: SocketAddr,
    path: &str,
    offer: Option<&'static str>,
    n: usize,
    parallel: usize,
) -> io::Result<Vec<Conn>> {
    let conns = Rc::new(RefCell::new(
        (0..n).map(|_| None).collect::<Vec<Option<Conn>>>(),
    ));
    let (slots, path) = (conns.clone(), path.to_owned());
    for_each_parallel(n, parallel, move |index| {
        let (slots, path) = (slots.clone(), path.clone());
        async move {
            slots.borrow_mut()[index] = Some(wire::connect(addr, &path, offer).await?);
            Ok(())
        }
    })
    .await?;
    let conns = conns.take();
    Ok(conns.into_iter().map(|c| c.expect("connected")).collect())
}

// ---------------------------------------------------------------------------------------
// echo: `conns` connections, each keeping `inflight` messages outstanding.

/// What an echo connection sends, cycled, and how long each reply must be.
struct EchoJob {
    frames: Vec<Bytes>,
    lens: Vec<usize>,
    inflight: usize,
    deflate: bool,
    latency: bool,
    read_chunk: usize,
    /// Messages per connection in `--messages` mode (then the run ends by itself).
    budget: Option<usize>,
}

/// A compressible JSON document of about `size` bytes (dashboard-style telemetry),
/// different for each `seed`.
fn json_doc(seed: usize, size: usize) -> String {
    let mut doc = format!(
        "{{\"type\":\"metrics\",\"seq\":{seed},\"host\":\"node-{}\",\"points\":[",
        seed % 7
    );
    let mut i = 0;
    while doc.len() + 90 < size {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&format!(
            "{{\"name\":\"cpu.load\",\"core\":{},\"value\":{}.{},\"unit\":\"percent\",\"ok\":true}}",
            i % 16,
            (seed * 31 + i * 7) % 100,
            (seed + i * 13) % 10
        ));
        i += 1;
    }
    doc.push_str("]}");
    doc
}

async fn echo(args: &Args, addr: SocketAddr, window: &Window) -> io::Result<Record> {
    let kind = args.string("kind", "binary");
    let size: usize = args.get("size", 1024);
    let conns: usize = args.get("conns", 64);
    let inflight: usize = args.get("inflight", 16);
    let offer_deflate = args.flag("deflate");
    let path = args.string("path", "/echo");
    let offer = offer_deflate.then_some(deflate::OFFER);
    // `--messages N`: echo N messages in all, then stop (for profiles).
    let messages: usize = args.get("messages", 0);
    let mut conns = connect_many(addr, &path, offer, conns, 16).await?;
    let negotiated = deflate::accepted(conns[0].extensions.as_deref());
    let conns_answer = conns[0].extensions.clone();
    if offer_deflate && negotiated.is_none() {
        return Err(io::Error::other("server did not accept permessage-deflate"));
    }
    let payloads: Vec<Vec<u8>> = match kind.as_str() {
        "text" => vec![b"x".repeat(size)],
        "json" => (0..16)
            .map(|seed| json_doc(seed, size).into_bytes())
            .collect(),
        _ => vec![(0..size).map(|i| (i % 251) as u8).collect()],
    };
    let opcode = if kind == "binary" { OP_BINARY } else { OP_TEXT };
    let frames = payloads
        .iter()
        .map(|payload| {
            let mut out = Vec::new();
            if negotiated.is_some() {
                wire::encode_frame(
                    opcode,
                    true,
                    &deflate::compress_message(payload, 6),
                    &mut out,
                );
            } else {
                wire::encode_frame(opcode, false, payload, &mut out);
            }
            Bytes::from(out)
        })
        .collect();
    let job = Rc::new(EchoJob {
        frames,
        lens: payloads.iter().map(Vec::len).collect(),
        inflight,
        deflate: negotiated.is_some(),
        latency: args.flag("latency"),
        read_chunk: (size * inflight).clamp(16 * 1024, 256 * 1024),
        budget: (messages > 0).then(|| messages.div_ceil(conns.len())),
    });
    let shared = Rc::new(Shared::default());
    if job.latency {
        *shared.latency.borrow_mut() = Some(histogram());
    }
    let mut record = Record {
        scenario: format!("echo {kind} {size} B"),
        note: match &negotiated {
            Some(_) => format!(
                "{}; server answered `{}`",
                conns_note(&job),
                conns_answer.as_deref().unwrap_or_default()
            ),
            None => String::new(),
        },
        ..Record::default()
    };
    if job.budget.is_some() {
        shared.measuring.set(true);
    }
    let cpu0 = CpuSample::take(&window.pid);
    let start = Instant::now();
    let tasks: Vec<_> = conns
        .drain(..)
        .map(|conn| {
            let (job, shared) = (job.clone(), shared.clone());
            spawn_counted(shared.clone(), echo_conn(conn, job, shared))
        })
        .collect();
    if job.budget.is_some() {
        for task in tasks {
            let _ = task.await;
        }
        let seconds = start.elapsed().as_secs_f64();
        let usage = CpuSample::take(&window.pid).usage_since(&cpu0, seconds);
        record.seconds = seconds;
        record.count = shared.count.get();
        record.rate = record.count as f64 / seconds;
        record.server_cpu = usage.server;
        record.loadgen_cpu = usage.own;
        record.other_cpu = usage.others;
        record.errors = shared.errors.get();
    } else {
        window.measure(&shared, &mut record).await;
    }
    if record.count == 0 {
        return Err(io::Error::other("no echo received in the window"));
    }
    Ok(record)
}

fn conns_note(job: &EchoJob) -> String {
    let wire: usize = job.frames.iter().map(Bytes::len).sum::<usize>() / job.frames.len();
    let plain: usize = job.lens.iter().sum::<usize>() / job.lens.len();
    format!("request {plain} B -> {wire} B on the wire")
}

async fn echo_conn(mut conn: Conn, job: Rc<EchoJob>, shared: Rc<Shared>) -> io::Result<()> {
    let count = job.frames.len();
    let (mut sent, mut received) = (0usize, 0usize);
    let mut out = Vec::new();
    let mut sent_at = VecDeque::new();
    let budget = job.budget.unwrap_or(usize::MAX);
    for _ in 0..job.inflight.min(budget) {
        out.extend_from_slice(&job.frames[sent % count]);
        sent += 1;
        if job.latency {
            sent_at.push_back(Instant::now());
        }
    }
    conn.stream.write_all(&out).await?;
    conn.reader.set_keep(job.deflate);
    let mut inflater = Inflater::new();
    loop {
        let read = conn
            .reader
            .read_from(&mut conn.stream, job.read_chunk)
            .await?;
        let mut replies = 0;
        let mut errors = 0;
        conn.reader.drain(|msg| {
            if msg.opcode != OP_TEXT && msg.opcode != OP_BINARY {
                return;
            }
            let expected = job.lens[received % count];
            let len = if msg.rsv1 {
                inflater
                    .inflate(msg.payload)
                    .map(<[u8]>::len)
                    .unwrap_or(usize::MAX)
            } else {
                msg.len
            };
            if len != expected {
                errors += 1;
            }
            received += 1;
            replies += 1;
        })?;
        if job.latency {
            let now = Instant::now();
            for _ in 0..replies {
                if let Some(at) = sent_at.pop_front() {
                    shared.record_latency_if_measuring(now - at);
                }
            }
        }
        if shared.measuring.get() {
            Shared::add(&shared.count, replies as u64);
            Shared::add(&shared.wire_bytes, read as u64);
        }
        Shared::add(&shared.errors, errors);
        if shared.stop.get() || received >= budget {
            return Ok(());
        }
        out.clear();
        for _ in 0..replies.min(budget - sent) {
            out.extend_from_slice(&job.frames[sent % count]);
            sent += 1;
            if job.latency {
                sent_at.push_back(Instant::now());
            }
        }
        if !out.is_empty() {
            conn.stream.write_all(&out).await?;
            if shared.measuring.get() {
                Shared::add(&shared.wire_bytes, out.len() as u64);
            }
        }
    }
}

impl Shared {
    fn record_latency_if_measuring(&self, elapsed: Duration) {
        if self.measuring.get() {
            self.record_latency(elapsed.as_nanos() as u64);
        }
    }
}

// ---------------------------------------------------------------------------------------
// broadcast: `listeners` clients on /chat, one sender; each message carries its sequence
// number and send time, every listener records the delivery latency.

/// Delivery bookkeeping for the sender's window.
struct Deliveries {
    listeners: u32,
    /// Deliveries per in-flight message, indexed by sequence number modulo the length.
    ring: RefCell<Vec<u32>>,
    completed: Cell<u64>,
    progress: Notify,
}

const RING: usize = 1 << 16;

/// Parses `#SEQ TS` anywhere in a chat message (servers may prefix a user name).
fn parse_chat(payload: &[u8]) -> Option<(u64, u64)> {
    let start = payload.iter().position(|&b| b == b'#')? + 1;
    let mut fields = payload[start..]
        .split(|&b| b == b' ')
        .map(|field| std::str::from_utf8(field).ok()?.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??))
}

async fn broadcast(args: &Args, addr: SocketAddr, window: &Window) -> io::Result<Record> {
    let listeners: usize = args.get("listeners", 512);
    let rate: f64 = args.get("rate", 0.0);
    let max_outstanding: u64 = args.get("window", 32);
    let path = args.string("path", "/chat");
    let conns = connect_many(addr, &path, None, listeners, 16).await?;
    let shared = Rc::new(Shared::default());
    *shared.latency.borrow_mut() = Some(histogram());
    let deliveries = Rc::new(Deliveries {
        listeners: listeners as u32,
        ring: RefCell::new(vec![0; RING]),
        completed: Cell::new(0),
        progress: Notify::new(),
    });
    for conn in conns {
        let (shared, deliveries) = (shared.clone(), deliveries.clone());
        drop(spawn_counted(
            shared.clone(),
            listen(conn, shared, deliveries),
        ));
    }
    let sender = wire::connect(addr, &path, None).await?;
    let (mut read_half, mut write_half) = sender.stream.into_split();
    let mut sender_reader = sender.reader;
    // The sender's own copies are read and dropped, so its socket never backs up.
    tokio::task::spawn_local(async move {
        loop {
            if sender_reader
                .read_from(&mut read_half, 64 * 1024)
                .await
                .is_err()
            {
                return;
            }
            let _ = sender_reader.drain(|_| {});
        }
    });
    let message = |seq: u64| wire::frame(OP_TEXT, format!("#{seq} {}", now_ns()).as_bytes());

    // Sync: probe until one message reaches every listener (all are registered).
    let mut seq = 0u64;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        deliveries.ring.borrow_mut()[seq as usize % RING] = 0;
        write_half.write_all(&message(seq)).await?;
        seq += 1;
        let _ =
            tokio::time::timeout(Duration::from_millis(50), deliveries.progress.notified()).await;
        if deliveries.completed.get() > 0 {
            break;
        }
        if Instant::now() > deadline {
            return Err(io::Error::other("listeners never all received a message"));
        }
    }
    // Let stray probes settle, then count from here.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let baseline = deliveries.completed.get();
    let first = seq;

    let sender_shared = shared.clone();
    let sender_deliveries = deliveries.clone();
    let sending = tokio::task::spawn_local(async move {
        let shared = sender_shared;
        let deliveries = sender_deliveries;
        let mut seq = first;
        let mut out = Vec::new();
        if rate > 0.0 {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            while !shared.stop.get() {
                tick.tick().await;
                deliveries.ring.borrow_mut()[seq as usize % RING] = 0;
                write_half.write_all(&message(seq)).await?;
                seq += 1;
            }
        } else {
            while !shared.stop.get() {
                out.clear();
                let outstanding = (seq - first) - (deliveries.completed.get() - baseline);
                for _ in outstanding..max_outstanding {
                    deliveries.ring.borrow_mut()[seq as usize % RING] = 0;
                    out.extend_from_slice(&message(seq));
                    seq += 1;
                }
                if !out.is_empty() {
                    write_half.write_all(&out).await?;
                }
                deliveries.progress.notified().await;
            }
        }
        io::Result::Ok(())
    });
    let mut record = Record {
        scenario: if rate > 0.0 {
            format!("broadcast {rate} msg/s to {listeners}")
        } else {
            format!("broadcast max rate to {listeners}, window {max_outstanding}")
        },
        note: format!("{listeners} listeners"),
        ..Record::default()
    };
    window.measure(&shared, &mut record).await;
    if sending.is_finished() {
        sending.await.expect("sender task")?;
    }
    if record.count == 0 {
        return Err(io::Error::other("no delivery in the window"));
    }
    Ok(record)
}

async fn listen(mut conn: Conn, shared: Rc<Shared>, deliveries: Rc<Deliveries>) -> io::Result<()> {
    conn.reader.set_keep(true);
    loop {
        conn.reader.drain(|msg| {
            if msg.opcode != OP_TEXT {
                return;
            }
            // Greetings and other chatter carry no `#`.
            let Some((seq, sent)) = parse_chat(msg.payload) else {
                return;
            };
            if shared.measuring.get() {
                Shared::add(&shared.count, 1);
                shared.record_latency(now_ns().saturating_sub(sent));
            }
            let mut ring = deliveries.ring.borrow_mut();
            let slot = &mut ring[seq as usize % RING];
            *slot += 1;
            if *slot == deliveries.listeners {
                deliveries.completed.set(deliveries.completed.get() + 1);
                deliveries.progress.notify_one();
            }
        })?;
        conn.reader.read_from(&mut conn.stream, 16 * 1024).await?;
    }
}

// ---------------------------------------------------------------------------------------
// idle: open many connections (handshakes/s, RSS per connection), then let each exchange
// one big message and measure again.

async fn idle(args: &Args, addr: SocketAddr, pid: &str) -> io::Result<Record> {
    let n: usize = args.get("conns", 5000);
    let big: usize = args.get("big", 256 * 1024);
    let parallel: usize = args.get("parallel", 128);
    let settle = Duration::from_secs_f64(args.get("settle", 1.5));
    let path = args.string("path", "/echo");
    let rss = || procstat::rss_kib(pid).unwrap_or(0) as f64;

    let rss0 = rss();
    let cpu0 = CpuSample::take(pid);
    let start = Instant::now();
    let conns = connect_many(addr, &path, None, n, parallel).await?;
    let seconds = start.elapsed().as_secs_f64();
    let usage = CpuSample::take(pid).usage_since(&cpu0, seconds);
    tokio::time::sleep(settle).await;
    let rss1 = rss();

    // One big echo per connection, `parallel` at a time.
    let frame = wire::frame(OP_BINARY, &vec![0x5a; big]);
    let conns = Rc::new(RefCell::new(
        conns.into_iter().map(Some).collect::<Vec<_>>(),
    ));
    let slots = conns.clone();
    for_each_parallel(n, parallel, move |index| {
        let (slots, frame) = (slots.clone(), frame.clone());
        async move {
            let mut conn = slots.borrow_mut()[index].take().expect("connection");
            conn.stream.write_all(&frame).await?;
            let mut echoed = false;
            while !echoed {
                conn.reader.drain(|msg| {
                    echoed |= msg.opcode == OP_BINARY && msg.len == big;
                })?;
                if !echoed {
                    conn.reader.read_from(&mut conn.stream, 64 * 1024).await?;
                }
            }
            slots.borrow_mut()[index] = Some(conn);
            Ok(())
        }
    })
    .await?;
    tokio::time::sleep(settle).await;
    let rss2 = rss();
    Ok(Record {
        scenario: format!("idle {n} connections"),
        seconds,
        count: n as u64,
        rate: n as f64 / seconds,
        server_cpu: usage.server,
        loadgen_cpu: usage.own,
        other_cpu: usage.others,
        idle_kib_per_conn: Some((rss1 - rss0) / n as f64),
        after_256k_kib_per_conn: Some((rss2 - rss0) / n as f64),
        server_rss_kib: Some(rss2 as u64),
        note: format!("RSS {rss0:.0} -> {rss1:.0} -> {rss2:.0} KiB"),
        ..Record::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_messages_parse_with_and_without_prefix() {
        assert_eq!(parse_chat(b"#12 345"), Some((12, 345)));
        assert_eq!(parse_chat(b"[user7]: #1 2"), Some((1, 2)));
        assert_eq!(
            parse_chat(b"You are connected! There are 3 users here."),
            None
        );
    }

    #[test]
    fn json_docs_are_about_the_size_asked() {
        let doc = json_doc(3, 2048);
        assert!(doc.len() <= 2048 && doc.len() > 1900, "{}", doc.len());
        assert!(serde_json::from_str::<serde_json::Value>(&doc).is_ok());
    }
}
