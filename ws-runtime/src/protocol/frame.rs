//! Frame headers (RFC 6455 §5.2): parsed from the bytes that arrive, encoded for the
//! bytes that go out. A header is parsed once, from a slice, with no copy of the
//! payload; nothing here allocates.

/// Opcode of a continuation frame.
pub(crate) const OP_CONTINUATION: u8 = 0x0;
/// Opcode of a text frame.
pub(crate) const OP_TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub(crate) const OP_BINARY: u8 = 0x2;
/// Opcode of a close frame.
pub(crate) const OP_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub(crate) const OP_PING: u8 = 0x9;
/// Opcode of a pong frame.
pub(crate) const OP_PONG: u8 = 0xA;

/// The largest header: 2 bytes, an 8-byte length and a 4-byte mask key.
pub(crate) const MAX_HEADER: usize = 14;

/// The largest control frame payload (RFC 6455 §5.5).
pub(crate) const MAX_CONTROL: usize = 125;

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// FIN: the last frame of its message.
    pub(crate) fin: bool,
    /// RSV1..3 as three bits (RSV1 = 4, RSV2 = 2, RSV3 = 1), as `Rsv` holds them.
    pub(crate) rsv: u8,
    /// The opcode (4 bits).
    pub(crate) opcode: u8,
    /// The masking key, if the MASK bit is set.
    pub(crate) mask: Option<[u8; 4]>,
    /// The payload length as announced. Never trusted for allocation.
    pub(crate) len: u64,
}

impl Header {
    /// Whether this is a control frame (close, ping, pong or a reserved control opcode).
    pub(crate) fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

/// Why a header cannot be a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// A 64-bit length with its most significant bit set (RFC 6455 §5.2).
    LengthTooLarge,
}

/// Parses the header at the start of `bytes`: `Ok(None)` if more bytes are needed,
/// else the header and its length in bytes.
#[inline]
pub(crate) fn parse(bytes: &[u8]) -> Result<Option<(Header, usize)>, HeaderError> {
    let [b0, b1, ..] = *bytes else {
        return Ok(None);
    };
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7f {
        126 => {
            let Some(ext) = bytes.get(2..4) else {
                return Ok(None);
            };
            (u64::from(u16::from_be_bytes([ext[0], ext[1]])), 4)
        }
        127 => {
            let Some(ext) = bytes.get(2..10) else {
                return Ok(None);
            };
            let len = u64::from_be_bytes(ext.try_into().expect("8 bytes"));
            if len >> 63 != 0 {
                return Err(HeaderError::LengthTooLarge);
            }
            (len, 10)
        }
        n => (u64::from(n), 2),
    };
    let mask = if masked {
        let Some(key) = bytes.get(at..at + 4) else {
            return Ok(None);
        };
        at += 4;
        Some([key[0], key[1], key[2], key[3]])
    } else {
        None
    };
    let header = Header {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x7,
        opcode: b0 & 0x0f,
        mask,
        len,
    };
    Ok(Some((header, at)))
}

/// How many bytes the header starting with these two bytes takes.
pub(crate) fn header_len(b1: u8) -> usize {
    let extended = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + extended + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// The first header byte of a frame: FIN, the RSV bits (as in [`Header::rsv`]) and the
/// opcode.
pub(crate) const fn first_byte(fin: bool, rsv: u8, opcode: u8) -> u8 {
    ((fin as u8) << 7) | ((rsv & 0x7) << 4) | (opcode & 0x0f)
}

/// Encodes a header into `out`: its first byte, then the payload length in the
/// shortest form RFC 6455 §5.2 allows, then the mask key if any. Returns the length.
#[inline]
pub(crate) fn encode(
    out: &mut [u8; MAX_HEADER],
    first: u8,
    len: usize,
    mask: Option<[u8; 4]>,
) -> usize {
    out[0] = first;
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut at = if len < 126 {
        out[1] = mask_bit | len as u8;
        2
    } else if len <= 0xffff {
        out[1] = mask_bit | 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = mask_bit | 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    if let Some(key) = mask {
        out[at..at + 4].copy_from_slice(&key);
        at += 4;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_length_form() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 1 << 40] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let mut out = [0; MAX_HEADER];
                let n = encode(&mut out, first_byte(true, 4, OP_BINARY), len, mask);
                assert_eq!(header_len(out[1]), n);
                let (header, used) = parse(&out[..n]).unwrap().unwrap();
                assert_eq!(used, n);
                assert_eq!(
                    header,
                    Header {
                        fin: true,
                        rsv: 4,
                        opcode: OP_BINARY,
                        mask,
                        len: len as u64
                    }
                );
                for short in 0..n {
                    assert_eq!(parse(&out[..short]), Ok(None), "{len} {mask:?} {short}");
                }
            }
        }
    }

    #[test]
    fn a_length_with_the_top_bit_is_refused() {
        let mut bytes = vec![0x82, 0xff];
        bytes.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(parse(&bytes), Err(HeaderError::LengthTooLarge));
        // 2^62 is a valid header: what it may cost is the decoder's business.
        let mut bytes = vec![0x82, 0x7f];
        bytes.extend_from_slice(&(1u64 << 62).to_be_bytes());
        assert_eq!(parse(&bytes).unwrap().unwrap().0.len, 1 << 62);
    }

    #[test]
    fn matches_tungstenites_header_codec() {
        use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
        for len in [0u64, 100, 126, 300, 70_000] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let mut theirs = Vec::new();
                FrameHeader {
                    is_final: false,
                    rsv1: true,
                    rsv2: false,
                    rsv3: true,
                    opcode: tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
                        tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
                    ),
                    mask,
                }
                .format(len, &mut theirs)
                .unwrap();
                let mut ours = [0; MAX_HEADER];
                let n = encode(&mut ours, first_byte(false, 5, OP_TEXT), len as usize, mask);
                assert_eq!(&ours[..n], &theirs[..], "{len} {mask:?}");
            }
        }
    }
}
