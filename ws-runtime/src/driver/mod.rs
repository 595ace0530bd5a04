//! The connection driver: one task per session runs the protocol core over the
//! transport, and the handler beside it.
//!
//! Each pass of the task's poll runs four steps:
//!
//! 1. **read**: what the transport holds is read (into the worker's scratch buffer, or
//!    a large payload straight into its message buffer) and decoded; messages go to
//!    `incoming`, up to the session's read-ahead bound; pings are answered by the write
//!    step (the latest [`MAX_PONGS`] of them), pongs clear the ping timer;
//! 2. **handler**: the handler future runs until it waits;
//! 3. **timers**: pings, the pong timeout, close deadlines (one `Sleep`, armed at the
//!    nearest);
//! 4. **write**: our pong or ping, then every frame queued on `outgoing`, go out in one
//!    vectored write (see [`write`]); what the transport refuses waits in the session's
//!    backlog, and nothing new is taken from the queue until it is written.
//!
//! How the connection ends is one state ([`close::CloseState`]): a clean close waits
//! for the peer's close frame up to `timeout`; our reply to the peer's close, or our
//! close frame failing the connection, first waits (at most 1 s) for the handler to
//! answer the messages read before it; a failed connection then half-closes and
//! discards input briefly so that the peer reads the close frame before TCP goes.

pub(crate) mod close;
mod read;
mod write;

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{Instant, Sleep};

use crate::error::HandlerError;
use crate::frame::{CloseCode, CloseReason, Frame};
use crate::options::WebSocketOptions;
use crate::protocol::frame::{OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, first_byte};
use crate::protocol::{Decoder, Encoder, Event, Flow, ProtocolError, Role, Sink, Stage};
use crate::session::{EngineSide, Outbound};
use crate::transport::Transport;

use close::{CloseAction, CloseConfig, CloseEvent, CloseState};
use read::{Input, ReadOutcome};
use write::Backlog;

/// How many passes one poll may make before yielding to other tasks.
const POLL_BUDGET: usize = 32;

/// Reads per read step (each up to the scratch size).
const READS_PER_STEP: usize = 8;

/// Bytes one poll of a connection's task may read before it yields to the other tasks
/// of its worker: a peer flooding messages cannot starve the sessions beside it.
const READ_BUDGET: usize = 256 * 1024;

/// Pongs waiting to be written, at most: with this many, reading pauses until they
/// are written, so a peer that pings without reading fills nothing but its own socket.
const MAX_PONGS: usize = 16;

/// A handler's future, boxed.
pub(crate) type HandlerFuture =
    Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'static>>;

/// Ping bookkeeping, when `ping_period` is set.
struct Pinger {
    period: Duration,
    next_ping: Instant,
    /// The ping waiting for its pong, and when the wait ends.
    awaiting: Option<(u64, Instant)>,
    counter: u64,
    /// A ping is due: the write step sends it.
    due: bool,
}

/// Payloads of the pings to answer, in a box of their own: most sessions never see a
/// ping, and every session holds this. The write step takes the box whole.
#[derive(Default)]
#[allow(
    clippy::box_collection,
    reason = "8 bytes in every session instead of 24"
)]
struct Pongs(Option<Box<Vec<Bytes>>>);

impl Pongs {
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |pongs| pongs.len())
    }

    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn push(&mut self, payload: Bytes) {
        self.0.get_or_insert_default().push(payload);
    }

    /// Every payload, oldest first; the box is freed.
    fn take(&mut self) -> Vec<Bytes> {
        self.0.take().map(|pongs| *pongs).unwrap_or_default()
    }
}

/// A token bucket for `max_messages_per_second`: one second's worth of messages.
struct RateLimit {
    rate: u32,
    tokens: f64,
    refilled: Instant,
}

impl RateLimit {
    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * f64::from(self.rate)).min(f64::from(self.rate));
    }

    /// Takes a token for one message; false if there is none.
    fn take(&mut self) -> bool {
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What a connection is, beyond its transport and handler.
pub(crate) struct Settings {
    pub(crate) role: Role,
    pub(crate) raw: bool,
    pub(crate) limit: usize,
    pub(crate) timeout: Duration,
    pub(crate) ping_period: Option<Duration>,
    pub(crate) write_buffer_size: usize,
    pub(crate) read_buffer_size: usize,
    pub(crate) max_messages_per_second: Option<u32>,
}

impl Settings {
    /// A server session's settings from the plugin options.
    pub(crate) fn server(options: &WebSocketOptions, raw: bool) -> Self {
        Self {
            role: Role::Server,
            raw,
            limit: options.message_limit(),
            timeout: options.timeout,
            // Raw sessions answer nothing by themselves, pings included (as Ktor's).
            ping_period: options.ping_period.filter(|_| !raw),
            write_buffer_size: options.write_buffer_size.max(1),
            read_buffer_size: options.read_buffer_size,
            max_messages_per_second: options.max_messages_per_second,
        }
    }
}

/// One connection and its handler, run in the current task until both are finished.
pub(crate) struct Connection<T: Transport> {
    /// `None` once the connection is over (the transport is dropped at once).
    transport: Option<T>,
    chan: EngineSide,
    decoder: Decoder,
    encoder: Encoder,
    stage: Option<Box<Stage>>,
    input: Input,
    backlog: Backlog,
    close: CloseState,
    /// The close handshake's timeout (the `timeout` option; pongs wait as long).
    timeout: Duration,
    /// A raw session: its handler answers close frames (and sees them).
    raw: bool,
    /// Frames taken from `outgoing` and not yet written out, and their payload bytes.
    unreported: u32,
    unreported_bytes: u64,
    /// The transport refused bytes (the backlog holds some); the session knows.
    blocked: bool,
    /// Frames taken from `outgoing`, not yet encoded.
    batch: VecDeque<Outbound>,
    /// Frames read this pass, handed to `incoming` under one lock.
    /// (A `Vec`, not a `VecDeque`: its push stays inlined in the decoder's loop.)
    inbox: Vec<Frame>,
    /// Payloads of the pings to answer, oldest first (at most [`MAX_PONGS`]).
    pongs: Pongs,
    pinger: Option<Box<Pinger>>,
    sleep: Option<Pin<Box<Sleep>>>,
    /// The timer was polled with its current deadline (and is registered for it).
    sleep_armed: bool,
    handler: Option<HandlerFuture>,
    /// Reading stopped at its budget with input still waiting.
    read_more: bool,
    /// A server without extensions: small frames are written with no encoding step.
    plain_server: bool,
    rate: Option<Box<RateLimit>>,
    write_buffer_size: u32,
}

impl<T: Transport> Future for Connection<T> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().drive(cx)
    }
}

/// Where decoded events go during a read step.
struct Inbox<'a> {
    frames: &'a mut Vec<Frame>,
    /// Payload bytes of `frames`.
    bytes: usize,
    room: usize,
    raw: bool,
    discard: bool,
    pongs: &'a mut Pongs,
    pinger: Option<&'a mut Pinger>,
    peer_close: Option<Option<CloseReason>>,
    rate: Option<&'a mut RateLimit>,
    /// A message came with no token left.
    rate_exceeded: bool,
}

impl Sink for Inbox<'_> {
    #[inline(always)]
    fn event(&mut self, event: Event) -> Flow {
        let frame = match event {
            Event::Data(frame) => {
                if let Some(rate) = self.rate.as_deref_mut()
                    && !rate.take()
                {
                    self.rate_exceeded = true;
                    return Flow::Stop;
                }
                frame
            }
            Event::Ping(payload) if self.raw => Frame::Ping(payload),
            Event::Ping(payload) => {
                self.pongs.push(payload);
                return if self.pongs.len() >= MAX_PONGS {
                    Flow::Stop
                } else {
                    Flow::Continue
                };
            }
            Event::Pong(payload) => {
                if let Some(pinger) = self.pinger.as_deref_mut()
                    && let Some((counter, _)) = pinger.awaiting
                    && payload.as_ref() == counter.to_be_bytes()
                {
                    pinger.awaiting = None;
                }
                if !self.raw {
                    return Flow::Continue;
                }
                Frame::Pong(payload)
            }
            Event::Close(reason) => {
                self.peer_close = Some(reason.clone());
                if !self.raw {
                    return Flow::Stop;
                }
                Frame::Close(reason)
            }
        };
        if self.discard {
            return Flow::Continue;
        }
        self.bytes += frame.len();
        self.frames.push(frame);
        self.room -= 1;
        if self.room == 0 {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

impl<T: Transport> Connection<T> {
    /// A connection over `transport` (whose first bytes are `leftover`, read with the
    /// handshake), with its session state, negotiated extensions and handler.
    pub(crate) fn new(
        transport: T,
        leftover: Vec<u8>,
        chan: EngineSide,
        settings: Settings,
        stage: Option<Box<Stage>>,
        handler: HandlerFuture,
    ) -> Self {
        let claimed = stage.as_ref().map_or(Default::default(), |s| s.claimed());
        let plain_server = settings.role == Role::Server && stage.is_none();
        let pinger = settings.ping_period.map(|period| {
            Box::new(Pinger {
                period,
                next_ping: Instant::now() + period,
                awaiting: None,
                counter: 0,
                due: false,
            })
        });
        Self {
            transport: Some(transport),
            chan,
            decoder: Decoder::new(settings.role, settings.raw, settings.limit, claimed),
            encoder: Encoder::new(settings.role),
            stage,
            input: Input::new(leftover, settings.read_buffer_size),
            backlog: Backlog::default(),
            close: CloseState::Open,
            timeout: settings.timeout,
            raw: settings.raw,
            unreported: 0,
            unreported_bytes: 0,
            blocked: false,
            batch: VecDeque::new(),
            inbox: Vec::new(),
            pongs: Pongs::default(),
            pinger,
            sleep: None,
            sleep_armed: false,
            handler: Some(handler),
            read_more: false,
            plain_server,
            rate: settings.max_messages_per_second.map(|rate| {
                Box::new(RateLimit {
                    rate,
                    tokens: f64::from(rate),
                    refilled: Instant::now(),
                })
            }),
            write_buffer_size: u32::try_from(settings.write_buffer_size).unwrap_or(u32::MAX),
        }
    }

    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.chan.running();
        if self.chan.take_trim() {
            self.release_spare(0);
        }
        // Bytes this poll may still read.
        let mut read_budget = READ_BUDGET;
        for _ in 0..POLL_BUDGET {
            self.read_step(cx, &mut read_budget);
            let mut again = self.poll_handler(cx);
            if !self.close.is_done() {
                again |= self.timer_step(cx);
                again |= self.write_step(cx);
            }
            if self.close.is_done() {
                if self.handler.is_none() {
                    return Poll::Ready(());
                }
                if !again {
                    return Poll::Pending;
                }
                continue;
            }
            if read_budget == 0 {
                // Read enough for one turn: let the worker's other tasks run.
                break;
            }
            if again || std::mem::take(&mut self.read_more) {
                continue;
            }
            self.release_spare(64);
            // Park unless frames were queued meanwhile or reading can resume (room
            // appeared in `incoming`, or stashed input waits that no readiness event
            // will announce).
            let wants_read =
                (self.chan.read_paused() || self.input.has_stash()) && self.close.reads();
            if self.chan.park(cx, wants_read) {
                return Poll::Pending;
            }
        }
        // Let other connections run; come back at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn close_config(&self) -> CloseConfig {
        CloseConfig {
            timeout: self.timeout,
            raw: self.raw,
        }
    }

    /// Applies a close event and does what it calls for.
    fn transition(&mut self, cx: &mut Context<'_>, event: CloseEvent) {
        match self.close.on(event, self.close_config()) {
            CloseAction::None => {}
            CloseAction::ShutdownWrite => {
                if let Some(transport) = &mut self.transport {
                    let _ = Pin::new(transport).poll_shutdown(cx);
                }
            }
            CloseAction::Finish => self.finish(),
        }
    }

    /// Drops the transport and resolves everything waiting on the session.
    fn finish(&mut self) {
        self.transport = None;
        self.sleep = None;
        self.batch.clear();
        self.backlog = Backlog::default();
        self.input = Input::default();
        self.chan.set_close_reason(None);
        let unwritten = self.chan.finish();
        if unwritten > 0 {
            // Accepted by `send`, never written: the connection ended first.
            tracing::debug!(
                frames = unwritten,
                "connection ended with frames not written"
            );
        }
    }

    /// Fails the connection (RFC 6455 §7.1.7) with a close frame of `code`; with
    /// `answers`, the handler may first answer the messages read before the failure.
    fn fail(&mut self, cx: &mut Context<'_>, code: CloseCode, message: &str, answers: bool) {
        tracing::debug!(code = code.code(), message, "failing WebSocket connection");
        let reason = CloseReason::new(code, message.to_owned());
        self.chan.set_close_reason(Some(reason.clone()));
        self.chan.end_incoming();
        let answers = answers && self.handler.is_some();
        if !answers {
            self.chan.stop_sending();
        }
        self.transition(cx, CloseEvent::Fail { reason, answers });
    }

    /// Step 1: read and decode while the session has room, up to `read_budget` bytes
    /// (what this poll may still read, [`READ_BUDGET`] at its start).
    fn read_step(&mut self, cx: &mut Context<'_>, read_budget: &mut usize) {
        if self.close.drains() {
            let gone = match &mut self.transport {
                Some(transport) => read::poll_discard(transport, cx).is_ready(),
                None => true,
            };
            if gone {
                self.transition(cx, CloseEvent::Gone);
            }
            return;
        }
        if !self.close.reads() || self.decoder.ended() {
            return;
        }
        let Some(transport) = &mut self.transport else {
            return;
        };
        let discard = self.handler.is_none();
        let room = if discard {
            usize::MAX
        } else {
            self.chan.room()
        };
        if room == 0 || self.pongs.len() >= MAX_PONGS || *read_budget == 0 {
            return;
        }
        if let Some(rate) = self.rate.as_deref_mut() {
            rate.refill();
        }
        let mut sink = Inbox {
            frames: &mut self.inbox,
            bytes: 0,
            room,
            raw: self.raw,
            discard,
            pongs: &mut self.pongs,
            pinger: self.pinger.as_deref_mut(),
            peer_close: None,
            rate: self.rate.as_deref_mut(),
            rate_exceeded: false,
        };
        let mut failure: Option<ProtocolError> = None;
        let mut gone = false;
        let mut stopped = false;
        let mut read_any = false;
        if self.input.has_stash() {
            match self
                .input
                .decode_stash(&mut self.decoder, self.stage.as_deref_mut(), &mut sink)
            {
                Ok(decoded) => stopped = decoded.stopped,
                Err(e) => failure = Some(e),
            }
        }
        if !stopped && failure.is_none() && !self.decoder.ended() {
            // Without a `Pending` the task is not registered for the next readiness:
            // a step that ends at its budget comes back for more.
            self.read_more = true;
            for _ in 0..READS_PER_STEP {
                let result = self.input.read(
                    transport,
                    cx,
                    &mut self.decoder,
                    self.stage.as_deref_mut(),
                    &mut sink,
                );
                match result {
                    Err(e) => {
                        tracing::debug!(error = %e, "WebSocket connection read error");
                        gone = true;
                    }
                    Ok(Err(e)) => failure = Some(e),
                    Ok(Ok(ReadOutcome::Pending)) => {}
                    Ok(Ok(ReadOutcome::Eof)) => gone = true,
                    Ok(Ok(ReadOutcome::DecodePass { read, stopped: s })) => {
                        read_any = true;
                        stopped = s;
                        *read_budget = read_budget.saturating_sub(read);
                        if !s && !self.decoder.ended() && *read_budget > 0 {
                            continue;
                        }
                        if *read_budget == 0 {
                            // More may wait: the next turn reads it.
                            break;
                        }
                    }
                }
                self.read_more = false;
                break;
            }
        }
        let peer_close = sink.peer_close.take();
        let rate_exceeded = sink.rate_exceeded;
        if read_any {
            self.chan.mark_active();
        }
        let bytes = sink.bytes;
        let pongs_full = self.pongs.len() >= MAX_PONGS;
        // Stopped for pongs: they go out in this pass's write step, reading resumes
        // in the next. (Stopped for room: the handler's next receive wakes us.)
        self.read_more |= pongs_full && self.backlog.is_empty();
        if discard {
            self.inbox.clear();
        } else if !self.inbox.is_empty() {
            self.chan
                .stats()
                .count_in(self.inbox.len() as u64, bytes as u64);
            self.chan.deliver(&mut self.inbox, bytes, cx.waker());
        }
        // Stopped for room with every byte used: no read returned `Pending`, so the
        // transport will not wake the task. Read again in the next pass if the
        // handler has room by now; if not, its next receive wakes us.
        if stopped && !self.input.has_stash() && self.chan.room() > 0 {
            self.read_more = true;
        }
        if let Some(reason) = peer_close {
            self.chan
                .set_close_reason(Some(close::peer_reason(reason.as_ref())));
            if !self.raw {
                // `incoming` ends after the messages that came before the close.
                self.chan.end_incoming();
            }
            self.transition(cx, CloseEvent::PeerClose(reason));
            if self.backlog.is_empty() {
                self.transition(cx, CloseEvent::Written);
            }
        }
        if rate_exceeded {
            self.fail(
                cx,
                CloseCode::VIOLATED_POLICY,
                "Message rate exceeded",
                true,
            );
        } else if let Some(e) = failure {
            self.fail(cx, e.code, &e.reason, true);
        } else if gone {
            self.transition(cx, CloseEvent::Gone);
        }
    }

    /// Step 2: polls the handler; when it ends, queues the close frame its outcome
    /// calls for. Returns true if it ended.
    fn poll_handler(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(fut) = self.handler.as_mut() else {
            return false;
        };
        let reason = match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return false,
            Ok(Poll::Ready(Ok(()))) => CloseReason::new(CloseCode::NORMAL, ""),
            Ok(Poll::Ready(Err(err))) => {
                tracing::error!(error = %err, "WebSocket handler failed");
                CloseReason::new(CloseCode::INTERNAL_ERROR, "Internal server error")
            }
            Err(panic) => {
                let message = crate::error::panic_message(&*panic);
                tracing::error!(panic = %message, "WebSocket handler panicked");
                CloseReason::new(CloseCode::INTERNAL_ERROR, "Internal server error")
            }
        };
        self.handler = None;
        self.inbox.clear();
        self.chan.request_close(reason);
        true
    }

    /// Step 3: pings, the pong timeout, close deadlines. Returns true if something is
    /// due that the write step must send.
    fn timer_step(&mut self, cx: &mut Context<'_>) -> bool {
        if self.pinger.is_none() && matches!(self.close, CloseState::Open) {
            // No timer of ours is running: no clock read.
            if self.sleep.is_some() {
                self.sleep = None;
                self.sleep_armed = false;
            }
            return false;
        }
        let deadline = self.close.deadline();
        let pending = self.close.pending_frame().map(|(_, due)| due);
        if deadline.is_none() && pending.is_none() && self.pinger.is_none() {
            // No timer of ours is running: no clock read.
            self.sleep = None;
            self.sleep_armed = false;
            return false;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            self.transition(cx, CloseEvent::Tick(now));
            return false;
        }
        let mut due = pending.is_some_and(|d| now >= d);
        let open = matches!(self.close, CloseState::Open);
        let mut timed_out = false;
        let mut next = [deadline, pending].into_iter().flatten().min();
        if let Some(pinger) = self.pinger.as_deref_mut()
            && open
        {
            if pinger.awaiting.is_some_and(|(_, until)| now >= until) {
                timed_out = true;
            } else {
                if now >= pinger.next_ping {
                    pinger.counter += 1;
                    pinger.due = true;
                    if pinger.awaiting.is_none() {
                        pinger.awaiting = Some((pinger.counter, now + self.timeout));
                    }
                    pinger.next_ping = now + pinger.period;
                    due = true;
                }
                let ping_next = match pinger.awaiting {
                    Some((_, until)) => pinger.next_ping.min(until),
                    None => pinger.next_ping,
                };
                next = Some(next.map_or(ping_next, |n| n.min(ping_next)));
            }
        }
        if timed_out {
            self.pinger = None;
            self.fail(cx, CloseCode::INTERNAL_ERROR, "Ping timeout", false);
            return true;
        }
        self.arm_timer(cx, next) || due
    }

    /// Arms the timer at `at`; true if that instant has passed.
    fn arm_timer(&mut self, cx: &mut Context<'_>, at: Option<Instant>) -> bool {
        let Some(at) = at else {
            self.sleep = None;
            self.sleep_armed = false;
            return false;
        };
        if self.sleep_armed && self.sleep.as_ref().is_some_and(|s| s.deadline() == at) {
            // Polled with this instant already: the timer will wake us.
            return false;
        }
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if sleep.deadline() != at {
            sleep.as_mut().reset(at);
        }
        if sleep.as_mut().poll(cx).is_ready() {
            self.sleep_armed = false;
            return true;
        }
        self.sleep_armed = true;
        false
    }

    /// Step 4: writes what is due. Returns true if another pass is needed.
    fn write_step(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(transport) = self.transport.as_mut() else {
            return false;
        };
        if !self.backlog.is_empty() {
            match self.backlog.poll_write(transport, cx) {
                Poll::Pending => {
                    // A peer that does not read, closed for it (1008): its close frame
                    // waits behind bytes it will not take, so linger only briefly.
                    if matches!(self.close, CloseState::Open) && self.chan.overflowed() {
                        self.fail(
                            cx,
                            CloseCode::VIOLATED_POLICY,
                            "Outgoing queue overflow",
                            false,
                        );
                        return true;
                    }
                    return false;
                }
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "WebSocket connection write error");
                    self.transition(cx, CloseEvent::Gone);
                    return false;
                }
                Poll::Ready(Ok(())) => {
                    // Reading may have paused for the pongs that can go now.
                    let pongs_waited = self.pongs.len() >= MAX_PONGS;
                    if self.on_written(cx) || pongs_waited {
                        return true;
                    }
                }
            }
        }
        let mut outcome = WriteOutcome::default();
        write::with_batch(|batch| self.gather(cx, batch, &mut outcome));
        if !self.backlog.is_empty() && !self.blocked {
            // The peer is not keeping up: senders under `ChannelOverflow::Close` learn it.
            self.blocked = true;
            self.chan.set_blocked(true);
        }
        if let Some(failure) = outcome.failure.take() {
            self.fail(cx, CloseCode::INTERNAL_ERROR, &failure, false);
            return true;
        }
        if outcome.terminate {
            self.transition(cx, CloseEvent::Gone);
            return false;
        }
        match outcome.written {
            None => false,
            Some(Ok(())) => {
                if let Some(transport) = self.transport.as_mut() {
                    let _ = Pin::new(transport).poll_flush(cx);
                }
                self.on_written(cx) || outcome.more
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "WebSocket connection write error");
                self.transition(cx, CloseEvent::Gone);
                false
            }
        }
    }

    /// Everything taken so far is written: count it (reported when the engine next
    /// takes the lock). Returns true if another pass is needed.
    fn on_written(&mut self, cx: &mut Context<'_>) -> bool {
        if self.unreported > 0 {
            self.chan.mark_active();
            self.chan
                .stats()
                .count_out(u64::from(self.unreported), self.unreported_bytes);
        }
        self.chan.written(
            std::mem::take(&mut self.unreported),
            std::mem::take(&mut self.unreported_bytes),
        );
        if std::mem::take(&mut self.blocked) {
            self.chan.set_blocked(false);
        }
        if !matches!(self.close, CloseState::Open) {
            self.transition(cx, CloseEvent::Written);
        }
        false
    }

    /// Gathers what is due into `batch` and writes it.
    fn gather(
        &mut self,
        cx: &mut Context<'_>,
        batch: &mut write::Batch<'_>,
        outcome: &mut WriteOutcome,
    ) {
        let control = self.close.writes_control();
        if !self.pongs.is_empty() {
            for payload in self.pongs.take() {
                if control {
                    let frame = self.encoder.frame(first_byte(true, 0, OP_PONG), payload);
                    batch.push(frame);
                }
            }
        }
        if let Some(pinger) = self.pinger.as_deref_mut()
            && std::mem::take(&mut pinger.due)
            && control
        {
            let payload = Bytes::copy_from_slice(&pinger.counter.to_be_bytes());
            let frame = self.encoder.frame(first_byte(true, 0, OP_PING), payload);
            batch.push(frame);
        }
        let mut blocked = false;
        // One take per pass: frames queued while this batch is written are seen when
        // the engine would park, and taken in the next pass.
        'take: {
            if self.batch.is_empty() {
                let taken = self.chan.take_outgoing(&mut self.batch);
                if taken.terminate {
                    outcome.terminate = true;
                    return;
                }
                if self.batch.is_empty() {
                    break 'take;
                }
                self.chan.stats().queue_depth(self.batch.len() as u64);
            }
            while let Some(outbound) = self.batch.pop_front() {
                self.count(&outbound);
                match outbound {
                    Outbound::Wire(wire) => {
                        if self.close.writes_data() {
                            batch.push_wire(&wire);
                        }
                    }
                    Outbound::Frame(Frame::Close(reason)) => {
                        if self.close.may_close() {
                            let reason = match self.close.pending_frame() {
                                Some((pending, _)) => pending,
                                None => reason,
                            };
                            self.push_close(cx, batch, reason);
                        }
                        // Nothing follows a close frame (sends are refused after it).
                        for outbound in std::mem::take(&mut self.batch) {
                            self.count(&outbound);
                        }
                        break 'take;
                    }
                    Outbound::Frame(frame) => {
                        let allowed = if frame.is_control() {
                            self.close.writes_control()
                        } else {
                            self.close.writes_data()
                        };
                        if !allowed {
                            continue;
                        }
                        // The usual case: a small message of a server without extensions,
                        // copied into the cork as it is.
                        if self.plain_server {
                            let small = match &frame {
                                Frame::Text(text) if text.len() <= write::INLINE_MAX => {
                                    Some((0x80 | OP_TEXT, text.as_bytes()))
                                }
                                Frame::Binary(data) if data.len() <= write::INLINE_MAX => {
                                    Some((0x80 | OP_BINARY, &data[..]))
                                }
                                _ => None,
                            };
                            if let Some((first, payload)) = small {
                                batch.push_small(first, payload);
                                continue;
                            }
                        }
                        match self.encoder.encode(frame, self.stage.as_deref_mut()) {
                            Ok(encoded) => batch.push(encoded),
                            Err(err) => {
                                tracing::error!(error = %err, "extension failed on an outgoing frame");
                                outcome.failure = Some("Extension failure".to_string());
                                return;
                            }
                        }
                    }
                }
                if batch.is_full() || batch.len() >= self.write_buffer_size as usize {
                    let Some(transport) = self.transport.as_mut() else {
                        return;
                    };
                    match batch.write(transport, cx, &mut self.backlog) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => {
                            outcome.written = Some(Err(e));
                            return;
                        }
                        Poll::Pending => {
                            blocked = true;
                            break 'take;
                        }
                    }
                }
            }
        }
        if !blocked
            && !matches!(self.close, CloseState::Open)
            && let Some((reason, due)) = self.close.pending_frame()
        {
            let answered =
                Instant::now() >= due || self.handler.is_none() || self.chan.incoming_drained();
            if answered {
                // The handler's last answers go before the close frame.
                self.chan.stop_sending();
                self.chan.take_outgoing(&mut self.batch);
                while let Some(outbound) = self.batch.pop_front() {
                    self.count(&outbound);
                    match outbound {
                        Outbound::Wire(wire) => batch.push_wire(&wire),
                        Outbound::Frame(frame) if !frame.is_control() => {
                            if let Ok(encoded) =
                                self.encoder.encode(frame, self.stage.as_deref_mut())
                            {
                                batch.push(encoded);
                            }
                        }
                        Outbound::Frame(_) => {}
                    }
                }
                self.push_close(cx, batch, reason);
            }
        }
        if batch.len() == 0 && self.unreported == 0 {
            return;
        }
        let Some(transport) = self.transport.as_mut() else {
            return;
        };
        outcome.more = !self.batch.is_empty();
        outcome.written = match batch.write(transport, cx, &mut self.backlog) {
            Poll::Ready(result) => Some(result),
            Poll::Pending => None,
        };
    }

    /// Counts a frame taken from the queue, to report once it is written (or dropped).
    fn count(&mut self, outbound: &Outbound) {
        self.unreported = self.unreported.saturating_add(1);
        self.unreported_bytes += match outbound {
            Outbound::Frame(frame) => frame.len(),
            // A broadcast's encoded frame: its payload is what follows the header.
            Outbound::Wire(wire) => wire.len() - wire_header_len(wire),
        } as u64;
    }

    /// Encodes a close frame of ours into the batch.
    fn push_close(
        &mut self,
        cx: &mut Context<'_>,
        batch: &mut write::Batch<'_>,
        reason: Option<CloseReason>,
    ) {
        let mut payload = Vec::new();
        crate::protocol::close::encode(reason.as_ref(), &mut payload);
        let frame = self
            .encoder
            .frame(first_byte(true, 0, OP_CLOSE), Bytes::from(payload));
        batch.push(frame);
        if matches!(self.close, CloseState::Open) {
            self.chan.set_close_reason(Some(
                reason.unwrap_or_else(|| CloseReason::new(CloseCode::NORMAL, "")),
            ));
        }
        self.chan.stop_sending();
        self.transition(cx, CloseEvent::LocalClose);
    }

    /// Frees the inbox's and the batch's buffers if they are empty and hold room for
    /// more than `keep` frames: before parking, the room a large burst left behind
    /// (`keep` 64); once the session idled through a sweep of the server, all of it
    /// (`keep` 0: the next burst allocates again). Frames the transport has not taken
    /// yet stay where they are. (`pongs` needs nothing: the write step takes it whole.)
    fn release_spare(&mut self, keep: usize) {
        if self.inbox.is_empty() && self.inbox.capacity() > keep {
            self.inbox = Vec::new();
        }
        if self.batch.is_empty() && self.batch.capacity() > keep {
            self.batch = VecDeque::new();
        }
    }
}

/// How gathering and writing one batch ended.
#[derive(Default)]
struct WriteOutcome {
    /// The write's result, if the batch was written (or failed).
    written: Option<std::io::Result<()>>,
    /// The handler asked to drop the connection.
    terminate: bool,
    /// An extension failed: the connection fails with 1011.
    failure: Option<String>,
    /// Frames taken from the queue wait for the next pass.
    more: bool,
}

/// The header length of an encoded unmasked frame (a broadcast's shared bytes).
fn wire_header_len(wire: &[u8]) -> usize {
    match wire.get(1).map(|b| b & 0x7f) {
        Some(126) => 4,
        Some(127) => 10,
        Some(_) => 2,
        None => wire.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::future::poll_fn;
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use crate::protocol::tests::client_frame;
    use crate::session::{Chan, Limits, WireClass};

    const TEXT: &str = "sixteen bytes ok";

    /// `count` masked text frames, as a client sends them.
    fn client_texts(count: usize) -> Vec<u8> {
        client_frame(true, 0, OP_TEXT, TEXT.as_bytes()).repeat(count)
    }

    /// Polls the connection once.
    async fn poll_once(conn: &mut Connection<DuplexStream>) {
        poll_fn(|cx| Poll::Ready(Pin::new(&mut *conn).poll(cx).is_pending())).await;
    }

    /// Drives the connection until `count` echoes are back on `peer`.
    async fn echoes(conn: &mut Connection<DuplexStream>, peer: &mut DuplexStream, count: usize) {
        let mut echoes = vec![0; count * (2 + TEXT.len())];
        tokio::select! {
            _ = &mut *conn => panic!("the connection ended"),
            read = peer.read_exact(&mut echoes) => { read.unwrap(); }
        }
        for echo in echoes.chunks(2 + TEXT.len()) {
            assert_eq!((echo[0], &echo[2..]), (0x81, TEXT.as_bytes()));
        }
    }

    /// A session keeps the buffers of a burst for the next one while frames flow, and
    /// gives all of them back (its queues' and its engine's) once the idle sweep finds
    /// it idle; it echoes as before afterwards.
    #[tokio::test]
    async fn an_idle_session_gives_its_burst_buffers_back() {
        let options = WebSocketOptions::new();
        let (chan, engine) = Chan::new(Arc::new(Limits::from_options(&options)), WireClass::Plain);
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let echo = chan.clone();
        let handler: HandlerFuture = Box::pin(async move {
            let _ = wait.await;
            while let Some(frame) = poll_fn(|cx| echo.poll_recv(cx)).await {
                if echo.send_when_room(frame).await.is_err() {
                    break;
                }
            }
            Ok(())
        });
        let (mut peer, ours) = tokio::io::duplex(1 << 16);
        let settings = Settings::server(&options, false);
        let mut conn = Connection::new(ours, Vec::new(), engine, settings, None, handler);
        // Two bursts read while the handler takes nothing: the second is appended to
        // the first in `incoming`, so the engine's own buffer stays allocated too.
        for waiting in [4, 8] {
            peer.write_all(&client_texts(4)).await.unwrap();
            while chan.incoming_len() < waiting {
                poll_once(&mut conn).await;
            }
        }
        go.send(()).unwrap();
        echoes(&mut conn, &mut peer, 8).await;
        assert!(
            conn.inbox.capacity() > 0,
            "the engine keeps its buffer between bursts"
        );
        assert!(chan.queue_capacities().0 > 0, "so does the queue");
        chan.trim_idle();
        // The sweep wakes the parked engine; its next poll gives its own back.
        poll_once(&mut conn).await;
        let (incoming, outgoing) = chan.queue_capacities();
        let engine = conn.inbox.capacity() + conn.batch.capacity();
        assert_eq!(
            (incoming, outgoing, engine),
            (0, 0, 0),
            "buffers kept while idle"
        );
        peer.write_all(&client_texts(3)).await.unwrap();
        echoes(&mut conn, &mut peer, 3).await;
    }

    /// A burst larger than 64 frames to a peer that reads slowly: the frames the engine
    /// took from the queue and could not write yet wait for the transport, every one.
    #[tokio::test]
    async fn a_burst_to_a_slow_peer_arrives_whole() {
        const FRAMES: usize = 500;
        let options = WebSocketOptions::new().outgoing_capacity(FRAMES);
        let (chan, engine) = Chan::new(Arc::new(Limits::from_options(&options)), WireClass::Plain);
        let sender = chan.clone();
        let handler: HandlerFuture = Box::pin(async move {
            for _ in 0..FRAMES {
                let frame = Frame::Binary(Bytes::from_static(&[7; 4096]));
                if sender.send_when_room(frame).await.is_err() {
                    break;
                }
            }
            std::future::pending::<()>().await;
            Ok(())
        });
        // A small pipe: the burst fills it many times over.
        let (mut peer, ours) = tokio::io::duplex(512);
        let settings = Settings::server(&options, false);
        let mut conn = Connection::new(ours, Vec::new(), engine, settings, None, handler);
        // Large enough to be written from their own bytes, not copied: 32 of them fill
        // one vectored write, so the engine stops taking them where the pipe is full.
        let mut wire = vec![0; FRAMES * (4 + 4096)];
        let read = tokio::time::timeout(Duration::from_secs(10), peer.read_exact(&mut wire));
        tokio::select! {
            _ = &mut conn => panic!("the connection ended"),
            read = read => { read.expect("every frame of the burst").unwrap(); }
        }
        for frame in wire.chunks(4 + 4096) {
            assert_eq!(&frame[..4], &[0x82, 126, 0x10, 0x00]);
            assert!(frame[4..].iter().all(|&b| b == 7));
        }
    }
}
