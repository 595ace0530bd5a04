//! The client side of permessage-deflate (RFC 7692), minimal: the load generator offers
//! `client_no_context_takeover`, so every request is a fresh raw deflate stream (the
//! same bytes each time for the same message: it compresses each message once), and it
//! inflates the server's replies with one inflater per connection, as context takeover
//! on the server's side requires.

use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The offer the load generator sends.
pub const OFFER: &str = "permessage-deflate; client_no_context_takeover";

/// The tail a sync flush ends with, removed on send and restored on receive (§7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What the server accepted, from its `Sec-WebSocket-Extensions` answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
}

/// Reads the server's answer: `None` if permessage-deflate was not accepted.
pub fn accepted(answer: Option<&str>) -> Option<Accepted> {
    let answer = answer?;
    answer.split(',').find_map(|extension| {
        let mut params = extension.split(';').map(str::trim);
        (params.next()? == "permessage-deflate").then(|| Accepted {
            server_no_context_takeover: params.any(|p| p == "server_no_context_takeover"),
        })
    })
}

/// Compresses one message with a fresh compressor (no context takeover).
pub fn compress_message(data: &[u8], level: u32) -> Vec<u8> {
    let mut compress = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    loop {
        let consumed = compress.total_in() as usize;
        out.reserve(4096);
        compress
            .compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
            .expect("deflate of an in-memory buffer");
        if compress.total_in() as usize == data.len() && out.ends_with(&TAIL) {
            break;
        }
    }
    out.truncate(out.len() - TAIL.len());
    if out.is_empty() {
        // An empty message: one empty stored block's first byte (RFC 7692 §7.2.3.6).
        out.push(0x00);
    }
    out
}

/// Inflates the server's compressed messages, keeping its window between messages.
pub struct Inflater {
    decompress: Decompress,
    input: Vec<u8>,
    out: Vec<u8>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater").finish_non_exhaustive()
    }
}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Inflater {
    /// A fresh inflater (window of 15 bits inflates any window size).
    pub fn new() -> Self {
        Self {
            decompress: Decompress::new(false),
            input: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Inflates one message's payload (all fragments, RSV1 was set).
    pub fn inflate(&mut self, payload: &[u8]) -> io::Result<&[u8]> {
        self.input.clear();
        self.input.extend_from_slice(payload);
        self.input.extend_from_slice(&TAIL);
        self.out.clear();
        let start = self.decompress.total_in();
        loop {
            let consumed = (self.decompress.total_in() - start) as usize;
            if consumed == self.input.len() {
                break;
            }
            self.out.reserve(self.input.len() * 4 + 1024);
            let status = self
                .decompress
                .decompress_vec(
                    &self.input[consumed..],
                    &mut self.out,
                    FlushDecompress::Sync,
                )
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if status == Status::StreamEnd {
                // The server ended the stream (BFINAL): the next message starts a new one.
                self.decompress.reset(false);
                break;
            }
        }
        Ok(&self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_answers() {
        assert_eq!(accepted(None), None);
        assert_eq!(accepted(Some("x-other")), None);
        assert_eq!(
            accepted(Some("permessage-deflate; client_no_context_takeover")),
            Some(Accepted {
                server_no_context_takeover: false
            })
        );
        assert_eq!(
            accepted(Some(
                "permessage-deflate;server_no_context_takeover; client_no_context_takeover"
            )),
            Some(Accepted {
                server_no_context_takeover: true
            })
        );
    }

    #[test]
    fn round_trips_through_a_server_style_stream() {
        // A server with context takeover: one compressor across messages.
        let mut server = Compress::new(Compression::new(6), false);
        let mut inflater = Inflater::new();
        for text in ["", "a", &"{\"k\":1}".repeat(500), "tail"] {
            let mut out = Vec::with_capacity(text.len() + 64);
            server
                .compress_vec(text.as_bytes(), &mut out, FlushCompress::Sync)
                .unwrap();
            assert!(out.ends_with(&TAIL));
            out.truncate(out.len() - 4);
            assert_eq!(inflater.inflate(&out).unwrap(), text.as_bytes());
        }
        // And our own no-context-takeover messages inflate with fresh inflaters.
        for text in ["", "b", &"[1,2,3]".repeat(400)] {
            let compressed = compress_message(text.as_bytes(), 6);
            assert_eq!(
                Inflater::new().inflate(&compressed).unwrap(),
                text.as_bytes()
            );
        }
    }
}
