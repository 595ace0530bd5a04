//! The messages nodes exchange through a broker: version 1.
//!
//! A published frame travels as one binary **envelope**:
//!
//! ```text
//! offset  size  field
//!      0     1  version = 1
//!      1     1  frame: 1 text, 2 binary
//!      2     2  reserved, 0
//!      4     8  origin node id (big-endian)
//!     12     8  origin sequence: counts up on the origin node, per node (big-endian)
//!     20     8  subject node (big-endian; 0: none)
//!     28     8  subject session (big-endian): on a room or everyone channel the
//!               session left out (the sender), on a node channel the one addressed
//!     36     n  payload (UTF-8 for text)
//!   36+n     L  stream id, ASCII `MS-SEQ` (resume only; L = 0 otherwise)
//! 36+n+L     2  L (big-endian)
//! ```
//!
//! The stream id is a trailer so that Redis, which assigns it, can append it inside
//! the script that stores and publishes the message. Presence events are JSON, also
//! versioned: `{"v":1,"kind":"join"|"leave","room":..,"id":"NODE-N","node":"NODE",
//! "meta":"<the member's metadata as JSON text>"}`. A node ignores a version it does
//! not know (and counts it), so a newer node can join a cluster of older ones.

use super::{MessageId, SessionId};

/// The envelope's version.
pub(crate) const VERSION: u8 = 1;
/// Header bytes before the payload.
pub(crate) const HEADER: usize = 36;

pub(crate) const TEXT: u8 = 1;
pub(crate) const BINARY: u8 = 2;

/// A decoded envelope, borrowing the message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    pub(crate) kind: u8,
    pub(crate) origin: u64,
    pub(crate) seq: u64,
    pub(crate) subject: Option<SessionId>,
    pub(crate) payload: &'a [u8],
    pub(crate) id: Option<MessageId>,
}

/// Encodes an envelope without a stream id.
pub(crate) fn encode(
    kind: u8,
    origin: u64,
    seq: u64,
    subject: Option<SessionId>,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len() + 2);
    out.extend_from_slice(&[VERSION, kind, 0, 0]);
    out.extend_from_slice(&origin.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    let (node, local) = subject.map_or((0, 0), |s| (s.node, s.local));
    out.extend_from_slice(&node.to_be_bytes());
    out.extend_from_slice(&local.to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&[0, 0]);
    out
}

/// Decodes an envelope; `None` for a version or shape this node does not know.
pub(crate) fn decode(bytes: &[u8]) -> Option<Envelope<'_>> {
    if bytes.len() < HEADER + 2 || bytes[0] != VERSION {
        return None;
    }
    let kind = bytes[1];
    if kind != TEXT && kind != BINARY {
        return None;
    }
    let word = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let (rest, len) = bytes.split_at(bytes.len() - 2);
    let id_len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    let body_end = rest.len().checked_sub(id_len).filter(|&e| e >= HEADER)?;
    let id = match id_len {
        0 => None,
        _ => Some(std::str::from_utf8(&rest[body_end..]).ok()?.parse().ok()?),
    };
    let subject = match (word(20), word(28)) {
        (0, _) => None,
        (node, local) => Some(SessionId { node, local }),
    };
    Some(Envelope {
        kind,
        origin: word(4),
        seq: word(12),
        subject,
        payload: &rest[HEADER..body_end],
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the store script does: drop the empty trailer, append the id and its length.
    fn with_id(envelope: &[u8], id: &str) -> Vec<u8> {
        let mut out = envelope[..envelope.len() - 2].to_vec();
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&(id.len() as u16).to_be_bytes());
        out
    }

    #[test]
    fn round_trip_with_and_without_a_stream_id() {
        let sender = SessionId { node: 7, local: 3 };
        let bytes = encode(TEXT, 0xfeed, 42, Some(sender), "héllo".as_bytes());
        assert_eq!(bytes.len(), HEADER + "héllo".len() + 2);
        let plain = decode(&bytes).expect("decodes");
        assert_eq!(
            plain,
            Envelope {
                kind: TEXT,
                origin: 0xfeed,
                seq: 42,
                subject: Some(sender),
                payload: "héllo".as_bytes(),
                id: None,
            }
        );
        let stamped = with_id(&bytes, "1700000000000-5");
        let decoded = decode(&stamped).expect("decodes");
        assert_eq!(decoded.payload, "héllo".as_bytes());
        assert_eq!(
            decoded.id,
            Some(MessageId {
                ms: 1_700_000_000_000,
                seq: 5
            })
        );
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        let bytes = encode(BINARY, 1, 1, None, b"");
        assert!(decode(&bytes).is_some());
        let mut newer = bytes.clone();
        newer[0] = 2;
        assert_eq!(decode(&newer), None, "another version");
        let mut kind = bytes.clone();
        kind[1] = 9;
        assert_eq!(decode(&kind), None, "an unknown frame kind");
        assert_eq!(decode(&bytes[..10]), None, "too short");
        let mut long_id = bytes.clone();
        let n = long_id.len();
        long_id[n - 2..].copy_from_slice(&500u16.to_be_bytes());
        assert_eq!(decode(&long_id), None, "an id longer than the message");
    }
}
