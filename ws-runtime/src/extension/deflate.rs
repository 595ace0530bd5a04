//! permessage-deflate (RFC 7692), server side: the factory ([`Deflate`], documented
//! there) and the per-session state.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{
    DataKind, ExtFrame, Extension, ExtensionError, ExtensionFactory, ExtensionParams,
    IncomingContext, Negotiated, Rsv,
};
use crate::frame::Frame;

/// The extension token.
pub(crate) const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

type Predicate = Arc<dyn Fn(&Frame) -> bool + Send + Sync>;

/// The permessage-deflate extension (RFC 7692), server side: Ktor's
/// `WebSocketDeflateExtension`.
///
/// ```
/// use ws_runtime::{WebSocketOptions, extension::Deflate};
/// let options = WebSocketOptions::new()
///     .extension(Deflate::new().compression_level(6).compress_if_bigger_than(1024));
/// assert_eq!(options.extension_names(), ["permessage-deflate"]);
/// ```
///
/// # Options
///
#[doc = include_str!(concat!(env!("OUT_DIR"), "/deflate_table.md"))]
///
/// (The table is `install!`'s `Deflate { ... }`, generated from `ws-dsl/src/keys.rs`.)
///
/// # Memory and CPU
///
/// zlib state dominates: a compressor costs about `2^(bits+2)` bytes plus 128 KiB of
/// hash tables (≈ 256 KiB at 15 bits, 144 KiB at 12), a decompressor about `2^bits`
/// plus 7 KiB (≈ 40 KiB at 15). Both are created on the first message that needs them,
/// and dropped after each message when the side's context takeover is off; with
/// takeover on they live as long as the session. Lower `server_max_window_bits` and
/// turn on `client_no_context_takeover` to bound memory on servers with many idle
/// compressed sessions, and set `max_compressors` to put a hard bound on compressor
/// memory: a sender may send any message uncompressed (RFC 7692 §6), so sessions over
/// the bound simply do. Compression costs a few microseconds per KiB of compressible
/// text at level 6; a threshold (`compress_if_bigger_than`) avoids spending it on
/// small messages, where framing dominates anyway.
///
/// # Negotiation
///
/// Offers are taken in the client's order; the first one whose parameters are all
/// known, well-formed and satisfiable is accepted, the rest declined. An offer that
/// limits our window to 8 bits is declined (zlib cannot compress with a 256-byte
/// window), so is an offer with an unknown or repeated parameter.
#[derive(Clone)]
pub struct Deflate {
    level: u32,
    threshold: usize,
    predicate: Option<Predicate>,
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: u8,
    client_max_window_bits: u8,
    compressors: Option<Arc<CompressorBudget>>,
}

/// A bound on the compressors alive at once, shared by a factory's sessions.
#[derive(Debug)]
struct CompressorBudget {
    max: usize,
    live: AtomicUsize,
}

impl CompressorBudget {
    fn take(self: &Arc<Self>) -> Option<CompressorSlot> {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| CompressorSlot(self.clone()))
    }
}

/// One compressor's place in the budget, given back when dropped.
struct CompressorSlot(Arc<CompressorBudget>);

impl Drop for CompressorSlot {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Default for Deflate {
    fn default() -> Self {
        Self {
            level: 6,
            threshold: 0,
            predicate: None,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            compressors: None,
        }
    }
}

impl fmt::Debug for Deflate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflate")
            .field("compression_level", &self.level)
            .field("compress_if_bigger_than", &self.threshold)
            .field("compress_if", &self.predicate.is_some())
            .field(
                "server_no_context_takeover",
                &self.server_no_context_takeover,
            )
            .field(
                "client_no_context_takeover",
                &self.client_no_context_takeover,
            )
            .field("server_max_window_bits", &self.server_max_window_bits)
            .field("client_max_window_bits", &self.client_max_window_bits)
            .field("max_compressors", &self.compressors.as_ref().map(|b| b.max))
            .finish()
    }
}

impl Deflate {
    /// The defaults of the table in the module docs.
    pub fn new() -> Self {
        Self::default()
    }

    /// zlib compression level, 0 (store) to 9 (best); others stop the server at start-up.
    pub fn compression_level(mut self, level: u32) -> Self {
        self.level = level;
        self
    }

    /// Compress only messages of at least `bytes` bytes (Ktor's `compressIfBiggerThan`).
    pub fn compress_if_bigger_than(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Compress only frames for which `predicate` is true (Ktor's `compressIf`).
    pub fn compress_if(
        mut self,
        predicate: impl Fn(&Frame) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.predicate = Some(Arc::new(predicate));
        self
    }

    /// Use no context takeover for our messages.
    pub fn server_no_context_takeover(mut self, on: bool) -> Self {
        self.server_no_context_takeover = on;
        self
    }

    /// Ask the client to use no context takeover for its messages.
    pub fn client_no_context_takeover(mut self, on: bool) -> Self {
        self.client_no_context_takeover = on;
        self
    }

    /// Our compression window, 9 to 15 bits (zlib cannot compress with 8); others stop
    /// the server at start-up.
    pub fn server_max_window_bits(mut self, bits: u8) -> Self {
        self.server_max_window_bits = bits;
        self
    }

    /// The largest window to ask of the client, 8 to 15 bits; others stop the server at
    /// start-up.
    pub fn client_max_window_bits(mut self, bits: u8) -> Self {
        self.client_max_window_bits = bits;
        self
    }

    /// At most `max` sessions of this server hold a compressor at once; a session that
    /// finds none free sends its messages uncompressed until one is. Compressor memory
    /// is then bounded by `max` × about 256 KiB (at 15 window bits).
    pub fn max_compressors(mut self, max: usize) -> Self {
        self.compressors = Some(Arc::new(CompressorBudget {
            max,
            live: AtomicUsize::new(0),
        }));
        self
    }

    /// Accepts or declines one offer.
    fn accept(&self, offer: &ExtensionParams) -> Option<(ExtensionParams, DeflateSession)> {
        let mut server_no_context_takeover = self.server_no_context_takeover;
        let mut client_no_context_takeover = self.client_no_context_takeover;
        let mut server_bits = self.server_max_window_bits;
        let mut server_bits_offered = false;
        let mut client_bits: Option<u8> = None;
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in &offer.params {
            let name = name.as_str();
            if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                return None;
            }
            seen.push(name);
            match name.to_ascii_lowercase().as_str() {
                "server_no_context_takeover" => {
                    if value.is_some() {
                        return None;
                    }
                    server_no_context_takeover = true;
                }
                "client_no_context_takeover" => {
                    if value.is_some() {
                        return None;
                    }
                    client_no_context_takeover = true;
                }
                "server_max_window_bits" => {
                    let bits = parse_bits(value.as_deref()?)?;
                    if bits < 9 {
                        return None;
                    }
                    server_bits = server_bits.min(bits);
                    server_bits_offered = true;
                }
                "client_max_window_bits" => {
                    let limit = match value {
                        None => 15,
                        Some(v) => parse_bits(v)?,
                    };
                    client_bits = Some(self.client_max_window_bits.min(limit));
                }
                _ => return None,
            }
        }
        let mut response = ExtensionParams::new(PERMESSAGE_DEFLATE);
        if server_no_context_takeover {
            response = response.param("server_no_context_takeover", None);
        }
        if client_no_context_takeover {
            response = response.param("client_no_context_takeover", None);
        }
        if server_bits_offered {
            response = response.param("server_max_window_bits", Some(server_bits.to_string()));
        }
        if let Some(bits) = client_bits.filter(|b| *b < 15) {
            response = response.param("client_max_window_bits", Some(bits.to_string()));
        }
        let session = DeflateSession {
            level: self.level,
            threshold: self.threshold,
            predicate: self.predicate.clone(),
            server_no_context_takeover,
            client_no_context_takeover,
            server_bits,
            client_bits: client_bits.unwrap_or(15).max(9),
            compressor: None,
            budget: self.compressors.clone(),
            decompressor: None,
            inflating: false,
            stream_ended: false,
        };
        Some((response, session))
    }
}

/// A window-bits value: an integer 8..=15 without leading zeros (RFC 7692 §7.1.2).
fn parse_bits(value: &str) -> Option<u8> {
    let value = value.trim();
    if value.is_empty()
        || value.len() > 2
        || value.starts_with('0')
        || !value.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let bits: u8 = value.parse().ok()?;
    (8..=15).contains(&bits).then_some(bits)
}

impl ExtensionFactory for Deflate {
    fn name(&self) -> &str {
        PERMESSAGE_DEFLATE
    }

    fn rsv(&self) -> Rsv {
        Rsv::RSV1
    }

    fn negotiate(&self, offers: &[ExtensionParams]) -> Option<Negotiated> {
        offers
            .iter()
            .find_map(|offer| self.accept(offer))
            .map(|(response, session)| Negotiated::deflate(response, session))
    }

    fn validate(&self) -> Result<(), String> {
        if self.level > 9 {
            return Err(format!(
                "`compression_level` is {}: it must be 0 to 9",
                self.level
            ));
        }
        if !(9..=15).contains(&self.server_max_window_bits) {
            return Err(format!(
                "`server_max_window_bits` is {}: it must be 9 to 15 (zlib cannot compress with an 8-bit window)",
                self.server_max_window_bits
            ));
        }
        if !(8..=15).contains(&self.client_max_window_bits) {
            return Err(format!(
                "`client_max_window_bits` is {}: it must be 8 to 15",
                self.client_max_window_bits
            ));
        }
        Ok(())
    }
}

/// The deflate state of one session.
pub(crate) struct DeflateSession {
    level: u32,
    threshold: usize,
    predicate: Option<Predicate>,
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_bits: u8,
    client_bits: u8,
    /// The compressor and its place in the budget, if there is one.
    compressor: Option<(Compress, Option<CompressorSlot>)>,
    budget: Option<Arc<CompressorBudget>>,
    decompressor: Option<Decompress>,
    /// The message being received is compressed.
    inflating: bool,
    /// Its deflate stream ended (a BFINAL block): what follows in the message, the
    /// tail included, is not inflated.
    stream_ended: bool,
}

/// The four bytes a sync flush ends with, removed on send and restored on receipt
/// (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

impl DeflateSession {
    fn should_compress(&self, frame: &ExtFrame) -> bool {
        if frame.payload.len() < self.threshold {
            return false;
        }
        match &self.predicate {
            None => true,
            Some(predicate) => {
                let view = match frame.kind {
                    DataKind::Text => {
                        match crate::frame::Text::try_from_bytes(frame.payload.clone()) {
                            Ok(text) => Frame::Text(text),
                            Err(_) => Frame::Binary(frame.payload.clone()),
                        }
                    }
                    _ => Frame::Binary(frame.payload.clone()),
                };
                predicate(&view)
            }
        }
    }

    /// The message compressed, or `None` if no compressor is free (`max_compressors`).
    fn compress(&mut self, input: &[u8]) -> Result<Option<Vec<u8>>, ExtensionError> {
        if self.compressor.is_none() {
            let slot = match &self.budget {
                None => None,
                Some(budget) => match budget.take() {
                    Some(slot) => Some(slot),
                    None => return Ok(None),
                },
            };
            let compressor = Compress::new_with_window_bits(
                Compression::new(self.level),
                false,
                self.server_bits,
            );
            self.compressor = Some((compressor, slot));
        }
        let Some((compressor, _)) = self.compressor.as_mut() else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        let start_in = compressor.total_in();
        loop {
            let consumed = (compressor.total_in() - start_in) as usize;
            compressor
                .compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| ExtensionError::Internal(format!("deflate failed: {e}")))?;
            let consumed = (compressor.total_in() - start_in) as usize;
            // Done when all input is in and the flush fit in the buffer.
            if consumed == input.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if out.is_empty() {
            // An empty message is one empty stored block's worth: a single 0x00
            // (RFC 7692 §7.2.3.6), or the peer's inflater loses its place.
            out.push(0x00);
        }
        if self.server_no_context_takeover {
            self.compressor = None;
        }
        Ok(Some(out))
    }

    /// Whether the incoming message being received is compressed.
    pub(crate) fn is_inflating(&self) -> bool {
        self.inflating
    }

    /// Whether an incoming message that starts with these RSV bits is compressed (and
    /// must be inflated); remembers it for the message's later frames.
    pub(crate) fn start_message(&mut self, rsv1: bool) -> bool {
        self.inflating = rsv1;
        rsv1
    }

    /// Inflates a piece of a compressed message's payload, appending to `out`, which
    /// may not grow past `limit` bytes; with `end`, the piece is the message's last and
    /// the sync-flush tail the sender removed (RFC 7692 §7.2.2) is inflated after it.
    /// `out` grows only as inflated bytes come, in steps of at most its length so far.
    pub(crate) fn inflate_into(
        &mut self,
        input: &[u8],
        end: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), ExtensionError> {
        if self.stream_ended {
            if end {
                self.end_message();
            }
            return Ok(());
        }
        let bits = self.client_bits;
        let decompressor = self
            .decompressor
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        // Room for one byte past the limit, to tell "exactly the limit" from "over".
        let cap = limit.saturating_add(1);
        let mut stream_ended = false;
        for chunk in [input, if end { &TAIL[..] } else { &[][..] }] {
            let start_in = decompressor.total_in();
            loop {
                let consumed = (decompressor.total_in() - start_in) as usize;
                if stream_ended || (consumed == chunk.len() && out.len() < out.capacity()) {
                    break;
                }
                if out.len() == out.capacity() {
                    let room = cap.saturating_sub(out.len());
                    if room == 0 {
                        return Err(ExtensionError::TooBig { limit });
                    }
                    let step = out.len().max(256).max(chunk.len() * 2).min(room);
                    out.reserve_exact(step);
                }
                let before_out = out.len();
                let result =
                    decompressor.decompress_vec(&chunk[consumed..], out, FlushDecompress::Sync);
                // Output past the limit came before whatever zlib found wrong further on
                // (it may inflate up to the room it has, then fail in the same call):
                // the limit is the first fault in stream order, as it is when the input
                // comes in smaller pieces.
                if out.len() > limit {
                    return Err(ExtensionError::TooBig { limit });
                }
                let status = result.map_err(|e| {
                    ExtensionError::InvalidData(format!("corrupt deflate data: {e}"))
                })?;
                if status == Status::StreamEnd {
                    // BFINAL: this message's stream is over; the next starts afresh.
                    stream_ended = true;
                    break;
                }
                let progressed = (decompressor.total_in() - start_in) as usize != consumed
                    || out.len() != before_out;
                if !progressed && out.len() < out.capacity() {
                    break;
                }
            }
        }
        if stream_ended {
            // The next message starts a new stream.
            self.decompressor = None;
            self.stream_ended = true;
        }
        if end {
            self.end_message();
        }
        Ok(())
    }

    fn end_message(&mut self) {
        self.inflating = false;
        self.stream_ended = false;
        if self.client_no_context_takeover {
            self.decompressor = None;
        }
    }

    /// Compresses an outgoing message if the settings say so: its payload and whether
    /// it is compressed (RSV1).
    pub(crate) fn outgoing(
        &mut self,
        frame: &Frame,
        payload: &Bytes,
    ) -> Result<Option<Vec<u8>>, ExtensionError> {
        if payload.len() < self.threshold {
            return Ok(None);
        }
        if let Some(predicate) = &self.predicate
            && !predicate(frame)
        {
            return Ok(None);
        }
        self.compress(payload)
    }
}

impl Extension for DeflateSession {
    fn process_outgoing(&mut self, mut frame: ExtFrame) -> Result<ExtFrame, ExtensionError> {
        if frame.kind == DataKind::Continuation || !self.should_compress(&frame) {
            return Ok(frame);
        }
        let Some(compressed) = self.compress(&frame.payload)? else {
            return Ok(frame);
        };
        frame.payload = Bytes::from(compressed);
        frame.rsv = frame.rsv | Rsv::RSV1;
        Ok(frame)
    }

    fn process_incoming(
        &mut self,
        mut frame: ExtFrame,
        ctx: &IncomingContext,
    ) -> Result<ExtFrame, ExtensionError> {
        match frame.kind {
            DataKind::Continuation => {
                if frame.rsv.rsv1() {
                    return Err(ExtensionError::Protocol(
                        "RSV1 set on a continuation frame".into(),
                    ));
                }
            }
            DataKind::Text | DataKind::Binary => {
                self.start_message(frame.rsv.rsv1());
            }
        }
        if !self.inflating {
            return Ok(frame);
        }
        let mut out = Vec::new();
        self.inflate_into(&frame.payload, frame.fin, &mut out, ctx.remaining())?;
        frame.payload = Bytes::from(out);
        frame.rsv = frame.rsv.without(Rsv::RSV1);
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extension::parse_extensions_header;

    fn negotiate(deflate: &Deflate, header: &str) -> Option<String> {
        let offers = parse_extensions_header(header);
        deflate.negotiate(&offers).map(|n| n.response.to_string())
    }

    #[test]
    fn negotiation_variants() {
        let d = Deflate::new();
        assert_eq!(
            negotiate(&d, "permessage-deflate").as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(
            negotiate(&d, "permessage-deflate; client_max_window_bits").as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(
            negotiate(&d, "permessage-deflate; server_max_window_bits=10").as_deref(),
            Some("permessage-deflate; server_max_window_bits=10")
        );
        assert_eq!(
            negotiate(
                &d,
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            )
            .as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
        // 8 bits for our window: declined; the next offer is taken.
        assert_eq!(
            negotiate(
                &d,
                "permessage-deflate; server_max_window_bits=8, permessage-deflate"
            )
            .as_deref(),
            Some("permessage-deflate")
        );
        for bad in [
            "permessage-deflate; foo",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        ] {
            assert_eq!(negotiate(&d, bad), None, "{bad}");
        }
        let small = Deflate::new()
            .client_max_window_bits(10)
            .client_no_context_takeover(true);
        assert_eq!(
            negotiate(&small, "permessage-deflate; client_max_window_bits").as_deref(),
            Some("permessage-deflate; client_no_context_takeover; client_max_window_bits=10")
        );
    }

    fn session(d: &Deflate) -> DeflateSession {
        d.accept(&ExtensionParams::new(PERMESSAGE_DEFLATE))
            .unwrap()
            .1
    }

    fn frame(kind: DataKind, fin: bool, rsv: Rsv, payload: impl Into<Bytes>) -> ExtFrame {
        ExtFrame {
            kind,
            fin,
            rsv,
            payload: payload.into(),
        }
    }

    fn ctx(limit: usize) -> IncomingContext {
        IncomingContext {
            message_rsv: Rsv::RSV1,
            message_len: 0,
            max_message_size: limit,
        }
    }

    #[test]
    fn round_trip_with_context_takeover() {
        let d = Deflate::new();
        let (mut tx, mut rx) = (session(&d), session(&d));
        for message in [
            "",
            "hello hello hello hello",
            "hello hello hello hello again",
        ] {
            let out = tx
                .process_outgoing(frame(DataKind::Text, true, Rsv::NONE, message))
                .unwrap();
            assert!(out.rsv.rsv1());
            let back = rx.process_incoming(out, &ctx(1 << 20)).unwrap();
            assert_eq!(back.payload, message.as_bytes());
            assert!(!back.rsv.rsv1());
        }
    }

    #[test]
    fn fragmented_message_inflates_piecewise() {
        let d = Deflate::new();
        let (mut tx, mut rx) = (session(&d), session(&d));
        let text = "abcdefgh".repeat(1000);
        let compressed = tx
            .process_outgoing(frame(DataKind::Text, true, Rsv::NONE, text.clone()))
            .unwrap();
        let (a, b) = compressed.payload.split_at(compressed.payload.len() / 2);
        let first = rx
            .process_incoming(
                frame(DataKind::Text, false, Rsv::RSV1, a.to_vec()),
                &ctx(1 << 20),
            )
            .unwrap();
        let second = rx
            .process_incoming(
                frame(DataKind::Continuation, true, Rsv::NONE, b.to_vec()),
                &ctx(1 << 20),
            )
            .unwrap();
        let mut all = first.payload.to_vec();
        all.extend_from_slice(&second.payload);
        assert_eq!(all, text.as_bytes());
    }

    #[test]
    fn bomb_stops_at_the_limit() {
        let d = Deflate::new();
        let (mut tx, mut rx) = (session(&d), session(&d));
        let zeros = vec![0u8; 10 << 20];
        let compressed = tx
            .process_outgoing(frame(DataKind::Binary, true, Rsv::NONE, zeros))
            .unwrap();
        assert!(compressed.payload.len() < 20_000);
        let err = rx.process_incoming(compressed, &ctx(1 << 20)).unwrap_err();
        assert_eq!(err, ExtensionError::TooBig { limit: 1 << 20 });
    }

    #[test]
    fn rsv1_on_continuation_is_a_protocol_error() {
        let mut rx = session(&Deflate::new());
        let err = rx
            .process_incoming(
                frame(DataKind::Continuation, true, Rsv::RSV1, vec![0]),
                &ctx(100),
            )
            .unwrap_err();
        assert!(matches!(err, ExtensionError::Protocol(_)));
    }

    #[test]
    fn corrupt_data_is_invalid() {
        let mut rx = session(&Deflate::new());
        let err = rx
            .process_incoming(
                frame(DataKind::Binary, true, Rsv::RSV1, vec![0xff, 0xff, 0xff]),
                &ctx(100),
            )
            .unwrap_err();
        assert!(matches!(err, ExtensionError::InvalidData(_)), "{err:?}");
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        assert!(Deflate::new().validate().is_ok());
        assert!(
            Deflate::new()
                .compression_level(10)
                .validate()
                .unwrap_err()
                .contains("0 to 9")
        );
        assert!(Deflate::new().server_max_window_bits(8).validate().is_err());
        assert!(
            Deflate::new()
                .client_max_window_bits(16)
                .validate()
                .is_err()
        );
    }

    #[test]
    fn compressors_over_the_bound_send_uncompressed() {
        let d = Deflate::new().max_compressors(1);
        let (mut first, mut second) = (session(&d), session(&d));
        let text = || frame(DataKind::Text, true, Rsv::NONE, "compress me ".repeat(20));
        assert!(first.process_outgoing(text()).unwrap().rsv.rsv1());
        // The only compressor is taken: plain, valid permessage-deflate output.
        let plain = second.process_outgoing(text()).unwrap();
        assert!(!plain.rsv.rsv1());
        assert_eq!(plain.payload, "compress me ".repeat(20).as_bytes());
        drop(first);
        assert!(second.process_outgoing(text()).unwrap().rsv.rsv1());
    }

    #[test]
    fn threshold_and_predicate() {
        let d = Deflate::new()
            .compress_if_bigger_than(10)
            .compress_if(|f| f.read_text() != Some("skip me please"));
        let mut tx = session(&d);
        let small = tx
            .process_outgoing(frame(DataKind::Text, true, Rsv::NONE, "tiny"))
            .unwrap();
        assert!(!small.rsv.rsv1());
        let skipped = tx
            .process_outgoing(frame(DataKind::Text, true, Rsv::NONE, "skip me please"))
            .unwrap();
        assert!(!skipped.rsv.rsv1());
        let big = tx
            .process_outgoing(frame(DataKind::Text, true, Rsv::NONE, "compress me please"))
            .unwrap();
        assert!(big.rsv.rsv1());
    }
}
