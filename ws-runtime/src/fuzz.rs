//! Entry points for the fuzz targets in `fuzz/` (feature `fuzz`). Not part of the API:
//! they expose the sans-I/O protocol core, which is otherwise crate-private.

use crate::extension::{Deflate, ExtensionFactory, ExtensionParams, SessionExtension};
use crate::frame::{Frame, Rsv};
use crate::protocol::{Decoder, Event, Flow, Role, Stage};

/// How [`decode`] runs the core.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    /// Client role (expects unmasked frames) instead of server.
    pub client: bool,
    /// Raw session: fragments delivered one by one.
    pub raw: bool,
    /// permessage-deflate negotiated (with the client's context takeover off when
    /// `no_takeover`).
    pub deflate: bool,
    /// The offer asked for no context takeover.
    pub no_takeover: bool,
    /// The message size limit.
    pub limit: usize,
}

impl Mode {
    /// A mode from one byte and a limit: bit 0 client, bit 1 raw, bit 2 deflate, bit 3
    /// no context takeover.
    pub fn from_bits(bits: u8, limit: usize) -> Self {
        Self {
            client: bits & 1 != 0,
            raw: bits & 2 != 0,
            deflate: bits & 4 != 0,
            no_takeover: bits & 8 != 0,
            limit,
        }
    }
}

/// What the peer's bytes meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A message (or a raw session's fragment), as the handler would see it.
    Frame(Frame),
    /// A ping's payload.
    Ping(Vec<u8>),
    /// A pong's payload.
    Pong(Vec<u8>),
    /// The peer's close: code and reason (`None`: no status).
    Close(Option<(u16, String)>),
    /// The core failed the connection with this close code.
    Failed(u16),
}

/// Decodes `input` the way a connection's reads would deliver it, cut into pieces
/// whose lengths come from `cuts` (each byte a length of 1 to 256, cycled). Returns
/// what came out, ending with `Failed` if the core refused the input.
pub fn decode(mode: Mode, cuts: &[u8], input: &[u8]) -> Vec<Decoded> {
    let mut stage = mode
        .deflate
        .then(|| deflate_stage(mode.no_takeover))
        .flatten();
    let claimed = stage.as_ref().map_or(Rsv::NONE, |s| s.claimed());
    let role = if mode.client {
        Role::Client
    } else {
        Role::Server
    };
    let mut decoder = Decoder::new(role, mode.raw, mode.limit, claimed);
    let mut out = Vec::new();
    let mut rest = input;
    let mut cut = 0;
    while !rest.is_empty() && !decoder.ended() {
        let len = cuts
            .get(cut % cuts.len().max(1))
            .map_or(rest.len(), |&c| usize::from(c) + 1)
            .min(rest.len());
        cut += 1;
        let mut piece = rest[..len].to_vec();
        rest = &rest[len..];
        let mut sink = |event| {
            out.push(match event {
                Event::Data(frame) => Decoded::Frame(frame),
                Event::Ping(p) => Decoded::Ping(p.to_vec()),
                Event::Pong(p) => Decoded::Pong(p.to_vec()),
                Event::Close(reason) => {
                    Decoded::Close(reason.map(|r| (r.code().code(), r.message().to_owned())))
                }
            });
            Flow::Continue
        };
        if let Err(e) = decoder.decode(&mut piece, stage.as_deref_mut(), &mut sink) {
            out.push(Decoded::Failed(e.code.code()));
            break;
        }
    }
    out
}

fn deflate_stage(no_takeover: bool) -> Option<Box<Stage>> {
    let mut offer = ExtensionParams::new("permessage-deflate");
    if no_takeover {
        offer = offer.param("client_no_context_takeover", None);
    }
    let negotiated = Deflate::new().negotiate(&[offer])?;
    match negotiated.extension {
        SessionExtension::Deflate(session) => Stage::new(vec![SessionExtension::Deflate(session)]),
        SessionExtension::Custom(..) => None,
    }
}
