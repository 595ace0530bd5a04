//! Close frames (RFC 6455 §5.5.1, §7.4): the payload's code and reason, read from the
//! wire and written to it.

use crate::frame::{CloseCode, CloseReason, truncate_reason};

use super::utf8::Utf8State;

/// Why a close frame's payload is refused: 1002 for a bad length or code, 1007 for a
/// reason that is not UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadClose {
    /// One byte: half a code.
    Length,
    /// A code that may not appear on the wire.
    Code(u16),
    /// The reason is not UTF-8.
    Reason,
}

/// Reads a close frame's payload: `None` for an empty one (no status, 1005 for the
/// handler), else its code and reason.
pub(crate) fn parse(payload: &[u8]) -> Result<Option<CloseReason>, BadClose> {
    match payload {
        [] => Ok(None),
        [_] => Err(BadClose::Length),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !CloseCode::new(code).is_valid_on_wire() {
                return Err(BadClose::Code(code));
            }
            let mut utf8 = Utf8State::default();
            if utf8.feed(reason).is_err() || !utf8.is_complete() {
                return Err(BadClose::Reason);
            }
            let reason = String::from_utf8(reason.to_vec()).map_err(|_| BadClose::Reason)?;
            Ok(Some(CloseReason::new(code, reason)))
        }
    }
}

/// Writes a close frame's payload for `reason` into `out` (at most 125 bytes): the code
/// and the message cut to 123 bytes at a character boundary. A code that may not be
/// sent (1005, 1006, 1015) sends an empty payload, as RFC 6455 §7.4.1 wants.
pub(crate) fn encode(reason: Option<&CloseReason>, out: &mut Vec<u8>) {
    let Some(reason) = reason else { return };
    if !reason.code().is_valid_on_wire() {
        return;
    }
    out.extend_from_slice(&reason.code().code().to_be_bytes());
    out.extend_from_slice(truncate_reason(reason.message()).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Codes;

    #[test]
    fn payloads_round_trip() {
        let reason = CloseReason::new(Codes::NORMAL, "Client said BYE");
        let mut out = Vec::new();
        encode(Some(&reason), &mut out);
        assert_eq!(parse(&out), Ok(Some(reason)));
        assert_eq!(parse(&[]), Ok(None));
    }

    #[test]
    fn bad_payloads_are_refused() {
        assert_eq!(parse(&[3]), Err(BadClose::Length));
        assert_eq!(parse(&[0x03, 0xed]), Err(BadClose::Code(1005)));
        assert_eq!(parse(&[0x03, 0xe8, 0xff]), Err(BadClose::Reason));
        assert_eq!(parse(&[0x03, 0xe8, 0xce]), Err(BadClose::Reason));
        // 1014 (Bad Gateway) is in the IANA registry: valid.
        assert!(parse(&[0x03, 0xf6]).unwrap().is_some());
    }

    #[test]
    fn local_only_codes_are_not_sent() {
        let mut out = Vec::new();
        encode(Some(&CloseReason::new(Codes::NO_STATUS, "")), &mut out);
        assert!(out.is_empty());
        let long = CloseReason::new(Codes::NORMAL, "é".repeat(100));
        encode(Some(&long), &mut out);
        assert!(out.len() <= 125);
    }
}
