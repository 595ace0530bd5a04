//! The WebSocket protocol core (RFC 6455, and the framing side of RFC 7692), sans-I/O:
//! bytes in, events out; frames in, bytes to write out. No socket, no runtime, no
//! clock: the connection driver (`driver/`) feeds it what the transport read and
//! writes what it encodes, and owns the timers.
//!
//! - [`frame`]: the header codec; [`mask`]: masking, a word at a time; [`utf8`]:
//!   incremental validation that fails at the first bad byte;
//! - [`decode`]: the incoming state machine (header checks, limits, fragments, control
//!   frames, the peer's close), assembling messages with [`assemble`] in a
//!   [`buffer`] (mapped pages of its own once large), recycled by [`pool`];
//! - [`encode`]: outgoing frames; [`close`]: close frame payloads; [`small`]: small
//!   payloads sharing allocations;
//! - [`stage`]: negotiated extensions as a stage of both directions.
//!
//! The role decides the masking rules: a server accepts only masked frames and sends
//! unmasked ones, a client the reverse.

pub(crate) mod assemble;
pub(crate) mod buffer;
pub(crate) mod close;
pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod frame;
pub(crate) mod mask;
pub(crate) mod pool;
pub(crate) mod small;
pub(crate) mod stage;
pub(crate) mod utf8;

use std::borrow::Cow;

use crate::frame::CloseCode;

pub(crate) use decode::{DecodePass, Decoder, Event, Flow, Sink};
pub(crate) use encode::{Encoded, Encoder};
pub(crate) use stage::Stage;

/// Which end of the connection this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Accepts masked frames, sends unmasked ones.
    Server,
    /// Sends masked frames, accepts unmasked ones.
    Client,
}

/// The peer broke the protocol: the connection fails with this code and reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProtocolError {
    pub(crate) code: CloseCode,
    pub(crate) reason: Cow<'static, str>,
}

impl ProtocolError {
    pub(crate) fn new(code: CloseCode, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// 1002.
    pub(crate) fn protocol(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(CloseCode::PROTOCOL_ERROR, reason)
    }

    /// 1002 for an opcode RFC 6455 reserves.
    pub(crate) fn reserved_opcode(opcode: u8) -> Self {
        Self::protocol(format!("reserved opcode {opcode:#x}"))
    }

    /// 1009.
    pub(crate) fn too_big(limit: usize) -> Self {
        Self::new(
            CloseCode::TOO_BIG,
            format!("message over the {limit}-byte limit"),
        )
    }
}

/// The core's tests, and their frame builder for the driver's tests.
#[cfg(test)]
pub(crate) mod tests;
