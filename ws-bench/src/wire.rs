//! The load generator's WebSocket client: just enough of RFC 6455 to drive servers hard
//! while staying cheap itself.
//!
//! Requests are encoded (and masked) once and then re-sent; replies are parsed in place
//! from one read buffer, and payloads that the scenario does not look at are skipped,
//! never assembled. Masking uses a fixed key: servers must unmask whatever the key is.
//!
//! [`FrameReader`] owns its buffer (handshakes, the `idle` scenario); [`FrameWalker`]
//! is fed bytes from a buffer the caller shares between connections and keeps only
//! its position in the frame stream, so the echo and broadcast loops can count replies
//! without copying them and skip long payloads without even reading them.

use std::io;
use std::net::SocketAddr;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Continuation frame.
pub const OP_CONTINUATION: u8 = 0x0;
/// Text frame.
pub const OP_TEXT: u8 = 0x1;
/// Binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Ping frame.
pub const OP_PING: u8 = 0x9;
/// Pong frame.
pub const OP_PONG: u8 = 0xA;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Appends one complete, masked client frame to `out`.
pub fn encode_frame(opcode: u8, rsv1: bool, payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x80 | if rsv1 { 0x40 } else { 0 } | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&MASK);
    out.extend(
        payload
            .iter()
            .zip(MASK.iter().cycle())
            .map(|(byte, key)| byte ^ key),
    );
}

/// One complete masked client frame.
pub fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + 14);
    encode_frame(opcode, false, payload, &mut out);
    out.into()
}

/// A close frame with status 1000, to leave politely.
pub fn close_frame() -> Bytes {
    frame(OP_CLOSE, &1000u16.to_be_bytes())
}

/// A message (or control frame) parsed from the server.
#[derive(Debug)]
pub struct Message<'a> {
    /// Opcode of the first frame.
    pub opcode: u8,
    /// RSV1 of the first frame (compressed, with permessage-deflate).
    pub rsv1: bool,
    /// Payload length on the wire (all fragments).
    pub len: usize,
    /// The payload if the reader keeps payloads (control frames always), else empty.
    pub payload: &'a [u8],
}

/// Parses server frames out of one buffer, reassembling or skipping payloads.
#[derive(Debug)]
pub struct FrameReader {
    buf: BytesMut,
    keep: bool,
    in_frame: bool,
    remaining: usize,
    fin: bool,
    opcode: u8,
    rsv1: bool,
    msg: Vec<u8>,
    msg_len: usize,
}

impl FrameReader {
    /// A reader that keeps payloads (`keep`) or only counts them.
    pub fn new(keep: bool) -> Self {
        Self {
            buf: BytesMut::new(),
            keep,
            in_frame: false,
            remaining: 0,
            fin: false,
            opcode: 0,
            rsv1: false,
            msg: Vec::new(),
            msg_len: 0,
        }
    }

    /// Switches between keeping and skipping payloads (between messages).
    pub fn set_keep(&mut self, keep: bool) {
        self.keep = keep;
    }

    /// Bytes buffered and not yet parsed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes the bytes buffered and not yet parsed (those a server sent right after its
    /// handshake response), for a [`FrameWalker`] to go on from. Only between frames.
    pub fn take_buffered(&mut self) -> BytesMut {
        debug_assert!(!self.in_frame, "take_buffered inside a frame");
        std::mem::take(&mut self.buf)
    }

    /// Reads once from `stream` (at most `chunk` bytes); returns the byte count.
    /// End of stream is an error: servers under test never close first.
    pub async fn read_from<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        chunk: usize,
    ) -> io::Result<usize> {
        self.buf.reserve(chunk);
        let n = stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        Ok(n)
    }

    /// Parses every complete message in the buffer and calls `on_message` for each.
    /// A close frame from the server or a masked frame is an error.
    pub fn drain(&mut self, mut on_message: impl FnMut(Message<'_>)) -> io::Result<()> {
        loop {
            if self.in_frame {
                let n = self.remaining.min(self.buf.len());
                if self.keep {
                    self.msg.extend_from_slice(&self.buf[..n]);
                }
                self.buf.advance(n);
                self.remaining -= n;
                self.msg_len += n;
                if self.remaining > 0 {
                    return Ok(());
                }
                self.in_frame = false;
                if self.fin {
                    on_message(Message {
                        opcode: self.opcode,
                        rsv1: self.rsv1,
                        len: self.msg_len,
                        payload: &self.msg,
                    });
                    self.msg.clear();
                    self.msg_len = 0;
                }
                continue;
            }
            if self.buf.len() < 2 {
                return Ok(());
            }
            let (b0, b1) = (self.buf[0], self.buf[1]);
            if b1 & 0x80 != 0 {
                return Err(invalid("masked frame from the server"));
            }
            let (len, header) = match b1 & 0x7f {
                126 if self.buf.len() >= 4 => (
                    usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                    4,
                ),
                127 if self.buf.len() >= 10 => {
                    let mut bytes = [0; 8];
                    bytes.copy_from_slice(&self.buf[2..10]);
                    (u64::from_be_bytes(bytes) as usize, 10)
                }
                126 | 127 => return Ok(()),
                n => (usize::from(n), 2),
            };
            let opcode = b0 & 0x0f;
            if opcode >= 0x8 {
                if self.buf.len() < header + len {
                    return Ok(());
                }
                if opcode == OP_CLOSE {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!(
                            "server sent close: {:?}",
                            String::from_utf8_lossy(&self.buf[header..header + len])
                        ),
                    ));
                }
                on_message(Message {
                    opcode,
                    rsv1: false,
                    len,
                    payload: &self.buf[header..header + len],
                });
                self.buf.advance(header + len);
                continue;
            }
            self.buf.advance(header);
            if opcode != OP_CONTINUATION {
                self.opcode = opcode;
                self.rsv1 = b0 & 0x40 != 0;
            }
            self.fin = b0 & 0x80 != 0;
            self.remaining = len;
            self.in_frame = true;
        }
    }
}

/// Walks the server's frame stream fed in pieces of any size, keeping only its place
/// in it: the header bytes of a frame split across pieces, and how much of the current
/// payload is still to come. Data payloads are copied only if asked (`keep`), control
/// payloads (at most 125 bytes) always.
#[derive(Debug, Default)]
pub struct FrameWalker {
    head: [u8; 10],
    head_len: usize,
    in_payload: bool,
    remaining: usize,
    control: bool,
    frame_opcode: u8,
    fin: bool,
    opcode: u8,
    rsv1: bool,
    msg_len: usize,
    keep: bool,
    kept: Vec<u8>,
    ctrl: Vec<u8>,
}

/// Header length from the second header byte.
fn header_len(b1: u8) -> usize {
    match b1 & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    }
}

impl FrameWalker {
    /// A walker that keeps data payloads (`keep`) or only counts them.
    pub fn new(keep: bool) -> Self {
        Self {
            keep,
            ..Self::default()
        }
    }

    /// Payload bytes of the current data frame that the caller may discard unread
    /// (then reporting them with [`FrameWalker::skip`]); 0 when payloads are kept.
    pub fn skippable(&self) -> usize {
        if self.in_payload && !self.control && !self.keep {
            self.remaining
        } else {
            0
        }
    }

    /// Accounts for `n` payload bytes discarded unread (at most [`skippable`]).
    ///
    /// [`skippable`]: FrameWalker::skippable
    pub fn skip(&mut self, n: usize, on_message: impl FnMut(Message<'_>)) -> io::Result<()> {
        assert!(n <= self.skippable(), "skipped past the frame");
        self.remaining -= n;
        self.msg_len += n;
        if self.remaining == 0 {
            self.in_payload = false;
            self.end_frame(on_message)?;
        }
        Ok(())
    }

    /// Walks `data`, the next bytes of the stream, calling `on_message` for every
    /// message (data messages once their last fragment is in) and control frame. A close
    /// frame or a masked frame from the server is an error.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        mut on_message: impl FnMut(Message<'_>),
    ) -> io::Result<()> {
        loop {
            if self.in_payload {
                let n = self.remaining.min(data.len());
                if self.control {
                    self.ctrl.extend_from_slice(&data[..n]);
                } else {
                    if self.keep {
                        self.kept.extend_from_slice(&data[..n]);
                    }
                    self.msg_len += n;
                }
                data = &data[n..];
                self.remaining -= n;
                if self.remaining > 0 {
                    return Ok(());
                }
                self.in_payload = false;
                self.end_frame(&mut on_message)?;
                continue;
            }
            if data.is_empty() {
                return Ok(());
            }
            if self.head_len == 0 && data.len() >= 2 && data.len() >= header_len(data[1]) {
                // The whole header is here: read it in place.
                let n = header_len(data[1]);
                self.start_frame(&data[..n])?;
                data = &data[n..];
                continue;
            }
            // The header is split across pieces: gather it.
            let need = if self.head_len >= 2 {
                header_len(self.head[1])
            } else {
                2
            };
            let n = (need - self.head_len).min(data.len());
            self.head[self.head_len..self.head_len + n].copy_from_slice(&data[..n]);
            self.head_len += n;
            data = &data[n..];
            if self.head_len == need && (need > 2 || header_len(self.head[1]) == 2) {
                let head = self.head;
                self.head_len = 0;
                self.start_frame(&head[..need])?;
            }
        }
    }

    fn start_frame(&mut self, head: &[u8]) -> io::Result<()> {
        let (b0, b1) = (head[0], head[1]);
        if b1 & 0x80 != 0 {
            return Err(invalid("masked frame from the server"));
        }
        let len = match head.len() {
            4 => usize::from(u16::from_be_bytes([head[2], head[3]])),
            10 => {
                let mut bytes = [0; 8];
                bytes.copy_from_slice(&head[2..10]);
                u64::from_be_bytes(bytes) as usize
            }
            _ => usize::from(b1 & 0x7f),
        };
        let opcode = b0 & 0x0f;
        self.frame_opcode = opcode;
        self.control = opcode >= 0x8;
        if self.control {
            self.ctrl.clear();
        } else {
            if opcode != OP_CONTINUATION {
                self.opcode = opcode;
                self.rsv1 = b0 & 0x40 != 0;
            }
            self.fin = b0 & 0x80 != 0;
        }
        self.remaining = len;
        self.in_payload = true;
        Ok(())
    }

    fn end_frame(&mut self, mut on_message: impl FnMut(Message<'_>)) -> io::Result<()> {
        if self.control {
            if self.frame_opcode == OP_CLOSE {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    format!(
                        "server sent close: {:?}",
                        String::from_utf8_lossy(&self.ctrl)
                    ),
                ));
            }
            on_message(Message {
                opcode: self.frame_opcode,
                rsv1: false,
                len: self.ctrl.len(),
                payload: &self.ctrl,
            });
        } else if self.fin {
            on_message(Message {
                opcode: self.opcode,
                rsv1: self.rsv1,
                len: self.msg_len,
                payload: &self.kept,
            });
            self.kept.clear();
            self.msg_len = 0;
        }
        Ok(())
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// A connected, upgraded client connection.
#[derive(Debug)]
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
    /// Frames read after the handshake (the server may already have sent some).
    pub reader: FrameReader,
    /// The server's `Sec-WebSocket-Extensions` answer, if any.
    pub extensions: Option<String>,
}

/// Connects to `addr`, upgrades `path`, offering `extensions` if given.
pub async fn connect(addr: SocketAddr, path: &str, extensions: Option<&str>) -> io::Result<Conn> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let offer = extensions
        .map(|value| format!("Sec-WebSocket-Extensions: {value}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut reader = FrameReader::new(false);
    let end = loop {
        reader.read_from(&mut stream, 4096).await?;
        if let Some(end) = reader.buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if reader.buf.len() > 16 * 1024 {
            return Err(invalid("handshake response too long"));
        }
    };
    let head = String::from_utf8_lossy(&reader.buf[..end]).into_owned();
    reader.buf.advance(end + 4);
    let status = head.lines().next().unwrap_or_default();
    if status.split_ascii_whitespace().nth(1) != Some("101") {
        return Err(invalid(&format!("upgrade refused: {status}")));
    }
    let extensions = head.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-extensions")
            .then(|| value.trim().to_owned())
    });
    Ok(Conn {
        stream,
        reader,
        extensions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server frame (unmasked) for the tests.
    fn server_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![b0];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 65535 => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    fn parse(reader: &mut FrameReader, bytes: &[u8]) -> Vec<(u8, bool, usize, Vec<u8>)> {
        let mut seen = Vec::new();
        // Feed one byte at a time: every split point must work.
        for byte in bytes {
            reader.buf.extend_from_slice(&[*byte]);
            reader
                .drain(|m| seen.push((m.opcode, m.rsv1, m.len, m.payload.to_vec())))
                .unwrap();
        }
        seen
    }

    #[test]
    fn masks_and_sizes() {
        for len in [0, 1, 125, 126, 65535, 65536] {
            let payload = vec![7u8; len];
            let mut out = Vec::new();
            encode_frame(OP_BINARY, false, &payload, &mut out);
            let header = out.len() - len;
            assert_eq!(
                header,
                if len < 126 {
                    6
                } else if len < 65536 {
                    8
                } else {
                    14
                }
            );
            assert_eq!(out[0], 0x82);
            let unmasked: Vec<u8> = out[header..]
                .iter()
                .zip(MASK.iter().cycle())
                .map(|(b, k)| b ^ k)
                .collect();
            assert_eq!(unmasked, payload);
        }
    }

    #[test]
    fn reassembles_and_skips() {
        let mut bytes = server_frame(0x01, b"hel");
        bytes.extend(server_frame(0x89, b"p"));
        bytes.extend(server_frame(0x80, b"lo"));
        bytes.extend(server_frame(0xc2, &[1u8; 300]));
        bytes.extend(server_frame(0x82, &[2u8; 70000]));
        let kept = parse(&mut FrameReader::new(true), &bytes);
        assert_eq!(kept.len(), 4);
        assert_eq!(kept[0], (OP_PING, false, 1, b"p".to_vec()));
        assert_eq!(kept[1], (OP_TEXT, false, 5, b"hello".to_vec()));
        assert_eq!((kept[2].0, kept[2].1, kept[2].2), (OP_BINARY, true, 300));
        assert_eq!(kept[3].3, vec![2u8; 70000]);
        let skipped = parse(&mut FrameReader::new(false), &bytes);
        assert_eq!(skipped[1], (OP_TEXT, false, 5, Vec::new()));
        assert_eq!(skipped[3].2, 70000);
    }

    fn walk(
        walker: &mut FrameWalker,
        bytes: &[u8],
        piece: usize,
    ) -> Vec<(u8, bool, usize, Vec<u8>)> {
        let mut seen = Vec::new();
        for chunk in bytes.chunks(piece) {
            walker
                .feed(chunk, |m| {
                    seen.push((m.opcode, m.rsv1, m.len, m.payload.to_vec()))
                })
                .unwrap();
        }
        seen
    }

    #[test]
    fn walker_counts_at_every_split() {
        let mut bytes = server_frame(0x01, b"hel");
        bytes.extend(server_frame(0x89, b"p"));
        bytes.extend(server_frame(0x80, b"lo"));
        bytes.extend(server_frame(0x81, b""));
        bytes.extend(server_frame(0xc2, &[1u8; 300]));
        bytes.extend(server_frame(0x82, &[2u8; 70000]));
        for piece in [1, 2, 3, 7, 64, 1000, bytes.len()] {
            let kept = walk(&mut FrameWalker::new(true), &bytes, piece);
            assert_eq!(kept.len(), 5, "piece {piece}");
            assert_eq!(kept[0], (OP_PING, false, 1, b"p".to_vec()));
            assert_eq!(kept[1], (OP_TEXT, false, 5, b"hello".to_vec()));
            assert_eq!(kept[2], (OP_TEXT, false, 0, Vec::new()));
            assert_eq!((kept[3].0, kept[3].1, kept[3].2), (OP_BINARY, true, 300));
            assert_eq!(kept[4].3, vec![2u8; 70000]);
            let counted = walk(&mut FrameWalker::new(false), &bytes, piece);
            assert_eq!(counted[1], (OP_TEXT, false, 5, Vec::new()));
            assert_eq!(counted[4], (OP_BINARY, false, 70000, Vec::new()));
        }
    }

    #[test]
    fn walker_skips_payloads_unread() {
        let mut bytes = server_frame(0x82, &[2u8; 70000]);
        bytes.extend(server_frame(0x82, &[3u8; 5]));
        let mut walker = FrameWalker::new(false);
        let mut seen = Vec::new();
        walker.feed(&bytes[..100], |m| seen.push(m.len)).unwrap();
        assert_eq!(walker.skippable(), 70000 - 90);
        walker.skip(60000, |m| seen.push(m.len)).unwrap();
        walker
            .skip(walker.skippable(), |m| seen.push(m.len))
            .unwrap();
        assert_eq!(seen, vec![70000]);
        walker.feed(&bytes[70010..], |m| seen.push(m.len)).unwrap();
        assert_eq!(seen, vec![70000, 5]);
        assert_eq!(FrameWalker::new(true).skippable(), 0);
    }

    #[test]
    fn walker_errors_on_close_and_masked_frames() {
        let mut walker = FrameWalker::new(false);
        assert!(walker.feed(&server_frame(0x88, &[3, 232]), |_| {}).is_err());
        let mut walker = FrameWalker::new(false);
        assert!(
            walker
                .feed(&[0x81, 0x81, 0, 0, 0, 0, b'a'], |_| {})
                .is_err()
        );
    }

    #[test]
    fn close_and_masked_frames_are_errors() {
        let mut reader = FrameReader::new(false);
        reader.buf.extend_from_slice(&server_frame(0x88, &[3, 232]));
        assert!(reader.drain(|_| {}).is_err());
        let mut reader = FrameReader::new(false);
        reader
            .buf
            .extend_from_slice(&[0x81, 0x81, 0, 0, 0, 0, b'a']);
        assert!(reader.drain(|_| {}).is_err());
    }
}
