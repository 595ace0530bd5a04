//! Incremental UTF-8 validation (RFC 6455 §8.1): text arrives in pieces (fragments, and
//! parts of one frame across socket reads), and the connection fails at the first byte
//! that cannot belong to valid UTF-8, not when the message is complete.
//!
//! The standard library's validator does the work: it reports both an invalid byte
//! (`error_len() == Some(_)`, which it detects as early as the sequence allows: `E0 80`
//! and `F4 90` are refused at their second byte) and a sequence cut off by the end of
//! its input (`error_len() == None`), whose bytes are carried to the next piece.

/// Validation state between pieces: the bytes of a sequence cut off at the end of the
/// last piece.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Utf8State {
    carry: [u8; 4],
    len: u8,
}

/// The piece holds a byte that no valid UTF-8 text can have there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InvalidUtf8;

impl Utf8State {
    /// Validates the next piece of the text.
    pub(crate) fn feed(&mut self, mut piece: &[u8]) -> Result<(), InvalidUtf8> {
        if self.len > 0 {
            let have = usize::from(self.len);
            let width = sequence_width(self.carry[0]);
            let take = (width - have).min(piece.len());
            self.carry[have..have + take].copy_from_slice(&piece[..take]);
            let have = have + take;
            match std::str::from_utf8(&self.carry[..have]) {
                Ok(_) => self.len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still cut off: the piece is used up.
                    self.len = have as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
            piece = &piece[take..];
        }
        match std::str::from_utf8(piece) {
            Ok(_) => Ok(()),
            Err(e) => match e.error_len() {
                Some(_) => Err(InvalidUtf8),
                None => {
                    let rest = &piece[e.valid_up_to()..];
                    self.carry[..rest.len()].copy_from_slice(rest);
                    self.len = rest.len() as u8;
                    Ok(())
                }
            },
        }
    }

    /// Whether the text so far ends at a character boundary (a message must).
    pub(crate) fn is_complete(&self) -> bool {
        self.len == 0
    }
}

/// The length of the sequence a (valid) leading byte starts.
fn sequence_width(lead: u8) -> usize {
    match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` in pieces of `step`; returns how many bytes were fed when it failed.
    fn fail_point(bytes: &[u8], step: usize) -> Option<usize> {
        let mut state = Utf8State::default();
        let mut fed = 0;
        for piece in bytes.chunks(step) {
            fed += piece.len();
            if state.feed(piece).is_err() {
                return Some(fed);
            }
        }
        (!state.is_complete()).then_some(usize::MAX)
    }

    #[test]
    fn valid_text_passes_in_pieces_of_any_size() {
        let text = "κόσμε ascii 𝄞 €uro ĳ 日本語".as_bytes();
        for step in 1..=text.len() {
            assert_eq!(fail_point(text, step), None, "step {step}");
        }
    }

    #[test]
    fn fails_at_the_first_bad_byte_even_mid_sequence() {
        // Over U+10FFFF: F4 90 is refused at the 0x90.
        let bad = b"hello\xf4\x90\x80\x80world";
        assert_eq!(fail_point(bad, 1), Some(7));
        // A surrogate: ED A0 refused at A0.
        assert_eq!(fail_point(b"ab\xed\xa0\x80", 1), Some(4));
        // An overlong form: C0 is never valid.
        assert_eq!(fail_point(b"\xc0\xaf", 1), Some(1));
        // A continuation byte without a lead.
        assert_eq!(fail_point(b"ok\x80", 2), Some(3));
    }

    #[test]
    fn a_cut_off_sequence_is_incomplete() {
        assert_eq!(fail_point(b"abc\xe2\x82", 2), Some(usize::MAX));
        let mut state = Utf8State::default();
        state.feed(b"\xf0\x9f").unwrap();
        state.feed(b"\x98").unwrap();
        assert!(!state.is_complete());
        state.feed(b"\x80!").unwrap();
        assert!(state.is_complete());
    }

    #[test]
    fn agrees_with_std_on_every_two_byte_input_split_anywhere() {
        for a in 0..=255u8 {
            for b in [0x00, 0x41, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xe0, 0xff] {
                let bytes = [b'x', a, b, 0x80, 0x80, b'y'];
                let std_ok = std::str::from_utf8(&bytes).is_ok();
                for split in 0..bytes.len() {
                    let mut state = Utf8State::default();
                    let ok = state.feed(&bytes[..split]).is_ok()
                        && state.feed(&bytes[split..]).is_ok()
                        && state.is_complete();
                    assert_eq!(ok, std_ok, "{bytes:x?} split at {split}");
                }
            }
        }
    }
}
