//! Differential: a valid client-to-server byte stream, built from the fuzz input, read
//! by ws's core (`ws_runtime::fuzz::decode`: server role, not raw, no extension) and by
//! tungstenite (`WebSocket::from_raw_socket`, server role) over an in-memory stream.
//! Both must take the whole stream and report what was put in it: the same data
//! messages (type and bytes), pings and pongs, in order, and the same close.
//!
//! The stream: messages, text (`String::from_utf8_lossy` of a slice of the input) or
//! binary, each cut into 1 to 8 frames at chosen points (a character of text may be cut
//! between two frames, as RFC 6455 allows), with pings and unsolicited pongs (at most
//! 125 bytes) between frames and before messages, every frame masked with a chosen key, lengths in the
//! shortest form (7, 16 or 64 bits: a payload may be repeated past 64 KiB), and
//! maybe a close frame at the end (a valid code, a UTF-8 reason of at most 123 bytes).
//!
//! Input layout: `[ncuts, cuts.., operations..]` (`ncuts % 17` cut bytes, as in
//! `decode`; tungstenite's reads are cut the same way). An operation byte with its
//! top 3 bits set (`0xe0`) is a close, which ends the stream (bit 0: with a code
//! selector (u16), a reason length byte, the reason bytes; then the key); `0xc0` under
//! `0xe0` is a run of control frames on their own; otherwise a message: bit 0 text,
//! bits 1-3 its frames - 1, a high nibble of `0x7` repeats it past 64 KiB (once per
//! stream); then its length (u16 LE, % 1024), its bytes, the repeat byte (if
//! repeated), a u16 per cut point, and per frame its key (4 bytes) and up to two
//! control bytes (bit 0: a control frame follows, bit 1: a pong rather than a ping, the
//! rest: its length % 126; then its payload and key). Once the input runs out, every
//! byte read is zero.
//!
//! The expected events are known from the construction, so a difference says which
//! side is wrong: the assertion prints all three lists.

#![no_main]

use std::io::{self, Read, Write};

use libfuzzer_sys::fuzz_target;
use tungstenite::protocol::{Message, Role, WebSocket, WebSocketConfig};
use ws_runtime::Frame;
use ws_runtime::fuzz::{Decoded, Mode, decode};

/// What a reader reports, in a form both sides map to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// Code and reason, or no status.
    Close(Option<(u16, Vec<u8>)>),
    /// The reader refused the stream (what it said).
    Failed(String),
}

// ----- building the stream -----

/// The fuzz input read front to back; zeros once it runs out.
struct Source<'a>(&'a [u8]);

impl<'a> Source<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn key(&mut self) -> [u8; 4] {
        [self.byte(), self.byte(), self.byte(), self.byte()]
    }

    /// Up to `n` bytes.
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Appends one masked frame (RFC 6455 §5.2): FIN and opcode, MASK and the length in
/// the shortest form, the key, the masked payload.
fn frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], key: [u8; 4]) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
}

/// Close codes both sides accept from a peer: RFC 6455 §7.4.1's (1004 to 1006 and 1015
/// may not be sent), 1012 and 1013 from IANA's registry, and the application ranges.
/// Not 1014: ws takes it (IANA's "Bad Gateway"), tungstenite reports it as 1002.
fn close_code(n: u16) -> u16 {
    const NAMED: [u16; 11] = [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
    ];
    match n % 4 {
        0 | 1 => NAMED[usize::from(n / 4) % NAMED.len()],
        _ => 3000 + (n / 4) % 2000,
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The stream and the events it must produce.
fn build(src: &mut Source) -> (Vec<u8>, Vec<Event>) {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    // Pings and pongs after a frame, as the next byte says.
    let controls = |src: &mut Source, wire: &mut Vec<u8>, expected: &mut Vec<Event>| {
        for _ in 0..2 {
            let c = src.byte();
            if c & 1 == 0 {
                break;
            }
            let payload = src.take(usize::from(c >> 2) % 126).to_vec();
            let key = src.key();
            if c & 2 == 0 {
                frame(wire, true, OP_PING, &payload, key);
                expected.push(Event::Ping(payload));
            } else {
                frame(wire, true, OP_PONG, &payload, key);
                expected.push(Event::Pong(payload));
            }
        }
    };
    let mut long = false;
    for _ in 0..32 {
        if src.is_empty() {
            break;
        }
        let op = src.byte();
        if op & 0xe0 == 0xe0 {
            // A close ends the stream.
            let payload = if op & 1 == 0 {
                expected.push(Event::Close(None));
                Vec::new()
            } else {
                let code = close_code(src.u16());
                let len = usize::from(src.byte());
                let reason = String::from_utf8_lossy(src.take(len)).into_owned();
                let reason = truncate(&reason, 123).as_bytes().to_vec();
                expected.push(Event::Close(Some((code, reason.clone()))));
                let mut payload = code.to_be_bytes().to_vec();
                payload.extend_from_slice(&reason);
                payload
            };
            frame(&mut wire, true, OP_CLOSE, &payload, src.key());
            break;
        }
        if op & 0xe0 == 0xc0 {
            // Pings and pongs on their own (before the first message, say).
            controls(src, &mut wire, &mut expected);
            continue;
        }
        let text = op & 1 != 0;
        let fragments = 1 + usize::from((op >> 1) & 7);
        let len = usize::from(src.u16()) % 1024;
        let slice = src.take(len);
        // Now and then (one message in 16, one per stream) a payload past 16 bits:
        // the slice repeated to just over 64 KiB.
        let repeat = if op & 0xf0 == 0x70 && !slice.is_empty() && !long {
            long = true;
            65_536 / slice.len() + 1 + usize::from(src.byte() % 4)
        } else {
            1
        };
        let mut payload = if text {
            String::from_utf8_lossy(slice).repeat(repeat).into_bytes()
        } else {
            slice.repeat(repeat)
        };
        let mut cuts: Vec<usize> = (1..fragments)
            .map(|_| usize::from(src.u16()) * (payload.len() + 1) / 65_536)
            .collect();
        cuts.sort_unstable();
        cuts.push(payload.len());
        let mut start = 0;
        for (i, &end) in cuts.iter().enumerate() {
            let opcode = match (i, text) {
                (0, true) => OP_TEXT,
                (0, false) => OP_BINARY,
                _ => OP_CONTINUATION,
            };
            let fin = i + 1 == cuts.len();
            frame(&mut wire, fin, opcode, &payload[start..end], src.key());
            start = end;
            if fin {
                // Reported when its last frame arrives, before what follows it.
                let payload = std::mem::take(&mut payload);
                expected.push(if text {
                    Event::Text(payload)
                } else {
                    Event::Binary(payload)
                });
            }
            controls(src, &mut wire, &mut expected);
        }
    }
    (wire, expected)
}

// ----- ws -----

fn ws_events(cuts: &[u8], wire: &[u8]) -> Vec<Event> {
    let mode = Mode::from_bits(0, usize::MAX);
    decode(mode, cuts, wire)
        .into_iter()
        .map(|event| match event {
            Decoded::Frame(Frame::Text(text)) => Event::Text(text.as_bytes().to_vec()),
            Decoded::Frame(Frame::Binary(bytes)) => Event::Binary(bytes.to_vec()),
            Decoded::Frame(other) => Event::Failed(format!("unexpected frame {other:?}")),
            Decoded::Ping(p) => Event::Ping(p),
            Decoded::Pong(p) => Event::Pong(p),
            Decoded::Close(reason) => {
                Event::Close(reason.map(|(code, reason)| (code, reason.into_bytes())))
            }
            Decoded::Failed(code) => Event::Failed(format!("failed with {code}")),
        })
        .collect()
}

// ----- tungstenite -----

/// An in-memory connection: reads come from `input` in pieces of the lengths `cuts`
/// give (as `decode` cuts them), writes (pongs, the close reply) go to `output`.
struct Pipe<'a> {
    input: &'a [u8],
    cuts: &'a [u8],
    reads: usize,
    output: Vec<u8>,
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let piece = match self.cuts {
            [] => self.input.len(),
            cuts => usize::from(cuts[self.reads % cuts.len()]) + 1,
        };
        self.reads += 1;
        let n = piece.min(buf.len()).min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for Pipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tungstenite_events(cuts: &[u8], wire: &[u8]) -> Vec<Event> {
    let config = WebSocketConfig::default()
        .read_buffer_size(256)
        .max_message_size(None)
        .max_frame_size(None);
    let pipe = Pipe {
        input: wire,
        cuts,
        reads: 0,
        output: Vec::new(),
    };
    let mut socket = WebSocket::from_raw_socket(pipe, Role::Server, Some(config));
    let mut events = Vec::new();
    loop {
        match socket.read() {
            Ok(Message::Text(text)) => events.push(Event::Text(text.as_bytes().to_vec())),
            Ok(Message::Binary(bytes)) => events.push(Event::Binary(bytes.to_vec())),
            Ok(Message::Ping(p)) => events.push(Event::Ping(p.to_vec())),
            Ok(Message::Pong(p)) => events.push(Event::Pong(p.to_vec())),
            Ok(Message::Close(close)) => events.push(Event::Close(
                close.map(|c| (u16::from(c.code), c.reason.as_bytes().to_vec())),
            )),
            Ok(Message::Frame(frame)) => {
                events.push(Event::Failed(format!("unexpected raw frame {frame:?}")));
                break;
            }
            // After the peer's close (and our reply), or the input's end without one.
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            )) if !matches!(events.last(), Some(Event::Close(_))) => break,
            Err(e) => {
                events.push(Event::Failed(e.to_string()));
                break;
            }
        }
    }
    events
}

/// `WS_FUZZ_SHOW=1` prints each input's stream and expected events.
static SHOW: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("WS_FUZZ_SHOW").is_some());

fuzz_target!(|data: &[u8]| {
    let mut src = Source(data);
    let ncuts = usize::from(src.byte() % 17);
    let cuts = src.take(ncuts).to_vec();
    let (wire, expected) = build(&mut src);
    let ours = ws_events(&cuts, &wire);
    let theirs = tungstenite_events(&cuts, &wire);
    if *SHOW {
        eprintln!("cuts {cuts:?}, wire ({} bytes): {}", wire.len(), hex(&wire));
        eprintln!("expected: {expected:?}");
    }
    if ours != expected || theirs != expected {
        panic!(
            "the readers disagree on a valid stream of {} bytes\n\
             wire:        {}\n\
             expected:    {expected:?}\n\
             ws:          {ours:?}\n\
             tungstenite: {theirs:?}",
            wire.len(),
            hex(&wire),
        );
    }
});

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
