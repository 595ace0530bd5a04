//! A raw WebSocket client for tests where a real client would hide the behaviour:
//! it performs the handshake itself and sends hand-made frames (chosen masks, RSV bits,
//! opcodes, fragmentation), and reads frames exactly as the server wrote them.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opcodes by number.
pub const CONT: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// A frame as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// Code and reason of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    pub fn close_reason(&self) -> String {
        String::from_utf8_lossy(self.payload.get(2..).unwrap_or(&[])).into_owned()
    }
}

/// Encodes one frame.
pub fn encode(fin: bool, rsv: u8, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(((fin as u8) << 7) | ((rsv & 7) << 4) | (opcode & 0x0f));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked frame with a fixed, non-trivial key.
pub fn masked(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode(fin, 0, opcode, payload, Some([0x37, 0xfa, 0x21, 0x3d]))
}

/// A close payload.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// The HTTP response to a handshake attempt.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl HttpReply {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A standard upgrade request for `path` with extra header lines.
pub fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

pub struct RawClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pub reply: HttpReply,
}

impl RawClient {
    /// Connects and upgrades; panics unless the server answers 101 with the right accept.
    pub async fn connect(addr: SocketAddr, path: &str) -> RawClient {
        Self::connect_with(addr, upgrade_request(path, "")).await
    }

    /// Sends `request` (and nothing else) and expects a 101.
    pub async fn connect_with(addr: SocketAddr, request: impl AsRef<[u8]>) -> RawClient {
        let client = Self::handshake(addr, request.as_ref()).await;
        assert_eq!(
            client.reply.status, 101,
            "handshake refused: {:?}",
            client.reply
        );
        assert_eq!(client.reply.header("sec-websocket-accept"), Some(ACCEPT));
        client
    }

    /// Sends raw request bytes and reads the response head (and a short body if the
    /// status is not 101).
    pub async fn handshake(addr: SocketAddr, request: &[u8]) -> RawClient {
        Self::handshake_with(addr, request, false).await
    }

    /// As [`handshake`](Self::handshake), writing the request one byte per segment.
    pub async fn handshake_dribbled(addr: SocketAddr, request: &[u8]) -> RawClient {
        Self::handshake_with(addr, request, true).await
    }

    async fn handshake_with(addr: SocketAddr, request: &[u8], dribble: bool) -> RawClient {
        let mut stream = TcpStream::connect(addr).await.expect("tcp connect");
        stream.set_nodelay(true).unwrap();
        if dribble {
            for byte in request {
                stream.write_all(&[*byte]).await.expect("write request");
                stream.flush().await.unwrap();
            }
        } else {
            stream.write_all(request).await.expect("write request");
        }
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = within(stream.read(&mut chunk))
                .await
                .expect("read response");
            assert!(
                n > 0,
                "connection closed before a response: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let rest = buf[head_end..].to_vec();
        let mut client = RawClient {
            stream,
            buf: rest,
            reply: HttpReply {
                status,
                head,
                body: String::new(),
            },
        };
        if status != 101 {
            let length: usize = client
                .reply
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while client.buf.len() < length {
                let mut chunk = [0u8; 4096];
                let n = within(client.stream.read(&mut chunk)).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                client.buf.extend_from_slice(&chunk[..n]);
            }
            client.reply.body = String::from_utf8_lossy(&client.buf).into_owned();
        }
        client
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send(&masked(true, TEXT, text.as_bytes())).await;
    }

    /// The next frame, or `None` if the server closed the TCP connection.
    pub async fn read_frame(&mut self) -> Option<RawFrame> {
        loop {
            if let Some((frame, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            let mut chunk = [0u8; 65536];
            match within(self.stream.read(&mut chunk)).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Whether a whole frame is already read and waits in the buffer.
    pub fn has_buffered_frame(&self) -> bool {
        parse(&self.buf).is_some()
    }

    /// Reads frames until a close frame; returns it. Panics on EOF first.
    pub async fn expect_close(&mut self) -> RawFrame {
        loop {
            match self.read_frame().await {
                Some(frame) if frame.opcode == CLOSE => return frame,
                Some(_) => continue,
                None => panic!("connection closed without a close frame"),
            }
        }
    }

    /// Waits until the server closes the TCP connection; true if it did within 5 s.
    pub async fn wait_eof(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

/// Bounds every read of the raw client.
async fn within<T>(
    fut: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    match tokio::time::timeout(Duration::from_secs(5), fut).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no data within 5 s",
        )),
    }
}

/// Parses one frame from the front of `buf`.
pub fn parse(buf: &[u8]) -> Option<(RawFrame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let fin = buf[0] & 0x80 != 0;
    let rsv = (buf[0] >> 4) & 7;
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut pos) = match buf[1] & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let key = if masked {
        let k: [u8; 4] = buf.get(pos..pos + 4)?.try_into().ok()?;
        pos += 4;
        Some(k)
    } else {
        None
    };
    let data = buf.get(pos..pos + len)?;
    let payload = match key {
        Some(k) => data.iter().enumerate().map(|(i, b)| b ^ k[i % 4]).collect(),
        None => data.to_vec(),
    };
    Some((
        RawFrame {
            fin,
            rsv,
            opcode,
            masked,
            payload,
        },
        pos + len,
    ))
}
