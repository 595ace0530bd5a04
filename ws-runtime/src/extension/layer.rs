//! The frame layer between the socket and tungstenite, used when a session negotiated
//! an extension or is raw.
//!
//! Incoming: the layer parses each wire frame itself (tungstenite's public
//! `FrameHeader::parse`), enforces the frame size limit, unmasks the payload, hands data
//! frames to the extensions (in reverse negotiation order, RFC 7692 §5) and passes the
//! result on to tungstenite as a synthetic frame: same opcode and FIN, the extensions'
//! RSV bits cleared, masked with a zero key so tungstenite's unmasking leaves it as is.
//! tungstenite then does everything else (fragment assembly, UTF-8, limits, control
//! frames). In a raw session, ping, pong and close frames are taken out of the stream
//! here and handed to the handler instead, so tungstenite never answers them.
//!
//! Outgoing: [`Transport::encode`] runs each whole message through the extensions (in
//! negotiation order) and gives tungstenite a ready frame with the RSV bits set.

use std::collections::VecDeque;
use std::io::{self, Cursor, Read, Write};

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame as WireFrame, FrameHeader};

use super::{DataKind, ExtFrame, Extension, ExtensionError, IncomingContext, Rsv};
use crate::engine::{Transport, plain_message};
use crate::frame::{CloseCode, CloseReason, Frame, Text};
use crate::io::Socket;

/// Socket wrapper that runs negotiated extensions (and raw-session interception).
pub(crate) struct ExtensionLayer {
    socket: Socket,
    extensions: Vec<(Rsv, Box<dyn Extension>)>,
    claimed: Rsv,
    raw: bool,
    limit: usize,
    /// Wire bytes read but not parsed yet: `input[input_pos..]`.
    input: Vec<u8>,
    input_pos: usize,
    /// Synthetic bytes for tungstenite: `output[output_pos..]`.
    output: Vec<u8>,
    output_pos: usize,
    /// RSV bits of the first frame of the message being received.
    message_rsv: Rsv,
    /// Bytes produced for that message so far.
    message_len: usize,
    /// Control frames taken out of the stream (raw sessions).
    control: VecDeque<Frame>,
    /// An error to report once the bytes before it are consumed.
    failed: Option<ExtensionError>,
}

impl ExtensionLayer {
    pub(crate) fn new(
        socket: Socket,
        extensions: Vec<(Rsv, Box<dyn Extension>)>,
        raw: bool,
        limit: usize,
    ) -> Self {
        let claimed = extensions
            .iter()
            .fold(Rsv::NONE, |acc, (rsv, _)| acc | *rsv);
        Self {
            socket,
            extensions,
            claimed,
            raw,
            limit,
            input: Vec::new(),
            input_pos: 0,
            output: Vec::new(),
            output_pos: 0,
            message_rsv: Rsv::NONE,
            message_len: 0,
            control: VecDeque::new(),
            failed: None,
        }
    }

    fn has_output(&self) -> bool {
        self.output_pos < self.output.len()
    }

    /// Parses as many complete frames as the input holds into `output`/`control`.
    /// Returns true if it produced anything.
    fn process_input(&mut self) -> bool {
        let mut produced = false;
        while self.failed.is_none() {
            let available = &self.input[self.input_pos..];
            let mut cursor = Cursor::new(available);
            let (header, length) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => break,
                Err(e) => {
                    self.failed = Some(ExtensionError::Protocol(e.to_string()));
                    break;
                }
            };
            let header_len = cursor.position() as usize;
            if length > self.limit as u64 {
                self.failed = Some(ExtensionError::TooBig { limit: self.limit });
                break;
            }
            let length = length as usize;
            if available.len() < header_len + length {
                break;
            }
            let start = self.input_pos + header_len;
            let result = self.on_frame(header, start..start + length, header_len);
            self.input_pos = start + length;
            produced = true;
            if let Err(e) = result {
                self.failed = Some(e);
            }
        }
        // Keep the unparsed tail at the front of the buffer.
        if self.input_pos == self.input.len() {
            self.input.clear();
            self.input_pos = 0;
        } else if self.input_pos > 0 && self.input_pos * 2 >= self.input.len() {
            self.input.drain(..self.input_pos);
            self.input_pos = 0;
        }
        produced
    }

    /// One complete wire frame.
    fn on_frame(
        &mut self,
        header: FrameHeader,
        payload: std::ops::Range<usize>,
        header_len: usize,
    ) -> Result<(), ExtensionError> {
        let rsv = Rsv::from_flags(header.rsv1, header.rsv2, header.rsv3);
        let kind = match header.opcode {
            OpCode::Data(Data::Text) => DataKind::Text,
            OpCode::Data(Data::Binary) => DataKind::Binary,
            OpCode::Data(Data::Continue) => DataKind::Continuation,
            OpCode::Control(control) => {
                if self.raw {
                    let data = self.input[payload].to_vec();
                    return self.intercept_control(&header, control, data);
                }
                return self.pass_through(header_len, payload.len());
            }
            OpCode::Data(Data::Reserved(_)) => return self.pass_through(header_len, payload.len()),
        };
        // Frames that no extension can make sense of go to tungstenite unchanged and
        // are refused there with the right code: unmasked frames, unclaimed RSV bits.
        let Some(mask) = header.mask else {
            return self.pass_through(header_len, payload.len());
        };
        if !rsv.without(self.claimed).is_empty() {
            return self.pass_through(header_len, payload.len());
        }
        if kind != DataKind::Continuation {
            self.message_rsv = rsv;
            self.message_len = 0;
        }
        let mut data = self.input[payload].to_vec();
        unmask(&mut data, mask);
        let mut frame = ExtFrame {
            kind,
            fin: header.is_final,
            rsv,
            payload: Bytes::from(data),
        };
        if !self.extensions.is_empty() {
            let ctx = IncomingContext {
                message_rsv: self.message_rsv,
                message_len: self.message_len,
                max_message_size: self.limit,
            };
            for (_, extension) in self.extensions.iter_mut().rev() {
                frame = extension.process_incoming(frame, &ctx)?;
            }
        }
        self.message_len += frame.payload.len();
        if self.message_len > self.limit {
            return Err(ExtensionError::TooBig { limit: self.limit });
        }
        let opcode = header.opcode;
        let out = FrameHeader {
            is_final: frame.fin,
            rsv1: frame.rsv.rsv1(),
            rsv2: frame.rsv.rsv2(),
            rsv3: frame.rsv.rsv3(),
            opcode,
            mask: Some([0; 4]),
        };
        self.emit(&out, &frame.payload);
        Ok(())
    }

    /// Copies a wire frame to tungstenite as it came.
    fn pass_through(
        &mut self,
        header_len: usize,
        payload_len: usize,
    ) -> Result<(), ExtensionError> {
        let start = self.input_pos;
        let end = start + header_len + payload_len;
        self.compact_output();
        self.output.extend_from_slice(&self.input[start..end]);
        Ok(())
    }

    fn emit(&mut self, header: &FrameHeader, payload: &[u8]) {
        self.compact_output();
        let _ = header.format(payload.len() as u64, &mut self.output);
        self.output.extend_from_slice(payload);
    }

    fn compact_output(&mut self) {
        if self.output_pos > 0 && self.output_pos == self.output.len() {
            self.output.clear();
            self.output_pos = 0;
        }
    }

    /// Raw sessions: a control frame goes to the handler, checked as tungstenite would.
    fn intercept_control(
        &mut self,
        header: &FrameHeader,
        control: Control,
        mut data: Vec<u8>,
    ) -> Result<(), ExtensionError> {
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(ExtensionError::Protocol(
                "reserved bits set on a control frame".into(),
            ));
        }
        if !header.is_final {
            return Err(ExtensionError::Protocol("fragmented control frame".into()));
        }
        if data.len() > 125 {
            return Err(ExtensionError::Protocol(
                "control frame longer than 125 bytes".into(),
            ));
        }
        let Some(mask) = header.mask else {
            return Err(ExtensionError::Protocol(
                "unmasked frame from the client".into(),
            ));
        };
        unmask(&mut data, mask);
        let frame = match control {
            Control::Ping => Frame::Ping(data.into()),
            Control::Pong => Frame::Pong(data.into()),
            Control::Close => Frame::Close(parse_close(&data)?),
            Control::Reserved(op) => {
                return Err(ExtensionError::Protocol(format!(
                    "reserved control opcode {op}"
                )));
            }
        };
        self.control.push_back(frame);
        Ok(())
    }

    fn error_io(err: ExtensionError) -> io::Error {
        io::Error::other(err)
    }
}

/// Parses and checks a close payload (RFC 6455 §5.5.1, §7.4).
pub(crate) fn parse_close(data: &[u8]) -> Result<Option<CloseReason>, ExtensionError> {
    match data.len() {
        0 => Ok(None),
        1 => Err(ExtensionError::Protocol(
            "close frame with a 1-byte payload".into(),
        )),
        _ => {
            let code = CloseCode::new(u16::from_be_bytes([data[0], data[1]]));
            if !code.is_valid_on_wire() {
                return Err(ExtensionError::Protocol(format!(
                    "invalid close code {}",
                    code.code()
                )));
            }
            let text = Text::try_from_bytes(Bytes::copy_from_slice(&data[2..]))
                .map_err(|_| ExtensionError::InvalidData("close reason is not UTF-8".into()))?;
            Ok(Some(CloseReason::new(code, text.as_str().to_owned())))
        }
    }
}

/// XORs `data` with the 4-byte `mask` (RFC 6455 §5.3).
pub(crate) fn unmask(data: &mut [u8], mask: [u8; 4]) {
    if mask == [0; 4] {
        return;
    }
    let word = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let value = u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) ^ word;
        chunk.copy_from_slice(&value.to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

impl Read for ExtensionLayer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.has_output() {
                let n = buf.len().min(self.output.len() - self.output_pos);
                buf[..n].copy_from_slice(&self.output[self.output_pos..self.output_pos + n]);
                self.output_pos += n;
                self.compact_output();
                return Ok(n);
            }
            if let Some(err) = self.failed.take() {
                return Err(Self::error_io(err));
            }
            if self.process_input() {
                if !self.has_output() && !self.control.is_empty() {
                    // Only control frames came: let the engine deliver them.
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                continue;
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.socket.read(&mut chunk)?;
            if n == 0 {
                return Ok(0);
            }
            self.input.extend_from_slice(&chunk[..n]);
        }
    }
}

impl Write for ExtensionLayer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}

impl Transport for ExtensionLayer {
    fn socket(&self) -> &Socket {
        &self.socket
    }

    fn socket_mut(&mut self) -> &mut Socket {
        &mut self.socket
    }

    fn poll_read_ready(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        if self.has_output() || self.failed.is_some() || !self.control.is_empty() {
            return std::task::Poll::Ready(Ok(()));
        }
        self.socket.poll_read_ready(cx)
    }

    fn encode(&mut self, frame: Frame) -> Result<Message, ExtensionError> {
        let (kind, opcode, payload) = match frame {
            Frame::Text(text) => (DataKind::Text, Data::Text, text.into_bytes()),
            Frame::Binary(data) => (DataKind::Binary, Data::Binary, data),
            control => return Ok(plain_message(control)),
        };
        let mut out = ExtFrame {
            kind,
            fin: true,
            rsv: Rsv::NONE,
            payload,
        };
        for (_, extension) in &mut self.extensions {
            out = extension.process_outgoing(out)?;
        }
        let mut wire = WireFrame::message(out.payload, OpCode::Data(opcode), true);
        let header = wire.header_mut();
        header.rsv1 = out.rsv.rsv1();
        header.rsv2 = out.rsv.rsv2();
        header.rsv3 = out.rsv.rsv3();
        Ok(Message::Frame(wire))
    }

    fn take_control(&mut self) -> Option<Frame> {
        self.control.pop_front()
    }

    fn has_buffered(&self) -> bool {
        self.has_output() || self.socket.has_buffered() || !self.control.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmask_matches_bytewise_xor() {
        let mask = [1, 2, 3, 4];
        let original: Vec<u8> = (0..37).collect();
        let mut fast = original.clone();
        unmask(&mut fast, mask);
        let slow: Vec<u8> = original
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        assert_eq!(fast, slow);
    }

    #[test]
    fn close_payload_checks() {
        assert_eq!(parse_close(&[]).unwrap(), None);
        assert!(parse_close(&[3]).is_err());
        assert!(parse_close(&[0x03, 0xed]).is_err()); // 1005
        assert!(matches!(
            parse_close(&[0x03, 0xe8, 0xff]),
            Err(ExtensionError::InvalidData(_))
        ));
        assert_eq!(
            parse_close(&[0x03, 0xe8, b'o', b'k'])
                .unwrap()
                .unwrap()
                .message(),
            "ok"
        );
    }
}
