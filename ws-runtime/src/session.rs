//! The session a handler holds: `incoming`, `outgoing`, `send`, `close`, `close_reason`.
//!
//! A session's state lives in one `Shared` value between the handler (and any task
//! holding a clone of [`Outgoing`]) and the connection engine that owns the socket. The
//! handler and the engine normally run in the same task, so the lock below is
//! uncontended; the engine takes whole batches under one lock.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{HeaderMap, Uri};
use tokio::sync::Notify;

use crate::convert::ContentConverter;
use crate::error::{Error, Result};
use crate::frame::{CloseCode, CloseReason, Frame};
use crate::options::{ChannelOverflow, WebSocketOptions};

/// What waits in a session's outgoing queue.
pub(crate) enum Outbound {
    /// A frame, encoded (and run through the extensions) by the session's engine.
    Frame(Frame),
    /// A data frame already encoded, header and payload, shared by every recipient of
    /// a broadcast (sessions without extensions only).
    Wire(Bytes),
}

/// A data frame's wire form: what a server sends (FIN, no mask), for broadcasts.
pub(crate) fn encode_wire(frame: &Frame) -> Option<Bytes> {
    let (opcode, payload): (u8, &[u8]) = match frame {
        Frame::Text(text) => (0x1, text.as_bytes()),
        Frame::Binary(bytes) => (0x2, bytes),
        _ => return None,
    };
    let mut header = [0; crate::protocol::frame::MAX_HEADER];
    let header_len =
        crate::protocol::frame::encode(&mut header, 0x80 | opcode, payload.len(), None);
    let mut wire = Vec::with_capacity(header_len + payload.len());
    wire.extend_from_slice(&header[..header_len]);
    wire.extend_from_slice(payload);
    Some(wire.into())
}

/// Bounds of one session's queues, from the options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) outgoing_capacity: usize,
    pub(crate) overflow: ChannelOverflow,
    pub(crate) incoming_capacity: usize,
    pub(crate) incoming_bytes: usize,
}

impl Limits {
    pub(crate) fn from_options(options: &WebSocketOptions) -> Self {
        Self {
            outgoing_capacity: options.get_outgoing_capacity(),
            overflow: options.get_outgoing_overflow(),
            incoming_capacity: options.get_incoming_capacity(),
            // Read ahead at most about 1 MiB, but always at least one whole message.
            incoming_bytes: 1 << 20,
        }
    }
}

/// State shared by the handler side and the engine.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Room appeared in the outgoing queue, or sending became impossible.
    space: Notify,
    /// Frames were written, or the close reason became known.
    events: Notify,
    pub(crate) limits: Limits,
    /// No extension processes this session's frames: broadcasts may hand it frames
    /// already encoded.
    plain: bool,
}

#[derive(Default)]
struct State {
    incoming: VecDeque<Frame>,
    incoming_bytes: usize,
    incoming_done: bool,
    recv_waker: Option<Waker>,
    read_paused: bool,

    outgoing: VecDeque<Outbound>,
    accepting: bool,
    queued: u64,
    written: u64,
    flush_waiting: bool,
    space_waiting: bool,
    terminate: bool,

    engine_waker: Option<Waker>,
    engine_parked: bool,

    close_reason: Option<CloseReason>,
    reason_known: bool,
    finished: bool,
}

impl State {
    fn wake_engine(&mut self) {
        if self.engine_parked {
            self.engine_parked = false;
            if let Some(waker) = &self.engine_waker {
                waker.wake_by_ref();
            }
        }
    }

    fn incoming_full(&self, limits: &Limits) -> bool {
        self.incoming.len() >= limits.incoming_capacity
            || self.incoming_bytes >= limits.incoming_bytes
    }

    /// Queues a close frame behind what is queued (or instead of it) and stops sends.
    fn queue_close(&mut self, reason: CloseReason, discard_queue: bool) -> bool {
        if !self.accepting {
            return false;
        }
        if discard_queue {
            self.outgoing.clear();
        }
        self.outgoing
            .push_back(Outbound::Frame(Frame::Close(Some(reason))));
        self.queued += 1;
        self.accepting = false;
        self.wake_engine();
        true
    }
}

/// What the engine took from the outgoing queue.
pub(crate) struct Taken {
    pub(crate) terminate: bool,
}

impl Shared {
    pub(crate) fn new(limits: Limits, plain: bool) -> Arc<Self> {
        Arc::new(Self {
            plain,
            state: Mutex::new(State {
                accepting: true,
                ..State::default()
            }),
            space: Notify::new(),
            events: Notify::new(),
            limits,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock is held cannot leave the queues inconsistent (every
        // critical section is a few field updates), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ----- handler side -----

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        let mut st = self.lock();
        if let Some(frame) = st.incoming.pop_front() {
            st.incoming_bytes -= frame.len();
            if st.read_paused && !st.incoming_full(&self.limits) {
                st.read_paused = false;
                st.wake_engine();
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

    fn try_push(&self, frame: Frame) -> std::result::Result<(), TrySendError> {
        let mut st = self.lock();
        if !st.accepting {
            return Err(TrySendError::Closed(frame));
        }
        if st.outgoing.len() >= self.limits.outgoing_capacity {
            return Err(TrySendError::Full(frame));
        }
        let is_close = matches!(frame, Frame::Close(_));
        st.outgoing.push_back(Outbound::Frame(frame));
        st.queued += 1;
        if is_close {
            st.accepting = false;
        }
        st.wake_engine();
        Ok(())
    }

    /// A broadcast's push: the shared encoded form for plain sessions, else the frame.
    /// Never waits.
    pub(crate) fn try_push_broadcast(
        &self,
        frame: &Frame,
        wire: Option<&Bytes>,
    ) -> std::result::Result<(), BroadcastRefused> {
        let outbound = match wire {
            Some(wire) if self.plain => Outbound::Wire(wire.clone()),
            _ => Outbound::Frame(frame.clone()),
        };
        let mut st = self.lock();
        if !st.accepting {
            return Err(BroadcastRefused::Closed);
        }
        if st.outgoing.len() >= self.limits.outgoing_capacity {
            return Err(BroadcastRefused::Full);
        }
        st.outgoing.push_back(outbound);
        st.queued += 1;
        st.wake_engine();
        Ok(())
    }

    async fn send(&self, frame: Frame) -> Result<()> {
        let mut frame = match self.try_push(frame) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(_)) => return Err(Error::Closed(self.known_reason())),
            Err(TrySendError::Full(frame)) => frame,
        };
        if self.limits.overflow == ChannelOverflow::Close {
            self.close_slow_peer();
            return Err(Error::Overflow {
                capacity: self.limits.outgoing_capacity,
            });
        }
        loop {
            let mut notified = pin!(self.space.notified());
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                st.space_waiting = true;
            }
            frame = match self.try_push(frame) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(_)) => return Err(Error::Closed(self.known_reason())),
                Err(TrySendError::Full(frame)) => frame,
            };
            notified.await;
        }
    }

    /// Closes a peer that does not read: drops what is queued for it and queues 1008.
    pub(crate) fn close_slow_peer(&self) {
        let reason = CloseReason::new(CloseCode::VIOLATED_POLICY, "Outgoing queue overflow");
        let mut st = self.lock();
        if st.queue_close(reason, true) {
            tracing::warn!("closing a session whose outgoing queue is full (1008)");
        }
        drop(st);
        self.space.notify_waiters();
    }

    async fn close(&self, reason: CloseReason) -> Result<()> {
        let target = {
            let mut st = self.lock();
            st.queue_close(reason, false);
            st.queued
        };
        self.wait_written(target).await
    }

    async fn flush(&self) -> Result<()> {
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
                    return Err(Error::Closed(st.close_reason.clone()));
                }
                st.flush_waiting = true;
            }
            notified.await;
        }
    }

    async fn close_reason(&self) -> Option<CloseReason> {
        loop {
            let mut notified = pin!(self.events.notified());
            notified.as_mut().enable();
            {
                let st = self.lock();
                if st.reason_known {
                    return st.close_reason.clone();
                }
            }
            notified.await;
        }
    }

    fn known_reason(&self) -> Option<CloseReason> {
        self.lock().close_reason.clone()
    }

    fn terminate(&self) {
        let mut st = self.lock();
        st.terminate = true;
        st.accepting = false;
        st.wake_engine();
    }

    /// Queues a close with `reason` unless a close is already queued (server shutdown).
    pub(crate) fn request_close(&self, reason: CloseReason) {
        self.lock().queue_close(reason, false);
    }

    // ----- engine side -----

    /// How many frames the engine may read ahead now; marks reading as paused at 0 and
    /// the engine as running.
    pub(crate) fn incoming_room(&self) -> usize {
        let mut st = self.lock();
        // The engine is running: a send meanwhile need not wake it, since it looks at
        // the queue under this lock before it parks again (`park_engine`). Without this,
        // the handler's first send after each wake-up would schedule the engine's task
        // once more for nothing.
        st.engine_parked = false;
        if st.incoming_done {
            return usize::MAX;
        }
        let room = if st.incoming_full(&self.limits) {
            0
        } else {
            self.limits.incoming_capacity - st.incoming.len()
        };
        st.read_paused = room == 0;
        room
    }

    /// Appends frames read by the engine, waking the receiver unless it runs in the
    /// engine's own task (which polls the handler next anyway).
    pub(crate) fn push_incoming(&self, frames: &mut VecDeque<Frame>, engine: &Waker) {
        if frames.is_empty() {
            return;
        }
        let mut st = self.lock();
        st.engine_parked = false;
        if st.incoming_done {
            frames.clear();
            return;
        }
        st.incoming_bytes += frames.iter().map(Frame::len).sum::<usize>();
        st.incoming.append(frames);
        // A receiver in the engine's own task is polled next anyway: its waker stays
        // registered (no clone, no drop per message); one elsewhere is woken.
        if st.recv_waker.as_ref().is_some_and(|w| !w.will_wake(engine))
            && let Some(waker) = st.recv_waker.take()
        {
            drop(st);
            waker.wake();
        }
    }

    /// Moves the queued outgoing frames into `batch` (which must be empty).
    pub(crate) fn take_outgoing(&self, batch: &mut VecDeque<Outbound>) -> Taken {
        let mut st = self.lock();
        std::mem::swap(&mut st.outgoing, batch);
        let notify = std::mem::take(&mut st.space_waiting) && !batch.is_empty();
        let taken = Taken {
            terminate: st.terminate,
        };
        drop(st);
        if notify {
            self.space.notify_waiters();
        }
        taken
    }

    /// Whether the handler has taken every frame read so far.
    pub(crate) fn incoming_drained(&self) -> bool {
        self.lock().incoming.is_empty()
    }

    /// Records that `count` more frames reached the socket; returns whether frames
    /// wait in the outgoing queue.
    pub(crate) fn mark_written(&self, count: u64) -> bool {
        let mut st = self.lock();
        st.written += count;
        let more = !st.outgoing.is_empty();
        if std::mem::take(&mut st.flush_waiting) {
            drop(st);
            self.events.notify_waiters();
        }
        more
    }

    /// Sets the close reason unless one is already known.
    pub(crate) fn set_close_reason(&self, reason: Option<CloseReason>) {
        let mut st = self.lock();
        if st.reason_known {
            return;
        }
        st.reason_known = true;
        st.close_reason = reason;
        drop(st);
        self.events.notify_waiters();
    }

    /// Nothing more can be sent: sends fail, senders waiting for room wake up.
    pub(crate) fn stop_sending(&self) {
        let mut st = self.lock();
        st.accepting = false;
        drop(st);
        self.space.notify_waiters();
    }

    /// The peer will send no more data: `incoming` ends once drained.
    pub(crate) fn end_incoming(&self) {
        let mut st = self.lock();
        st.incoming_done = true;
        if let Some(waker) = st.recv_waker.take() {
            drop(st);
            waker.wake();
        }
    }

    /// The connection is gone: everything waiting resolves.
    pub(crate) fn finish(&self) {
        let mut st = self.lock();
        st.finished = true;
        st.accepting = false;
        st.incoming_done = true;
        st.reason_known = true;
        st.outgoing.clear();
        let waker = st.recv_waker.take();
        drop(st);
        if let Some(waker) = waker {
            waker.wake();
        }
        self.events.notify_waiters();
        self.space.notify_waiters();
    }

    /// Registers the engine's waker before it parks; returns false (and does not park)
    /// if frames were queued meanwhile, or if `resume_read` and `incoming` has room.
    pub(crate) fn park_engine(&self, cx: &Context<'_>, resume_read: bool) -> bool {
        let mut st = self.lock();
        if !st.outgoing.is_empty() || st.terminate {
            return false;
        }
        if resume_read && !st.incoming_done && !st.incoming_full(&self.limits) {
            return false;
        }
        match &st.engine_waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => st.engine_waker = Some(cx.waker().clone()),
        }
        st.engine_parked = true;
        true
    }
}

/// Why a broadcast did not reach a member.
pub(crate) enum BroadcastRefused {
    Full,
    Closed,
}

/// Why [`Outgoing::try_send`] did not queue a frame; the frame comes back.
#[derive(Debug)]
pub enum TrySendError {
    /// The outgoing queue is at its bound.
    Full(Frame),
    /// The session is closed or closing.
    Closed(Frame),
}

impl std::fmt::Display for TrySendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("the outgoing queue is full"),
            TrySendError::Closed(_) => f.write_str("the WebSocket session is closed"),
        }
    }
}

impl std::error::Error for TrySendError {}

/// The frames the peer sends (Ktor's `incoming`). Iterate it with
/// `for frame in session.incoming { ... }` inside a `#[web_socket]` handler, or call
/// [`recv`](Self::recv). It ends when the peer closes or the connection drops.
pub struct Incoming {
    shared: Arc<Shared>,
}

impl Incoming {
    /// The next frame; `None` once the session is closed.
    pub async fn recv(&self) -> Option<Frame> {
        poll_fn(|cx| self.shared.poll_recv(cx)).await
    }

    /// Polls for the next frame (for hand-written futures and streams).
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        self.shared.poll_recv(cx)
    }
}

impl futures_util::Stream for Incoming {
    type Item = Frame;
    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        self.shared.poll_recv(cx)
    }
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming").finish_non_exhaustive()
    }
}

/// The sending half of a session (Ktor's `outgoing`): cheap to clone, usable from any
/// task. Frames are written in the order they are queued.
#[derive(Clone)]
pub struct Outgoing {
    shared: Arc<Shared>,
}

impl Outgoing {
    /// Queues a frame; under [`ChannelOverflow::Suspend`] waits while the queue is full.
    pub async fn send(&self, frame: impl Into<Frame>) -> Result<()> {
        self.shared.send(frame.into()).await
    }

    /// Queues a frame if there is room now, never waiting.
    pub fn try_send(&self, frame: impl Into<Frame>) -> std::result::Result<(), TrySendError> {
        self.shared.try_push(frame.into())
    }

    /// Waits until every frame queued so far is written to the socket.
    pub async fn flush(&self) -> Result<()> {
        self.shared.flush().await
    }

    /// Sends a close frame after what is queued and waits until it is written
    /// (Ktor's `close(reason)`). Does nothing if the session is already closing.
    pub async fn close(&self, reason: CloseReason) -> Result<()> {
        self.shared.close(reason).await
    }

    /// Whether the session still accepts frames.
    pub fn is_open(&self) -> bool {
        self.shared.lock().accepting
    }

    /// Whether both handles belong to the same session.
    pub fn same_session(&self, other: &Outgoing) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("open", &self.is_open())
            .finish()
    }
}

/// What the handshake request said, kept for the session's lifetime.
pub(crate) struct RequestInfo {
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) params: crate::routing::PathParams,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) protocol: Option<Box<str>>,
    pub(crate) extensions: Vec<String>,
    pub(crate) converter: Option<Arc<dyn ContentConverter>>,
}

/// A WebSocket session (Ktor's `DefaultWebSocketServerSession`).
///
/// `incoming` and `outgoing` are public fields, as Ktor's properties are; the methods
/// below cover the rest of Ktor's session API and the request that opened it.
pub struct WebSocketSession {
    /// Frames from the peer.
    pub incoming: Incoming,
    /// Frames to the peer.
    pub outgoing: Outgoing,
    info: Arc<RequestInfo>,
}

impl std::fmt::Debug for WebSocketSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketSession")
            .field("path", &self.info.uri.path())
            .field("remote_addr", &self.info.remote_addr)
            .finish_non_exhaustive()
    }
}

impl WebSocketSession {
    pub(crate) fn new(shared: Arc<Shared>, info: Arc<RequestInfo>) -> Self {
        Self {
            incoming: Incoming {
                shared: shared.clone(),
            },
            outgoing: Outgoing { shared },
            info,
        }
    }

    pub(crate) fn into_parts(self) -> (Incoming, Outgoing, Arc<RequestInfo>) {
        (self.incoming, self.outgoing, self.info)
    }

    pub(crate) fn from_parts(
        incoming: Incoming,
        outgoing: Outgoing,
        info: Arc<RequestInfo>,
    ) -> Self {
        Self {
            incoming,
            outgoing,
            info,
        }
    }

    /// Queues a frame: `&str`/`String` become text, `Vec<u8>`/`Bytes` binary, or pass a
    /// [`Frame`]. Waits while the outgoing queue is full (see
    /// [`ChannelOverflow`]).
    pub async fn send(&self, frame: impl Into<Frame>) -> Result<()> {
        self.outgoing.send(frame).await
    }

    /// Sends a close frame after what is queued and waits until it is written. The
    /// session then waits for the peer's close; `incoming` ends when it arrives.
    pub async fn close(&self, reason: CloseReason) -> Result<()> {
        self.outgoing.close(reason).await
    }

    /// Why the session closed: the reason in the peer's close frame, or the one we
    /// sent, whichever came first; `None` when the connection dropped without a close
    /// frame (1006). Waits until the reason is known.
    pub async fn close_reason(&self) -> Option<CloseReason> {
        self.outgoing.shared.close_reason().await
    }

    /// Waits until every frame queued so far is written to the socket.
    pub async fn flush(&self) -> Result<()> {
        self.outgoing.flush().await
    }

    /// Drops the connection now, without a close handshake (Ktor's `terminate`).
    pub fn terminate(&self) {
        self.outgoing.shared.terminate();
    }

    /// The request path, e.g. `/chat/lobby`.
    pub fn path(&self) -> &str {
        self.info.uri.path()
    }

    /// The request URI (path and query).
    pub fn uri(&self) -> &Uri {
        &self.info.uri
    }

    /// A `{name}` segment of the route's path, percent-decoded.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.info
            .params
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| &**v)
    }

    /// The raw query string, without `?`.
    pub fn query_string(&self) -> Option<&str> {
        self.info.uri.query()
    }

    /// A query parameter, decoded (the first if repeated).
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.info.uri.query()?;
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The handshake request's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.info.headers
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.info.remote_addr
    }

    /// The subprotocol agreed on the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.info.protocol.as_deref()
    }

    /// Names of the extensions negotiated on the handshake.
    pub fn extensions(&self) -> &[String] {
        &self.info.extensions
    }

    /// Serializes `value` with the installed content converter and sends it
    /// (Ktor's `sendSerialized`).
    pub async fn send_serialized<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let converter = self.info.converter.as_ref().ok_or(Error::NoConverter)?;
        let value = serde_json::to_value(value).map_err(|e| Error::Convert(e.to_string()))?;
        let frame = converter.serialize(value).map_err(Error::Convert)?;
        self.send(frame).await
    }

    /// Receives the next data frame and deserializes it with the installed content
    /// converter (Ktor's `receiveDeserialized`). `Ok(None)` once the session is closed.
    pub async fn receive_deserialized<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>> {
        let converter = self.info.converter.clone().ok_or(Error::NoConverter)?;
        loop {
            match self.incoming.recv().await {
                None => return Ok(None),
                Some(frame @ (Frame::Text(_) | Frame::Binary(_))) => {
                    return crate::convert::deserialize(&*converter, &frame).map(Some);
                }
                Some(_) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame as WireFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    #[test]
    fn broadcast_encoding_matches_tungstenites() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let payload = vec![0x5a; len];
            let ours = encode_wire(&Frame::binary(payload.clone())).unwrap();
            let mut theirs = Vec::new();
            WireFrame::message(payload, OpCode::Data(Data::Binary), true)
                .format(&mut theirs)
                .unwrap();
            assert_eq!(ours.as_ref(), theirs.as_slice(), "{len} bytes");
        }
        let text = encode_wire(&Frame::text("hé")).unwrap();
        assert_eq!(text.as_ref(), b"\x81\x03h\xc3\xa9");
        assert!(encode_wire(&Frame::ping(vec![1])).is_none());
    }
}
