//! The state a session's two halves share: the handler's ([`Incoming`] and
//! [`Outgoing`], on the [`Chan`]) and the engine's ([`EngineSide`]), as tokio's mpsc
//! `Tx`/`Rx` over one `Chan`.
//!
//! Everything both halves touch is in one [`ChanState`] behind one lock: the queues each
//! way, the close reason, the wakers. The handler and the engine normally run in the
//! same task, so the lock is uncontended; the engine takes and gives whole batches
//! under one lock. What only the engine needs (frames written but not yet reported,
//! the room it last saw in `incoming`) is in [`EngineSide`], and is never held twice.
//!
//! [`Incoming`]: super::Incoming
//! [`Outgoing`]: super::Outgoing

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::extension::DeflateClass;
use crate::frame::{CloseCode, CloseReason, Frame};
use crate::options::{ChannelOverflow, WebSocketOptions};
use crate::telemetry::SessionStats;

use super::TrySendError;

/// What waits in a session's outgoing queue.
pub(crate) enum Outbound {
    /// A frame, encoded (and run through the extensions) by the session's engine.
    Frame(Frame),
    /// A data frame already encoded, header and payload, shared by every recipient of
    /// a broadcast whose sessions encode it to the same bytes (see [`WireClass`]).
    Wire(Bytes),
}

/// Which sessions a broadcast may hand the same encoded frame.
pub(crate) enum WireClass {
    /// No extension: the plain encoding.
    Plain,
    /// permessage-deflate alone, without context takeover on our side: one compressed
    /// encoding per class.
    Deflate(DeflateClass),
    /// Anything else (context takeover, other extensions, a client's masked frames):
    /// the session's engine encodes each frame itself.
    Own,
}

/// A broadcast's encodings of its frame, made the first time a member needs each: one
/// plain, one per [`DeflateClass`] (usually at most one).
pub(crate) struct Wires<'a> {
    frame: &'a Frame,
    plain: Option<Option<Bytes>>,
    deflate: Vec<(DeflateClass, Option<Bytes>)>,
}

impl<'a> Wires<'a> {
    /// No encoding made yet.
    pub(crate) fn new(frame: &'a Frame) -> Self {
        Self {
            frame,
            plain: None,
            deflate: Vec::new(),
        }
    }

    fn plain(&mut self) -> Option<Bytes> {
        self.plain
            .get_or_insert_with(|| super::encode_wire(self.frame))
            .clone()
    }

    /// What goes into the queue of a session of `class`.
    fn outbound(&mut self, class: &WireClass) -> Outbound {
        let wire = match class {
            WireClass::Plain => self.plain(),
            WireClass::Deflate(class) => {
                match self.deflate.iter().position(|(c, _)| c.same(class)) {
                    Some(at) => self.deflate[at].1.clone(),
                    None => {
                        let wire = super::encode_class_wire(class, self.frame, || self.plain());
                        self.deflate.push((class.clone(), wire.clone()));
                        wire
                    }
                }
            }
            WireClass::Own => None,
        };
        match wire {
            Some(wire) => Outbound::Wire(wire),
            None => Outbound::Frame(self.frame.clone()),
        }
    }
}

/// Bounds of one session's queues, from the options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) outgoing_capacity: usize,
    pub(crate) outgoing_bytes: usize,
    pub(crate) overflow: ChannelOverflow,
    pub(crate) incoming_capacity: usize,
    pub(crate) incoming_bytes: usize,
}

impl Limits {
    pub(crate) fn from_options(options: &WebSocketOptions) -> Self {
        Self {
            outgoing_capacity: options.outgoing_capacity,
            outgoing_bytes: options.outgoing_capacity_bytes,
            overflow: options.outgoing_overflow,
            incoming_capacity: options.incoming_capacity,
            // Read ahead at most about 1 MiB, but always at least one whole message.
            incoming_bytes: 1 << 20,
        }
    }
}

/// The state shared by a session's handler half and its engine.
pub(crate) struct Chan {
    state: Mutex<ChanState>,
    /// Something a waiting handler may wait for happened: room appeared in the
    /// outgoing queue or sending became impossible, frames were written, the close
    /// reason became known. (One `Notify` for all: waiters check their condition again.)
    events: Notify,
    limits: Arc<Limits>,
    /// Which encoded frames of a broadcast this session may be handed.
    class: WireClass,
    /// The engine waits to be woken: a send must wake it. A running engine clears it
    /// without the lock, and looks at the queue before it parks again.
    parked: AtomicBool,
    /// Frames moved either way since the server's idle sweep last looked.
    active: AtomicBool,
    /// The idle sweep asks the engine to give back the buffers it keeps between bursts.
    trim: AtomicBool,
    /// Sweeps in a row that found the session idle (the server's idle sweep alone
    /// reads and writes it, under the registry's lock).
    idle_sweeps: AtomicU32,
    /// What the engine counted, for the server's metrics collector.
    pub(crate) stats: SessionStats,
}

#[derive(Default)]
struct ChanState {
    // engine -> handler
    incoming: VecDeque<Frame>,
    incoming_bytes: usize,
    incoming_done: bool,
    recv_waker: Option<Waker>,
    /// The engine stopped reading for lack of room in `incoming`.
    read_paused: bool,

    // handler -> engine
    outgoing: VecDeque<Outbound>,
    accepting: bool,
    /// Frames ever queued, and of those, written (or dropped after a close).
    queued: u64,
    written: u64,
    /// Payload bytes queued and not yet written: in `outgoing`, or taken for writing.
    pending_bytes: usize,
    /// The transport refused bytes: the peer is not keeping up.
    blocked: bool,
    /// The session was closed for not reading (1008): a blocked engine gives up on it.
    overflowed: bool,
    flush_waiting: bool,
    space_waiting: bool,
    terminate: bool,
    engine_waker: Option<Waker>,

    /// `None` until known; then the reason (`Some(None)`: the connection dropped).
    /// Boxed: known only at the end, and every session holds this state.
    close_reason: Option<Box<Option<CloseReason>>>,
    finished: bool,
}

impl ChanState {
    /// Whether the outgoing queue is at its bound, counting the frames taken for
    /// writing and not written yet. A frame larger than the byte bound still goes
    /// alone into an empty queue.
    fn outgoing_full(&self, limits: &Limits, len: usize) -> bool {
        let pending = self.queued - self.written;
        pending >= limits.outgoing_capacity as u64
            || (pending > 0 && self.pending_bytes + len > limits.outgoing_bytes)
    }

    fn incoming_full(&self, limits: &Limits) -> bool {
        self.incoming.len() >= limits.incoming_capacity
            || self.incoming_bytes >= limits.incoming_bytes
    }

    /// Frames the engine may still read ahead.
    fn room(&self, limits: &Limits) -> usize {
        if self.incoming_done {
            usize::MAX
        } else if self.incoming_full(limits) {
            0
        } else {
            limits.incoming_capacity - self.incoming.len()
        }
    }
}

/// What the engine took from the outgoing queue.
pub(crate) struct Taken {
    pub(crate) terminate: bool,
}

/// Why a broadcast did not reach a member.
pub(crate) enum BroadcastRefused {
    Full,
    Closed,
}

impl Chan {
    /// A session's state, and the engine's half of it.
    pub(crate) fn new(limits: Arc<Limits>, class: WireClass) -> (Arc<Chan>, EngineSide) {
        let room = room_u32(limits.incoming_capacity);
        let chan = Arc::new(Chan {
            state: Mutex::new(ChanState {
                accepting: true,
                ..ChanState::default()
            }),
            events: Notify::new(),
            limits,
            class,
            parked: AtomicBool::new(false),
            active: AtomicBool::new(true),
            trim: AtomicBool::new(false),
            idle_sweeps: AtomicU32::new(0),
            stats: SessionStats::default(),
        });
        let engine = EngineSide {
            chan: chan.clone(),
            unreported_frames: 0,
            unreported_bytes: 0,
            room,
        };
        (chan, engine)
    }

    fn lock(&self) -> MutexGuard<'_, ChanState> {
        // A panic while the lock is held cannot leave the queues inconsistent (every
        // critical section is a few field updates), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake_engine(&self, st: &ChanState) {
        if self.parked.swap(false, Ordering::AcqRel)
            && let Some(waker) = &st.engine_waker
        {
            waker.wake_by_ref();
        }
    }

    // ----- the handler's half -----

    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        let mut st = self.lock();
        if let Some(frame) = st.incoming.pop_front() {
            st.incoming_bytes -= frame.len();
            if st.read_paused && !st.incoming_full(&self.limits) {
                st.read_paused = false;
                self.wake_engine(&st);
            }
            return Poll::Ready(Some(frame));
        }
        if st.incoming_done {
            return Poll::Ready(None);
        }
        match &st.recv_waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => {
                // A second receiver replaces the first; wake the first so that it
                // registers again rather than waiting forever.
                if let Some(previous) = st.recv_waker.replace(cx.waker().clone()) {
                    previous.wake();
                }
            }
        }
        Poll::Pending
    }

    pub(crate) fn try_push(&self, frame: Frame) -> std::result::Result<(), TrySendError> {
        let mut st = self.lock();
        if !st.accepting {
            return Err(TrySendError::Closed(frame));
        }
        let len = frame.len();
        if st.outgoing_full(&self.limits, len) {
            return Err(TrySendError::Full(frame));
        }
        if matches!(frame, Frame::Close(_)) {
            st.accepting = false;
        }
        st.outgoing.push_back(Outbound::Frame(frame));
        st.queued += 1;
        st.pending_bytes += len;
        self.wake_engine(&st);
        Ok(())
    }

    /// A broadcast's push: the encoded form this session shares with others of its
    /// class, else the frame. Never waits.
    pub(crate) fn try_push_broadcast(
        &self,
        wires: &mut Wires<'_>,
    ) -> std::result::Result<(), BroadcastRefused> {
        let outbound = wires.outbound(&self.class);
        let len = match &outbound {
            Outbound::Frame(frame) => frame.len(),
            Outbound::Wire(wire) => wire.len(),
        };
        let mut st = self.lock();
        if !st.accepting {
            return Err(BroadcastRefused::Closed);
        }
        if st.outgoing_full(&self.limits, len) {
            return Err(BroadcastRefused::Full);
        }
        st.outgoing.push_back(outbound);
        st.queued += 1;
        st.pending_bytes += len;
        self.wake_engine(&st);
        Ok(())
    }

    /// What a send does when `try_push` found the queue full: wait for room
    /// (`Suspend`, and `Close` while the peer keeps up), or fail and close the session
    /// with 1008 (`Close`, when the transport refuses bytes: the peer is not reading).
    pub(crate) async fn send_when_room(&self, mut frame: Frame) -> Result<()> {
        loop {
            let mut notified = pin!(self.events.notified());
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                if self.limits.overflow == ChannelOverflow::Close && st.blocked {
                    drop(st);
                    self.close_slow_peer();
                    return Err(Error::Overflow {
                        capacity: self.limits.outgoing_capacity,
                    });
                }
                st.space_waiting = true;
                // The engine runs the write that makes room (in this task, usually).
                self.wake_engine(&st);
            }
            frame = match self.try_push(frame) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(_)) => return Err(Error::Closed(self.known_reason())),
                Err(TrySendError::Full(frame)) => frame,
            };
            notified.await;
        }
    }

    /// Closes a peer that does not read: queues 1008 behind what is queued (which goes
    /// out first if the peer ever reads again) and refuses further sends.
    pub(crate) fn close_slow_peer(&self) {
        let reason = CloseReason::new(CloseCode::VIOLATED_POLICY, "Outgoing queue overflow");
        {
            let mut st = self.lock();
            st.overflowed = true;
            // The reason is known now, even if the close frame never gets out.
            if st.close_reason.is_none() {
                st.close_reason = Some(Box::new(Some(reason.clone())));
            }
        }
        if self.queue_close(reason) {
            tracing::warn!("closing a session whose peer does not read (1008)");
        }
        self.events.notify_waiters();
    }

    /// Queues a close frame behind what is queued and stops sends; false if the session
    /// was already closing.
    fn queue_close(&self, reason: CloseReason) -> bool {
        let mut st = self.lock();
        if !st.accepting {
            return false;
        }
        st.outgoing
            .push_back(Outbound::Frame(Frame::Close(Some(reason))));
        st.queued += 1;
        st.accepting = false;
        self.wake_engine(&st);
        true
    }

    /// Whether frames moved since the last call (the idle sweep's question).
    pub(crate) fn take_active(&self) -> bool {
        self.active.swap(false, Ordering::Relaxed)
    }

    /// The server's idle sweep looks at the session: how many sweeps in a row found
    /// it idle, this one included (0: frames moved since the last).
    pub(crate) fn idle_sweep(&self) -> u32 {
        let sweeps = if self.take_active() {
            0
        } else {
            self.idle_sweeps.load(Ordering::Relaxed).saturating_add(1)
        };
        self.idle_sweeps.store(sweeps, Ordering::Relaxed);
        sweeps
    }

    /// The capacity of the incoming and outgoing queues (for the tests).
    #[cfg(test)]
    pub(crate) fn queue_capacities(&self) -> (usize, usize) {
        let st = self.lock();
        (st.incoming.capacity(), st.outgoing.capacity())
    }

    /// Frames waiting in `incoming` (for the tests).
    #[cfg(test)]
    pub(crate) fn incoming_len(&self) -> usize {
        self.lock().incoming.len()
    }

    /// The session moved no frame through a whole sweep: the queues' buffers, kept
    /// for the next burst while frames flow, are freed if empty, and the engine is
    /// asked (woken if it is parked) to free its own.
    pub(crate) fn trim_idle(&self) {
        let mut st = self.lock();
        if st.incoming.is_empty() && st.incoming.capacity() > 0 {
            st.incoming = VecDeque::new();
        }
        if st.outgoing.is_empty() && st.outgoing.capacity() > 0 {
            st.outgoing = VecDeque::new();
        }
        self.trim.store(true, Ordering::Relaxed);
        self.wake_engine(&st);
    }

    pub(crate) async fn close(&self, reason: CloseReason) -> Result<()> {
        self.queue_close(reason);
        let target = self.lock().queued;
        self.wait_written(target).await
    }

    pub(crate) async fn flush(&self) -> Result<()> {
        let target = self.lock().queued;
        self.wait_written(target).await
    }

    async fn wait_written(&self, target: u64) -> Result<()> {
        loop {
            let mut notified = pin!(self.events.notified());
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                if st.written >= target {
                    return Ok(());
                }
                if st.finished {
                    return Err(Error::Closed(st.close_reason.as_deref().cloned().flatten()));
                }
                st.flush_waiting = true;
            }
            notified.await;
        }
    }

    pub(crate) async fn close_reason(&self) -> Option<CloseReason> {
        loop {
            let mut notified = pin!(self.events.notified());
            notified.as_mut().enable();
            if let Some(reason) = self.lock().close_reason.as_deref() {
                return reason.clone();
            }
            notified.await;
        }
    }

    pub(crate) fn known_reason(&self) -> Option<CloseReason> {
        self.lock().close_reason.as_deref().cloned().flatten()
    }

    pub(crate) fn is_open(&self) -> bool {
        self.lock().accepting
    }

    pub(crate) fn terminate(&self) {
        let mut st = self.lock();
        st.terminate = true;
        st.accepting = false;
        self.wake_engine(&st);
    }

    /// Queues a close with `reason` unless a close is already queued (the handler's
    /// end, a server shutdown).
    pub(crate) fn request_close(&self, reason: CloseReason) {
        self.queue_close(reason);
    }
}

/// Adds the frames (and payload bytes) written since the last report; true if a
/// flush or a sender waiting for room waits to hear it.
fn report((frames, bytes): (u32, u64), st: &mut ChanState) -> bool {
    if frames == 0 {
        return false;
    }
    st.written += u64::from(frames);
    st.pending_bytes -= usize::try_from(bytes)
        .unwrap_or(usize::MAX)
        .min(st.pending_bytes);
    std::mem::take(&mut st.flush_waiting) | std::mem::take(&mut st.space_waiting)
}

/// The engine's half of a session.
pub(crate) struct EngineSide {
    chan: Arc<Chan>,
    /// Frames taken from the queue and written (or dropped), and their payload bytes,
    /// not yet counted in `ChanState::written`.
    unreported_frames: u32,
    unreported_bytes: u64,
    /// Room in `incoming` as last seen (frames; `u32::MAX` stands for any number): the
    /// handler only ever makes more.
    room: u32,
}

/// Room in `incoming` as the engine keeps it.
fn room_u32(room: usize) -> u32 {
    u32::try_from(room).unwrap_or(u32::MAX)
}

impl EngineSide {
    /// What the engine counts.
    #[inline]
    pub(crate) fn stats(&self) -> &SessionStats {
        &self.chan.stats
    }

    /// The engine runs: sends need not wake it until it parks again.
    pub(crate) fn running(&self) {
        self.chan.parked.store(false, Ordering::Relaxed);
    }

    /// Whether the idle sweep asked the engine to free its spare buffers (once).
    #[inline]
    pub(crate) fn take_trim(&self) -> bool {
        self.chan.trim.load(Ordering::Relaxed) && self.chan.trim.swap(false, Ordering::Relaxed)
    }

    /// How many frames may be read ahead now (0: reading pauses until the handler
    /// takes some, which wakes the engine).
    pub(crate) fn room(&mut self) -> usize {
        if self.room == 0 {
            let mut st = self.chan.lock();
            self.room = room_u32(st.room(&self.chan.limits));
            st.read_paused = self.room == 0;
        }
        self.room as usize
    }

    /// Whether reading waits for room.
    pub(crate) fn read_paused(&self) -> bool {
        self.room == 0
    }

    /// Appends frames read by the engine (`bytes` of payload), waking the receiver
    /// unless it runs in the engine's own task (which polls the handler next anyway).
    pub(crate) fn deliver(&mut self, frames: &mut Vec<Frame>, bytes: usize, engine: &Waker) {
        if frames.is_empty() {
            return;
        }
        let mut st = self.chan.lock();
        if st.incoming_done {
            frames.clear();
            return;
        }
        if st.incoming.is_empty() {
            // The usual case: the handler took everything before. No copy: the two
            // buffers change places (an empty `VecDeque` becomes a `Vec` in place).
            let drained =
                std::mem::replace(&mut st.incoming, VecDeque::from(std::mem::take(frames)));
            *frames = Vec::from(drained);
        } else {
            st.incoming.extend(frames.drain(..));
        }
        st.incoming_bytes += bytes;
        self.room = room_u32(st.room(&self.chan.limits));
        st.read_paused = self.room == 0;
        // A receiver in the engine's own task is polled next anyway: its waker stays
        // registered (no clone, no drop per message); one elsewhere is woken.
        if st.recv_waker.as_ref().is_some_and(|w| !w.will_wake(engine))
            && let Some(waker) = st.recv_waker.take()
        {
            drop(st);
            waker.wake();
        }
    }

    /// Counts frames taken from the queue (and their payload bytes) as written;
    /// reported to waiting flushes and senders the next time the engine takes the lock.
    pub(crate) fn written(&mut self, frames: u32, bytes: u64) {
        self.unreported_frames = self.unreported_frames.saturating_add(frames);
        self.unreported_bytes += bytes;
    }

    /// The frames and bytes counted by [`written`](Self::written) since the last
    /// report, for [`report`].
    fn take_unreported(&mut self) -> (u32, u64) {
        (
            std::mem::take(&mut self.unreported_frames),
            std::mem::take(&mut self.unreported_bytes),
        )
    }

    /// Frames moved: the session is not idle.
    pub(crate) fn mark_active(&self) {
        self.chan.active.store(true, Ordering::Relaxed);
    }

    /// The transport refused bytes (`true`) or took all it was given (`false`): a
    /// sender under `ChannelOverflow::Close` that finds the queue full while blocked
    /// closes the session.
    pub(crate) fn set_blocked(&self, blocked: bool) {
        let mut st = self.chan.lock();
        if st.blocked != blocked {
            st.blocked = blocked;
            let waiting = blocked && std::mem::take(&mut st.space_waiting);
            drop(st);
            if waiting {
                self.chan.events.notify_waiters();
            }
        }
    }

    /// Moves the queued outgoing frames into `batch` (which must be empty).
    pub(crate) fn take_outgoing(&mut self, batch: &mut VecDeque<Outbound>) -> Taken {
        let unreported = self.take_unreported();
        let mut st = self.chan.lock();
        let notify = report(unreported, &mut st);
        std::mem::swap(&mut st.outgoing, batch);
        let taken = Taken {
            terminate: st.terminate,
        };
        drop(st);
        if notify {
            self.chan.events.notify_waiters();
        }
        taken
    }

    /// Whether the session was closed for not reading (1008).
    pub(crate) fn overflowed(&self) -> bool {
        self.chan.lock().overflowed
    }

    /// Whether the handler has taken every frame read so far.
    pub(crate) fn incoming_drained(&self) -> bool {
        self.chan.lock().incoming.is_empty()
    }

    /// Sets the close reason unless one is already known.
    pub(crate) fn set_close_reason(&self, reason: Option<CloseReason>) {
        let mut st = self.chan.lock();
        if st.close_reason.is_some() {
            return;
        }
        st.close_reason = Some(Box::new(reason));
        drop(st);
        self.chan.events.notify_waiters();
    }

    /// Nothing more can be sent: sends fail, senders waiting for room wake up.
    pub(crate) fn stop_sending(&self) {
        self.chan.lock().accepting = false;
        self.chan.events.notify_waiters();
    }

    /// The peer will send no more data: `incoming` ends once drained.
    pub(crate) fn end_incoming(&self) {
        let mut st = self.chan.lock();
        st.incoming_done = true;
        if let Some(waker) = st.recv_waker.take() {
            drop(st);
            waker.wake();
        }
    }

    /// Queues a close (the handler ended).
    pub(crate) fn request_close(&self, reason: CloseReason) {
        self.chan.request_close(reason);
    }

    /// The connection is gone: everything waiting resolves. Returns how many frames
    /// that `send` accepted were never written (the peer went first).
    pub(crate) fn finish(&mut self) -> u64 {
        let unreported = self.take_unreported();
        let mut st = self.chan.lock();
        report(unreported, &mut st);
        let unwritten = st.queued - st.written;
        st.finished = true;
        st.accepting = false;
        st.incoming_done = true;
        if st.close_reason.is_none() {
            st.close_reason = Some(Box::new(None));
        }
        st.outgoing.clear();
        let waker = st.recv_waker.take();
        drop(st);
        if let Some(waker) = waker {
            waker.wake();
        }
        self.chan.events.notify_waiters();
        unwritten
    }

    /// Registers the engine's waker before it parks; returns false (and does not park)
    /// if frames were queued meanwhile, or if `wants_read` and `incoming` has room.
    pub(crate) fn park(&mut self, cx: &Context<'_>, wants_read: bool) -> bool {
        let unreported = self.take_unreported();
        let mut st = self.chan.lock();
        let flushed = report(unreported, &mut st);
        if flushed {
            self.chan.events.notify_waiters();
        }
        if !st.outgoing.is_empty() || st.terminate {
            return false;
        }
        if wants_read {
            self.room = room_u32(st.room(&self.chan.limits));
            if self.room > 0 {
                st.read_paused = false;
                return false;
            }
        }
        match &st.engine_waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => st.engine_waker = Some(cx.waker().clone()),
        }
        self.chan.parked.store(true, Ordering::Release);
        true
    }
}
