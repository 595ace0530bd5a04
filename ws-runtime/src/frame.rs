//! Frames, text payloads and close reasons: what a handler receives and sends.
//!
//! [`Frame`] mirrors Ktor's `Frame` class: `Text`, `Binary`, `Ping`, `Pong` and `Close`.
//! Payloads are reference-counted ([`Bytes`]), so a frame can be cloned and broadcast
//! to many sessions without copying its payload.

use std::borrow::Cow;
use std::fmt;
use std::ops::{BitOr, Deref};

use bytes::Bytes;
use tokio_tungstenite::tungstenite::protocol::frame::Utf8Bytes;

/// A WebSocket close code (RFC 6455 §7.4), with Ktor's names as associated constants.
///
/// `Codes` is an alias of this type, so Ktor's `CloseReason.Codes.NORMAL` reads
/// `Codes::NORMAL` here.
///
/// ```
/// use ws_runtime::{CloseCode, Codes};
/// assert_eq!(Codes::NORMAL.code(), 1000);
/// assert_eq!(CloseCode::new(4000).name(), None);
/// assert_eq!(Codes::TOO_BIG.name(), Some("TOO_BIG"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

/// Ktor's name for the set of close codes: `Codes::NORMAL`, `Codes::GOING_AWAY`, ...
pub type Codes = CloseCode;

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the server is going down or the browser left the page.
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: the peer sent a kind of data that cannot be accepted.
    pub const CANNOT_ACCEPT: Self = Self(1003);
    /// 1005: no code was present in the close frame. Never sent on the wire.
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: the connection closed without a close frame. Never sent on the wire.
    pub const CLOSED_ABNORMALLY: Self = Self(1006);
    /// 1007: a message was not consistent with its type (for example invalid UTF-8 text).
    pub const NOT_CONSISTENT: Self = Self(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const VIOLATED_POLICY: Self = Self(1008);
    /// 1009: a message was too big to process.
    pub const TOO_BIG: Self = Self(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const NO_EXTENSION: Self = Self(1010);
    /// 1011: the server met an unexpected condition (a handler error or panic).
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: the service is overloaded; try again later.
    pub const TRY_AGAIN_LATER: Self = Self(1013);

    /// A close code from its number.
    pub const fn new(code: u16) -> Self {
        Self(code)
    }

    /// The numeric value.
    pub const fn code(self) -> u16 {
        self.0
    }

    /// Ktor's name for a known code (`"NORMAL"`, `"TOO_BIG"`, ...), `None` for others.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1000 => "NORMAL",
            1001 => "GOING_AWAY",
            1002 => "PROTOCOL_ERROR",
            1003 => "CANNOT_ACCEPT",
            1005 => "NO_STATUS",
            1006 => "CLOSED_ABNORMALLY",
            1007 => "NOT_CONSISTENT",
            1008 => "VIOLATED_POLICY",
            1009 => "TOO_BIG",
            1010 => "NO_EXTENSION",
            1011 => "INTERNAL_ERROR",
            1012 => "SERVICE_RESTART",
            1013 => "TRY_AGAIN_LATER",
            _ => return None,
        })
    }

    /// Whether this code may appear in a close frame on the wire (RFC 6455 §7.4).
    ///
    /// 1000–1003 and 1007–1014 are defined by the RFC and the IANA registry (1014, Bad
    /// Gateway, was registered after the RFC), 3000–4999 are for libraries and
    /// applications; everything else (including 1005, 1006 and 1015, which only describe
    /// local conditions) is invalid on the wire.
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}({})", self.0),
            None => write!(f, "CloseCode({})", self.0),
        }
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

/// Why a session closed: a code and a message, as Ktor's `CloseReason`.
///
/// ```
/// use ws_runtime::{CloseReason, Codes};
/// let reason = CloseReason::new(Codes::NORMAL, "Client said BYE");
/// assert_eq!(reason.code(), Codes::NORMAL);
/// assert_eq!(reason.to_string(), "CloseReason(reason=NORMAL, message=Client said BYE)");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CloseReason {
    code: CloseCode,
    message: Cow<'static, str>,
}

impl CloseReason {
    /// A close reason from a code and a message.
    ///
    /// On the wire the message is cut to the 123 bytes a close frame can carry, at a
    /// character boundary.
    pub fn new(code: impl Into<CloseCode>, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The close code.
    pub fn code(&self) -> CloseCode {
        self.code
    }

    /// The message (may be empty).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The named code, if it is one of Ktor's `Codes` (Ktor's `knownReason`).
    pub fn known_reason(&self) -> Option<CloseCode> {
        self.code.name().map(|_| self.code)
    }
}

impl fmt::Debug for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CloseReason(reason={}, message={})",
            self.code, self.message
        )
    }
}

/// UTF-8 text payload of a [`Frame::Text`]: cheap to clone, dereferences to `str`.
///
/// ```
/// use ws_runtime::Text;
/// let text = Text::from("bye");
/// assert!(text.eq_ignore_ascii_case("BYE"));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(Utf8Bytes);

impl Text {
    /// Text from a static string, without copying.
    pub const fn from_static(text: &'static str) -> Self {
        Self(Utf8Bytes::from_static(text))
    }

    /// The text as `&str`.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The UTF-8 bytes, shared without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0.into()
    }

    /// Validates `bytes` as UTF-8 without copying.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        Utf8Bytes::try_from(bytes).map(Self)
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Self(text.into())
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Self(text.into())
    }
}

impl From<&String> for Text {
    fn from(text: &String) -> Self {
        Self(text.as_str().into())
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The kind of a [`Frame`], as Ktor's `FrameType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// A text message.
    Text,
    /// A binary message.
    Binary,
    /// A ping control frame.
    Ping,
    /// A pong control frame.
    Pong,
    /// A close control frame.
    Close,
}

/// A frame received from or sent to the peer.
///
/// In a `#[web_socket]` session data frames are whole messages: fragments are
/// reassembled before the handler sees them, and control frames (`Ping`, `Pong`,
/// `Close`) are answered by the session itself. A `#[web_socket_raw]` session sees the
/// wire: control frames in the order they arrived, and the frames of a fragmented
/// message one by one, as [`Frame::Fragment`]s (a message sent in one frame is still a
/// `Text` or `Binary`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A text message.
    Text(Text),
    /// A binary message.
    Binary(Bytes),
    /// A ping (at most 125 bytes of payload).
    Ping(Bytes),
    /// A pong (at most 125 bytes of payload).
    Pong(Bytes),
    /// A close frame, with its reason if it carried one.
    Close(Option<CloseReason>),
    /// One frame of a fragmented message, as it came (raw sessions), or to send as it
    /// is: the sender makes the fragments a valid sequence.
    Fragment(Fragment),
}

/// One frame of a fragmented message (Ktor's `Frame` with its `fin` flag): what a
/// `#[web_socket_raw]` session receives for each frame of a message sent in several.
///
/// ```
/// use ws_runtime::{Fragment, Frame, FrameType};
/// // A text message in two frames, as a raw handler may send it.
/// let first = Frame::Fragment(Fragment::first(FrameType::Text, false, "Hel"));
/// let last = Frame::Fragment(Fragment::continuation(true, "lo"));
/// assert!(!first.is_control() && !last.is_control());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fragment {
    /// The type of the message this frame belongs to: [`FrameType::Text`] or
    /// [`FrameType::Binary`] (continuation frames carry their message's type).
    pub frame_type: FrameType,
    /// Whether this frame starts its message (a text or binary opcode on the wire)
    /// rather than continuing it (opcode 0).
    pub first: bool,
    /// Whether this is the last frame of its message (FIN).
    pub fin: bool,
    /// The RSV bits the frame had on the wire (negotiated extensions have already
    /// undone what they mean: an inflated payload stays marked with RSV1).
    pub rsv: Rsv,
    /// The payload. Text may split a character between two fragments: the message as a
    /// whole is valid UTF-8, which the session checks.
    pub payload: Bytes,
}

impl Fragment {
    /// The first frame of a message of `frame_type` (text or binary).
    pub fn first(frame_type: FrameType, fin: bool, payload: impl Into<Bytes>) -> Self {
        Self {
            frame_type,
            first: true,
            fin,
            rsv: Rsv::NONE,
            payload: payload.into(),
        }
    }

    /// A continuation frame.
    pub fn continuation(fin: bool, payload: impl Into<Bytes>) -> Self {
        Self {
            frame_type: FrameType::Binary,
            first: false,
            fin,
            rsv: Rsv::NONE,
            payload: payload.into(),
        }
    }
}

/// A set of the three reserved bits of a frame header.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Rsv(u8);

impl Rsv {
    /// No bit.
    pub const NONE: Rsv = Rsv(0);
    /// RSV1 (0x40 in the first header byte); permessage-deflate's bit.
    pub const RSV1: Rsv = Rsv(4);
    /// RSV2 (0x20).
    pub const RSV2: Rsv = Rsv(2);
    /// RSV3 (0x10).
    pub const RSV3: Rsv = Rsv(1);

    /// The bits from three flags.
    pub const fn from_flags(rsv1: bool, rsv2: bool, rsv3: bool) -> Rsv {
        Rsv(((rsv1 as u8) << 2) | ((rsv2 as u8) << 1) | rsv3 as u8)
    }

    /// The bits as the header's `0x70` nibble holds them, shifted down (RSV1 = 4).
    pub(crate) const fn from_bits(bits: u8) -> Rsv {
        Rsv(bits & 0x7)
    }

    /// The bits, RSV1 = 4, RSV2 = 2, RSV3 = 1.
    pub(crate) const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Rsv) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set.
    pub const fn intersects(self, other: Rsv) -> bool {
        self.0 & other.0 != 0
    }

    /// The bits set in both.
    pub const fn and(self, other: Rsv) -> Rsv {
        Rsv(self.0 & other.0)
    }

    /// These bits without those of `other`.
    pub const fn without(self, other: Rsv) -> Rsv {
        Rsv(self.0 & !other.0)
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// RSV1 set?
    pub const fn rsv1(self) -> bool {
        self.0 & 4 != 0
    }

    /// RSV2 set?
    pub const fn rsv2(self) -> bool {
        self.0 & 2 != 0
    }

    /// RSV3 set?
    pub const fn rsv3(self) -> bool {
        self.0 & 1 != 0
    }
}

impl BitOr for Rsv {
    type Output = Rsv;
    fn bitor(self, rhs: Rsv) -> Rsv {
        Rsv(self.0 | rhs.0)
    }
}

impl fmt::Debug for Rsv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            (self.rsv1(), "RSV1"),
            (self.rsv2(), "RSV2"),
            (self.rsv3(), "RSV3"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        if names.is_empty() {
            f.write_str("NONE")
        } else {
            f.write_str(&names.join("|"))
        }
    }
}

impl Frame {
    /// A text frame (Ktor's `Frame.Text(text)`).
    pub fn text(text: impl Into<Text>) -> Self {
        Frame::Text(text.into())
    }

    /// A binary frame (Ktor's `Frame.Binary(true, bytes)`).
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Frame::Binary(bytes.into())
    }

    /// A ping frame.
    pub fn ping(payload: impl Into<Bytes>) -> Self {
        Frame::Ping(payload.into())
    }

    /// A pong frame.
    pub fn pong(payload: impl Into<Bytes>) -> Self {
        Frame::Pong(payload.into())
    }

    /// A close frame with a reason.
    pub fn close(reason: CloseReason) -> Self {
        Frame::Close(Some(reason))
    }

    /// The kind of this frame (a fragment's is its message's).
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::Text(_) => FrameType::Text,
            Frame::Binary(_) => FrameType::Binary,
            Frame::Ping(_) => FrameType::Ping,
            Frame::Pong(_) => FrameType::Pong,
            Frame::Close(_) => FrameType::Close,
            Frame::Fragment(fragment) => fragment.frame_type,
        }
    }

    /// Whether this frame ends its message (Ktor's `fin`): false only for a fragment
    /// that more frames follow.
    pub fn fin(&self) -> bool {
        match self {
            Frame::Fragment(fragment) => fragment.fin,
            _ => true,
        }
    }

    /// Whether this is a control frame (ping, pong or close).
    pub fn is_control(&self) -> bool {
        matches!(self, Frame::Ping(_) | Frame::Pong(_) | Frame::Close(_))
    }

    /// The text of a text frame (Ktor's `Frame.Text.readText()`); `None` for other kinds.
    pub fn read_text(&self) -> Option<&str> {
        match self {
            Frame::Text(text) => Some(text.as_str()),
            _ => None,
        }
    }

    /// The payload bytes (Ktor's `Frame.readBytes()`): the UTF-8 of a text frame, the
    /// data of a binary, ping or pong frame, the code and reason of a close frame.
    pub fn read_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Frame::Text(text) => Cow::Borrowed(text.as_bytes()),
            Frame::Binary(b) | Frame::Ping(b) | Frame::Pong(b) => Cow::Borrowed(b),
            Frame::Fragment(fragment) => Cow::Borrowed(&fragment.payload),
            Frame::Close(None) => Cow::Borrowed(&[]),
            Frame::Close(Some(reason)) => {
                let mut payload = reason.code().code().to_be_bytes().to_vec();
                payload.extend_from_slice(reason.message().as_bytes());
                Cow::Owned(payload)
            }
        }
    }

    /// Payload length in bytes (for queue accounting).
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Binary(b) | Frame::Ping(b) | Frame::Pong(b) => b.len(),
            Frame::Fragment(fragment) => fragment.payload.len(),
            Frame::Close(None) => 0,
            Frame::Close(Some(reason)) => 2 + reason.message().len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Text> for Frame {
    fn from(text: Text) -> Self {
        Frame::Text(text)
    }
}

impl From<&str> for Frame {
    fn from(text: &str) -> Self {
        Frame::Text(text.into())
    }
}

impl From<String> for Frame {
    fn from(text: String) -> Self {
        Frame::Text(text.into())
    }
}

impl From<&String> for Frame {
    fn from(text: &String) -> Self {
        Frame::Text(text.into())
    }
}

impl From<Vec<u8>> for Frame {
    fn from(bytes: Vec<u8>) -> Self {
        Frame::Binary(bytes.into())
    }
}

impl From<&[u8]> for Frame {
    fn from(bytes: &[u8]) -> Self {
        Frame::Binary(Bytes::copy_from_slice(bytes))
    }
}

impl From<Bytes> for Frame {
    fn from(bytes: Bytes) -> Self {
        Frame::Binary(bytes)
    }
}

impl From<CloseReason> for Frame {
    fn from(reason: CloseReason) -> Self {
        Frame::Close(Some(reason))
    }
}

/// Cuts a close message to the 123 bytes a close frame can carry, at a char boundary.
pub(crate) fn truncate_reason(message: &str) -> &str {
    if message.len() <= 123 {
        return message;
    }
    let mut end = 123;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_of_codes() {
        for valid in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1014, 3000, 4999,
        ] {
            assert!(CloseCode::new(valid).is_valid_on_wire(), "{valid}");
        }
        for invalid in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode::new(invalid).is_valid_on_wire(), "{invalid}");
        }
    }

    #[test]
    fn reason_is_cut_at_a_char_boundary() {
        let long = "é".repeat(100);
        let cut = truncate_reason(&long);
        assert!(cut.len() <= 123);
        assert_eq!(cut.len(), 122);
    }

    #[test]
    fn close_payload_bytes() {
        let frame = Frame::close(CloseReason::new(Codes::NORMAL, "ok"));
        assert_eq!(&*frame.read_bytes(), &[0x03, 0xe8, b'o', b'k']);
    }
}
