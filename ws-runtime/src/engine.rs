//! The connection engine: one task per connection drives tungstenite and the handler.
//!
//! Each poll of a connection's task runs three steps:
//!
//! 1. **read**: tungstenite parses every complete frame the socket holds (answering
//!    pings and close frames itself) and the data frames go to `incoming`, up to the
//!    session's read-ahead bound;
//! 2. **handler**: the handler future runs until it waits;
//! 3. **write**: every frame queued on `outgoing` is encoded, then one write sends
//!    them all, so a burst of sends costs one system call. Data frames are framed here
//!    and written around tungstenite (small ones copied into one buffer, larger
//!    payloads shared and written with a vectored write); tungstenite writes only
//!    control frames: pongs, pings, close frames.
//!
//! Timers (ping period, pong timeout, close handshake timeout, going back to small
//! buffers) are one `Sleep` armed at the nearest deadline. Closing follows RFC 6455
//! §7: a clean close waits for the peer's close frame up to `timeout`; a close frame
//! (the reply to the peer's, or ours failing the connection) first waits, at most 1 s,
//! for the handler to answer the messages read before it; a failed connection then
//! half-closes and discards input briefly so the peer reads the close frame before the
//! connection goes.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, Read, Write};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WireFrame;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocket, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::error::HandlerError;
use crate::extension::ExtensionError;
use crate::frame::{CloseCode, CloseReason, Frame, Text, truncate_reason};
use crate::io::Socket;
use crate::options::WebSocketOptions;
use crate::session::{Outbound, Shared};

/// What the engine writes to and reads from: the plain socket, or the extension layer
/// over it. The plain socket's methods are the trivial ones, so a connection without
/// extensions pays nothing for the possibility.
pub(crate) trait Transport: Read + Write + Send + Unpin + 'static {
    /// tungstenite reads the socket's bytes as they are, so the socket's frame
    /// tracking describes what tungstenite holds (not so under the extension layer).
    const SWAPPABLE: bool = false;

    fn socket(&self) -> &Socket;
    fn socket_mut(&mut self) -> &mut Socket;

    /// Ready to read: decoded bytes wait in the transport, or the socket is readable.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.socket().poll_read_ready(cx)
    }

    /// Turns an outgoing data or control frame into the message tungstenite writes.
    fn encode(&mut self, frame: Frame) -> Result<Message, ExtensionError> {
        Ok(plain_message(frame))
    }

    /// Control frames the transport took out of the stream itself (raw sessions).
    fn take_control(&mut self) -> Option<Frame> {
        None
    }

    /// Bytes wait in the transport that a read can consume without the socket
    /// signalling readiness again.
    fn has_buffered(&self) -> bool {
        self.socket().has_buffered()
    }
}

impl Transport for Socket {
    const SWAPPABLE: bool = true;

    fn socket(&self) -> &Socket {
        self
    }
    fn socket_mut(&mut self) -> &mut Socket {
        self
    }
}

pub(crate) fn plain_message(frame: Frame) -> Message {
    match frame {
        Frame::Text(text) => Message::Text(text.into_inner()),
        Frame::Binary(data) => Message::Binary(data),
        Frame::Ping(data) => Message::Ping(data),
        Frame::Pong(data) => Message::Pong(data),
        Frame::Close(reason) => Message::Close(reason.map(close_frame)),
    }
}

fn close_frame(reason: CloseReason) -> CloseFrame {
    CloseFrame {
        code: reason.code().code().into(),
        reason: truncate_reason(reason.message()).to_owned().into(),
    }
}

fn from_close_frame(frame: Option<CloseFrame>) -> CloseReason {
    match frame {
        Some(frame) => CloseReason::new(u16::from(frame.code), frame.reason.as_str().to_owned()),
        None => CloseReason::new(CloseCode::NO_STATUS, ""),
    }
}

/// tungstenite's configuration for a session with these options.
pub(crate) fn engine_config(options: &WebSocketOptions) -> WebSocketConfig {
    let limit = options.message_limit();
    WebSocketConfig::default()
        .read_buffer_size(options.get_read_buffer_size())
        .write_buffer_size(options.get_write_buffer_size())
        .max_write_buffer_size(usize::MAX)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
}

/// Where the connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Frames flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's (clean close).
    Closing,
    /// The connection failed: our close frame is being flushed, then we half-close
    /// and discard input until the peer closes or the deadline passes.
    Failing { flushed: bool },
    /// The socket is gone.
    Done,
}

/// Ping bookkeeping, when `ping_period` is set.
struct Pinger {
    period: Duration,
    next_ping: Instant,
    awaiting: Option<(u64, Instant)>,
    counter: u64,
}

/// How many times one poll may loop before yielding to other tasks.
const POLL_BUDGET: usize = 32;

/// The longest a close frame waits for the handler's answers to earlier messages.
const DEFER_CLOSE_MAX: Duration = Duration::from_secs(1);

/// A close frame's payload: code and reason.
fn close_payload(reason: &CloseReason) -> Bytes {
    let message = truncate_reason(reason.message());
    let mut payload = Vec::with_capacity(2 + message.len());
    payload.extend_from_slice(&reason.code().code().to_be_bytes());
    payload.extend_from_slice(message.as_bytes());
    payload.into()
}

/// Read size of the large context, used while large frames or bursts flow.
const LARGE_READ: usize = 32 * 1024;

/// Frames from this size on switch to the large context.
const LARGE_FRAME: u64 = 8 * 1024;

/// After messages larger than this, an idle session goes back to the small context.
const SMALL_KEEP: u64 = 4 * 1024;

/// A socket read bringing this many bytes is a burst: the large context pays for its
/// zero-filled reads.
const BURST_MIN: usize = 8 * 1024;

/// After this many small socket reads in a row, a session leaves the large context.
const SMALL_READS_TO_SHRINK: u32 = 8;

/// How long a session must be idle before it goes back to the small context.
const SHRINK_AFTER: Duration = Duration::from_millis(500);

/// The first header byte and payload of a data message, for a raw write; other
/// messages come back unchanged.
fn raw_data_frame(message: Message) -> Result<(u8, Bytes), Message> {
    match message {
        Message::Text(text) => Ok((0x81, text.into())),
        Message::Binary(data) => Ok((0x82, data)),
        Message::Frame(frame) => {
            let header = frame.header();
            let opcode: u8 = header.opcode.into();
            if opcode >= 8 || !header.is_final || header.mask.is_some() {
                return Err(Message::Frame(frame));
            }
            let first = 0x80
                | (u8::from(header.rsv1) << 6)
                | (u8::from(header.rsv2) << 5)
                | (u8::from(header.rsv3) << 4)
                | opcode;
            Ok((first, frame.into_payload()))
        }
        other => Err(other),
    }
}

/// One connection: tungstenite over a transport, plus the session's queues.
pub(crate) struct Engine<T: Transport> {
    ws: Option<WebSocket<T>>,
    shared: Arc<Shared>,
    raw: bool,
    phase: Phase,
    timeout: Duration,
    deadline: Option<Instant>,
    pinger: Option<Box<Pinger>>,
    sleep: Option<Pin<Box<Sleep>>>,
    /// The deadline the timer was last polled with (and is registered for).
    sleep_armed: Option<Instant>,
    /// Frames read this poll, handed to `incoming` under one lock.
    inbox: VecDeque<Frame>,
    /// Frames taken from `outgoing` and not yet given to tungstenite.
    batch: VecDeque<Outbound>,
    /// Frames given to tungstenite since the last complete flush.
    unflushed: u64,
    /// The socket refused bytes: wait for writability before writing more.
    write_blocked: bool,
    /// The handler is gone: data frames are dropped instead of queued.
    handler_done: bool,
    /// tungstenite queued a pong or close reply that must be flushed.
    needs_flush: bool,
    /// The peer's close frame arrived: `incoming` ends after what was read before it.
    peer_closed: bool,
    /// Reading stopped because `incoming` was full (not because the socket was empty).
    read_paused: bool,
    /// The last read found nothing and registered for readiness: tungstenite holds no
    /// complete frame, so reading is pointless until the socket is readable.
    waiting_readable: bool,
    /// Raw sessions: close the socket once the next flush completes.
    finish_after_flush: bool,
    /// A close frame waiting until the handler has answered the messages that came
    /// before it; meanwhile its answers are written around tungstenite (which refuses
    /// data after a close).
    deferred: Option<Deferred>,
    buffers: Buffers,
    /// Queued bytes that make the writer write before the end of the batch.
    write_buffer_size: usize,
}

/// tungstenite's buffers only grow, and it reads at most `read_buffer_size` bytes per
/// call. Plain sessions therefore swap its context (a fresh `WebSocket` over the same
/// socket) at moments when it holds nothing: a large one (32 KiB reads) while large
/// frames or bursts flow, a small one (1 KiB) once the connection has been idle for
/// half a second. "Holds nothing" is known exactly: the socket follows frame headers
/// through the bytes it hands out, can stop at a message boundary, and tungstenite's
/// output must have been flushed.
struct Buffers {
    swappable: bool,
    small_read: usize,
    /// The context in use reads in large steps.
    large: bool,
    /// The last `read` ended in `WouldBlock`: tungstenite parsed all it was given.
    read_drained: bool,
    /// Messages flowed since the engine last parked.
    active: bool,
    last_active: Instant,
    /// When to check again whether to go back to the small context.
    shrink_at: Option<Instant>,
    /// The largest message either way since the last swap.
    peak: u64,
}

/// How writing out everything queued ended.
enum Flushed {
    Done,
    /// tungstenite says the close handshake is complete (the server closes TCP).
    ConnectionClosed,
    /// The socket is full; its readiness wakes the engine.
    Pending,
    Error(WsError),
}

/// A close frame held back so that the handler's answers to earlier messages go first.
struct Deferred {
    /// Send it at this instant at the latest.
    until: Instant,
    close: DeferredClose,
}

enum DeferredClose {
    /// The reply to the peer's close, held by tungstenite.
    Reply,
    /// Our close frame failing the connection, written raw.
    Fail(CloseReason),
}

impl<T: Transport> Engine<T> {
    pub(crate) fn new(
        mut transport: T,
        shared: Arc<Shared>,
        options: &WebSocketOptions,
        raw: bool,
    ) -> Self {
        let config = engine_config(options);
        let swappable = T::SWAPPABLE && !raw;
        if swappable {
            transport.socket_mut().track_frames();
        }
        let ws = WebSocket::from_raw_socket(transport, Role::Server, Some(config));
        // Raw sessions answer nothing by themselves, pings included (as Ktor's).
        let pinger = options.get_ping_period().filter(|_| !raw).map(|period| {
            Box::new(Pinger {
                period,
                next_ping: Instant::now() + period,
                awaiting: None,
                counter: 0,
            })
        });
        Self {
            ws: Some(ws),
            shared,
            raw,
            phase: Phase::Open,
            timeout: options.get_timeout(),
            deadline: None,
            pinger,
            sleep: None,
            sleep_armed: None,
            inbox: VecDeque::new(),
            batch: VecDeque::new(),
            unflushed: 0,
            write_blocked: false,
            handler_done: false,
            needs_flush: false,
            peer_closed: false,
            read_paused: false,
            waiting_readable: false,
            finish_after_flush: false,
            deferred: None,
            write_buffer_size: options.get_write_buffer_size().max(1),
            buffers: Buffers {
                swappable,
                small_read: options.get_read_buffer_size(),
                large: false,
                read_drained: false,
                active: false,
                last_active: Instant::now(),
                shrink_at: None,
                peak: 0,
            },
        }
    }

    fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Drops the socket and resolves everything waiting on the session.
    fn finish(&mut self, reason: Option<CloseReason>) {
        if self.phase == Phase::Done {
            return;
        }
        self.phase = Phase::Done;
        self.ws = None;
        self.sleep = None;
        self.batch.clear();
        self.shared.set_close_reason(reason);
        self.shared.finish();
    }

    /// Fails the connection (RFC 6455 §7.1.7): send a close frame with `code`, then
    /// half-close and linger briefly.
    fn fail(&mut self, code: CloseCode, message: &str) {
        if matches!(self.phase, Phase::Failing { .. } | Phase::Done) {
            return;
        }
        tracing::debug!(code = code.code(), message, "failing WebSocket connection");
        let reason = CloseReason::new(code, message.to_owned());
        self.shared.set_close_reason(Some(reason.clone()));
        self.shared.stop_sending();
        self.shared.end_incoming();
        if let Some(ws) = &mut self.ws {
            // Queue our close frame unless one already went out.
            if ws.can_write() {
                let _ = ws.close(Some(close_frame(reason)));
            }
        }
        self.batch.clear();
        self.phase = Phase::Failing { flushed: false };
        self.deadline = Some(Instant::now() + self.timeout.min(Duration::from_secs(2)));
    }

    /// Fails the connection because of what the peer sent, but lets the handler answer
    /// the valid messages read before the offending frame first (bounded in time), as a
    /// peer would expect; falls back to failing at once when that is not possible.
    fn fail_after_answers(&mut self, code: CloseCode, message: &str) {
        if self.phase != Phase::Open || !self.can_defer_close() {
            self.fail(code, message);
            return;
        }
        tracing::debug!(code = code.code(), message, "failing WebSocket connection");
        let reason = CloseReason::new(code, message.to_owned());
        // `incoming` ends once the frames read before the error are in it (see
        // `poll_read`).
        self.shared.set_close_reason(Some(reason.clone()));
        let now = Instant::now();
        self.phase = Phase::Failing { flushed: false };
        self.deadline = Some(now + self.timeout.min(Duration::from_secs(2)));
        self.deferred = Some(Deferred {
            until: now + self.timeout.min(DEFER_CLOSE_MAX),
            close: DeferredClose::Fail(reason),
        });
    }

    /// A close frame can wait for the handler's answers only if tungstenite holds none
    /// of our bytes (they must go first) and a handler is there to answer.
    fn can_defer_close(&self) -> bool {
        self.unflushed == 0 && !self.write_blocked && !self.handler_done
    }

    /// The handler has answered (or had its time): the deferred close goes now.
    fn deferred_close_due(&self) -> bool {
        let due = self
            .deferred
            .as_ref()
            .is_none_or(|d| Instant::now() >= d.until);
        due || self.handler_done || self.shared.incoming_drained()
    }

    /// Takes the handler's queued frames and writes the data frames raw.
    fn take_outgoing_before_close(&mut self) {
        loop {
            if self.batch.is_empty() {
                self.shared.take_outgoing(&mut self.batch);
                if self.batch.is_empty() {
                    return;
                }
            }
            self.encode_before_close_reply();
        }
    }

    fn fail_with(&mut self, err: WsError) {
        match err {
            WsError::ConnectionClosed | WsError::AlreadyClosed => self.finish(None),
            WsError::Io(e) => {
                if let Some(ext) = e.get_ref().and_then(|e| e.downcast_ref::<ExtensionError>()) {
                    let code = ext.close_code();
                    let message = ext.to_string();
                    self.fail_after_answers(code, &message);
                } else {
                    tracing::debug!(error = %e, "WebSocket connection I/O error");
                    self.finish(None);
                }
            }
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => self.finish(None),
            WsError::Protocol(p) => {
                self.fail_after_answers(CloseCode::PROTOCOL_ERROR, &p.to_string())
            }
            WsError::Utf8(_) => self.fail_after_answers(CloseCode::NOT_CONSISTENT, "Invalid UTF-8"),
            WsError::Capacity(_) => self.fail_after_answers(CloseCode::TOO_BIG, "Message too big"),
            WsError::AttackAttempt => self.fail(CloseCode::VIOLATED_POLICY, "Attack attempt"),
            other => self.fail(CloseCode::INTERNAL_ERROR, &other.to_string()),
        }
    }

    fn flush_inbox_to_session(&mut self, waker: &std::task::Waker) {
        if self.handler_done {
            self.inbox.clear();
        } else if !self.inbox.is_empty() {
            self.shared.push_incoming(&mut self.inbox, waker);
        }
    }

    /// Step 1: read frames while the session has room for them.
    fn poll_read(&mut self, cx: &mut Context<'_>) {
        match self.phase {
            Phase::Open | Phase::Closing => {}
            Phase::Failing { flushed: true } => {
                if let Some(ws) = &mut self.ws
                    && ws.get_mut().socket_mut().discard_input(cx).is_ready()
                {
                    self.finish(None);
                }
                return;
            }
            Phase::Failing { flushed: false } | Phase::Done => return,
        }
        if self.deferred.is_some() {
            // Reading would make tungstenite send the close reply now.
            return;
        }
        if self.waiting_readable {
            // The last read drained everything: unless the socket became readable
            // since, there is nothing to read (and no lock to take). The check also
            // keeps the waker registered.
            let Some(ws) = &self.ws else { return };
            match ws.get_ref().poll_read_ready(cx) {
                Poll::Pending => return,
                Poll::Ready(_) => self.waiting_readable = false,
            }
        }
        let mut room = if self.handler_done {
            usize::MAX
        } else {
            self.shared.incoming_room()
        };
        self.read_paused = room == 0;
        while room > 0 {
            let Some(ws) = &mut self.ws else { return };
            if let Some(control) = ws.get_mut().take_control() {
                if let Frame::Close(reason) = &control {
                    let reason = reason
                        .clone()
                        .unwrap_or_else(|| CloseReason::new(CloseCode::NO_STATUS, ""));
                    self.shared.set_close_reason(Some(reason));
                    self.peer_closed = true;
                    if self.phase == Phase::Closing {
                        // The peer answered our close: the handshake is complete.
                        self.finish_after_flush = true;
                        self.needs_flush = true;
                    }
                }
                self.inbox.push_back(control);
                room -= 1;
                continue;
            }
            match ws.read() {
                Ok(message) => {
                    if self.buffers.swappable {
                        self.buffers.read_drained = false;
                        self.buffers.active = true;
                        if !self.buffers.large {
                            let socket = ws.get_mut().socket_mut();
                            let big = socket.tracker().is_some_and(|t| t.largest() >= LARGE_FRAME);
                            if big || socket.last_read() >= BURST_MIN {
                                socket.hold_at_boundary(true);
                            }
                        }
                    }
                    if self.on_message(message) {
                        room -= 1;
                        self.read_paused = room == 0;
                    }
                    if self.deferred.is_some() {
                        break;
                    }
                }
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.buffers.read_drained = true;
                    if ws.get_ref().socket().paused_at_boundary() {
                        if self.can_swap() {
                            self.swap(true);
                        } else if let Some(ws) = &mut self.ws {
                            ws.get_mut().socket_mut().hold_at_boundary(false);
                        }
                        continue;
                    }
                    let Some(ws) = &mut self.ws else { break };
                    match ws.get_ref().poll_read_ready(cx) {
                        Poll::Ready(Ok(())) => continue,
                        Poll::Ready(Err(e)) => {
                            self.fail_with(WsError::Io(e));
                            break;
                        }
                        Poll::Pending => {
                            self.waiting_readable = true;
                            break;
                        }
                    }
                }
                Err(err) => {
                    self.fail_with(err);
                    break;
                }
            }
        }
        self.flush_inbox_to_session(cx.waker());
        if (self.peer_closed && !self.raw) || matches!(self.phase, Phase::Failing { .. }) {
            self.shared.end_incoming();
        }
    }

    /// Handles one message from tungstenite; true if it went to `incoming`.
    fn on_message(&mut self, message: Message) -> bool {
        let frame = match message {
            Message::Text(text) => Frame::Text(Text::from_inner(text)),
            Message::Binary(data) => Frame::Binary(data),
            Message::Ping(data) => {
                // tungstenite queued the pong; make sure the write step sends it now.
                self.needs_flush = true;
                if !self.raw {
                    return false;
                }
                Frame::Ping(data)
            }
            Message::Pong(data) => {
                self.on_pong(&data);
                if !self.raw {
                    return false;
                }
                Frame::Pong(data)
            }
            Message::Close(frame) => {
                let reason = from_close_frame(frame);
                self.shared.set_close_reason(Some(reason));
                self.peer_closed = true;
                if self.phase == Phase::Open {
                    // tungstenite queued the reply. It goes out after the handler has
                    // answered the messages that came before the close (RFC 6455
                    // §5.5.1: "as soon as practical"), unless frames of ours are still
                    // buffered in tungstenite, which must precede the handler's.
                    self.phase = Phase::Closing;
                    let now = Instant::now();
                    self.deadline = Some(now + self.timeout);
                    if self.can_defer_close() {
                        self.deferred = Some(Deferred {
                            until: now + self.timeout.min(DEFER_CLOSE_MAX),
                            close: DeferredClose::Reply,
                        });
                    } else {
                        self.send_close_reply();
                    }
                } else {
                    // The peer answered our close: the next flush ends the connection.
                    self.shared.stop_sending();
                    self.needs_flush = true;
                }
                return false;
            }
            Message::Frame(_) => return false,
        };
        if self.handler_done {
            return false;
        }
        self.inbox.push_back(frame);
        true
    }

    /// Whether tungstenite holds nothing (no partial message, no unparsed or unflushed
    /// byte, no queued reply), so that its context can be replaced.
    fn can_swap(&mut self) -> bool {
        let b = &self.buffers;
        if !b.swappable
            || self.phase != Phase::Open
            || self.deferred.is_some()
            || !b.read_drained
            || self.unflushed != 0
            || self.write_blocked
            || self.needs_flush
        {
            return false;
        }
        let Some(ws) = &mut self.ws else { return false };
        let socket = ws.get_mut().socket_mut();
        !socket.has_raw() && socket.tracker().is_some_and(|t| t.at_boundary())
    }

    /// Replaces tungstenite's context with a fresh one reading in large or small steps.
    fn swap(&mut self, large: bool) {
        let burst = self
            .ws
            .as_ref()
            .map_or(0, |ws| ws.get_ref().socket().last_read());
        let Some(ws) = self.ws.take() else { return };
        let config = *ws.get_config();
        let mut transport = ws.into_inner();
        let socket = transport.socket_mut();
        socket.hold_at_boundary(false);
        let largest = socket.tracker().map_or(0, |t| t.take_largest());
        if !large {
            socket.release_idle();
        }
        // tungstenite zero-fills its whole read size before every read: size the large
        // context to the burst seen (whole large frames take the most).
        let size = if !large {
            self.buffers.small_read
        } else if self.buffers.peak >= LARGE_FRAME || largest >= LARGE_FRAME {
            LARGE_READ
        } else {
            burst.next_power_of_two().clamp(BURST_MIN, LARGE_READ)
        };
        let config = config.read_buffer_size(size);
        self.ws = Some(WebSocket::from_raw_socket(
            transport,
            Role::Server,
            Some(config),
        ));
        self.buffers.large = large;
        self.buffers.peak = 0;
        self.buffers.shrink_at = None;
    }

    /// Before parking: note activity, and go back to the small context once idle.
    /// Returns true if the engine must run again instead of parking.
    fn on_park(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.buffers.swappable {
            return false;
        }
        let now = Instant::now();
        if std::mem::take(&mut self.buffers.active) {
            self.buffers.last_active = now;
            if let Some(ws) = &mut self.ws {
                let largest = ws
                    .get_mut()
                    .socket_mut()
                    .tracker()
                    .map_or(0, |t| t.take_largest());
                self.buffers.peak = self.buffers.peak.max(largest);
            }
        }
        if !self.buffers.large && self.buffers.peak <= SMALL_KEEP {
            return false;
        }
        if self.buffers.large
            && self
                .ws
                .as_ref()
                .is_some_and(|ws| ws.get_ref().socket().small_reads() >= SMALL_READS_TO_SHRINK)
            && self.can_swap()
            && self
                .ws
                .as_ref()
                .is_some_and(|ws| !ws.get_ref().has_buffered())
        {
            // Traffic went back to small reads: tungstenite would zero-fill the whole
            // large buffer before each of them.
            self.swap(false);
            return false;
        }
        let due = self.buffers.last_active + SHRINK_AFTER;
        if now < due {
            if self.buffers.shrink_at != Some(due) {
                self.buffers.shrink_at = Some(due);
                return self.arm_timer(cx);
            }
        } else if self.can_swap()
            && self
                .ws
                .as_ref()
                .is_some_and(|ws| !ws.get_ref().has_buffered())
        {
            self.swap(false);
        }
        false
    }

    /// Stops deferring the close reply: nothing more may be sent, and the next flush
    /// writes the reply after whatever the handler sent before.
    fn send_close_reply(&mut self) {
        self.deferred = None;
        self.shared.stop_sending();
        self.needs_flush = true;
    }

    fn on_pong(&mut self, data: &Bytes) {
        if let Some(pinger) = &mut self.pinger
            && let Some((counter, _)) = pinger.awaiting
            && data.as_ref() == counter.to_be_bytes()
        {
            pinger.awaiting = None;
        }
    }

    /// Step 3: encode queued frames, then flush once. Returns true if another pass of
    /// the poll loop is needed.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> bool {
        match self.phase {
            Phase::Open | Phase::Closing => {}
            Phase::Failing { flushed: false } => {
                if self.deferred.is_some() {
                    self.take_outgoing_before_close();
                    if !self.deferred_close_due() {
                        return self.flush_raw_only(cx);
                    }
                    if let Some(Deferred {
                        close: DeferredClose::Fail(reason),
                        ..
                    }) = self.deferred.take()
                    {
                        self.shared.stop_sending();
                        if let Some(ws) = &mut self.ws {
                            ws.get_mut()
                                .socket_mut()
                                .queue_frame(0x88, close_payload(&reason));
                        }
                    }
                }
                return self.poll_fail_flush(cx);
            }
            Phase::Failing { flushed: true } | Phase::Done => return false,
        }
        if !self.write_blocked {
            loop {
                if self.batch.is_empty() {
                    let taken = self.shared.take_outgoing(&mut self.batch);
                    if taken.terminate {
                        self.finish(None);
                        return false;
                    }
                    if self.batch.is_empty() {
                        break;
                    }
                }
                let progressed = if self.deferred.is_some() {
                    self.encode_before_close_reply()
                } else {
                    self.encode_batch()
                };
                if !progressed {
                    break;
                }
            }
        }
        if self.is_done() {
            return false;
        }
        if self.deferred.is_some() {
            if self.deferred_close_due() {
                self.send_close_reply();
            } else {
                return self.flush_raw_only(cx);
            }
        }
        if self.unflushed > 0 || self.write_blocked || self.needs_flush {
            self.needs_flush = false;
            return self.flush(cx);
        }
        false
    }

    /// While the close reply waits: the handler's data frames are written raw, the
    /// rest (pings, pongs, its own close) dropped, as the reply closes the session.
    fn encode_before_close_reply(&mut self) -> bool {
        while let Some(outbound) = self.batch.pop_front() {
            let Some(ws) = &mut self.ws else { return false };
            let frame = match outbound {
                Outbound::Wire(wire) => {
                    ws.get_mut().socket_mut().queue_wire(wire);
                    self.unflushed += 1;
                    continue;
                }
                Outbound::Frame(frame) => frame,
            };
            if frame.is_control() {
                continue;
            }
            let message = match ws.get_mut().encode(frame) {
                Ok(message) => message,
                Err(err) => {
                    tracing::error!(error = %err, "extension failed on an outgoing frame");
                    continue;
                }
            };
            if let Ok((first_byte, payload)) = raw_data_frame(message) {
                ws.get_mut().socket_mut().queue_frame(first_byte, payload);
                self.unflushed += 1;
            }
        }
        true
    }

    /// Writes only the raw frames (tungstenite's buffer holds the close reply).
    fn flush_raw_only(&mut self, cx: &mut Context<'_>) -> bool {
        match self.write_out(cx, false) {
            Flushed::Done | Flushed::ConnectionClosed => {
                self.write_blocked = false;
                self.shared
                    .mark_written(std::mem::take(&mut self.unflushed));
            }
            Flushed::Pending => {}
            Flushed::Error(err) => self.fail_with(err),
        }
        false
    }

    /// Writes out what tungstenite holds (with `tungstenite`) and the frames queued
    /// around it, waiting for writability when the socket is full.
    fn write_out(&mut self, cx: &mut Context<'_>, tungstenite: bool) -> Flushed {
        loop {
            let Some(ws) = &mut self.ws else {
                return Flushed::Error(WsError::AlreadyClosed);
            };
            let result = if tungstenite { ws.flush() } else { Ok(()) }
                .and_then(|()| Ok(ws.get_mut().socket_mut().flush_raw()?));
            match result {
                Ok(()) => return Flushed::Done,
                Err(WsError::ConnectionClosed) => return Flushed::ConnectionClosed,
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    match ws.get_ref().socket().poll_write_ready(cx) {
                        Poll::Ready(Ok(())) => continue,
                        Poll::Ready(Err(e)) => return Flushed::Error(WsError::Io(e)),
                        Poll::Pending => {
                            self.write_blocked = true;
                            return Flushed::Pending;
                        }
                    }
                }
                Err(err) => return Flushed::Error(err),
            }
        }
    }

    /// Feeds the batch to tungstenite; false if the socket is full or the engine stopped.
    fn encode_batch(&mut self) -> bool {
        while let Some(outbound) = self.batch.pop_front() {
            let Some(ws) = &mut self.ws else { return false };
            self.buffers.peak = self.buffers.peak.max(outbound.len() as u64);
            let frame = match outbound {
                Outbound::Wire(wire) => {
                    if ws.can_write() {
                        ws.get_mut().socket_mut().queue_wire(wire);
                        self.unflushed += 1;
                    }
                    continue;
                }
                Outbound::Frame(frame) => frame,
            };
            if let Frame::Close(reason) = frame {
                let reason = reason.unwrap_or_else(|| CloseReason::new(CloseCode::NORMAL, ""));
                self.unflushed += 1;
                self.batch.clear();
                if self.phase == Phase::Open {
                    self.shared.set_close_reason(Some(reason.clone()));
                    self.phase = Phase::Closing;
                    self.deadline = Some(Instant::now() + self.timeout);
                    let written = if self.raw {
                        // tungstenite's close state machine is bypassed: the handler
                        // runs the close handshake itself.
                        if self.peer_closed {
                            self.finish_after_flush = true;
                        }
                        ws.write(Message::Frame(WireFrame::close(Some(close_frame(reason)))))
                    } else {
                        ws.close(Some(close_frame(reason)))
                    };
                    return match written {
                        Ok(()) => false,
                        Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.write_blocked = true;
                            false
                        }
                        Err(err) => {
                            self.fail_with(err);
                            false
                        }
                    };
                }
                return false;
            }
            if !frame.is_control() && !ws.can_write() {
                // Data queued after a close frame is dropped, as Ktor drops it.
                continue;
            }
            let message = match ws.get_mut().encode(frame) {
                Ok(message) => message,
                Err(err) => {
                    tracing::error!(error = %err, "extension failed on an outgoing frame");
                    self.fail(CloseCode::INTERNAL_ERROR, "Extension failure");
                    return false;
                }
            };
            self.unflushed += 1;
            // Data frames go around tungstenite (see `Socket::queue_frame`); control
            // frames through it.
            let message = match raw_data_frame(message) {
                Ok((first_byte, payload)) => {
                    let socket = ws.get_mut().socket_mut();
                    socket.queue_frame(first_byte, payload);
                    if socket.queued_bytes() >= self.write_buffer_size {
                        match socket.flush_raw() {
                            Ok(()) => {}
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                self.write_blocked = true;
                                return false;
                            }
                            Err(e) => {
                                self.fail_with(WsError::Io(e));
                                return false;
                            }
                        }
                    }
                    continue;
                }
                Err(message) => message,
            };
            match ws.write(message) {
                Ok(()) => {}
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.write_blocked = true;
                    return false;
                }
                // Frames queued after a close frame are dropped, as Ktor drops them.
                Err(WsError::Protocol(ProtocolError::SendAfterClosing)) => {}
                Err(err) => {
                    self.fail_with(err);
                    return false;
                }
            }
        }
        true
    }

    fn flush(&mut self, cx: &mut Context<'_>) -> bool {
        match self.write_out(cx, true) {
            Flushed::Done => {
                self.write_blocked = false;
                let more = self
                    .shared
                    .mark_written(std::mem::take(&mut self.unflushed));
                if self.finish_after_flush {
                    self.finish(None);
                    return false;
                }
                // Frames the writer could not take before, or queued meanwhile.
                !self.batch.is_empty() || more
            }
            Flushed::ConnectionClosed => {
                // The close handshake completed: the server closes TCP first.
                self.shared
                    .mark_written(std::mem::take(&mut self.unflushed));
                self.finish(None);
                false
            }
            Flushed::Pending => false,
            Flushed::Error(err) => {
                self.fail_with(err);
                false
            }
        }
    }

    /// While failing: flush our close frame, then half-close.
    fn poll_fail_flush(&mut self, cx: &mut Context<'_>) -> bool {
        match self.write_out(cx, true) {
            Flushed::Done | Flushed::ConnectionClosed => {}
            Flushed::Pending => return false,
            Flushed::Error(_) => {
                self.finish(None);
                return false;
            }
        }
        let Some(ws) = &mut self.ws else { return false };
        ws.get_mut().socket_mut().shutdown_write(cx);
        self.phase = Phase::Failing { flushed: true };
        true
    }

    /// Timers: pings, pong timeout, close deadlines. Returns true if something was
    /// queued that the write step must send.
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> bool {
        if self.deadline.is_none() && self.pinger.is_none() && self.buffers.shrink_at.is_none() {
            // No timer of ours is running (`deferred` has its own check): no clock read.
            return self.arm_timer(cx);
        }
        let now = Instant::now();
        let mut wrote = false;
        if let Some(deadline) = self.deadline
            && now >= deadline
        {
            self.deadline = None;
            match self.phase {
                Phase::Closing | Phase::Failing { .. } => {
                    tracing::debug!("close handshake timed out; dropping the connection");
                    self.finish(None);
                    return false;
                }
                Phase::Open | Phase::Done => {}
            }
        }
        if self.phase == Phase::Open
            && let Some(pinger) = &mut self.pinger
        {
            if let Some((_, pong_deadline)) = pinger.awaiting
                && now >= pong_deadline
            {
                self.fail(CloseCode::INTERNAL_ERROR, "Ping timeout");
                return true;
            }
            if now >= pinger.next_ping {
                pinger.counter += 1;
                let payload = Bytes::copy_from_slice(&pinger.counter.to_be_bytes());
                if pinger.awaiting.is_none() {
                    pinger.awaiting = Some((pinger.counter, now + self.timeout));
                }
                pinger.next_ping = now + pinger.period;
                if let Some(ws) = &mut self.ws {
                    self.unflushed += 1;
                    match ws.write(Message::Ping(payload)) {
                        Ok(()) => {}
                        Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.write_blocked = true;
                        }
                        Err(err) => {
                            self.fail_with(err);
                            return false;
                        }
                    }
                    wrote = true;
                }
            }
        }
        if self.buffers.shrink_at.is_some_and(|at| now >= at) {
            // Checked again when the engine parks.
            self.buffers.shrink_at = None;
        }
        self.arm_timer(cx) || wrote
    }

    /// Arms the timer at the nearest deadline; true if that deadline has passed.
    fn arm_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let mut next = [
            self.deadline,
            self.deferred.as_ref().map(|d| d.until),
            self.buffers.shrink_at,
        ]
        .into_iter()
        .flatten()
        .min();
        if self.phase == Phase::Open
            && let Some(pinger) = &self.pinger
        {
            let ping_next = match pinger.awaiting {
                Some((_, pong_deadline)) => pinger.next_ping.min(pong_deadline),
                None => pinger.next_ping,
            };
            next = Some(next.map_or(ping_next, |n| n.min(ping_next)));
        }
        match next {
            Some(at) => {
                if self.sleep_armed == Some(at) && Instant::now() < at {
                    // Polled with this deadline already: the timer will wake us.
                    return false;
                }
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                if sleep.deadline() != at {
                    sleep.as_mut().reset(at);
                }
                if sleep.as_mut().poll(cx).is_ready() {
                    // Already due: run the timers again on the next pass.
                    self.sleep_armed = None;
                    return true;
                }
                self.sleep_armed = Some(at);
            }
            None => {
                self.sleep = None;
                self.sleep_armed = None;
            }
        }
        false
    }
}

/// A handler's future, boxed.
pub(crate) type HandlerFuture =
    Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'static>>;

/// A connection and its handler, run in the current task until both are finished.
pub(crate) struct Driver<T: Transport> {
    engine: Engine<T>,
    handler: Option<HandlerFuture>,
    route: Arc<str>,
}

impl<T: Transport> Future for Driver<T> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().drive(cx)
    }
}

impl<T: Transport> Driver<T> {
    pub(crate) fn new(engine: Engine<T>, handler: HandlerFuture, route: Arc<str>) -> Self {
        Self {
            engine,
            handler: Some(handler),
            route,
        }
    }

    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..POLL_BUDGET {
            let engine = &mut self.engine;
            engine.poll_read(cx);
            let mut again = self.poll_handler(cx);
            let engine = &mut self.engine;
            if !engine.is_done() {
                again |= engine.poll_timers(cx);
                again |= engine.poll_write(cx);
            }
            if engine.is_done() {
                if self.handler.is_none() {
                    return Poll::Ready(());
                }
                if !again {
                    return Poll::Pending;
                }
                continue;
            }
            if again || engine.on_park(cx) {
                continue;
            }
            let Some(ws) = &mut engine.ws else { continue };
            let buffered = ws.get_ref().has_buffered();
            if !buffered {
                ws.get_mut().socket_mut().release_idle();
            }
            // Park unless frames were queued meanwhile or reading can resume (room
            // appeared in `incoming`, or read-ahead bytes wait that the socket will not
            // signal again).
            let resume_read = engine.read_paused || buffered;
            if engine
                .shared
                .park_engine(cx, resume_read && engine.phase == Phase::Open)
            {
                return Poll::Pending;
            }
        }
        // Let other connections run; come back at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Polls the handler; when it ends, queues the close frame its outcome calls for.
    fn poll_handler(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(fut) = self.handler.as_mut() else {
            return false;
        };
        let reason = match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return false,
            Ok(Poll::Ready(Ok(()))) => CloseReason::new(CloseCode::NORMAL, ""),
            Ok(Poll::Ready(Err(err))) => {
                tracing::error!(route = &*self.route, error = %err, "WebSocket handler failed");
                CloseReason::new(CloseCode::INTERNAL_ERROR, "Internal server error")
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_string());
                tracing::error!(route = &*self.route, panic = %message, "WebSocket handler panicked");
                CloseReason::new(CloseCode::INTERNAL_ERROR, "Internal server error")
            }
        };
        self.handler = None;
        self.engine.handler_done = true;
        self.engine.inbox.clear();
        self.engine.shared.request_close(reason);
        true
    }
}
