//! Load generator: one measurement of one scenario against one running server; prints
//! one JSON [`Record`] line.
//!
//! ```sh
//! loadgen echo      --addr A --pid P [--path /echo] [--kind text|binary|json] [--size B]
//!                   [--conns N] [--inflight K] [--deflate] [--latency] [--messages N]
//!                   [--refill R] [--pace F] [--read-payloads]
//! loadgen broadcast --addr A --pid P [--path /chat] [--listeners N] [--rate R|0] [--window W]
//!                   [--addr2 B]   (half the listeners on B, the sender on A: cross-node)
//! loadgen idle      --addr A --pid P [--path /echo] [--conns N] [--big BYTES] [--hold S]
//! loadgen soak      --addr A --pid P [--path /echo] [--conns N] [--churn S] [--parallel P]
//!                   [--keepalive S] [--settle S]
//! common:           [--warmup S] [--duration S]
//! ```
//!
//! Single-threaded on purpose (pin it to one core), and built to cost far less per
//! message than the servers it measures, so that the server is the bottleneck:
//!
//! - Handshakes run on a current-thread tokio runtime; then `echo` and `broadcast` hand
//!   the sockets to one hand-written `mio` (epoll) loop: no task, no waker, no channel
//!   per message, one clock reading per wake-up (plus one per read or write where
//!   latency is measured).
//! - Requests are encoded and masked once (a constant mask key) into one buffer holding
//!   a whole window of them twice over; every write sends a slice of it, whatever the
//!   number of messages, so sending costs no copy or encoding per message.
//! - Replies are read 64 KiB at a time into one buffer shared by every connection and
//!   counted by walking frame headers ([`FrameWalker`]); payloads are not looked at
//!   unless the scenario needs them (deflate, broadcast), and long ones (≥ 16 KiB left
//!   in a frame) are discarded in the kernel with `recv(MSG_TRUNC)`, never copied.
//!   A read shorter than the buffer ends the reading of that socket (epoll reports new
//!   data again), so a wake-up costs one `read`, not one more that would say `EAGAIN`.
//!
//! Soak opens `--conns` N idle connections (10,000 by default; the descriptor soft limit
//! of this process is raised to its hard limit at start) and holds them, each pinging
//! every `--keepalive` S seconds (30) so that the server's idle timeout does not end
//! it; then `--parallel` P clients (32) churn for `--churn` S seconds (300): connect,
//! echo, close handshake; connect, echo, drop; half a frame then FIN; half a frame then
//! RST; half a handshake request then drop, in turn. It then waits (at most 60 s) until
//! the server's ESTABLISHED connections on its port (`/proc/net/tcp`) are back to the
//! idle count, lets memory settle, and reports the server's RSS (before any connection,
//! with the idle ones = the baseline, the peak during the churn, after), its session
//! and descriptor counts before and after, and how many idle connections still echo.
//!
//! Echo keeps `--inflight` K messages outstanding per connection, refilled per read:
//! after each read, as many requests as it brought replies go out in one write
//! (`--refill R`: only once at least R replies are in, then back to K). Between
//! wake-ups the loop lets replies gather (`--pace F`, 0.25 by default: each wake-up
//! should find about F of all messages in flight answered, never sleeping more than
//! 2 ms; off for `--latency`, for windows under 64 messages and, unless asked for, with
//! `--messages`), so that a server which answers each message with its own write does
//! not make the generator read (and refill) once per message too. `--messages N`
//! echoes N messages in all and stops (profiles); `--read-payloads` reads long payloads
//! instead of discarding them (to measure what discarding saves). Broadcast is not
//! paced: its window of 32 messages would run dry during a pause. Its own
//! CPU time and the server's (`--pid`, with its child processes) are sampled over the
//! same window, user and system apart.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hdrhistogram::Histogram;
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use tokio::io::AsyncWriteExt;
use tokio::task::{JoinHandle, LocalSet};
use ws_bench::deflate::{self, Inflater};
use ws_bench::procstat::{self, CpuSample};
use ws_bench::record::{Record, Soak};
use ws_bench::wire::{self, Conn, FrameWalker, Message, OP_BINARY, OP_TEXT};

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

    fn addr(&self) -> SocketAddr {
        self.string("addr", "")
            .parse()
            .unwrap_or_else(|_| usage("--addr HOST:PORT is required"))
    }

    fn window(&self) -> Window {
        let pid = self.string("pid", "");
        if pid.is_empty() {
            usage("--pid PID of the server is required");
        }
        Window {
            pid,
            warmup: Duration::from_secs_f64(self.get("warmup", 0.5)),
            duration: Duration::from_secs_f64(self.get("duration", 3.0)),
        }
    }
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "loadgen: {problem}\nusage: loadgen echo|broadcast|idle|soak --addr HOST:PORT --pid PID [options]"
    );
    std::process::exit(2);
}

/// Nanoseconds since this process's clock epoch (the timestamp in broadcast messages).
fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn main() {
    let args = Args::parse();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let outcome = match args.scenario.as_str() {
        "echo" => echo(&args),
        "broadcast" => broadcast(&args),
        "idle" => block_on(idle(&args)),
        "soak" => block_on(soak(&args)),
        other => usage(&format!("unknown scenario {other:?}")),
    };
    match outcome {
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

/// Runs `future` (handshakes, the `idle` scenario) on a current-thread tokio runtime.
fn block_on<F: Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    LocalSet::new().block_on(&runtime, future)
}

/// The measurement window: warm up, then count for `duration`.
struct Window {
    pid: String,
    warmup: Duration,
    duration: Duration,
}

/// What the event loops count; only while `measuring`, so no baseline is subtracted.
struct Counters {
    measuring: bool,
    /// Set once the window is over: failures after it are not errors.
    finished: bool,
    count: u64,
    /// Replies seen, measuring or not (for the pacer).
    seen: u64,
    wire_bytes: u64,
    errors: u64,
    latency: Option<Histogram<u64>>,
}

impl Counters {
    fn new(latency: bool) -> Self {
        Self {
            measuring: false,
            finished: false,
            count: 0,
            seen: 0,
            wire_bytes: 0,
            errors: 0,
            latency: latency.then(histogram),
        }
    }

    fn record_latency(&mut self, nanos: u64) {
        if self.measuring
            && let Some(hist) = self.latency.as_mut()
        {
            let _ = hist.record(nanos.max(1));
        }
    }

    /// A connection failed: an error unless the window is over; the first is printed.
    fn failed(&mut self, error: &io::Error) {
        if self.finished {
            return;
        }
        if self.errors == 0 {
            eprintln!("loadgen: connection failed: {error}");
        }
        self.errors += 1;
    }
}

/// Where an event loop is in the window.
enum Phase {
    WarmingUp {
        until: Instant,
    },
    Measuring {
        until: Instant,
    },
    /// `--messages` mode: measuring from the start until the loop stops by itself.
    Open,
    Done,
}

/// Drives the window from an event loop: call [`Meter::tick`] after every wake-up.
struct Meter<'w> {
    window: &'w Window,
    phase: Phase,
    cpu0: Option<CpuSample>,
    start: Instant,
    seconds: f64,
    cpu1: Option<CpuSample>,
}

impl<'w> Meter<'w> {
    fn new(window: &'w Window, now: Instant) -> Self {
        Self {
            window,
            phase: Phase::WarmingUp {
                until: now + window.warmup,
            },
            cpu0: None,
            start: now,
            seconds: 0.0,
            cpu1: None,
        }
    }

    /// Measuring from now on, until [`Meter::stop`].
    fn open(window: &'w Window, counters: &mut Counters) -> Self {
        counters.measuring = true;
        Self {
            window,
            phase: Phase::Open,
            cpu0: Some(CpuSample::take(&window.pid)),
            start: Instant::now(),
            seconds: 0.0,
            cpu1: None,
        }
    }

    /// Moves through the phases; true once the window is over.
    fn tick(&mut self, now: Instant, counters: &mut Counters) -> bool {
        match self.phase {
            Phase::WarmingUp { until } if now >= until => {
                self.cpu0 = Some(CpuSample::take(&self.window.pid));
                self.start = Instant::now();
                counters.measuring = true;
                self.phase = Phase::Measuring {
                    until: self.start + self.window.duration,
                };
                false
            }
            Phase::Measuring { until } if now >= until => {
                self.stop(counters);
                true
            }
            Phase::Done => true,
            _ => false,
        }
    }

    fn stop(&mut self, counters: &mut Counters) {
        counters.measuring = false;
        counters.finished = true;
        self.seconds = self.start.elapsed().as_secs_f64();
        self.cpu1 = Some(CpuSample::take(&self.window.pid));
        self.phase = Phase::Done;
    }

    /// How long the loop may sleep before the next phase change.
    fn timeout(&self, now: Instant) -> Option<Duration> {
        match self.phase {
            Phase::WarmingUp { until } | Phase::Measuring { until } => {
                Some(until.saturating_duration_since(now))
            }
            Phase::Open => Some(Duration::from_millis(100)),
            Phase::Done => Some(Duration::ZERO),
        }
    }

    /// Fills the record's common fields from the window and the counters.
    fn finish(&self, counters: &Counters, record: &mut Record) {
        let (Some(cpu0), Some(cpu1)) = (&self.cpu0, &self.cpu1) else {
            return;
        };
        let seconds = self.seconds;
        let usage = cpu1.usage_since(cpu0, seconds);
        record.seconds = seconds;
        record.count = counters.count;
        record.rate = counters.count as f64 / seconds;
        record.set_cpu(&usage);
        record.server_rss_kib = procstat::rss_kib(&self.window.pid);
        record.errors = counters.errors;
        if counters.count > 0 && counters.wire_bytes > 0 {
            record.wire_bytes_per_msg = Some(counters.wire_bytes as f64 / counters.count as f64);
        }
        if let Some(hist) = counters.latency.as_ref()
            && !hist.is_empty()
        {
            record.p50_us = Some(hist.value_at_quantile(0.50) as f64 / 1000.0);
            record.p99_us = Some(hist.value_at_quantile(0.99) as f64 / 1000.0);
        }
    }
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

/// An upgraded connection handed over to an event loop.
struct Socket {
    stream: MioStream,
    /// Bytes the server sent right after its handshake response.
    early: BytesMut,
    extensions: Option<String>,
}

/// Opens `n` connections (tokio, 16 handshakes at a time) and hands them over as
/// non-blocking `mio` sockets.
fn connect_sockets(
    addr: SocketAddr,
    path: &str,
    offer: Option<&'static str>,
    n: usize,
) -> io::Result<Vec<Socket>> {
    block_on(async {
        connect_many(addr, path, offer, n, 16)
            .await?
            .into_iter()
            .map(|mut conn| {
                let early = conn.reader.take_buffered();
                Ok(Socket {
                    stream: MioStream::from_std(conn.stream.into_std()?),
                    early,
                    extensions: conn.extensions,
                })
            })
            .collect()
    })
}

/// Read buffers shared by every connection of an event loop.
struct ReadBufs {
    /// Where replies are read to and walked.
    buf: Vec<u8>,
    /// Never read from: `recv(MSG_TRUNC)` discards into it without writing.
    discard: Vec<MaybeUninit<u8>>,
    /// Bytes asked for by a read at a frame boundary.
    chunk: usize,
    /// Long payloads are discarded unread (else read and walked like the rest).
    discards: bool,
}

/// Payload bytes left in a frame from which on they are discarded unread.
const DISCARD_MIN: usize = 16 * 1024;

impl ReadBufs {
    /// `big`: replies are long, so a read at a frame boundary asks for just enough to
    /// see the next header and the rest is discarded.
    fn new(big: bool) -> Self {
        Self {
            buf: vec![0; 64 * 1024],
            discard: vec![MaybeUninit::uninit(); if big { 1 << 20 } else { 0 }],
            chunk: if big { 4096 } else { 64 * 1024 },
            discards: big,
        }
    }

    /// Reads everything `stream` has, handing each piece to `on_piece` (which walks it
    /// with `state`'s walker); returns the bytes read. End of stream is an error:
    /// servers under test never close first.
    fn read_all<S: Walking>(
        &mut self,
        stream: &mut MioStream,
        state: &mut S,
        mut on_piece: impl FnMut(&mut S, Piece<'_>) -> io::Result<()>,
    ) -> io::Result<u64> {
        let mut total = 0u64;
        loop {
            let skip = state.walker().skippable();
            let discarding = self.discards && skip >= DISCARD_MIN;
            let (asked, got) = if discarding {
                let asked = skip.min(self.discard.len());
                let got = socket2::SockRef::from(&*stream)
                    .recv_with_flags(&mut self.discard[..asked], libc::MSG_TRUNC);
                (asked, got)
            } else {
                (self.chunk, stream.read(&mut self.buf[..self.chunk]))
            };
            match got {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    ));
                }
                Ok(n) => {
                    total += n as u64;
                    if discarding {
                        on_piece(state, Piece::Skipped(n))?;
                    } else {
                        on_piece(state, Piece::Bytes(&self.buf[..n]))?;
                    }
                    if n < asked {
                        return Ok(total);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(total),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// A connection's state apart from its socket: it walks the frames it reads.
trait Walking {
    fn walker(&mut self) -> &mut FrameWalker;
}

/// What one read brought: bytes to walk, or a count of payload bytes discarded.
enum Piece<'a> {
    Bytes(&'a [u8]),
    Skipped(usize),
}

impl Piece<'_> {
    fn walk(self, walker: &mut FrameWalker, on_message: impl FnMut(Message<'_>)) -> io::Result<()> {
        match self {
            Piece::Bytes(bytes) => walker.feed(bytes, on_message),
            Piece::Skipped(n) => walker.skip(n, on_message),
        }
    }
}

/// Waits for readiness; an interrupted wait is an empty one.
fn wait(poll: &mut Poll, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
    match poll.poll(events, timeout) {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            events.clear();
            Ok(())
        }
        other => other,
    }
}

/// Writes as much of `bytes` as the socket takes now; returns the count written.
fn write_some(stream: &mut MioStream, bytes: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < bytes.len() {
        match stream.write(&bytes[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

// ---------------------------------------------------------------------------------------
// echo: `conns` connections, each keeping `inflight` messages outstanding.

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

/// Every request a connection sends, pre-encoded: message `m` is frame `m % frames`,
/// and the buffer holds `2 * period` messages, `period` a multiple of the frame count
/// and at least the window. The request stream is then periodic in bytes, and any run
/// of at most one window of it, from any byte, is one contiguous slice of the buffer.
struct Requests {
    buf: Vec<u8>,
    /// Start of message `i` in `buf`, for `i` in `0..=2 * period`.
    offsets: Vec<usize>,
    period: u64,
    period_bytes: u64,
    /// Plain length of each distinct message (what a reply must have).
    lens: Vec<usize>,
}

impl Requests {
    fn new(frames: &[Vec<u8>], lens: Vec<usize>, window: usize) -> Self {
        let period = frames.len() * window.div_ceil(frames.len()).max(1);
        let mut buf = Vec::new();
        let mut offsets = vec![0];
        for i in 0..2 * period {
            buf.extend_from_slice(&frames[i % frames.len()]);
            offsets.push(buf.len());
        }
        Self {
            period_bytes: offsets[period] as u64,
            buf,
            offsets,
            period: period as u64,
            lens,
        }
    }

    /// Where message `m` starts in the request stream (bytes).
    fn start(&self, m: u64) -> u64 {
        (m / self.period) * self.period_bytes + self.offsets[(m % self.period) as usize] as u64
    }

    /// Bytes `from..to` of the request stream (at most one window).
    fn slice(&self, from: u64, to: u64) -> &[u8] {
        let at = (from % self.period_bytes) as usize;
        &self.buf[at..at + (to - from) as usize]
    }

    /// Plain length the reply to message `m` must have.
    fn reply_len(&self, m: u64) -> usize {
        self.lens[(m % self.lens.len() as u64) as usize]
    }
}

/// Lets replies gather between the echo loop's wake-ups, so that each read brings more
/// of them and the generator spends fewer system calls per message.
///
/// Each wake-up should find about `fraction` of all messages in flight answered: the
/// loop sleeps for what is left of `fraction × in flight ÷ reply rate` (at most 2 ms)
/// before it waits for readiness again. The server then still holds at least the rest
/// of the window, queued, whenever the generator sleeps: it never runs out of work. If
/// the rate estimate is low, replies per wake-up grow beyond the target and the next
/// estimate catches up. Off (`--pace 0`) for latency measurements and windows of fewer
/// than 64 messages.
struct Pacer {
    /// Messages that should be answered per wake-up; 0: no pacing.
    target: f64,
    /// Replies per second, smoothed.
    rate: f64,
    last_wake: Instant,
    last_seen: u64,
}

impl Pacer {
    const MAX_SLEEP: Duration = Duration::from_millis(2);

    fn new(fraction: f64, in_flight: u64, latency: bool) -> Self {
        let paced = fraction > 0.0 && in_flight >= 64 && !latency;
        Self {
            target: if paced {
                fraction * in_flight as f64
            } else {
                0.0
            },
            rate: 0.0,
            last_wake: Instant::now(),
            last_seen: 0,
        }
    }

    /// Called before waiting for readiness, with `seen` replies so far; sleeps if the
    /// last wake-up was too recent. Returns the time after the pause.
    fn pause(&mut self, now: Instant, seen: u64) -> Instant {
        if self.target == 0.0 {
            return now;
        }
        let since = now - self.last_wake;
        let replies = seen - self.last_seen;
        if replies > 0 && since > Duration::ZERO {
            let rate = replies as f64 / since.as_secs_f64();
            self.rate = if self.rate == 0.0 {
                rate
            } else {
                0.75 * self.rate + 0.25 * rate
            };
        }
        let mut now = now;
        if self.rate > 0.0 {
            let want = Duration::from_secs_f64(self.target / self.rate).min(Self::MAX_SLEEP);
            if since < want {
                std::thread::sleep(want - since);
                now = Instant::now();
            }
        }
        self.last_wake = now;
        self.last_seen = seen;
        now
    }
}

/// What every echo connection does.
struct EchoJob {
    requests: Requests,
    inflight: u64,
    latency: bool,
    /// Messages per connection in `--messages` mode (then the run ends by itself).
    budget: u64,
    /// New requests go out once at least this many replies are in (`--refill`, 1 by
    /// default: after every read that brought any).
    refill: u64,
}

/// One echo connection's state apart from its socket.
struct EchoState {
    walker: FrameWalker,
    /// Messages sent (or owed to the socket) and replies received so far.
    sent: u64,
    received: u64,
    /// Request-stream bytes written, and the end of the last message owed.
    written: u64,
    owed: u64,
    /// Send times of the messages in flight (`--latency` only).
    sent_at: VecDeque<Instant>,
    inflater: Option<Inflater>,
}

impl Walking for EchoState {
    fn walker(&mut self) -> &mut FrameWalker {
        &mut self.walker
    }
}

impl EchoState {
    /// Owes `n` more requests (sent by the next [`EchoConn::flush`]).
    fn owe(&mut self, n: u64, job: &EchoJob) {
        let n = n.min(job.budget - self.sent);
        if n == 0 || n < job.refill.min(job.budget - self.sent) {
            return;
        }
        self.sent += n;
        self.owed = job.requests.start(self.sent);
        if job.latency {
            let now = Instant::now();
            self.sent_at.extend((0..n).map(|_| now));
        }
    }

    /// Walks one piece of the reply stream; returns the replies completed in it.
    fn walk(
        &mut self,
        piece: Piece<'_>,
        job: &EchoJob,
        counters: &mut Counters,
    ) -> io::Result<u64> {
        let (mut replies, mut wrong) = (0u64, 0u64);
        let received = &mut self.received;
        let inflater = &mut self.inflater;
        piece.walk(&mut self.walker, |msg| {
            if msg.opcode != OP_TEXT && msg.opcode != OP_BINARY {
                return;
            }
            let len = match inflater {
                Some(inflater) if msg.rsv1 => inflater
                    .inflate(msg.payload)
                    .map(<[u8]>::len)
                    .unwrap_or(usize::MAX),
                _ => msg.len,
            };
            if len != job.requests.reply_len(*received) {
                wrong += 1;
            }
            *received += 1;
            replies += 1;
        })?;
        counters.errors += wrong;
        counters.seen += replies;
        if replies > 0 {
            if job.latency {
                let now = Instant::now();
                for _ in 0..replies {
                    if let Some(at) = self.sent_at.pop_front() {
                        counters.record_latency((now - at).as_nanos() as u64);
                    }
                }
            }
            if counters.measuring {
                counters.count += replies;
            }
        }
        Ok(replies)
    }
}

/// One echo connection in the event loop.
struct EchoConn {
    stream: MioStream,
    state: EchoState,
    alive: bool,
}

impl EchoConn {
    /// Writes what is owed, as far as the socket takes it (the rest on writability).
    fn flush(&mut self, job: &EchoJob, counters: &mut Counters) -> io::Result<()> {
        let state = &mut self.state;
        if state.written < state.owed {
            let bytes = job.requests.slice(state.written, state.owed);
            let n = write_some(&mut self.stream, bytes)?;
            state.written += n as u64;
            if counters.measuring {
                counters.wire_bytes += n as u64;
            }
        }
        Ok(())
    }

    /// Handles readiness: reads every reply there is, then sends as many new requests
    /// in one write.
    fn ready(
        &mut self,
        readable: bool,
        bufs: &mut ReadBufs,
        job: &EchoJob,
        counters: &mut Counters,
    ) -> io::Result<()> {
        if readable {
            let read = bufs.read_all(&mut self.stream, &mut self.state, |state, piece| {
                state.walk(piece, job, counters).map(drop)
            })?;
            if counters.measuring {
                counters.wire_bytes += read;
            }
            // Back to `inflight` outstanding (once `refill` replies are in).
            let in_flight = self.state.sent - self.state.received;
            self.state.owe(job.inflight - in_flight, job);
        }
        self.flush(job, counters)
    }

    fn done(&self, job: &EchoJob) -> bool {
        self.state.received >= job.budget
    }
}

fn echo(args: &Args) -> io::Result<Record> {
    let addr = args.addr();
    let window = args.window();
    let kind = args.string("kind", "binary");
    let size: usize = args.get("size", 1024);
    let conns: usize = args.get("conns", 64);
    let inflight: usize = args.get::<usize>("inflight", 16).max(1);
    let offer_deflate = args.flag("deflate");
    let path = args.string("path", "/echo");
    let offer = offer_deflate.then_some(deflate::OFFER);
    // `--messages N`: echo N messages in all, then stop (for profiles).
    let messages: u64 = args.get("messages", 0);
    let sockets = connect_sockets(addr, &path, offer, conns)?;
    let answer = sockets[0].extensions.clone();
    let negotiated = deflate::accepted(answer.as_deref());
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
    let frames: Vec<Vec<u8>> = payloads
        .iter()
        .map(|payload| {
            let mut out = Vec::new();
            if negotiated.is_some() {
                let compressed = deflate::compress_message(payload, 6);
                wire::encode_frame(opcode, true, &compressed, &mut out);
            } else {
                wire::encode_frame(opcode, false, payload, &mut out);
            }
            out
        })
        .collect();
    let lens: Vec<usize> = payloads.iter().map(Vec::len).collect();
    let note = match &negotiated {
        Some(_) => format!(
            "request {} B -> {} B on the wire; server answered `{}`",
            lens.iter().sum::<usize>() / lens.len(),
            frames.iter().map(Vec::len).sum::<usize>() / frames.len(),
            answer.as_deref().unwrap_or_default()
        ),
        None => String::new(),
    };
    let job = EchoJob {
        requests: Requests::new(&frames, lens, inflight),
        inflight: inflight as u64,
        latency: args.flag("latency"),
        refill: args.get::<u64>("refill", 1).clamp(1, inflight as u64),
        budget: if messages > 0 {
            messages.div_ceil(conns as u64)
        } else {
            u64::MAX
        },
    };
    let mut record = Record {
        scenario: format!("echo {kind} {size} B"),
        note,
        ..Record::default()
    };

    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    // `--read-payloads`: read long payloads too (to compare with discarding them).
    let mut bufs = ReadBufs::new(size >= DISCARD_MIN && !args.flag("read-payloads"));
    let mut counters = Counters::new(job.latency);
    let mut conns: Vec<EchoConn> = Vec::with_capacity(sockets.len());
    for (index, mut socket) in sockets.into_iter().enumerate() {
        poll.registry().register(
            &mut socket.stream,
            Token(index),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut state = EchoState {
            walker: FrameWalker::new(negotiated.is_some()),
            sent: 0,
            received: 0,
            written: 0,
            owed: 0,
            sent_at: VecDeque::with_capacity(if job.latency { inflight } else { 0 }),
            inflater: negotiated.map(|_| Inflater::new()),
        };
        // Frames the server sent right after the handshake are not replies.
        state.walker.feed(&socket.early, |_| {})?;
        conns.push(EchoConn {
            stream: socket.stream,
            state,
            alive: true,
        });
    }
    let mut meter = if messages > 0 {
        Meter::open(&window, &mut counters)
    } else {
        Meter::new(&window, Instant::now())
    };
    // Every connection's first window, one write each.
    for conn in &mut conns {
        conn.state.owe(job.inflight, &job);
        if let Err(error) = conn.flush(&job, &mut counters) {
            counters.failed(&error);
            conn.alive = false;
        }
    }
    let mut running = conns.iter().filter(|conn| conn.alive).count();
    // Not paced by default in `--messages` mode: profiles stay comparable with earlier
    // ones, whose batches the server alone shaped.
    let default_pace = if messages > 0 { 0.0 } else { 0.25 };
    let mut pacer = Pacer::new(
        args.get("pace", default_pace),
        job.inflight * conns.len() as u64,
        job.latency,
    );
    loop {
        let mut now = Instant::now();
        if meter.tick(now, &mut counters) {
            break;
        }
        if messages > 0 && running == 0 {
            meter.stop(&mut counters);
            break;
        }
        now = pacer.pause(now, counters.seen);
        wait(&mut poll, &mut events, meter.timeout(now))?;
        for event in events.iter() {
            let conn = &mut conns[event.token().0];
            if !conn.alive {
                continue;
            }
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            let outcome = conn.ready(readable, &mut bufs, &job, &mut counters);
            let finished = messages > 0 && conn.done(&job);
            if let Err(error) = &outcome {
                counters.failed(error);
            }
            if outcome.is_err() || finished {
                conn.alive = false;
                running -= 1;
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
    meter.finish(&counters, &mut record);
    if record.count == 0 {
        return Err(io::Error::other("no echo received in the window"));
    }
    Ok(record)
}

// ---------------------------------------------------------------------------------------
// broadcast: `listeners` clients on /chat, one sender; each message carries its sequence
// number and send time, every listener records the delivery latency.

/// Deliveries per in-flight message, indexed by sequence number modulo the length.
const RING: usize = 1 << 16;

/// The sequence number of a chat message `#SEQ TS`, found anywhere in it (servers may
/// prefix a user name). Only the number is parsed: the send time is looked up by it, so
/// a delivery costs a scan for `#` and a few digits.
fn parse_seq(payload: &[u8]) -> Option<u64> {
    let start = payload.iter().position(|&b| b == b'#')? + 1;
    let mut seq = 0u64;
    let mut digits = 0;
    for &byte in &payload[start..] {
        if !byte.is_ascii_digit() {
            break;
        }
        if digits == 19 {
            return None;
        }
        seq = seq * 10 + u64::from(byte - b'0');
        digits += 1;
    }
    (digits > 0).then_some(seq)
}

/// A listener's or the sender's state apart from its socket.
struct ChatState {
    walker: FrameWalker,
    /// A listener's inflater, when permessage-deflate was negotiated.
    inflater: Option<Inflater>,
}

impl Walking for ChatState {
    fn walker(&mut self) -> &mut FrameWalker {
        &mut self.walker
    }
}

/// Delivery bookkeeping shared by the listeners.
struct Deliveries {
    listeners: u32,
    /// Deliveries of each message in flight, by sequence number modulo [`RING`].
    ring: Vec<u32>,
    /// Send time of each message in flight ([`now_ns`]), likewise.
    sent_ns: Vec<u64>,
    completed: u64,
}

impl Deliveries {
    /// A listener got message `seq`.
    fn delivered(&mut self, seq: u64) {
        let slot = &mut self.ring[seq as usize % RING];
        *slot += 1;
        if *slot == self.listeners {
            self.completed += 1;
        }
    }
}

/// The sender: its socket and the bytes not yet written.
struct Sender {
    stream: MioStream,
    state: ChatState,
    pending: Vec<u8>,
    pending_from: usize,
    seq: u64,
    text: Vec<u8>,
    /// Appended to every message (`--pad`).
    pad: String,
}

/// Chat-like JSON of about `len` bytes, appended to broadcast messages (`--pad`).
fn pad_text(len: usize) -> String {
    let mut pad = String::new();
    let mut i = 0;
    while pad.len() + 80 < len {
        let _ = std::fmt::Write::write_fmt(
            &mut pad,
            format_args!(
                r#"{{"user":"user{}","room":"lobby","text":"message number {i} of the day"}},"#,
                i % 7
            ),
        );
        i += 1;
    }
    pad
}

impl Sender {
    /// Queues message `seq` (sent now) and writes what the socket takes.
    fn send(&mut self, deliveries: &mut Deliveries) -> io::Result<()> {
        self.queue(deliveries);
        self.flush()
    }

    fn queue(&mut self, deliveries: &mut Deliveries) {
        let slot = self.seq as usize % RING;
        let sent = now_ns();
        deliveries.ring[slot] = 0;
        deliveries.sent_ns[slot] = sent;
        self.text.clear();
        let _ = write!(self.text, "#{} {sent} {}", self.seq, self.pad);
        wire::encode_frame(OP_TEXT, false, &self.text, &mut self.pending);
        self.seq += 1;
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending_from < self.pending.len() {
            let n = write_some(&mut self.stream, &self.pending[self.pending_from..])?;
            self.pending_from += n;
            if self.pending_from == self.pending.len() {
                self.pending.clear();
                self.pending_from = 0;
            }
        }
        Ok(())
    }
}

/// Where the broadcast run is.
enum Stage {
    /// Probing until one message reaches every listener (all are registered).
    Sync {
        next_probe: Instant,
        deadline: Instant,
    },
    /// Letting stray probes settle.
    Settle { until: Instant },
    /// Sending; the window runs.
    Run,
}

fn broadcast(args: &Args) -> io::Result<Record> {
    let addr = args.addr();
    let window = args.window();
    let listeners: usize = args.get("listeners", 512);
    let rate: f64 = args.get("rate", 0.0);
    let max_outstanding: u64 = args.get("window", 32);
    let path = args.string("path", "/chat");
    // `--deflate`: the listeners offer permessage-deflate and inflate what they get;
    // `--pad N`: messages of about N bytes of chat-like JSON (else about 25 bytes).
    let offer = args.flag("deflate").then_some(deflate::OFFER);
    let pad: usize = args.get("pad", 0);
    // The listeners, then the sender; with `--addr2`, half the listeners are on that
    // server (another node of a cluster) and the sender is on the first.
    let mut sockets = match args.options.get("addr2") {
        None => connect_sockets(addr, &path, offer, listeners + 1)?,
        Some(second) => {
            let second: SocketAddr = second
                .parse()
                .unwrap_or_else(|_| usage("--addr2 HOST:PORT"));
            let there = listeners / 2;
            let mut sockets = connect_sockets(second, &path, offer, there)?;
            sockets.extend(connect_sockets(addr, &path, offer, listeners - there + 1)?);
            sockets
        }
    };
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut bufs = ReadBufs::new(false);
    let mut counters = Counters::new(true);
    let mut deliveries = Deliveries {
        listeners: listeners as u32,
        ring: vec![0; RING],
        sent_ns: vec![0; RING],
        completed: 0,
    };
    let sender_socket = sockets.pop().expect("sender connected");
    let mut chat: Vec<(MioStream, ChatState, bool)> = Vec::with_capacity(listeners);
    for (index, mut socket) in sockets.into_iter().enumerate() {
        poll.registry()
            .register(&mut socket.stream, Token(index), Interest::READABLE)?;
        let mut state = ChatState {
            walker: FrameWalker::new(true),
            inflater: deflate::accepted(socket.extensions.as_deref()).map(|_| Inflater::new()),
        };
        if offer.is_some() && state.inflater.is_none() {
            return Err(io::Error::other("server did not accept permessage-deflate"));
        }
        // Greetings: no `#` (and nothing was sent yet).
        state.walker.feed(&socket.early, |_| {})?;
        chat.push((socket.stream, state, true));
    }
    let mut sender = Sender {
        stream: sender_socket.stream,
        // The sender's own copies are read and dropped, so its socket never backs up.
        state: ChatState {
            walker: FrameWalker::new(false),
            inflater: None,
        },
        pending: Vec::new(),
        pending_from: 0,
        seq: 0,
        text: Vec::new(),
        pad: pad_text(pad),
    };
    poll.registry().register(
        &mut sender.stream,
        Token(listeners),
        Interest::READABLE | Interest::WRITABLE,
    )?;
    sender.state.walker.feed(&sender_socket.early, |_| {})?;

    let start = Instant::now();
    let mut stage = Stage::Sync {
        next_probe: start,
        deadline: start + Duration::from_secs(10),
    };
    let mut meter = Meter::new(&window, start);
    let (mut baseline, mut first) = (0, 0);
    let interval = (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
    let mut next_tick = start;
    loop {
        let now = Instant::now();
        let timeout = match stage {
            Stage::Sync {
                next_probe,
                deadline,
            } => {
                if deliveries.completed > 0 {
                    stage = Stage::Settle {
                        until: now + Duration::from_millis(100),
                    };
                    continue;
                }
                if now > deadline {
                    return Err(io::Error::other("listeners never all received a message"));
                }
                if now >= next_probe {
                    sender.send(&mut deliveries)?;
                    stage = Stage::Sync {
                        next_probe: now + Duration::from_millis(50),
                        deadline,
                    };
                }
                Some(Duration::from_millis(50))
            }
            Stage::Settle { until } => {
                if now >= until {
                    baseline = deliveries.completed;
                    first = sender.seq;
                    meter = Meter::new(&window, now);
                    next_tick = now;
                    stage = Stage::Run;
                    continue;
                }
                Some(until - now)
            }
            Stage::Run => {
                if meter.tick(now, &mut counters) {
                    break;
                }
                let timeout = meter.timeout(now);
                if let Some(interval) = interval {
                    while now >= next_tick {
                        sender.queue(&mut deliveries);
                        next_tick += interval;
                    }
                    sender.flush()?;
                    timeout.map(|t| t.min(next_tick - now))
                } else {
                    let outstanding = (sender.seq - first) - (deliveries.completed - baseline);
                    for _ in outstanding..max_outstanding {
                        sender.queue(&mut deliveries);
                    }
                    sender.flush()?;
                    timeout
                }
            }
        };
        wait(&mut poll, &mut events, timeout)?;
        for event in events.iter() {
            let index = event.token().0;
            if index == listeners {
                let Sender { stream, state, .. } = &mut sender;
                bufs.read_all(stream, state, |state, piece| {
                    piece.walk(&mut state.walker, |_| {})
                })?;
                sender.flush()?;
                continue;
            }
            let (stream, state, alive) = &mut chat[index];
            if !*alive {
                continue;
            }
            let outcome = bufs.read_all(stream, state, |state, piece| {
                // One clock reading per read: every message in it arrived by then.
                let arrived = now_ns();
                let ChatState { walker, inflater } = state;
                let mut corrupt = None;
                piece.walk(walker, |msg| {
                    if msg.opcode != OP_TEXT {
                        return;
                    }
                    let payload = match inflater {
                        Some(inflater) if msg.rsv1 => match inflater.inflate(msg.payload) {
                            Ok(payload) => payload,
                            Err(e) => {
                                corrupt = Some(e);
                                return;
                            }
                        },
                        _ => msg.payload,
                    };
                    // Greetings and other chatter carry no `#`.
                    let Some(seq) = parse_seq(payload) else {
                        return;
                    };
                    if counters.measuring {
                        counters.count += 1;
                        let sent = deliveries.sent_ns[seq as usize % RING];
                        counters.record_latency(arrived.saturating_sub(sent));
                    }
                    deliveries.delivered(seq);
                })?;
                corrupt.map_or(Ok(()), Err)
            });
            if let Err(error) = outcome {
                counters.failed(&error);
                *alive = false;
                let _ = poll.registry().deregister(stream);
            }
        }
    }
    let mut record = Record {
        scenario: if rate > 0.0 {
            format!("broadcast {rate} msg/s to {listeners}")
        } else {
            format!("broadcast max rate to {listeners}, window {max_outstanding}")
        },
        note: format!(
            "{listeners} listeners{}{}",
            if offer.is_some() {
                ", permessage-deflate"
            } else {
                ""
            },
            if pad > 0 {
                format!(", messages of ~{pad} B")
            } else {
                String::new()
            }
        ),
        ..Record::default()
    };
    meter.finish(&counters, &mut record);
    record.wire_bytes_per_msg = None;
    if record.count == 0 {
        return Err(io::Error::other("no delivery in the window"));
    }
    Ok(record)
}

// ---------------------------------------------------------------------------------------
// idle: open many connections (handshakes/s, RSS per connection), then let each exchange
// one big message and measure again.

async fn idle(args: &Args) -> io::Result<Record> {
    let addr = args.addr();
    let pid = &args.window().pid;
    let n: usize = args.get("conns", 5000);
    let big: usize = args.get("big", 256 * 1024);
    let parallel: usize = args.get("parallel", 128);
    let settle = Duration::from_secs_f64(args.get("settle", 1.5));
    let path = args.string("path", "/echo");
    // `--deflate`: offer permessage-deflate, and the one message is a 2 KiB JSON
    // document, compressed (memory per compressed session after one message).
    let offer = args.flag("deflate").then_some(deflate::OFFER);
    let rss = || procstat::rss_kib(pid).unwrap_or(0) as f64;

    let rss0 = rss();
    let cpu0 = CpuSample::take(pid);
    let start = Instant::now();
    let conns = connect_many(addr, &path, offer, n, parallel).await?;
    if offer.is_some() && deflate::accepted(conns[0].extensions.as_deref()).is_none() {
        return Err(io::Error::other("server did not accept permessage-deflate"));
    }
    let seconds = start.elapsed().as_secs_f64();
    let usage = CpuSample::take(pid).usage_since(&cpu0, seconds);
    tokio::time::sleep(settle).await;
    let rss1 = rss();

    // One big echo per connection, `parallel` at a time (or one compressed JSON).
    let (frame, opcode) = if offer.is_some() {
        let mut frame = Vec::new();
        let json = json_doc(1, 2048);
        wire::encode_frame(
            OP_TEXT,
            true,
            &deflate::compress_message(json.as_bytes(), 6),
            &mut frame,
        );
        (bytes::Bytes::from(frame), OP_TEXT)
    } else {
        (wire::frame(OP_BINARY, &vec![0x5a; big]), OP_BINARY)
    };
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
                    echoed |= msg.opcode == opcode && (offer.is_some() || msg.len == big);
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
    // `--hold S`: keep the connections S seconds more (to look at the server meanwhile,
    // with a heap profiler's snapshot, say).
    let hold = Duration::from_secs_f64(args.get("hold", 0.0));
    if !hold.is_zero() {
        eprintln!("loadgen: holding {n} connections for {hold:?}");
        tokio::time::sleep(hold).await;
    }
    drop(conns);
    Ok(Record {
        scenario: format!("idle {n} connections"),
        seconds,
        count: n as u64,
        rate: n as f64 / seconds,
        idle_kib_per_conn: Some((rss1 - rss0) / n as f64),
        after_256k_kib_per_conn: Some((rss2 - rss0) / n as f64),
        server_rss_kib: Some(rss2 as u64),
        note: format!(
            "RSS {rss0:.0} -> {rss1:.0} -> {rss2:.0} KiB{}",
            if offer.is_some() {
                ", permessage-deflate, one 2 KiB JSON echo"
            } else {
                ""
            }
        ),
        ..Record::default()
    }
    .with_cpu(&usage))
}

// ---------------------------------------------------------------------------------------
// soak: many idle connections held while short-lived and broken ones churn beside them;
// then whether the server gave back what the churn took (memory, sessions, descriptors).

/// Churn round kinds, in the order of `Soak::rounds`.
const ROUND_KINDS: usize = 5;

/// The churn's text message (echoed).
const CHURN_MESSAGE: &[u8] = b"churn round: one message, echoed";

async fn soak(args: &Args) -> io::Result<Record> {
    let addr = args.addr();
    let pid = args.window().pid;
    let n: usize = args.get("conns", 10_000);
    let churn = Duration::from_secs_f64(args.get("churn", 300.0));
    let parallel: usize = args.get("parallel", 32);
    let keepalive = Duration::from_secs_f64(args.get("keepalive", 30.0));
    let settle = Duration::from_secs_f64(args.get("settle", 2.0));
    let path: Rc<str> = args.string("path", "/echo").into();
    // `main` raised the soft descriptor limit to the hard one (this process only).
    let needed = (n + parallel + 64) as u64;
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    if soft < needed {
        return Err(io::Error::other(format!(
            "{n} idle connections need {needed} descriptors; the limit is {soft} (hard {hard}): \
             raise the hard limit (ulimit -Hn) or lower --conns"
        )));
    }
    let rss = || procstat::rss_kib(&pid).unwrap_or(0);
    let sessions = || procstat::established_on_port(addr.port()).unwrap_or(0);
    let fds = || procstat::fd_count(&pid).unwrap_or(0);

    let rss_empty = rss();
    let conns = connect_many(addr, &path, None, n, 128).await?;
    // Every handshake is done on this side; wait until the server holds them all.
    wait_until(Duration::from_secs(30), || sessions() >= n).await;
    tokio::time::sleep(settle).await;
    let rss_baseline = rss();
    let sessions_baseline = sessions();
    let fds_baseline = fds();
    eprintln!(
        "loadgen: soak: {n} idle connections, server RSS {rss_empty} -> {rss_baseline} KiB, \
         {sessions_baseline} sessions, {fds_baseline} descriptors; churning for {:.0} s",
        churn.as_secs_f64()
    );

    // Each idle connection pings now and then (the server's idle timeout counts pings)
    // until told to stop, then echoes one message to show it is still served.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let keepers: Vec<JoinHandle<bool>> = conns
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let first = keepalive.mul_f64(0.5 + (i % 1000) as f64 / 2000.0);
            tokio::task::spawn_local(keep_idle(conn, first, keepalive, stopped.clone()))
        })
        .collect();

    let counts = Rc::new(RefCell::new(([0u64; ROUND_KINDS], 0u64)));
    let peak = Rc::new(Cell::new(rss_baseline));
    let sampler = {
        let (peak, pid) = (peak.clone(), pid.clone());
        tokio::task::spawn_local(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                peak.set(peak.get().max(procstat::rss_kib(&pid).unwrap_or(0)));
            }
        })
    };
    let cpu0 = CpuSample::take(&pid);
    let start = Instant::now();
    let deadline = start + churn;
    let workers: Vec<JoinHandle<()>> = (0..parallel)
        .map(|worker| {
            tokio::task::spawn_local(churn_worker(
                addr,
                path.clone(),
                worker,
                deadline,
                counts.clone(),
            ))
        })
        .collect();
    for worker in workers {
        worker.await.expect("churn worker");
    }
    let seconds = start.elapsed().as_secs_f64();
    let usage = CpuSample::take(&pid).usage_since(&cpu0, seconds);
    sampler.abort();
    peak.set(peak.get().max(rss()));

    // The churn's sessions end once the server has seen each connection go: wait for
    // its count to be back to the idle one (bounded), then let memory settle.
    let ended = Instant::now();
    wait_until(Duration::from_secs(60), || sessions() <= sessions_baseline).await;
    let sessions_settle_s = ended.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let rss_after = rss();
    let sessions_after = sessions();
    let fds_after = fds();
    let _ = stop.send(true);
    let mut idle_alive = 0;
    for keeper in keepers {
        idle_alive += usize::from(keeper.await.unwrap_or(false));
    }
    let (rounds, round_errors) = *counts.borrow();
    let soak = Soak {
        idle: n,
        churn_s: seconds,
        rounds,
        round_errors,
        rss_empty_kib: rss_empty,
        rss_baseline_kib: rss_baseline,
        rss_peak_kib: peak.get(),
        rss_after_kib: rss_after,
        sessions_baseline,
        sessions_after,
        sessions_settle_s,
        fds_baseline,
        fds_after,
        idle_alive,
    };
    let total = soak.total_rounds();
    Ok(Record {
        scenario: format!("soak {n} idle connections, {seconds:.0} s churn"),
        seconds,
        count: total,
        rate: total as f64 / seconds,
        server_rss_kib: Some(rss_after),
        errors: round_errors + (n - idle_alive) as u64,
        note: format!(
            "RSS {rss_empty} -> {rss_baseline} (peak {}) -> {rss_after} KiB ({:+.1} %); sessions \
             {sessions_baseline} -> {sessions_after}; descriptors {fds_baseline} -> {fds_after}; \
             idle alive {idle_alive}/{n}; bounds {}",
            soak.rss_peak_kib,
            soak.rss_change_pct(),
            if soak.passed() { "met" } else { "MISSED" }
        ),
        soak: Some(soak),
        ..Record::default()
    }
    .with_cpu(&usage))
}

/// Polls `condition` every 100 ms until it holds or `limit` has passed; whether it held.
async fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads from `conn` until a message for which `want` holds (within 30 s); false on an
/// error, the end of the stream or the timeout.
async fn read_until(conn: &mut Conn, mut want: impl FnMut(&Message<'_>) -> bool) -> bool {
    let wait = async {
        loop {
            let mut found = false;
            conn.reader.drain(|m| found |= want(&m)).ok()?;
            if found {
                return Some(());
            }
            conn.reader.read_from(&mut conn.stream, 4096).await.ok()?;
        }
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(30), wait).await,
        Ok(Some(()))
    )
}

/// Holds one idle connection: a ping every `period` (the first after `first`), each
/// pong awaited, until `stop`; then one echo. Whether the connection was served
/// throughout.
async fn keep_idle(
    mut conn: Conn,
    first: Duration,
    period: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> bool {
    let ping = wire::frame(wire::OP_PING, b"soak");
    let mut next = tokio::time::Instant::now() + first;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {
                if conn.stream.write_all(&ping).await.is_err()
                    || !read_until(&mut conn, |m| m.opcode == wire::OP_PONG).await
                {
                    return false;
                }
                next += period;
            }
            _ = stop.changed() => break,
        }
    }
    conn.stream
        .write_all(&wire::frame(OP_TEXT, CHURN_MESSAGE))
        .await
        .is_ok()
        && read_until(&mut conn, |m| {
            m.opcode == OP_TEXT && m.len == CHURN_MESSAGE.len()
        })
        .await
}

/// One churn client: rounds one after the other until `deadline`, cycling through the
/// kinds (each worker from its own), counting them in `counts` (rounds by kind, errors).
async fn churn_worker(
    addr: SocketAddr,
    path: Rc<str>,
    worker: usize,
    deadline: Instant,
    counts: Rc<RefCell<([u64; ROUND_KINDS], u64)>>,
) {
    let mut round = worker;
    while Instant::now() < deadline {
        let kind = round % ROUND_KINDS;
        round += 1;
        let outcome = tokio::time::timeout(Duration::from_secs(30), churn_round(addr, &path, kind))
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "a round took 30 s")));
        let mut counts = counts.borrow_mut();
        match outcome {
            Ok(()) => counts.0[kind] += 1,
            Err(error) => {
                if counts.1 == 0 {
                    eprintln!("loadgen: soak: a churn round (kind {kind}) failed: {error}");
                }
                counts.1 += 1;
            }
        }
    }
}

/// One round of churn: a client that connects and then
/// 0. sends a message, reads the echo, closes with the close handshake (reads until
///    the server ends the connection);
/// 1. sends a message, reads the echo, drops the socket without a close frame;
/// 2. sends half of a 4 KiB binary frame and drops the socket (FIN);
/// 3. the same, but resets the connection (`SO_LINGER` 0: RST);
/// 4. sends half of a handshake request and drops the socket.
async fn churn_round(addr: SocketAddr, path: &str, kind: usize) -> io::Result<()> {
    match kind {
        0 | 1 => {
            let mut conn = wire::connect(addr, path, None).await?;
            conn.stream
                .write_all(&wire::frame(OP_TEXT, CHURN_MESSAGE))
                .await?;
            if !read_until(&mut conn, |m| {
                m.opcode == OP_TEXT && m.len == CHURN_MESSAGE.len()
            })
            .await
            {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "no echo"));
            }
            if kind == 0 {
                conn.stream.write_all(&wire::close_frame()).await?;
                let mut sink = [0u8; 512];
                while tokio::io::AsyncReadExt::read(&mut conn.stream, &mut sink).await? > 0 {}
            }
            Ok(())
        }
        2 | 3 => {
            let mut conn = wire::connect(addr, path, None).await?;
            let frame = wire::frame(OP_BINARY, &[0x42; 4096]);
            conn.stream.write_all(&frame[..frame.len() / 2]).await?;
            if kind == 3 {
                socket2::SockRef::from(&conn.stream).set_linger(Some(Duration::ZERO))?;
            }
            Ok(())
        }
        _ => {
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upg"
            );
            stream.write_all(request.as_bytes()).await?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_messages_parse_with_and_without_prefix() {
        assert_eq!(parse_seq(b"#12 345"), Some(12));
        assert_eq!(parse_seq(b"[user7]: #1 2"), Some(1));
        assert_eq!(
            parse_seq(b"You are connected! There are 3 users here."),
            None
        );
    }

    #[test]
    fn chat_numbers_stop_at_the_first_non_digit() {
        assert_eq!(parse_seq(b"#7 8 tail"), Some(7));
        assert_eq!(parse_seq(b"#7"), Some(7));
        assert_eq!(parse_seq(b"#x 8"), None);
        assert_eq!(parse_seq(b"#99999999999999999999 1"), None);
    }

    #[test]
    fn requests_are_contiguous_from_any_byte() {
        let frames = vec![vec![1u8; 3], vec![2u8; 5], vec![3u8; 4]];
        let requests = Requests::new(&frames, vec![3, 5, 4], 5);
        assert_eq!(requests.period, 6);
        assert_eq!(requests.period_bytes, 24);
        let stream: Vec<u8> = (0..40).flat_map(|m| frames[m % 3].clone()).collect();
        for m in 0..30u64 {
            let start = requests.start(m);
            assert_eq!(
                &stream[start as usize..][..3],
                &frames[(m % 3) as usize][..3]
            );
            for from in start..start + 4 {
                let to = requests.start(m + 5);
                let slice = requests.slice(from, to);
                assert_eq!(slice, &stream[from as usize..to as usize]);
            }
        }
        assert_eq!(requests.reply_len(4), 5);
    }

    #[test]
    fn json_docs_are_about_the_size_asked() {
        let doc = json_doc(3, 2048);
        assert!(doc.len() <= 2048 && doc.len() > 1900, "{}", doc.len());
        assert!(serde_json::from_str::<serde_json::Value>(&doc).is_ok());
    }
}
