//! The extension stage of the protocol core: which RSV bits a frame may carry, and what
//! the negotiated extensions do to payloads on their way in and out.
//!
//! permessage-deflate alone (what browsers negotiate) streams: each piece of a
//! compressed payload is inflated as it arrives, straight into the message buffer,
//! whose limit bounds the inflated size. Any other set of extensions works on whole
//! frames through the [`Extension`] trait: incoming frames in reverse negotiation order
//! (RFC 7692 §5), outgoing messages in negotiation order.

use bytes::Bytes;

use crate::extension::deflate::DeflateSession;
use crate::extension::{
    DataKind, ExtFrame, Extension, ExtensionError, IncomingContext, SessionExtension,
};
use crate::frame::{Frame, Rsv};

/// A session's negotiated extensions.
pub(crate) enum Stage {
    /// permessage-deflate alone.
    Deflate(Box<DeflateSession>),
    /// Any other set, frame by frame: the chain, and the payload of the frame being
    /// collected for it.
    Frames(Vec<(Rsv, Box<dyn Extension>)>, Vec<u8>),
}

/// How the payload of the frame being received is processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PayloadPath {
    /// Appended to the message as it is.
    Plain,
    /// Inflated into the message as it arrives.
    Inflate,
    /// Collected whole, then run through the extensions.
    Collect,
}

impl Stage {
    /// The stage for the extensions a handshake negotiated, if any.
    pub(crate) fn new(extensions: Vec<SessionExtension>) -> Option<Box<Stage>> {
        match extensions.len() {
            0 => None,
            1 if matches!(extensions[0], SessionExtension::Deflate(_)) => {
                let Some(SessionExtension::Deflate(deflate)) = extensions.into_iter().next() else {
                    unreachable!("checked above");
                };
                Some(Box::new(Stage::Deflate(deflate)))
            }
            _ => Some(Box::new(Stage::Frames(
                extensions
                    .into_iter()
                    .map(|extension| match extension {
                        SessionExtension::Deflate(deflate) => {
                            (Rsv::RSV1, deflate as Box<dyn Extension>)
                        }
                        SessionExtension::Custom(rsv, extension) => (rsv, extension),
                    })
                    .collect(),
                Vec::new(),
            ))),
        }
    }

    /// The RSV bits the extensions own: a data frame may carry these, nothing else may.
    pub(crate) fn claimed(&self) -> Rsv {
        match self {
            Stage::Deflate(_) => Rsv::RSV1,
            Stage::Frames(chain, _) => chain.iter().fold(Rsv::NONE, |acc, (rsv, _)| acc | *rsv),
        }
    }

    /// Checks a data frame's RSV bits at its header and says how its payload goes.
    /// `first` is true for a text or binary opcode, false for a continuation.
    pub(crate) fn route(&mut self, first: bool, rsv: Rsv) -> Result<PayloadPath, ExtensionError> {
        match self {
            Stage::Deflate(deflate) => {
                if first {
                    Ok(if deflate.start_message(rsv.rsv1()) {
                        PayloadPath::Inflate
                    } else {
                        PayloadPath::Plain
                    })
                } else if rsv.rsv1() {
                    Err(ExtensionError::Protocol(
                        "RSV1 set on a continuation frame".into(),
                    ))
                } else if deflate.is_inflating() {
                    Ok(PayloadPath::Inflate)
                } else {
                    Ok(PayloadPath::Plain)
                }
            }
            Stage::Frames(..) => Ok(PayloadPath::Collect),
        }
    }

    /// Inflates a piece of a compressed payload into `out` (see
    /// [`DeflateSession::inflate_into`]).
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        end: bool,
        out: &mut super::buffer::MessageBuf,
        limit: usize,
    ) -> Result<(), ExtensionError> {
        match self {
            Stage::Deflate(deflate) => deflate.inflate_into(input, end, out, limit),
            Stage::Frames(..) => Err(ExtensionError::Internal(
                "inflate on a frame-by-frame stage".into(),
            )),
        }
    }

    /// A piece of the payload of a frame collected whole ([`PayloadPath::Collect`]).
    pub(crate) fn collect(&mut self, chunk: &[u8]) {
        if let Stage::Frames(_, collected) = self {
            collected.extend_from_slice(chunk);
        }
    }

    /// The frame collected so far ([`collect`](Self::collect)), taken.
    pub(crate) fn take_collected(&mut self) -> Vec<u8> {
        match self {
            Stage::Frames(_, collected) => std::mem::take(collected),
            Stage::Deflate(_) => Vec::new(),
        }
    }

    /// Runs a whole incoming data frame through the extensions, last negotiated first.
    /// A panicking extension fails the connection with 1011.
    pub(crate) fn incoming(
        &mut self,
        frame: ExtFrame,
        ctx: &IncomingContext,
    ) -> Result<ExtFrame, ExtensionError> {
        let Stage::Frames(chain, _) = self else {
            return Ok(frame);
        };
        guarded(|| {
            let mut frame = frame;
            for (_, extension) in chain.iter_mut().rev() {
                frame = extension.process_incoming(frame, ctx)?;
            }
            Ok(frame)
        })
    }

    /// Runs a whole outgoing message through the extensions, in negotiation order:
    /// the payload to send and its RSV bits. A panicking extension (or `compress_if`
    /// predicate) fails the connection with 1011.
    pub(crate) fn outgoing(
        &mut self,
        frame: &Frame,
        text: bool,
        payload: Bytes,
    ) -> Result<(Bytes, Rsv), ExtensionError> {
        guarded(|| self.outgoing_unguarded(frame, text, payload))
    }

    fn outgoing_unguarded(
        &mut self,
        frame: &Frame,
        text: bool,
        payload: Bytes,
    ) -> Result<(Bytes, Rsv), ExtensionError> {
        match self {
            Stage::Deflate(deflate) => match deflate.outgoing(frame, &payload)? {
                Some(compressed) => Ok((Bytes::from(compressed), Rsv::RSV1)),
                None => Ok((payload, Rsv::NONE)),
            },
            Stage::Frames(chain, _) => {
                let mut ext = ExtFrame {
                    kind: if text {
                        DataKind::Text
                    } else {
                        DataKind::Binary
                    },
                    fin: true,
                    rsv: Rsv::NONE,
                    payload,
                };
                for (_, extension) in chain.iter_mut() {
                    ext = extension.process_outgoing(ext)?;
                }
                Ok((ext.payload, ext.rsv))
            }
        }
    }
}

/// Runs extension code; a panic becomes an [`ExtensionError::Internal`] (close 1011),
/// logged. The extension is not used again: the connection fails.
fn guarded<T>(f: impl FnOnce() -> Result<T, ExtensionError>) -> Result<T, ExtensionError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let message = crate::error::panic_message(&*panic);
            tracing::error!(panic = %message, "WebSocket extension panicked");
            Err(ExtensionError::Internal(format!(
                "extension panicked: {message}"
            )))
        }
    }
}
