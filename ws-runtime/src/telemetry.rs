//! What the server tells about itself: a tracing span per session, counters and gauges
//! through the [`metrics`] facade, and (feature `default-log`) a readable default log.
//!
//! **Cost.** The per-frame path never calls into `metrics` or `tracing`: a session's
//! engine counts into the session's [`SessionStats`] (a relaxed load and store per
//! counter and read or write step: the engine is their only writer).
//! The server's collector reads every session's figures once per interval (1 s), adds
//! what the sessions that ended since left behind, and hands the sums to `metrics`: a
//! few calls per tick, whatever the traffic and however many sessions come and go.
//! Without a recorder those calls reach `metrics`' no-op one.
//!
//! | metric | kind | what |
//! |---|---|---|
//! | `ws_sessions_open` | gauge | WebSocket sessions open now |
//! | `ws_sessions_opened_total` | counter | sessions started (upgrades completed) |
//! | `ws_sessions_closed_total{code}` | counter | sessions ended, by the close code exchanged first (`1006`: none, the connection dropped) |
//! | `ws_frames_received_total` | counter | frames handed to handlers (messages; in raw sessions control frames too) |
//! | `ws_frames_sent_total` | counter | frames taken from outgoing queues (handlers' sends, broadcasts, close frames) |
//! | `ws_received_bytes_total` | counter | payload bytes of the frames received (after inflation) |
//! | `ws_sent_bytes_total` | counter | payload bytes of the frames sent (before compression) |
//! | `ws_outgoing_queue_high_water` | gauge | the most frames any session's outgoing queue held at once |
//! | `ws_handshakes_refused_total{reason}` | counter | upgrade requests refused, by reason (`method`, `version`, `bad_request`, `origin`, `guard`, `extractor`, `limit`) |
//! | `ws_broadcast_dropped_total` | counter | members a broadcast closed with 1008 because their queue was full |

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Metric names, written once.
pub(crate) mod names {
    pub(crate) const SESSIONS_OPEN: &str = "ws_sessions_open";
    pub(crate) const SESSIONS_OPENED: &str = "ws_sessions_opened_total";
    pub(crate) const SESSIONS_CLOSED: &str = "ws_sessions_closed_total";
    pub(crate) const FRAMES_RECEIVED: &str = "ws_frames_received_total";
    pub(crate) const FRAMES_SENT: &str = "ws_frames_sent_total";
    pub(crate) const BYTES_RECEIVED: &str = "ws_received_bytes_total";
    pub(crate) const BYTES_SENT: &str = "ws_sent_bytes_total";
    pub(crate) const QUEUE_HIGH_WATER: &str = "ws_outgoing_queue_high_water";
    pub(crate) const HANDSHAKES_REFUSED: &str = "ws_handshakes_refused_total";
    pub(crate) const BROADCAST_DROPPED: &str = "ws_broadcast_dropped_total";
}

/// Registers the descriptions with whatever recorder is installed (a Prometheus one
/// prints them as `# HELP`).
pub(crate) fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_gauge!(names::SESSIONS_OPEN, "WebSocket sessions open now");
    describe_counter!(names::SESSIONS_OPENED, "WebSocket sessions started");
    describe_counter!(
        names::SESSIONS_CLOSED,
        "WebSocket sessions ended, by the close code exchanged first (1006: none)"
    );
    describe_counter!(names::FRAMES_RECEIVED, "frames handed to handlers");
    describe_counter!(names::FRAMES_SENT, "frames taken from outgoing queues");
    describe_counter!(
        names::BYTES_RECEIVED,
        metrics::Unit::Bytes,
        "payload bytes of the frames received"
    );
    describe_counter!(
        names::BYTES_SENT,
        metrics::Unit::Bytes,
        "payload bytes of the frames sent"
    );
    describe_gauge!(
        names::QUEUE_HIGH_WATER,
        "the most frames a session's outgoing queue held at once"
    );
    describe_counter!(
        names::HANDSHAKES_REFUSED,
        "WebSocket upgrade requests refused, by reason"
    );
    describe_counter!(
        names::BROADCAST_DROPPED,
        "broadcast members closed with 1008 because their outgoing queue was full"
    );
}

/// Why an upgrade request was refused, as the `reason` label says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not GET (405).
    Method,
    /// Another protocol version (426).
    Version,
    /// Not a valid upgrade (400).
    BadRequest,
    /// A foreign origin (403).
    Origin,
    /// A guard said no.
    Guard,
    /// An extractor could not be made from the request.
    Extractor,
    /// A connection limit (503).
    Limit,
}

impl Refused {
    fn label(self) -> &'static str {
        match self {
            Refused::Method => "method",
            Refused::Version => "version",
            Refused::BadRequest => "bad_request",
            Refused::Origin => "origin",
            Refused::Guard => "guard",
            Refused::Extractor => "extractor",
            Refused::Limit => "limit",
        }
    }

    /// The reason of a refusal by the handshake's own checks, from its status.
    pub(crate) fn from_status(status: http::StatusCode) -> Self {
        match status.as_u16() {
            405 => Refused::Method,
            426 => Refused::Version,
            403 => Refused::Origin,
            503 => Refused::Limit,
            _ => Refused::BadRequest,
        }
    }
}

/// Counts one refused upgrade request.
pub(crate) fn refused(why: Refused) {
    metrics::counter!(names::HANDSHAKES_REFUSED, "reason" => why.label()).increment(1);
}

/// Counts broadcast members closed for a full queue.
pub(crate) fn broadcast_dropped(members: usize) {
    if members > 0 {
        metrics::counter!(names::BROADCAST_DROPPED).increment(members as u64);
    }
}

/// What a session's engine counts, in plain integers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) frames_in: u64,
    pub(crate) bytes_in: u64,
    pub(crate) frames_out: u64,
    pub(crate) bytes_out: u64,
    /// The most frames taken from the outgoing queue at once.
    pub(crate) queue_high: u64,
}

/// A session's counts, kept in its shared state: counted by the engine (its only
/// writer: a relaxed load and store each, no read-modify-write), read by the collector.
#[derive(Debug, Default)]
pub(crate) struct SessionStats {
    frames_in: AtomicU64,
    bytes_in: AtomicU64,
    frames_out: AtomicU64,
    bytes_out: AtomicU64,
    queue_high: AtomicU64,
    /// What the collector already reported of the four counts: written by the
    /// collector under the registry's lock, and by the session's end once it is out of
    /// the registry (so never by two at once). Kept here, not in the registry's
    /// entries, so that an entry is the session's pointer alone.
    reported: [AtomicU64; 4],
}

impl SessionStats {
    /// Frames and payload bytes read.
    #[inline]
    pub(crate) fn count_in(&self, frames: u64, bytes: u64) {
        bump(&self.frames_in, frames);
        bump(&self.bytes_in, bytes);
    }

    /// Frames and payload bytes written.
    #[inline]
    pub(crate) fn count_out(&self, frames: u64, bytes: u64) {
        bump(&self.frames_out, frames);
        bump(&self.bytes_out, bytes);
    }

    /// Frames taken from the outgoing queue at once: the high-water mark.
    #[inline]
    pub(crate) fn queue_depth(&self, depth: u64) {
        if depth > self.queue_high.load(Ordering::Relaxed) {
            self.queue_high.store(depth, Ordering::Relaxed);
        }
    }

    #[cfg(test)]
    fn store(&self, counts: &Counts) {
        self.frames_in.store(counts.frames_in, Ordering::Relaxed);
        self.bytes_in.store(counts.bytes_in, Ordering::Relaxed);
        self.frames_out.store(counts.frames_out, Ordering::Relaxed);
        self.bytes_out.store(counts.bytes_out, Ordering::Relaxed);
        self.queue_high.store(counts.queue_high, Ordering::Relaxed);
    }

    fn load(&self) -> Counts {
        Counts {
            frames_in: self.frames_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            frames_out: self.frames_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            queue_high: self.queue_high.load(Ordering::Relaxed),
        }
    }
}

/// Adds `n` to a counter that only one thread writes.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

impl SessionStats {
    /// What the session counted since the last report (its high-water mark as it is),
    /// now reported.
    fn take_delta(&self) -> Counts {
        let now = self.load();
        let counts = [now.frames_in, now.bytes_in, now.frames_out, now.bytes_out];
        let mut delta = [0; 4];
        for ((reported, count), delta) in self.reported.iter().zip(counts).zip(&mut delta) {
            *delta = count.saturating_sub(reported.load(Ordering::Relaxed));
            reported.store(count, Ordering::Relaxed);
        }
        let [frames_in, bytes_in, frames_out, bytes_out] = delta;
        Counts {
            frames_in,
            bytes_in,
            frames_out,
            bytes_out,
            queue_high: now.queue_high,
        }
    }
}

/// The server-wide side: what outlives the sessions. Sessions that start or end only
/// leave their figures here (an atomic add, a short lock); the collector's tick hands
/// them to the recorder with the rest, so no session start or end calls into `metrics`.
#[derive(Debug, Default)]
pub(crate) struct ServerTelemetry {
    high_water: AtomicU64,
    opened: AtomicU64,
    ended: Mutex<Ended>,
}

/// What ended sessions left since the last tick.
#[derive(Debug, Default)]
struct Ended {
    counts: Counts,
    /// Sessions ended, by close code.
    codes: Vec<(u16, u64)>,
}

impl ServerTelemetry {
    /// A session started.
    pub(crate) fn opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// A session ended with `code` (1006 for none): its last counts, for the next tick.
    pub(crate) fn closed(&self, stats: &SessionStats, code: u16) {
        let delta = stats.take_delta();
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        add(&mut ended.counts, delta);
        match ended.codes.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => ended.codes.push((code, 1)),
        }
    }

    /// Hands the recorder what the open sessions counted since the last tick
    /// ([`collect`]), what the ended ones left, and how many are open.
    pub(crate) fn tick(&self, counted: Counts, open: usize) {
        self.flush(counted);
        metrics::gauge!(names::SESSIONS_OPEN).set(open as f64);
    }

    fn flush(&self, mut sum: Counts) {
        let opened = self.opened.swap(0, Ordering::Relaxed);
        let ended = std::mem::take(&mut *self.ended.lock().unwrap_or_else(|e| e.into_inner()));
        add(&mut sum, ended.counts);
        if opened > 0 {
            metrics::counter!(names::SESSIONS_OPENED).increment(opened);
        }
        for (code, n) in ended.codes {
            metrics::counter!(names::SESSIONS_CLOSED, "code" => code_label(code)).increment(n);
        }
        if sum.frames_in > 0 {
            metrics::counter!(names::FRAMES_RECEIVED).increment(sum.frames_in);
            metrics::counter!(names::BYTES_RECEIVED).increment(sum.bytes_in);
        }
        if sum.frames_out > 0 {
            metrics::counter!(names::FRAMES_SENT).increment(sum.frames_out);
            metrics::counter!(names::BYTES_SENT).increment(sum.bytes_out);
        }
        let before = self.high_water.fetch_max(sum.queue_high, Ordering::Relaxed);
        if sum.queue_high > before {
            metrics::gauge!(names::QUEUE_HIGH_WATER).set(sum.queue_high as f64);
        }
    }
}

impl Drop for ServerTelemetry {
    /// The server is gone: what its last sessions left goes to the recorder now.
    fn drop(&mut self) {
        self.flush(Counts::default());
        metrics::gauge!(names::SESSIONS_OPEN).set(0.0);
    }
}

/// What the sessions counted since the last call, summed (run under the registry's
/// lock; the recorder is called after it is released).
pub(crate) fn collect<'a>(sessions: impl Iterator<Item = &'a SessionStats>) -> Counts {
    let mut sum = Counts::default();
    for stats in sessions {
        add(&mut sum, stats.take_delta());
    }
    sum
}

fn add(sum: &mut Counts, delta: Counts) {
    sum.frames_in += delta.frames_in;
    sum.bytes_in += delta.bytes_in;
    sum.frames_out += delta.frames_out;
    sum.bytes_out += delta.bytes_out;
    sum.queue_high = sum.queue_high.max(delta.queue_high);
}

/// A close code as a label: the usual ones without allocating.
fn code_label(code: u16) -> metrics::SharedString {
    let name = match code {
        1000 => "1000",
        1001 => "1001",
        1002 => "1002",
        1003 => "1003",
        1006 => "1006",
        1007 => "1007",
        1008 => "1008",
        1009 => "1009",
        1010 => "1010",
        1011 => "1011",
        other => return metrics::SharedString::from(other.to_string()),
    };
    metrics::SharedString::const_str(name)
}

/// The session's span: every line the session logs carries its id, route (the path
/// pattern and the handler's name), client address and negotiated extensions (the
/// field is left out when there are none: tracing-subscriber's log keeps the span's
/// fields as text for the session's life, and `extensions=none` took it past 64 bytes).
pub(crate) fn session_span(
    id: u64,
    route: &str,
    handler: &str,
    remote: std::net::SocketAddr,
    extensions: &[String],
) -> tracing::Span {
    let span = tracing::info_span!(
        "session",
        id,
        route = %route,
        handler = %handler,
        remote = %remote,
        extensions = tracing::field::Empty,
    );
    if !extensions.is_empty() {
        span.record("extensions", tracing::field::display(Joined(extensions)));
    }
    span
}

/// Extension names as one field: `permessage-deflate,x-crc32`.
struct Joined<'a>(&'a [String]);

impl std::fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// Installs a readable log on stderr unless the program has set a subscriber:
/// tracing-subscriber's fmt output, at `info` unless `RUST_LOG` says otherwise (its
/// directives: `RUST_LOG=debug`, `RUST_LOG=ws_runtime=debug,my_app=trace`), colored
/// on a terminal. Returns whether it installed one.
#[cfg(feature = "default-log")]
pub(crate) fn install_default_log() -> bool {
    use std::io::IsTerminal;
    if tracing::dispatcher::has_been_set() {
        return false;
    }
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match std::env::var("RUST_LOG") {
        // An explicit filter, parsed as `RUST_LOG` directives.
        Ok(directives) if !directives.trim().is_empty() => {
            match tracing_subscriber::EnvFilter::try_new(&directives) {
                Ok(filter) => builder.with_env_filter(filter).try_init(),
                Err(e) => {
                    eprintln!(
                        "RUST_LOG={directives:?} is not a valid filter ({e}); logging at info"
                    );
                    builder.with_max_level(tracing::Level::INFO).try_init()
                }
            }
        }
        // A plain level filter: no per-span bookkeeping when a session's span is entered.
        _ => builder.with_max_level(tracing::Level::INFO).try_init(),
    };
    installed.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_report_each_count_once() {
        let stats = SessionStats::default();
        stats.store(&Counts {
            frames_in: 3,
            bytes_in: 30,
            frames_out: 2,
            bytes_out: 20,
            queue_high: 5,
        });
        assert_eq!(stats.take_delta().frames_in, 3);
        stats.store(&Counts {
            frames_in: 4,
            bytes_in: 31,
            frames_out: 2,
            bytes_out: 20,
            queue_high: 5,
        });
        let delta = stats.take_delta();
        assert_eq!(
            (
                delta.frames_in,
                delta.bytes_in,
                delta.frames_out,
                delta.queue_high
            ),
            (1, 1, 0, 5)
        );
        assert_eq!(code_label(4000).as_ref(), "4000");
        assert_eq!(code_label(1000).as_ref(), "1000");
        assert_eq!(
            Joined(&["permessage-deflate".into(), "x-crc32".into()]).to_string(),
            "permessage-deflate,x-crc32"
        );
    }
}
