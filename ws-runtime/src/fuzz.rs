//! Entry points for the fuzz targets in `fuzz/` (feature `fuzz`). Not part of the API:
//! they expose the sans-I/O protocol core, which is otherwise crate-private.

use crate::extension::{Deflate, ExtensionFactory, ExtensionParams, SessionExtension};
use crate::frame::{Frame, Rsv};
use crate::protocol::{Decoder, Event, Flow, Role, Stage};

/// Message buffers of this many bytes and more are mapped ([`observe_mappings`]).
pub const MAPPED_MIN: usize = crate::protocol::buffer::MAPPED_MIN;

/// Who hears of message buffers' mappings ([`observe_mappings`]).
static MAP_OBSERVER: std::sync::OnceLock<fn(usize, bool)> = std::sync::OnceLock::new();

/// Has `observer` called with the size of every mapping a message buffer makes
/// (`true`) and gives back (`false`): buffers of 128 KiB and more are pages mapped
/// outside the global allocator, which a fuzz target's counting allocator does not
/// see. The first observer set stays.
pub fn observe_mappings(observer: fn(usize, bool)) {
    let _ = MAP_OBSERVER.set(observer);
}

/// A message buffer mapped (`true`) or unmapped `bytes`.
pub(crate) fn mapped(bytes: usize, made: bool) {
    if let Some(observer) = MAP_OBSERVER.get() {
        observer(bytes, made);
    }
}

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
    // Without the offer's `client_no_context_takeover` the server must not ask for it
    // either: the session then keeps its own inflater (else the thread's inflates).
    let negotiated = Deflate::new()
        .client_no_context_takeover(no_takeover)
        .negotiate(&[offer])?;
    match negotiated.extension {
        SessionExtension::Deflate(session) => Stage::new(vec![SessionExtension::Deflate(session)]),
        SessionExtension::Custom(..) => None,
    }
}

/// Serves `request` (any bytes) as a client connection's input to a small app (a
/// WebSocket route, one with a path parameter and a subprotocol, a plain HTTP route),
/// over an in-memory transport, on a runtime whose clock only moves when everything
/// waits. Returns everything the server wrote. Panics only if the server does.
pub fn handshake(request: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let echo = crate::Route::new("/echo", |session: crate::WebSocketSession| async move {
            while let Some(frame) = session.incoming.recv().await {
                session.send(frame).await?;
            }
            Ok::<(), crate::Error>(())
        });
        let room = crate::Route::new(
            "/rooms/{room}",
            |session: crate::WebSocketSession| async move {
                let room = session.path_param("room").unwrap_or_default().to_owned();
                session.send(room).await
            },
        )
        .protocol("chat.v1");
        let server = crate::EmbeddedServer::new()
            .configure(|app| {
                app.install(
                    crate::WebSocketOptions::new()
                        .extension(Deflate::new())
                        .allowed_origins(["https://app.example"]),
                );
                app.route(echo);
                app.route(room);
                app.get("/health", |_| async { crate::HttpResponse::text("ok") });
            })
            .into_local()
            .expect("a valid app");
        let (mut client, io) = tokio::io::duplex(64 * 1024);
        let serving = tokio::spawn(server.serve(io, "127.0.0.1:40000".parse().unwrap()));
        // No half-close after the request: an HTTP/1 server may take it as the end of
        // the connection. The paused clock ends the wait once the server is idle.
        let _ = client.write_all(request).await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            let mut buf = [0u8; 4096];
            while let Ok(n) = client.read(&mut buf).await {
                if n == 0 || out.len() > 1 << 20 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
        })
        .await;
        drop(client);
        serving.abort();
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handshake_is_answered_over_the_in_memory_transport() {
        let upgrade =
            b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let reply = handshake(upgrade);
        assert!(
            reply.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
        let reply = handshake(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            reply.starts_with(b"HTTP/1.1 404"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
        // A request that never ends is cut off by the handshake timeout (virtual time).
        let reply = handshake(b"GET /echo HTTP/1.1\r\nHost: x\r\n");
        assert!(reply.is_empty() || reply.starts_with(b"HTTP/1.1 "));
    }

    #[test]
    fn decode_reports_what_the_core_did() {
        let mode = Mode::from_bits(0, 1 << 20);
        let frame = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
        assert_eq!(
            decode(mode, &[3], &frame),
            vec![Decoded::Frame(Frame::text("hi"))]
        );
        assert_eq!(
            decode(mode, &[], &[0x81, 0x02, 0, 0]),
            vec![Decoded::Failed(1002)]
        );
    }
}
