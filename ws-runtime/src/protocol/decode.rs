//! The incoming half of the protocol core: bytes in, events out.
//!
//! [`Decoder::decode`] takes whatever bytes arrived, in any pieces, and turns them into
//! events (messages, pings, pongs, the peer's close). Each header is parsed once; the
//! payload is unmasked in place in the caller's buffer; a frame cut off by the end of
//! the input is carried over (its header bytes, or a control frame's payload, are
//! copied; a data payload goes on into the message buffer), so the caller's buffer is
//! free again as soon as `decode` returns. Everything the peer may get wrong is checked
//! here and becomes a [`ProtocolError`] with the close code RFC 6455 asks for.

use bytes::Bytes;

use crate::extension::{DataKind, ExtFrame, ExtensionError, IncomingContext};
use crate::frame::{CloseCode, CloseReason, Fragment, Frame, FrameType, Rsv};

use super::assemble::Assembly;
use super::buffer::MessageBuf;
use super::close::{self, BadClose};
use super::frame::{
    self as wire, Header, HeaderError, MAX_CONTROL, MAX_HEADER, OP_BINARY, OP_CLOSE,
    OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,
};
use super::mask;
use super::small;
use super::stage::{PayloadPath, Stage};
use super::{ProtocolError, Role};

/// What the peer sent.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A whole message; in a raw session also one frame of a fragmented message.
    Data(Frame),
    /// A ping, with its payload.
    Ping(Bytes),
    /// A pong, with its payload.
    Pong(Bytes),
    /// The peer's close frame and its reason (`None`: it carried no status code). No
    /// event follows it.
    Close(Option<CloseReason>),
}

/// Whether the decoder may go on after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Go on.
    Continue,
    /// Stop after this frame: the consumer has no room.
    Stop,
}

/// Where the decoder's events go.
pub(crate) trait Sink {
    /// Takes one event.
    fn event(&mut self, event: Event) -> Flow;
}

impl<F: FnMut(Event) -> Flow> Sink for F {
    fn event(&mut self, event: Event) -> Flow {
        self(event)
    }
}

/// How one call of [`Decoder::decode`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DecodePass {
    /// Input bytes used; the rest (if `stopped`) must be given again.
    pub(crate) consumed: usize,
    /// The sink asked to stop.
    pub(crate) stopped: bool,
}

/// A direct read is worth it from this many payload bytes still to come.
const DIRECT_MIN: u64 = 16 * 1024;

/// A frame this large is read so that the next frame's payload can go straight into
/// its buffer (see [`Decoder::large_remaining`]).
pub(crate) const LARGE_FRAME: u64 = 32 * 1024;

/// The frame whose payload is arriving.
#[derive(Clone, Copy, Debug)]
struct InFrame {
    header: Header,
    /// Payload bytes received so far (where the mask key stands).
    received: u64,
    route: PayloadPath,
}

impl InFrame {
    fn remaining(&self) -> u64 {
        self.header.len - self.received
    }
}

/// The incoming state of one connection.
pub(crate) struct Decoder {
    role: Role,
    raw: bool,
    limit: usize,
    /// Header bytes cut off by the end of the last input.
    head: [u8; MAX_HEADER],
    head_len: u8,
    frame: Option<InFrame>,
    message: Assembly,
    /// A control frame's payload cut off by the end of the last input (boxed: rare,
    /// and every session holds this state).
    #[allow(
        clippy::box_collection,
        reason = "8 bytes in every session instead of 24"
    )]
    control: Option<Box<Vec<u8>>>,
    /// The RSV bits of the message's first frame.
    message_rsv: Rsv,
    claimed: Rsv,
    /// A close frame arrived, or the input failed: nothing more is decoded.
    ended: bool,
}

impl Decoder {
    /// A decoder for `role` (which decides masking: a server takes masked frames only,
    /// a client unmasked ones), refusing messages over `limit` bytes. A `raw` decoder
    /// delivers the frames of a fragmented message one by one.
    pub(crate) fn new(role: Role, raw: bool, limit: usize, claimed: Rsv) -> Self {
        Self {
            role,
            raw,
            limit,
            head: [0; MAX_HEADER],
            head_len: 0,
            frame: None,
            message: Assembly::default(),
            control: None,
            message_rsv: Rsv::NONE,
            claimed,
            ended: false,
        }
    }

    /// Whether a close frame arrived or the input failed.
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    /// Decodes `input`, unmasking it in place, and hands every event to `sink`. Stops
    /// early only when the sink says so (after a whole frame); otherwise every byte is
    /// used, a frame cut off at the end being carried over to the next call.
    pub(crate) fn decode(
        &mut self,
        input: &mut [u8],
        stage: Option<&mut Stage>,
        sink: &mut impl Sink,
    ) -> Result<DecodePass, ProtocolError> {
        let mut stage = stage;
        let mut pos = 0;
        // Small payloads are cut from the thread's shared chunk, taken once per pass.
        let mut chunk = small::Chunk::default();
        let collects = matches!(stage.as_deref(), Some(Stage::Frames(..)));
        while !self.ended {
            if self.frame.is_some() {
                match self.payload(input, &mut pos, stage.as_deref_mut(), sink)? {
                    Step::NeedMore => break,
                    Step::Ended(Flow::Continue) => continue,
                    Step::Ended(Flow::Stop) => {
                        return Ok(DecodePass {
                            consumed: pos,
                            stopped: true,
                        });
                    }
                }
            }
            if pos == input.len() {
                break;
            }
            // The usual case, read straight off the bytes: a whole unfragmented text or
            // binary message under 64 KiB with the mask the role wants, in view, with
            // nothing for an extension to do.
            if self.head_len == 0
                && !collects
                && !self.message.active()
                && let Some((opcode, start, end, key)) = self.small_frame(&input[pos..])
            {
                let (start, end) = (pos + start, pos + end);
                let payload = &mut input[start..end];
                if let Some(key) = key {
                    mask::apply(payload, key, 0);
                }
                let payload = chunk.copy(payload);
                pos = end;
                let frame = if opcode == OP_TEXT {
                    match crate::frame::Text::try_from_bytes(payload) {
                        Ok(text) => Frame::Text(text),
                        Err(_) => return Err(self.fail(invalid_utf8())),
                    }
                } else {
                    Frame::Binary(payload)
                };
                if sink.event(Event::Data(frame)) == Flow::Stop {
                    return Ok(DecodePass {
                        consumed: pos,
                        stopped: true,
                    });
                }
                continue;
            }
            let header = if self.head_len > 0 {
                match self.complete_head(input, &mut pos)? {
                    Some(header) => header,
                    None => break,
                }
            } else {
                match wire::parse(&input[pos..]).map_err(header_error)? {
                    Some((header, used)) => {
                        pos += used;
                        header
                    }
                    None => {
                        let rest = &input[pos..];
                        self.head[..rest.len()].copy_from_slice(rest);
                        self.head_len = rest.len() as u8;
                        pos = input.len();
                        break;
                    }
                }
            };
            // The usual case, checked at once: a whole unfragmented data message in
            // view, with nothing for an extension to do.
            let in_view = (input.len() - pos) as u64;
            if header.fin
                && header.rsv == 0
                && (header.opcode == OP_TEXT || header.opcode == OP_BINARY)
                && header.len <= in_view
                && header.len <= self.limit as u64
                && header.mask.is_some() == (self.role == Role::Server)
                && !self.message.active()
                && !collects
            {
                let end = pos + header.len as usize;
                let payload = &mut input[pos..end];
                if let Some(key) = header.mask {
                    mask::apply(payload, key, 0);
                }
                let payload = chunk.copy(payload);
                pos = end;
                let frame = if header.opcode == OP_TEXT {
                    match crate::frame::Text::try_from_bytes(payload) {
                        Ok(text) => Frame::Text(text),
                        Err(_) => return Err(self.fail(invalid_utf8())),
                    }
                } else {
                    Frame::Binary(payload)
                };
                if sink.event(Event::Data(frame)) == Flow::Stop {
                    return Ok(DecodePass {
                        consumed: pos,
                        stopped: true,
                    });
                }
                continue;
            }
            let route = self.start_frame(header, stage.as_deref_mut())?;
            if !header.is_control() && header.opcode != OP_CONTINUATION {
                self.message.begin(header.opcode == OP_TEXT);
                self.message_rsv = Rsv::from_bits(header.rsv);
            }
            self.frame = Some(InFrame {
                header,
                received: 0,
                route,
            });
        }
        Ok(DecodePass {
            consumed: if self.ended { input.len() } else { pos },
            stopped: false,
        })
    }

    /// If `bytes` starts with a whole final text or binary frame with no RSV bit, a
    /// 7- or 16-bit length within the limit, and the mask bit the role wants: its
    /// opcode, where its payload starts and ends, and its mask key.
    #[inline(always)]
    fn small_frame(&self, bytes: &[u8]) -> Option<(u8, usize, usize, Option<[u8; 4]>)> {
        let [b0, b1, ..] = *bytes else { return None };
        if b0 != 0x80 | OP_TEXT && b0 != 0x80 | OP_BINARY {
            return None;
        }
        let masked = b1 & 0x80 != 0;
        if masked != (self.role == Role::Server) {
            return None;
        }
        let (len, mut at) = match b1 & 0x7f {
            127 => return None,
            126 => (
                usize::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?])),
                4,
            ),
            n => (usize::from(n), 2),
        };
        let key = if masked {
            let key = bytes.get(at..at + 4)?;
            at += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        if len > self.limit || bytes.len() - at < len {
            return None;
        }
        Some((b0 & 0x0f, at, at + len, key))
    }

    /// Completes a header cut off by the end of the last input.
    fn complete_head(
        &mut self,
        input: &[u8],
        pos: &mut usize,
    ) -> Result<Option<Header>, ProtocolError> {
        let mut have = usize::from(self.head_len);
        if have < 2 {
            let take = (2 - have).min(input.len() - *pos);
            self.head[have..have + take].copy_from_slice(&input[*pos..*pos + take]);
            have += take;
            *pos += take;
            if have < 2 {
                self.head_len = have as u8;
                return Ok(None);
            }
        }
        let need = wire::header_len(self.head[1]);
        let take = (need - have).min(input.len() - *pos);
        self.head[have..have + take].copy_from_slice(&input[*pos..*pos + take]);
        have += take;
        *pos += take;
        self.head_len = have as u8;
        if have < need {
            // A header cut by a read is checked as far as it goes (a 64-bit length
            // with its top bit set fails before its mask key arrives), so that the
            // verdict does not depend on where reads end (fuzz finding
            // `cut-header-bad-length`).
            if let Err(e) = wire::parse(&self.head[..have]) {
                self.head_len = 0;
                return Err(self.fail(header_error(e)));
            }
            return Ok(None);
        }
        self.head_len = 0;
        match wire::parse(&self.head[..need]) {
            Ok(Some((header, _))) => Ok(Some(header)),
            Ok(None) => unreachable!("a header of its full length parses"),
            Err(e) => Err(self.fail(header_error(e))),
        }
    }

    /// Checks a new frame's header against the protocol and the session's state; says
    /// how its payload is processed.
    fn start_frame(
        &mut self,
        header: Header,
        stage: Option<&mut Stage>,
    ) -> Result<PayloadPath, ProtocolError> {
        match self.role {
            Role::Server if header.mask.is_none() => {
                return Err(self.fail(ProtocolError::protocol("a client frame must be masked")));
            }
            Role::Client if header.mask.is_some() => {
                return Err(self.fail(ProtocolError::protocol("a server frame must not be masked")));
            }
            _ => {}
        }
        let rsv = Rsv::from_bits(header.rsv);
        if header.is_control() {
            let error = if !matches!(header.opcode, OP_CLOSE | OP_PING | OP_PONG) {
                Some(ProtocolError::reserved_opcode(header.opcode))
            } else if !header.fin {
                Some(ProtocolError::protocol(
                    "a control frame must not be fragmented",
                ))
            } else if header.len > MAX_CONTROL as u64 {
                Some(ProtocolError::protocol(
                    "a control frame's payload must be at most 125 bytes",
                ))
            } else if !rsv.is_empty() {
                Some(ProtocolError::protocol("RSV bits set on a control frame"))
            } else {
                None
            };
            return match error {
                Some(error) => Err(self.fail(error)),
                None => Ok(PayloadPath::Plain),
            };
        }
        let first = match header.opcode {
            OP_TEXT | OP_BINARY if self.message.active() => {
                return Err(self.fail(ProtocolError::protocol(
                    "a new message began before the fragmented one ended",
                )));
            }
            OP_TEXT | OP_BINARY => true,
            OP_CONTINUATION if !self.message.active() => {
                return Err(self.fail(ProtocolError::protocol(
                    "a continuation frame with no message to continue",
                )));
            }
            OP_CONTINUATION => false,
            opcode => return Err(self.fail(ProtocolError::reserved_opcode(opcode))),
        };
        if !rsv.without(self.claimed).is_empty() {
            return Err(self.fail(ProtocolError::protocol(
                "RSV bits set that no negotiated extension defines",
            )));
        }
        let route = match stage {
            None => PayloadPath::Plain,
            Some(stage) => match stage.route(first, rsv) {
                Ok(route) => route,
                Err(e) => return Err(self.fail(e.into())),
            },
        };
        let limit = self.limit as u64;
        let total = if first {
            0
        } else {
            self.message.total() as u64
        };
        // An inflated payload is bounded as it inflates; the others by their length.
        if header.len > limit
            || (route != PayloadPath::Inflate && total.saturating_add(header.len) > limit)
        {
            return Err(self.fail(ProtocolError::too_big(self.limit)));
        }
        Ok(route)
    }

    /// Takes the current frame's payload from the input; ends the frame when it is
    /// complete. Out of line: whole small frames never come here, and `decode` stays
    /// small enough for its per-message calls to be inlined.
    #[inline(never)]
    fn payload(
        &mut self,
        input: &mut [u8],
        pos: &mut usize,
        stage: Option<&mut Stage>,
        sink: &mut impl Sink,
    ) -> Result<Step, ProtocolError> {
        let frame = self.frame.expect("a frame is in progress");
        let avail = frame.remaining().min((input.len() - *pos) as u64) as usize;
        if avail == 0 && frame.remaining() > 0 {
            return Ok(Step::NeedMore);
        }
        let chunk = &mut input[*pos..*pos + avail];
        *pos += avail;
        if let Some(key) = frame.header.mask {
            mask::apply(chunk, key, (frame.received & 3) as usize);
        }
        let complete = avail as u64 == frame.remaining();
        if let Some(f) = &mut self.frame {
            f.received += avail as u64;
        }
        let mut stage = stage;
        if frame.header.is_control() {
            if !complete || self.control.is_some() {
                self.control
                    .get_or_insert_default()
                    .extend_from_slice(chunk);
            }
            if !complete {
                return Ok(Step::NeedMore);
            }
            let flow = match self.control.take() {
                None => self.control_frame(frame.header.opcode, chunk, sink),
                Some(payload) => self.control_frame(frame.header.opcode, &payload, sink),
            }?;
            self.frame = None;
            return Ok(Step::Ended(flow));
        }
        let ahead = frame.remaining() - avail as u64;
        self.data(frame.route, chunk, ahead, stage.as_deref_mut())?;
        if !complete {
            return Ok(Step::NeedMore);
        }
        let flow = self.end_data_frame(frame, stage, sink)?;
        Ok(Step::Ended(flow))
    }

    /// A piece of a data frame's payload, unmasked.
    fn data(
        &mut self,
        route: PayloadPath,
        chunk: &[u8],
        ahead: u64,
        stage: Option<&mut Stage>,
    ) -> Result<(), ProtocolError> {
        let result = match route {
            PayloadPath::Plain => self.message.push(chunk, ahead).map_err(|_| invalid_utf8()),
            PayloadPath::Collect => {
                let Some(stage) = stage else {
                    unreachable!("collecting needs a stage")
                };
                stage.collect(chunk);
                Ok(())
            }
            PayloadPath::Inflate => {
                let Some(stage) = stage else {
                    unreachable!("inflating needs a stage")
                };
                self.inflate(stage, chunk, false)
            }
        };
        result.map_err(|e| self.fail(e))
    }

    fn inflate(&mut self, stage: &mut Stage, chunk: &[u8], end: bool) -> Result<(), ProtocolError> {
        let from = self.message.buf.len();
        let limit = self.limit.saturating_sub(self.message.total()) + from;
        let inflated = stage.inflate(chunk, end, &mut self.message.buf, limit);
        // What was inflated is checked first, whatever stopped the inflater: text that
        // is both invalid and over the limit gets 1007 at its first bad byte however
        // the reads were cut, as it would in one piece (fuzz finding
        // `cut-deflate-utf8-or-too-big`).
        self.message.appended(from).map_err(|_| invalid_utf8())?;
        Ok(inflated?)
    }

    /// A data frame is complete: run what needs the whole frame, deliver what is due.
    fn end_data_frame(
        &mut self,
        frame: InFrame,
        stage: Option<&mut Stage>,
        sink: &mut impl Sink,
    ) -> Result<Flow, ProtocolError> {
        self.frame = None;
        let header = frame.header;
        let result = match (frame.route, stage) {
            (PayloadPath::Inflate, Some(stage)) if header.fin => self.inflate(stage, &[], true),
            (PayloadPath::Collect, Some(stage)) => self.collected(header, stage),
            _ => Ok(()),
        };
        result.map_err(|e| self.fail(e))?;
        let first = header.opcode != OP_CONTINUATION;
        let event = if self.raw && !(first && header.fin) {
            let frame_type = if self.message.is_text() {
                FrameType::Text
            } else {
                FrameType::Binary
            };
            let payload = self
                .message
                .take_frame(header.fin)
                .map_err(|_| invalid_utf8());
            let payload = payload.map_err(|e| self.fail(e))?;
            Event::Data(Frame::Fragment(Fragment {
                frame_type,
                first,
                fin: header.fin,
                rsv: Rsv::from_bits(header.rsv),
                payload,
            }))
        } else if header.fin {
            let message = self.message.finish().map_err(|_| invalid_utf8());
            Event::Data(message.map_err(|e| self.fail(e))?)
        } else {
            return Ok(Flow::Continue);
        };
        Ok(sink.event(event))
    }

    /// A whole frame collected for extensions that work frame by frame.
    fn collected(&mut self, header: Header, stage: &mut Stage) -> Result<(), ProtocolError> {
        let first = header.opcode != OP_CONTINUATION;
        let frame = ExtFrame {
            kind: match header.opcode {
                OP_TEXT => DataKind::Text,
                OP_BINARY => DataKind::Binary,
                _ => DataKind::Continuation,
            },
            fin: header.fin,
            rsv: Rsv::from_bits(header.rsv),
            payload: Bytes::from(stage.take_collected()),
        };
        let ctx = IncomingContext {
            message_rsv: self.message_rsv,
            message_len: if first { 0 } else { self.message.total() },
            max_message_size: self.limit,
        };
        let out = stage.incoming(frame, &ctx)?;
        if self.message.total().saturating_add(out.payload.len()) > self.limit {
            return Err(ProtocolError::too_big(self.limit));
        }
        self.message
            .push(&out.payload, 0)
            .map_err(|_| invalid_utf8())
    }

    /// A whole control frame.
    fn control_frame(
        &mut self,
        opcode: u8,
        payload: &[u8],
        sink: &mut impl Sink,
    ) -> Result<Flow, ProtocolError> {
        let event = match opcode {
            OP_PING => Event::Ping(Bytes::copy_from_slice(payload)),
            OP_PONG => Event::Pong(Bytes::copy_from_slice(payload)),
            _ => match close::parse(payload) {
                Ok(reason) => {
                    self.ended = true;
                    Event::Close(reason)
                }
                Err(BadClose::Length) => {
                    return Err(self.fail(ProtocolError::protocol(
                        "a close frame's payload must not be 1 byte",
                    )));
                }
                Err(BadClose::Code(code)) => {
                    return Err(self.fail(ProtocolError::protocol(format!(
                        "close code {code} is not allowed on the wire"
                    ))));
                }
                Err(BadClose::Reason) => return Err(self.fail(invalid_utf8())),
            },
        };
        Ok(sink.event(event))
    }

    // ----- reads straight into the message buffer -----

    /// When the payload of a plain data frame is arriving and much of it is still to
    /// come: how many bytes. The caller may then read them straight into
    /// [`direct_buf`](Self::direct_buf) and call [`direct_filled`](Self::direct_filled).
    pub(crate) fn direct_want(&self) -> Option<usize> {
        let remaining = self.plain_data_frame()?.remaining();
        (remaining >= DIRECT_MIN).then(|| usize::try_from(remaining).unwrap_or(usize::MAX))
    }

    /// What a large frame in progress (a plain data frame of at least
    /// [`LARGE_FRAME`] bytes) still has to bring; `None` if no such frame is arriving.
    #[inline]
    pub(crate) fn large_remaining(&self) -> Option<u64> {
        let frame = self.plain_data_frame()?;
        (frame.header.len >= LARGE_FRAME).then(|| frame.remaining())
    }

    /// The frame in progress if it is a data frame whose payload goes to the message
    /// as it is (no extension stage in between).
    #[inline]
    fn plain_data_frame(&self) -> Option<&InFrame> {
        self.frame
            .as_ref()
            .filter(|frame| frame.route == PayloadPath::Plain && !frame.header.is_control())
    }

    /// The buffer the current message is assembled in, with room for `step` more
    /// bytes.
    pub(crate) fn direct_buf(&mut self, step: usize) -> &mut MessageBuf {
        self.message.make_room(step);
        &mut self.message.buf
    }

    /// Bytes of the current message's buffer so far.
    pub(crate) fn direct_len(&self) -> usize {
        self.message.buf.len()
    }

    /// Bytes were read into [`direct_buf`](Self::direct_buf) from `from` on (at most
    /// [`direct_want`](Self::direct_want)): unmask and check them, and end the frame if
    /// they complete it.
    pub(crate) fn direct_filled(
        &mut self,
        from: usize,
        sink: &mut impl Sink,
    ) -> Result<Flow, ProtocolError> {
        let frame = self.frame.expect("a direct read has a frame");
        let added = self.message.buf.len() - from;
        if let Some(key) = frame.header.mask {
            mask::apply(
                &mut self.message.buf.filled_mut()[from..],
                key,
                (frame.received & 3) as usize,
            );
        }
        let appended = self.message.appended(from).map_err(|_| invalid_utf8());
        appended.map_err(|e| self.fail(e))?;
        let received = frame.received + added as u64;
        if let Some(f) = &mut self.frame {
            f.received = received;
        }
        if received < frame.header.len {
            return Ok(Flow::Continue);
        }
        self.end_data_frame(frame, None, sink)
    }

    /// Ends decoding with `error`.
    fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        self.ended = true;
        self.frame = None;
        self.message = Assembly::default();
        self.control = None;
        error
    }
}

/// How taking a frame's payload ended.
enum Step {
    /// The input ran out before the frame did.
    NeedMore,
    /// The frame is complete; the sink's answer to what it delivered.
    Ended(Flow),
}

fn header_error(e: HeaderError) -> ProtocolError {
    match e {
        HeaderError::LengthTooLarge => {
            ProtocolError::protocol("a 64-bit payload length must have its top bit clear")
        }
    }
}

fn invalid_utf8() -> ProtocolError {
    ProtocolError::new(CloseCode::NOT_CONSISTENT, "invalid UTF-8 in a text message")
}

impl From<ExtensionError> for ProtocolError {
    fn from(e: ExtensionError) -> Self {
        ProtocolError::new(e.close_code(), e.to_string())
    }
}
