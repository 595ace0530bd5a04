//! The outgoing half of the protocol core: a [`Frame`] becomes a header and a payload
//! to write, after the negotiated extensions (compression) had their say.
//!
//! Nothing is copied here: the payload stays the frame's shared bytes. A client's
//! frames carry a fresh mask key (RFC 6455 §5.3); the writer applies it as it copies
//! the payload out, since a shared payload cannot be masked in place.

use bytes::Bytes;

use crate::extension::ExtensionError;
use crate::frame::{Frame, FrameType};

use super::Role;
use super::close;
use super::frame::{
    self as wire, MAX_CONTROL, MAX_HEADER, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG,
    OP_TEXT,
};
use super::mask::MaskKeys;
use super::stage::Stage;

/// A frame ready to be written.
#[derive(Clone, Debug)]
pub(crate) struct Encoded {
    /// The header bytes, `header[..header_len]`.
    pub(crate) header: [u8; MAX_HEADER],
    pub(crate) header_len: u8,
    /// The payload, unmasked.
    pub(crate) payload: Bytes,
    /// The key to mask the payload with as it is written (client role).
    pub(crate) mask: Option<[u8; 4]>,
}

impl Encoded {
    /// The header bytes.
    pub(crate) fn header(&self) -> &[u8] {
        &self.header[..usize::from(self.header_len)]
    }

    /// Bytes on the wire.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.header_len) + self.payload.len()
    }
}

/// What decides how frames go out: the role (masking).
#[derive(Debug)]
pub(crate) struct Encoder {
    /// A client's mask keys (boxed: a server has none, and every session holds this).
    keys: Option<Box<MaskKeys>>,
}

impl Encoder {
    pub(crate) fn new(role: Role) -> Self {
        Self {
            keys: (role == Role::Client).then(|| Box::new(MaskKeys::new())),
        }
    }

    /// Encodes a frame: data through the extensions first. Control payloads are cut to
    /// the 125 bytes a control frame can carry.
    pub(crate) fn encode(
        &mut self,
        frame: Frame,
        stage: Option<&mut Stage>,
    ) -> Result<Encoded, ExtensionError> {
        let (first, payload) = match (frame, stage) {
            (Frame::Text(text), None) => (wire::first_byte(true, 0, OP_TEXT), text.into_bytes()),
            (Frame::Binary(data), None) => (wire::first_byte(true, 0, OP_BINARY), data),
            (frame @ (Frame::Text(_) | Frame::Binary(_)), Some(stage)) => {
                let (opcode, payload) = match &frame {
                    Frame::Text(t) => (OP_TEXT, t.clone().into_bytes()),
                    Frame::Binary(b) => (OP_BINARY, b.clone()),
                    _ => unreachable!("matched above"),
                };
                let (payload, rsv) = stage.outgoing(&frame, opcode == OP_TEXT, payload)?;
                (wire::first_byte(true, rsv.bits(), opcode), payload)
            }
            (Frame::Ping(payload), _) => (wire::first_byte(true, 0, OP_PING), control(payload)),
            (Frame::Pong(payload), _) => (wire::first_byte(true, 0, OP_PONG), control(payload)),
            (Frame::Close(reason), _) => {
                let mut payload = Vec::new();
                close::encode(reason.as_ref(), &mut payload);
                (wire::first_byte(true, 0, OP_CLOSE), Bytes::from(payload))
            }
            (Frame::Fragment(fragment), _) => {
                let opcode = match (fragment.first, fragment.frame_type) {
                    (false, _) => OP_CONTINUATION,
                    (true, FrameType::Text) => OP_TEXT,
                    (true, _) => OP_BINARY,
                };
                let first = wire::first_byte(fragment.fin, fragment.rsv.bits(), opcode);
                (first, fragment.payload)
            }
        };
        Ok(self.frame(first, payload))
    }

    /// A frame from its first header byte and payload.
    pub(crate) fn frame(&mut self, first: u8, payload: Bytes) -> Encoded {
        let mask = self.keys.as_deref_mut().map(MaskKeys::next_key);
        let mut header = [0; MAX_HEADER];
        let header_len = wire::encode(&mut header, first, payload.len(), mask) as u8;
        Encoded {
            header,
            header_len,
            payload,
            mask,
        }
    }
}

fn control(payload: Bytes) -> Bytes {
    if payload.len() > MAX_CONTROL {
        payload.slice(..MAX_CONTROL)
    } else {
        payload
    }
}
