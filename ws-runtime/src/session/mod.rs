//! The session a handler holds: `incoming`, `outgoing`, `send`, `close`, `close_reason`.
//!
//! The handler's half ([`Incoming`], [`Outgoing`], [`WebSocketSession`]) and the
//! engine's half share one state (`chan`); the handler and the engine normally run in
//! the same task. `send` and `recv` are futures of their own ([`SendFrame`], [`Recv`])
//! that complete on their first poll in the usual case: room in the queue, a frame
//! waiting.

pub(crate) mod chan;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Uri};

use crate::convert::ContentConverter;
use crate::error::{Error, Result};
use crate::frame::{CloseReason, Frame};

pub(crate) use chan::{BroadcastRefused, Chan, EngineSide, Limits, Outbound, WireClass, Wires};

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

/// `frame` encoded, header and payload, for every session of a deflate `class`:
/// compressed (RSV1) if the class's settings say so, else `plain()`. `None` if it is
/// not a data frame or the settings' code panicked.
pub(crate) fn encode_class_wire(
    class: &crate::extension::DeflateClass,
    frame: &Frame,
    plain: impl FnOnce() -> Option<Bytes>,
) -> Option<Bytes> {
    const HEAD: usize = crate::protocol::frame::MAX_HEADER;
    let Some((opcode, mut wire)) = class.compress_for_class(frame, HEAD)? else {
        return plain();
    };
    let mut header = [0; HEAD];
    let header_len =
        crate::protocol::frame::encode(&mut header, 0x80 | 0x40 | opcode, wire.len() - HEAD, None);
    let start = HEAD - header_len;
    wire[start..HEAD].copy_from_slice(&header[..header_len]);
    Some(Bytes::from(wire).slice(start..))
}

/// The handshake's URI and headers, kept for the session's lifetime in one small
/// buffer (the URI's text, then names and values, each behind its length) and parsed
/// the first time a handler asks: a session whose handler never looks holds only the
/// bytes.
pub(crate) struct PackedRequest {
    packed: Box<[u8]>,
    uri: std::sync::OnceLock<Box<Uri>>,
    map: std::sync::OnceLock<Box<HeaderMap>>,
}

impl PackedRequest {
    /// `uri` as the session reports it (a server's path and query, a client's URL) and
    /// the headers from the peer.
    pub(crate) fn new(uri: &str, headers: &HeaderMap) -> Self {
        let size = 2
            + uri.len()
            + headers
                .iter()
                .map(|(name, value)| 4 + name.as_str().len() + value.len())
                .sum::<usize>();
        let mut packed = Vec::with_capacity(size);
        let parts = headers
            .iter()
            .flat_map(|(name, value)| [name.as_str().as_bytes(), value.as_bytes()]);
        for part in std::iter::once(uri.as_bytes()).chain(parts) {
            // hyper bounds a request head at 64 KiB: every part fits a u16.
            let len = u16::try_from(part.len()).unwrap_or(u16::MAX);
            packed.extend_from_slice(&len.to_le_bytes());
            packed.extend_from_slice(&part[..usize::from(len)]);
        }
        Self {
            packed: packed.into_boxed_slice(),
            uri: std::sync::OnceLock::new(),
            map: std::sync::OnceLock::new(),
        }
    }

    /// The parts in order: the URI, then each header's name and value.
    fn parts(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = &self.packed[..];
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<2>()?;
            let len = usize::from(u16::from_le_bytes(*len));
            let (part, tail) = tail.split_at_checked(len)?;
            rest = tail;
            Some(part)
        })
    }

    pub(crate) fn uri(&self) -> &Uri {
        self.uri.get_or_init(|| {
            let text = self.parts().next().unwrap_or(b"/");
            // It was a valid URI when packed.
            Box::new(Uri::try_from(text).unwrap_or_else(|_| Uri::from_static("/")))
        })
    }

    fn headers(&self) -> &HeaderMap {
        self.map.get_or_init(|| {
            let mut map = Box::new(HeaderMap::new());
            let mut parts = self.parts().skip(1);
            while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
                if let (Ok(name), Ok(value)) = (
                    http::header::HeaderName::from_bytes(name),
                    http::HeaderValue::from_bytes(value),
                ) {
                    map.append(name, value);
                }
            }
            map
        })
    }
}

/// The next frame from [`Incoming::recv`].
#[must_use = "futures do nothing unless polled"]
pub struct Recv<'a> {
    chan: &'a Chan,
}

impl Future for Recv<'_> {
    type Output = Option<Frame>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        self.chan.poll_recv(cx)
    }
}

impl std::fmt::Debug for Recv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recv").finish_non_exhaustive()
    }
}

/// Queuing a frame: [`Outgoing::send`] and [`WebSocketSession::send`]. Completes at
/// once when the queue has room; otherwise waits for room or fails, as the session's
/// [`ChannelOverflow`](crate::ChannelOverflow) says.
#[must_use = "futures do nothing unless polled"]
pub struct SendFrame<'a> {
    chan: &'a Chan,
    state: SendState<'a>,
}

enum SendState<'a> {
    Ready(Frame),
    Waiting(Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>),
    Done,
}

impl<'a> SendFrame<'a> {
    fn new(chan: &'a Chan, frame: Frame) -> Self {
        Self {
            chan,
            state: SendState::Ready(frame),
        }
    }
}

impl Future for SendFrame<'_> {
    type Output = Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.state, SendState::Done) {
                SendState::Ready(frame) => match this.chan.try_push(frame) {
                    Ok(()) => return Poll::Ready(Ok(())),
                    Err(TrySendError::Closed(_)) => {
                        return Poll::Ready(Err(Error::Closed(this.chan.known_reason())));
                    }
                    Err(TrySendError::Full(frame)) => {
                        this.state = SendState::Waiting(Box::pin(this.chan.send_when_room(frame)));
                    }
                },
                SendState::Waiting(mut wait) => {
                    let poll = wait.as_mut().poll(cx);
                    if poll.is_pending() {
                        this.state = SendState::Waiting(wait);
                    }
                    return poll;
                }
                SendState::Done => panic!("`SendFrame` polled after it completed"),
            }
        }
    }
}

impl std::fmt::Debug for SendFrame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendFrame").finish_non_exhaustive()
    }
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
    chan: Arc<Chan>,
}

impl Incoming {
    pub(crate) fn new(chan: Arc<Chan>) -> Self {
        Self { chan }
    }

    /// The next frame; `None` once the session is closed.
    pub fn recv(&self) -> Recv<'_> {
        Recv { chan: &self.chan }
    }

    /// Polls for the next frame (for hand-written futures and streams).
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        self.chan.poll_recv(cx)
    }
}

impl futures_util::Stream for Incoming {
    type Item = Frame;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        self.chan.poll_recv(cx)
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
    chan: Arc<Chan>,
}

impl Outgoing {
    pub(crate) fn new(chan: Arc<Chan>) -> Self {
        Self { chan }
    }
}

impl Outgoing {
    /// Queues a frame; under [`ChannelOverflow::Suspend`](crate::ChannelOverflow) waits
    /// while the queue is full.
    pub fn send(&self, frame: impl Into<Frame>) -> SendFrame<'_> {
        SendFrame::new(&self.chan, frame.into())
    }

    /// Queues a frame if there is room now, never waiting.
    pub fn try_send(&self, frame: impl Into<Frame>) -> std::result::Result<(), TrySendError> {
        self.chan.try_push(frame.into())
    }

    /// Waits until every frame queued so far is written to the socket.
    pub async fn flush(&self) -> Result<()> {
        self.chan.flush().await
    }

    /// Sends a close frame after what is queued and waits until it is written
    /// (Ktor's `close(reason)`). Does nothing if the session is already closing.
    pub async fn close(&self, reason: CloseReason) -> Result<()> {
        self.chan.close(reason).await
    }

    /// Whether the session still accepts frames.
    pub fn is_open(&self) -> bool {
        self.chan.is_open()
    }

    /// Whether both handles belong to the same session.
    pub fn same_session(&self, other: &Outgoing) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    pub(crate) fn chan(&self) -> &Arc<Chan> {
        &self.chan
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
    /// The URI (a server's path and query, a client's URL) and the peer's headers.
    pub(crate) request: PackedRequest,
    pub(crate) params: crate::path::PathParams,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) protocol: Option<Box<str>>,
    pub(crate) extensions: Box<[String]>,
    pub(crate) converter: Option<Arc<dyn ContentConverter>>,
}

/// A WebSocket session (Ktor's `DefaultWebSocketServerSession`, and on a
/// [client](crate::client::Client) its `DefaultClientWebSocketSession`: the same type
/// both ways).
///
/// `incoming` and `outgoing` are public fields, as Ktor's properties are; the methods
/// below cover the rest of Ktor's session API and the handshake that opened it. On a
/// client, the request is the one we sent (`uri()` is the URL, `path()` its path),
/// `headers()` are the server's 101 response's and `remote_addr()` the server's
/// address.
pub struct WebSocketSession {
    /// Frames from the peer.
    pub incoming: Incoming,
    /// Frames to the peer.
    pub outgoing: Outgoing,
    info: Arc<RequestInfo>,
    /// A client session whose engine runs in a task of its own
    /// ([`Client::connect`](crate::client::Client::connect)): dropping the session
    /// drops this, which ends the engine's stand-in handler (the session closes as a
    /// handler's return closes it).
    _owner: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for WebSocketSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketSession")
            .field("path", &self.path())
            .field("remote_addr", &self.info.remote_addr)
            .finish_non_exhaustive()
    }
}

impl WebSocketSession {
    pub(crate) fn from_parts(
        incoming: Incoming,
        outgoing: Outgoing,
        info: Arc<RequestInfo>,
    ) -> Self {
        Self {
            incoming,
            outgoing,
            info,
            _owner: None,
        }
    }

    /// A client session whose engine runs elsewhere and ends when `owner` is dropped
    /// (with the session).
    pub(crate) fn owned(
        incoming: Incoming,
        outgoing: Outgoing,
        info: Arc<RequestInfo>,
        owner: tokio::sync::oneshot::Sender<()>,
    ) -> Self {
        Self {
            incoming,
            outgoing,
            info,
            _owner: Some(owner),
        }
    }

    /// Queues a frame: `&str`/`String` become text, `Vec<u8>`/`Bytes` binary, or pass a
    /// [`Frame`]. Waits while the outgoing queue is full (see
    /// [`ChannelOverflow`](crate::ChannelOverflow)).
    pub fn send(&self, frame: impl Into<Frame>) -> SendFrame<'_> {
        self.outgoing.send(frame)
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
        self.outgoing.chan.close_reason().await
    }

    /// Waits until every frame queued so far is written to the socket.
    pub async fn flush(&self) -> Result<()> {
        self.outgoing.flush().await
    }

    /// Drops the connection now, without a close handshake (Ktor's `terminate`).
    pub fn terminate(&self) {
        self.outgoing.chan.terminate();
    }

    /// The request path, e.g. `/chat/lobby`.
    pub fn path(&self) -> &str {
        self.info.request.uri().path()
    }

    /// The request URI (path and query; on a client the whole URL).
    pub fn uri(&self) -> &Uri {
        self.info.request.uri()
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
        self.info.request.uri().query()
    }

    /// A query parameter, decoded (the first if repeated).
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.info.request.uri().query()?;
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The handshake's headers from the peer: the request's on a server, the 101
    /// response's on a client.
    pub fn headers(&self) -> &HeaderMap {
        self.info.request.headers()
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

    /// The application's content converter, if one is installed.
    pub(crate) fn converter(&self) -> Option<&Arc<dyn ContentConverter>> {
        self.info.converter.as_ref()
    }

    /// Serializes `value` with the installed content converter and sends it
    /// (Ktor's `sendSerialized`).
    pub async fn send_serialized<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let converter = self.info.converter.as_ref().ok_or(Error::NoConverter)?;
        let frame = crate::convert::serialize(&**converter, value)?;
        self.send(frame).await
    }

    /// Receives the next data frame and deserializes it with the installed content
    /// converter (Ktor's `receiveDeserialized`). `Ok(None)` once the session is closed.
    ///
    /// A frame that does not convert is `Err(Error::Convert(e))`, with the frame in
    /// [`e.frame()`](crate::ConvertError::frame): the handler can answer it and call
    /// again, or let `?` end the handler (the session then closes with 1011).
    pub async fn receive_deserialized<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>> {
        let converter = self.info.converter.clone().ok_or(Error::NoConverter)?;
        loop {
            match self.incoming.recv().await {
                None => return Ok(None),
                Some(frame @ (Frame::Text(_) | Frame::Binary(_))) => {
                    return crate::convert::deserialize(&*converter, frame).map(Some);
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
