//! The suite's own raw WebSocket client.
//!
//! It writes the opening handshake by hand, builds every frame byte by byte (any
//! opcode, RSV bits, mask, length form, declared length) and delivers the bytes the
//! way a case asks: whole, in TCP chunks of a chosen size, or one byte per write. It
//! reads what the server writes without trusting it: every server frame is checked
//! against RFC 6455 (unmasked, no unnegotiated RSV bit, no reserved opcode, control
//! frames short and final), and a `permessage-deflate` reply is inflated with exactly
//! the window and context-takeover rules that were negotiated.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::deflate::{Agreed, DeflateClient};

/// Opcodes (RFC 6455 §5.2).
pub const CONT: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// RSV bits as they sit in the first header byte, shifted down: RSV1 = 4.
pub const RSV1: u8 = 4;
pub const RSV2: u8 = 2;
pub const RSV3: u8 = 1;

/// How a read that timed out begins its error text.
const TIMEOUT: &str = "timeout:";

/// Whether an error is a read that timed out (the connection is still usable).
pub fn is_timeout(e: &str) -> bool {
    e.starts_with(TIMEOUT)
}

/// How long one read may wait by default.
pub const READ_WAIT: Duration = Duration::from_secs(5);
/// How long the server may take to close TCP after the close handshake.
pub const EOF_WAIT: Duration = Duration::from_secs(3);

/// How the payload length is written in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Len {
    /// The shortest form (RFC 6455 §5.2 requires it of senders).
    Minimal,
    /// Declare this length in the 64-bit form regardless of the payload actually
    /// written (to send a header alone, or a length with the top bit set).
    Declared(u64),
}

/// A frame the client sends.
#[derive(Clone, Debug)]
pub struct Frame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub payload: Vec<u8>,
    pub mask: Option<[u8; 4]>,
    pub len: Len,
}

static MASK_SEED: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

/// A fresh, varied masking key (RFC 6455 §5.3 wants them unpredictable; here they only
/// need to differ, so that a server that unmasks wrongly shows it).
pub fn next_mask() -> [u8; 4] {
    let mut x = MASK_SEED.fetch_add(0x2545_f491_4f6c_dd1d, Ordering::Relaxed);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 29;
    let key = (x as u32).to_be_bytes();
    if key == [0; 4] { [1, 2, 3, 4] } else { key }
}

impl Frame {
    /// A final, masked frame with the given opcode and payload.
    pub fn new(opcode: u8, payload: impl Into<Vec<u8>>) -> Frame {
        Frame {
            fin: true,
            rsv: 0,
            opcode,
            payload: payload.into(),
            mask: Some(next_mask()),
            len: Len::Minimal,
        }
    }

    pub fn text(payload: impl Into<Vec<u8>>) -> Frame {
        Frame::new(TEXT, payload)
    }

    pub fn binary(payload: impl Into<Vec<u8>>) -> Frame {
        Frame::new(BINARY, payload)
    }

    pub fn cont(payload: impl Into<Vec<u8>>) -> Frame {
        Frame::new(CONT, payload)
    }

    pub fn ping(payload: impl Into<Vec<u8>>) -> Frame {
        Frame::new(PING, payload)
    }

    pub fn pong(payload: impl Into<Vec<u8>>) -> Frame {
        Frame::new(PONG, payload)
    }

    /// A close frame with a status code and reason.
    pub fn close(code: u16, reason: impl AsRef<[u8]>) -> Frame {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_ref());
        Frame::new(CLOSE, payload)
    }

    /// A close frame without a body.
    pub fn close_empty() -> Frame {
        Frame::new(CLOSE, Vec::new())
    }

    pub fn fin(mut self, fin: bool) -> Frame {
        self.fin = fin;
        self
    }

    pub fn rsv(mut self, rsv: u8) -> Frame {
        self.rsv = rsv;
        self
    }

    pub fn mask(mut self, key: [u8; 4]) -> Frame {
        self.mask = Some(key);
        self
    }

    pub fn unmasked(mut self) -> Frame {
        self.mask = None;
        self
    }

    pub fn len(mut self, len: Len) -> Frame {
        self.len = len;
        self
    }

    /// The frame's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 14);
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(((self.fin as u8) << 7) | ((self.rsv & 7) << 4) | (self.opcode & 0x0f));
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        match self.len {
            Len::Minimal => match self.payload.len() {
                n if n < 126 => out.push(mask_bit | n as u8),
                n if n <= 0xffff => {
                    out.push(mask_bit | 126);
                    out.extend_from_slice(&(n as u16).to_be_bytes());
                }
                n => {
                    out.push(mask_bit | 127);
                    out.extend_from_slice(&(n as u64).to_be_bytes());
                }
            },
            Len::Declared(n) => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        let start = out.len() + self.mask.map_or(0, |_| 4);
        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
        }
        out.extend_from_slice(&self.payload);
        if let Some(key) = self.mask {
            apply_mask(&mut out[start..], key);
        }
    }
}

/// XORs `data` with `key` (RFC 6455 §5.3), a word at a time: the suite runs in debug
/// builds and masks megabytes.
pub fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    if key == [0; 4] {
        return;
    }
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let v = u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// All frames' bytes, back to back: several frames in one write.
pub fn concat(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    for frame in frames {
        frame.encode_into(&mut out);
    }
    out
}

/// How bytes go onto the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// One write.
    Whole,
    /// Writes of this many bytes each, yielding between them.
    Chunks(usize),
    /// One byte per write, with a short pause between writes so that each byte
    /// travels in its own TCP segment.
    Dribble,
    /// The first this-many bytes one per write (a header split at every byte), then
    /// the rest in one write.
    DribbleFirst(usize),
}

/// A frame as the server wrote it.
#[derive(Clone, Debug)]
pub struct RxFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// What the server sent, at message level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame: its code (`None` for an empty body) and reason.
    Close(Option<u16>, Vec<u8>),
    /// The server closed TCP.
    Eof,
}

impl Msg {
    /// Checks that this is the data message `opcode`/`payload` (an echo).
    pub fn check_data(&self, opcode: u8, payload: &[u8]) -> Result<(), String> {
        let (kind, data) = match self {
            Msg::Text(d) => (TEXT, d),
            Msg::Binary(d) => (BINARY, d),
            other => {
                return Err(format!(
                    "expected the echo of {}, got {}",
                    describe_data(opcode, payload.len()),
                    other.describe()
                ));
            }
        };
        if kind != opcode {
            return Err(format!(
                "expected {}, got {}",
                describe_data(opcode, payload.len()),
                self.describe()
            ));
        }
        if data != payload {
            let at = data.iter().zip(payload).position(|(a, b)| a != b);
            return Err(format!(
                "echo differs: {} bytes back for {} sent, first difference at {}",
                data.len(),
                payload.len(),
                at.unwrap_or(data.len().min(payload.len()))
            ));
        }
        Ok(())
    }

    /// Checks that this is a pong carrying `payload`.
    pub fn check_pong(&self, payload: &[u8]) -> Result<(), String> {
        match self {
            Msg::Pong(p) if p == payload => Ok(()),
            Msg::Pong(p) => Err(format!(
                "pong payload differs: {} bytes back for {} sent",
                p.len(),
                payload.len()
            )),
            other => Err(format!(
                "expected a pong of {} bytes, got {}",
                payload.len(),
                other.describe()
            )),
        }
    }

    /// A short description for failure messages.
    pub fn describe(&self) -> String {
        match self {
            Msg::Text(p) => format!("a text message of {} bytes", p.len()),
            Msg::Binary(p) => format!("a binary message of {} bytes", p.len()),
            Msg::Ping(p) => format!("a ping of {} bytes", p.len()),
            Msg::Pong(p) => format!("a pong of {} bytes", p.len()),
            Msg::Close(Some(code), _) => format!("a close frame with code {code}"),
            Msg::Close(None, _) => "a close frame without a code".to_string(),
            Msg::Eof => "the end of the TCP connection".to_string(),
        }
    }
}

/// The HTTP response to the opening handshake.
#[derive(Clone, Debug, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header of that name.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

static KEY_SEED: AtomicU64 = AtomicU64::new(0x0123_4567_89ab_cdef);

/// A fresh `Sec-WebSocket-Key`: 16 varied bytes, base64.
pub fn new_key() -> String {
    let mut bytes = [0u8; 16];
    for half in bytes.chunks_mut(8) {
        let mut x = KEY_SEED.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        x ^= x >> 31;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 27;
        half.copy_from_slice(&x.to_be_bytes());
    }
    crate::sha1::base64(&bytes)
}

/// A valid upgrade request for `path` with `key` and extra header lines
/// (`"Name: value"`).
pub fn upgrade_request(path: &str, key: &str, extra: &[String]) -> Vec<u8> {
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for line in extra {
        req.push_str(line);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.into_bytes()
}

/// One connection of the raw client.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    pub response: Response,
    /// The negotiated permessage-deflate state, if any.
    pub deflate: Option<DeflateClient>,
    /// The data message being assembled: opcode, compressed, payload so far.
    partial: Option<(u8, bool, Vec<u8>)>,
    /// A close frame went out (so none is sent in reply to the server's).
    pub sent_close: bool,
}

fn io_err(what: &str, e: std::io::Error) -> String {
    format!("{what}: {e}")
}

impl Conn {
    /// Connects and sends `request` the way `delivery` says, then reads the response
    /// head (and a short body if it is not 101). Does not judge the status.
    pub async fn open(
        addr: SocketAddr,
        request: &[u8],
        delivery: Delivery,
    ) -> Result<Conn, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| io_err("connect", e))?;
        stream.set_nodelay(true).map_err(|e| io_err("nodelay", e))?;
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            response: Response::default(),
            deflate: None,
            partial: None,
            sent_close: false,
        };
        conn.send(request, delivery).await?;
        // A response to HEAD announces a length but carries no body.
        conn.read_response(request.starts_with(b"HEAD ")).await?;
        Ok(conn)
    }

    /// Connects to `path` and requires a correct 101 (RFC 6455 §4.2.2).
    pub async fn connect(addr: SocketAddr, path: &str) -> Result<Conn, String> {
        Conn::upgrade(addr, path, &[], Delivery::Whole).await
    }

    /// Sends an upgrade request with extra header lines; requires a correct 101.
    pub async fn upgrade(
        addr: SocketAddr,
        path: &str,
        extra: &[String],
        delivery: Delivery,
    ) -> Result<Conn, String> {
        let key = new_key();
        let conn = Conn::open(addr, &upgrade_request(path, &key, extra), delivery).await?;
        conn.check_101(&key)?;
        Ok(conn)
    }

    /// Connects offering `offer` as `Sec-WebSocket-Extensions` (if any) and sets up
    /// the deflate state from the response, checked against the offer (RFC 7692 §7).
    /// Several offers may come on separate header lines: `offer` holds them separated
    /// by newlines.
    pub async fn upgrade_deflate(addr: SocketAddr, offer: &str) -> Result<Conn, String> {
        let extra: Vec<String> = offer
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("Sec-WebSocket-Extensions: {l}"))
            .collect();
        let mut conn = Conn::upgrade(addr, "/echo", &extra, Delivery::Whole).await?;
        let all_offers = offer.lines().collect::<Vec<_>>().join(",");
        let agreed = crate::deflate::check_response(&all_offers, &conn.response)?;
        conn.deflate = agreed.map(DeflateClient::new);
        Ok(conn)
    }

    /// The parameters negotiated, if deflate was.
    pub fn agreed(&self) -> Option<&Agreed> {
        self.deflate.as_ref().map(|d| &d.agreed)
    }

    /// Checks a 101 response: status, `Upgrade`, `Connection`, and the accept value
    /// computed here from the key (RFC 6455 §4.2.2 step 5).
    pub fn check_101(&self, key: &str) -> Result<(), String> {
        let r = &self.response;
        if r.status != 101 {
            return Err(format!(
                "handshake refused with {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        let expected = crate::sha1::accept_key(key);
        match r.header("sec-websocket-accept") {
            Some(v) if v == expected => {}
            other => {
                return Err(format!(
                    "Sec-WebSocket-Accept is {other:?}, expected {expected:?}"
                ));
            }
        }
        if !r
            .header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        {
            return Err("101 without `Upgrade: websocket`".into());
        }
        if !r.header("connection").is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        }) {
            return Err("101 without `Connection: Upgrade`".into());
        }
        Ok(())
    }

    async fn read_response(&mut self, head_request: bool) -> Result<(), String> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill(READ_WAIT).await? == 0 {
                return Err(format!(
                    "connection closed before a complete response ({} bytes: {:?})",
                    self.buf.len(),
                    String::from_utf8_lossy(&self.buf)
                ));
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        self.pos = head_end;
        self.response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if status != 101 && !head_request {
            let length: usize = self
                .response
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while self.buf.len() - self.pos < length {
                if self.fill(Duration::from_secs(2)).await.unwrap_or(0) == 0 {
                    break;
                }
            }
            self.response.body = self.buf[self.pos..].to_vec();
            self.pos = self.buf.len();
        }
        Ok(())
    }

    /// Reads more bytes; `Ok(0)` at EOF (or a reset, which ends the stream too).
    async fn fill(&mut self, wait: Duration) -> Result<usize, String> {
        if self.eof {
            return Ok(0);
        }
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.reserve(64 * 1024);
        match tokio::time::timeout(wait, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Err(format!("{TIMEOUT} nothing from the server within {wait:?}")),
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.eof = true;
                Ok(0)
            }
            Ok(Ok(n)) => Ok(n),
        }
    }

    /// Writes bytes the way `delivery` says. A write error is reported (the server
    /// may have closed the connection, which the caller judges).
    pub async fn send(&mut self, bytes: &[u8], delivery: Delivery) -> Result<(), String> {
        let result = match delivery {
            Delivery::Whole => self.stream.write_all(bytes).await,
            Delivery::Chunks(n) => {
                let mut r = Ok(());
                for chunk in bytes.chunks(n.max(1)) {
                    r = self.stream.write_all(chunk).await;
                    if r.is_err() {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                r
            }
            Delivery::Dribble | Delivery::DribbleFirst(_) => {
                let n = match delivery {
                    Delivery::DribbleFirst(n) => n.min(bytes.len()),
                    _ => bytes.len(),
                };
                let mut r = Ok(());
                for b in &bytes[..n] {
                    r = self.stream.write_all(&[*b]).await;
                    if r.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                if r.is_ok() && n < bytes.len() {
                    r = self.stream.write_all(&bytes[n..]).await;
                }
                r
            }
        };
        result.map_err(|e| io_err("write", e))
    }

    /// Half-closes TCP (FIN): the client sends nothing more.
    pub async fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Sends frames back to back in one write (or as `delivery` says).
    pub async fn send_frames(
        &mut self,
        frames: &[Frame],
        delivery: Delivery,
    ) -> Result<(), String> {
        if frames.iter().any(|f| f.opcode == CLOSE) {
            self.sent_close = true;
        }
        self.send(&concat(frames), delivery).await
    }

    /// Sends one frame whole.
    pub async fn send_frame(&mut self, frame: Frame) -> Result<(), String> {
        self.send_frames(&[frame], Delivery::Whole).await
    }

    /// The next frame the server wrote, checked against RFC 6455; `None` at EOF.
    pub async fn next_frame(&mut self, wait: Duration) -> Result<Option<RxFrame>, String> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf[self.pos..])? {
                self.pos += used;
                self.check_server_frame(&frame)?;
                return Ok(Some(frame));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "{TIMEOUT} no complete frame from the server within {wait:?}"
                ));
            }
            if self.fill(left).await? == 0 {
                if self.pos < self.buf.len() {
                    return Err(format!(
                        "connection closed inside a frame ({} bytes left over)",
                        self.buf.len() - self.pos
                    ));
                }
                return Ok(None);
            }
        }
    }

    fn check_server_frame(&self, f: &RxFrame) -> Result<(), String> {
        if matches!(f.opcode, 3..=7 | 11..=15) {
            return Err(format!("server sent reserved opcode {}", f.opcode));
        }
        let control = f.opcode >= 8;
        if control && (!f.fin || f.payload.len() > 125) {
            return Err("server sent a fragmented or long control frame (RFC 6455 §5.5)".into());
        }
        let allowed = if self.deflate.is_some() && matches!(f.opcode, TEXT | BINARY) {
            RSV1
        } else {
            0
        };
        if f.rsv & !allowed != 0 {
            return Err(format!(
                "server sent RSV bits {:#05b} on opcode {} that were not negotiated (RFC 6455 §5.2)",
                f.rsv, f.opcode
            ));
        }
        Ok(())
    }

    /// The next message or control frame; data fragments are assembled (and inflated
    /// if compressed), text checked for UTF-8.
    pub async fn next_msg(&mut self, wait: Duration) -> Result<Msg, String> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(f) = self.next_frame(left.max(Duration::from_millis(1))).await? else {
                if self.partial.is_some() {
                    return Err("connection closed inside a fragmented message".into());
                }
                return Ok(Msg::Eof);
            };
            match f.opcode {
                PING => return Ok(Msg::Ping(f.payload)),
                PONG => return Ok(Msg::Pong(f.payload)),
                CLOSE => return parse_close(&f.payload),
                TEXT | BINARY => {
                    if self.partial.is_some() {
                        return Err(
                            "server started a message inside another (RFC 6455 §5.4)".into()
                        );
                    }
                    self.partial = Some((f.opcode, f.rsv & RSV1 != 0, f.payload));
                }
                _ => match &mut self.partial {
                    Some((_, _, data)) => data.extend_from_slice(&f.payload),
                    None => return Err("server sent a continuation without a start".into()),
                },
            }
            if f.fin {
                let (opcode, compressed, mut data) = self.partial.take().expect("started");
                if compressed {
                    let deflate = self.deflate.as_mut().expect("checked with the RSV bits");
                    data = deflate.inflate_message(&data)?;
                }
                if opcode == TEXT {
                    if let Err(e) = std::str::from_utf8(&data) {
                        return Err(format!("server sent invalid UTF-8 text: {e}"));
                    }
                    return Ok(Msg::Text(data));
                }
                return Ok(Msg::Binary(data));
            }
        }
    }

    /// The next message, answering the server's pings on the way.
    pub async fn next_reply(&mut self, wait: Duration) -> Result<Msg, String> {
        loop {
            match self.next_msg(wait).await? {
                Msg::Ping(p) => self.send_frame(Frame::pong(p)).await?,
                other => return Ok(other),
            }
        }
    }

    /// Expects exactly this data message next (an echo).
    pub async fn expect_msg(&mut self, opcode: u8, payload: &[u8]) -> Result<(), String> {
        self.expect_msg_within(opcode, payload, READ_WAIT).await
    }

    pub async fn expect_msg_within(
        &mut self,
        opcode: u8,
        payload: &[u8],
        wait: Duration,
    ) -> Result<(), String> {
        self.next_reply(wait).await?.check_data(opcode, payload)
    }

    /// Expects a pong with this payload next.
    pub async fn expect_pong(&mut self, payload: &[u8]) -> Result<(), String> {
        self.next_reply(READ_WAIT).await?.check_pong(payload)
    }

    /// Expects the server's close frame with one of `codes` (1005 stands for an
    /// empty close body), answers it unless we sent one, and expects TCP to end.
    pub async fn expect_close(&mut self, codes: &[u16]) -> Result<(), String> {
        self.expect_close_within(codes, READ_WAIT).await
    }

    pub async fn expect_close_within(
        &mut self,
        codes: &[u16],
        wait: Duration,
    ) -> Result<(), String> {
        let got = self.next_reply(wait).await?;
        let Msg::Close(code, _) = got else {
            return Err(format!(
                "expected a close frame with {}, got {}",
                codes_text(codes),
                got.describe()
            ));
        };
        let code = code.unwrap_or(1005);
        if !codes.contains(&code) {
            return Err(format!(
                "closed with {code}, expected {}",
                codes_text(codes)
            ));
        }
        self.finish_close(code).await
    }

    /// After the server's close frame (`code`, 1005 for none): answer it unless we
    /// sent one, and expect the server to close TCP.
    pub async fn finish_close(&mut self, code: u16) -> Result<(), String> {
        if !self.sent_close {
            // Complete the handshake; the server may already be gone, which is fine.
            let reply = if code == 1005 {
                Frame::close_empty()
            } else {
                Frame::close(1000, "")
            };
            self.sent_close = true;
            let _ = self.send(&reply.encode(), Delivery::Whole).await;
        }
        self.expect_eof(EOF_WAIT).await
    }

    /// Expects the server to close TCP within `wait`, sending nothing more.
    pub async fn expect_eof(&mut self, wait: Duration) -> Result<(), String> {
        match self.next_frame(wait).await {
            Ok(None) => Ok(()),
            Ok(Some(f)) => Err(format!(
                "expected TCP to close, got a frame with opcode {}",
                f.opcode
            )),
            Err(e) if is_timeout(&e) => Err(format!(
                "the server did not close TCP within {wait:?} after the close handshake"
            )),
            Err(e) => Err(e),
        }
    }

    /// Ends a healthy session: close 1000, expect 1000 back and TCP closed.
    pub async fn close_normally(&mut self) -> Result<(), String> {
        self.send_frame(Frame::close(1000, "")).await?;
        self.expect_close(&[1000]).await
    }

    /// Waits up to `wait` for the next message; `None` if none came (the connection
    /// stays usable).
    pub async fn poll_msg(&mut self, wait: Duration) -> Result<Option<Msg>, String> {
        match self.next_msg(wait).await {
            Ok(m) => Ok(Some(m)),
            Err(e) if is_timeout(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn describe_data(opcode: u8, len: usize) -> String {
    let kind = if opcode == TEXT { "text" } else { "binary" };
    format!("a {kind} message of {len} bytes")
}

fn codes_text(codes: &[u16]) -> String {
    let list: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
    list.join(" or ")
}

/// A close body from the server, checked (RFC 6455 §5.5.1, §7.4).
fn parse_close(payload: &[u8]) -> Result<Msg, String> {
    match payload.len() {
        0 => Ok(Msg::Close(None, Vec::new())),
        1 => Err("server sent a close frame with a 1-byte body".into()),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                return Err(format!(
                    "server sent close code {code}, which may not be sent"
                ));
            }
            if std::str::from_utf8(&payload[2..]).is_err() {
                return Err("server sent a close reason that is not UTF-8".into());
            }
            Ok(Msg::Close(Some(code), payload[2..].to_vec()))
        }
    }
}

/// Parses one frame from the front of `buf`: `None` if incomplete. A masked server
/// frame is an error (RFC 6455 §5.1).
pub fn parse_frame(buf: &[u8]) -> Result<Option<(RxFrame, usize)>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[1] & 0x80 != 0 {
        return Err("server sent a masked frame (RFC 6455 §5.1)".into());
    }
    let (len, pos) = match buf[1] & 0x7f {
        126 => {
            let Some(b) = buf.get(2..4) else {
                return Ok(None);
            };
            (u16::from_be_bytes([b[0], b[1]]) as u64, 4)
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Ok(None);
            };
            (u64::from_be_bytes(b.try_into().expect("8 bytes")), 10)
        }
        n => (n as u64, 2),
    };
    if len > (256 << 20) {
        return Err(format!("server announced a {len}-byte frame"));
    }
    let end = pos + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let frame = RxFrame {
        fin: buf[0] & 0x80 != 0,
        rsv: (buf[0] >> 4) & 7,
        opcode: buf[0] & 0x0f,
        payload: buf[pos..end].to_vec(),
    };
    Ok(Some((frame, end)))
}
