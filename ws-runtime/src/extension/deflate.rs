//! permessage-deflate (RFC 7692): the factory ([`Deflate`], documented there), which
//! negotiates as a server and offers as a client, and the per-session state.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};
use zlib_rs::{DeflateConfig, DeflateFlush};

use super::{
    DataKind, ExtFrame, Extension, ExtensionError, ExtensionFactory, ExtensionParams,
    IncomingContext, Negotiated, Rsv,
};
use crate::frame::Frame;
use crate::protocol::buffer::{MessageBuf, Spare};

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
/// zlib state dominates: a compressor costs about 315 KiB at 15 window bits (zlib-rs:
/// a 128 KiB hash table, window and chain tables of `4 × 2^bits`, 64 KiB of pending
/// symbols), a decompressor about `2^bits` plus 7 KiB (≈ 40 KiB at 15). The
/// [`memory`](Self::memory) mode decides who holds them:
///
/// - [`DeflateMemory::Shared`] (the default) answers `server_no_context_takeover`
///   whatever the offer, and compresses each message in one call with its worker
///   thread's compressor, reset afterwards: a session keeps no compressor (measured:
///   3.5 KiB per idle compressed session after one message, none of it zlib's), and
///   a broadcast compresses once per class of members (same settings and window) for
///   all of them. Resetting clears zlib's hash table, which with a fresh window per
///   message makes a 2 KiB JSON echo cost about 1.6 times the CPU of `Dedicated`.
/// - [`DeflateMemory::Dedicated`] keeps a compressor per session while context
///   takeover is on (the client may still ask for none): the best ratio.
/// - [`DeflateMemory::Small`] keeps one with a 2 KiB window (unannounced: every
///   inflater reads a smaller window) and memory level 7, about 170 KiB.
///
/// `client_no_context_takeover` is asked by default: clients that agree (browsers do)
/// let the server inflate with one inflater per worker thread, reset per message; a
/// message arriving in several frames or reads keeps it until its last piece (it is
/// never shared while a message waits for more input), then gives it back. Set
/// `max_compressors` to put a hard bound on kept compressors: a sender may send any
/// message uncompressed (RFC 7692 §6), so sessions over the bound simply do. A
/// threshold (`compress_if_bigger_than`) avoids spending CPU on small messages, where
/// framing dominates anyway.
///
/// # As a client
///
/// The same `Deflate` in a [`Client`](crate::client::Client)'s options makes it offer
/// permessage-deflate: `client_max_window_bits` always (with a value when
/// `client_max_window_bits` is below 15), `server_max_window_bits` when below 15, and
/// the `*_no_context_takeover` parameters that are on. What the server answers is
/// honoured both ways: we compress within the `client_max_window_bits` it answered and
/// reset our compressor after each message if it answered
/// `client_no_context_takeover`; an answer with an unknown or repeated parameter, or a
/// window over the one asked for, fails the handshake.
///
/// # Negotiation
///
/// Offers are taken in the client's order; the first one whose parameters are all
/// known, well-formed and satisfiable is accepted, the rest declined. An offer that
/// limits our window to 8 bits is declined (zlib cannot compress with a 256-byte
/// window), so is an offer with an unknown or repeated parameter.
#[derive(Clone)]
pub struct Deflate {
    send: Arc<SendParams>,
    server_no_context_takeover: bool,
    /// `None`: the default, asked of clients by a server, off on a client.
    client_no_context_takeover: Option<bool>,
    server_max_window_bits: u8,
    client_max_window_bits: u8,
    compressors: Option<Arc<CompressorBudget>>,
}

/// How a server's compressed sessions hold zlib memory: the `memory` key of
/// `Deflate { ... }`. See [`Deflate`]'s "Memory and CPU" for the measured costs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DeflateMemory {
    /// A compressor per session, kept between messages (context takeover): the best
    /// ratio on streams of similar messages, about 315 KiB per session that has sent.
    Dedicated,
    /// No compressor per session: the server answers `server_no_context_takeover` and
    /// compresses every message with its worker thread's compressor, reset after each
    /// message; a broadcast is compressed once for every member. The default.
    #[default]
    Shared,
    /// A compressor per session with context takeover, but a 2 KiB window
    /// (`server_max_window_bits` at most 11) and zlib memory level 7: about 170 KiB per
    /// session that has sent (zlib-rs's 128 KiB hash table does not shrink; a lower
    /// level would store incompressible data in more, smaller blocks).
    Small,
}

impl std::str::FromStr for DeflateMemory {
    type Err = String;

    /// `shared`, `dedicated` or `small` (any case).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "shared" => Ok(DeflateMemory::Shared),
            "dedicated" => Ok(DeflateMemory::Dedicated),
            "small" => Ok(DeflateMemory::Small),
            _ => Err(format!(
                "unknown deflate memory mode `{s}`: expected shared, dedicated or small"
            )),
        }
    }
}

/// The window of [`DeflateMemory::Small`].
const SMALL_WINDOW_BITS: u8 = 11;
/// The zlib memory level of [`DeflateMemory::Small`] (zlib's default is 8).
const SMALL_MEM_LEVEL: i32 = 7;
/// zlib's default memory level.
const DEFAULT_MEM_LEVEL: i32 = 8;

/// What decides how a session's messages are compressed: shared (one `Arc`) by every
/// session of a factory, so that sessions whose compressed bytes are identical can be
/// recognised (a broadcast compresses once for them).
#[derive(Clone)]
struct SendParams {
    level: u32,
    threshold: usize,
    predicate: Option<Predicate>,
    memory: DeflateMemory,
}

impl SendParams {
    /// Whether a message is compressed: at least the threshold and the predicate says so.
    fn wants(&self, frame: &Frame, len: usize) -> bool {
        len >= self.threshold && self.predicate.as_ref().is_none_or(|p| p(frame))
    }
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
            send: Arc::new(SendParams {
                level: 6,
                threshold: 0,
                predicate: None,
                memory: DeflateMemory::default(),
            }),
            server_no_context_takeover: false,
            client_no_context_takeover: None,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            compressors: None,
        }
    }
}

impl fmt::Debug for Deflate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflate")
            .field("memory", &self.send.memory)
            .field("compression_level", &self.send.level)
            .field("compress_if_bigger_than", &self.send.threshold)
            .field("compress_if", &self.send.predicate.is_some())
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
        Arc::make_mut(&mut self.send).level = level;
        self
    }

    /// How sessions hold zlib memory: [`DeflateMemory::Shared`] (the default: no
    /// compressor per session), [`Dedicated`](DeflateMemory::Dedicated) or
    /// [`Small`](DeflateMemory::Small). On a client only the size of a compressor kept
    /// between messages follows it (`Small`); context takeover follows the offer.
    pub fn memory(mut self, memory: DeflateMemory) -> Self {
        Arc::make_mut(&mut self.send).memory = memory;
        self
    }

    /// Compress only messages of at least `bytes` bytes (Ktor's `compressIfBiggerThan`).
    pub fn compress_if_bigger_than(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.send).threshold = bytes;
        self
    }

    /// Compress only frames for which `predicate` is true (Ktor's `compressIf`).
    pub fn compress_if(
        mut self,
        predicate: impl Fn(&Frame) -> bool + Send + Sync + 'static,
    ) -> Self {
        Arc::make_mut(&mut self.send).predicate = Some(Arc::new(predicate));
        self
    }

    /// Use no context takeover for our messages (on a client: ask the server to use
    /// none for its messages).
    pub fn server_no_context_takeover(mut self, on: bool) -> Self {
        self.server_no_context_takeover = on;
        self
    }

    /// Ask the client to use no context takeover for its messages (on by default: it
    /// lets the server inflate with one decompressor per worker thread instead of one
    /// per session); on a client (off by default): use none for ours, and say so in the
    /// offer.
    pub fn client_no_context_takeover(mut self, on: bool) -> Self {
        self.client_no_context_takeover = Some(on);
        self
    }

    /// Our compression window, 9 to 15 bits (zlib cannot compress with 8); others stop
    /// the server at start-up. On a client: the largest window to ask of the server
    /// (offered below 15).
    pub fn server_max_window_bits(mut self, bits: u8) -> Self {
        self.server_max_window_bits = bits;
        self
    }

    /// The largest window to ask of the client, 8 to 15 bits; others stop the server at
    /// start-up. On a client: the largest window we compress with (the server may
    /// answer a smaller one, which is then used; at 8 bits, which zlib cannot compress
    /// with, messages go uncompressed).
    pub fn client_max_window_bits(mut self, bits: u8) -> Self {
        self.client_max_window_bits = bits;
        self
    }

    /// At most `max` sessions of this server hold a compressor at once; a session that
    /// finds none free sends its messages uncompressed until one is. Compressor memory
    /// is then bounded by `max` × about 315 KiB (at 15 window bits); a session compressing
    /// without context takeover (`DeflateMemory::Shared`) never holds one.
    pub fn max_compressors(mut self, max: usize) -> Self {
        self.compressors = Some(Arc::new(CompressorBudget {
            max,
            live: AtomicUsize::new(0),
        }));
        self
    }

    /// Accepts or declines one offer.
    fn accept(&self, offer: &ExtensionParams) -> Option<(ExtensionParams, DeflateSession)> {
        let mut server_no_context_takeover =
            self.server_no_context_takeover || self.send.memory == DeflateMemory::Shared;
        let mut client_no_context_takeover = self.client_no_context_takeover.unwrap_or(true);
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
        // A smaller window than the client allows needs no word: every inflater reads it.
        if self.send.memory == DeflateMemory::Small {
            server_bits = server_bits.min(SMALL_WINDOW_BITS);
        }
        let session = self.session(
            server_no_context_takeover,
            client_no_context_takeover,
            server_bits,
            client_bits.unwrap_or(15),
        );
        Some((response, session))
    }

    /// A session sending with `send_*` and receiving what the peer sends with `receive_*`.
    fn session(
        &self,
        send_no_context_takeover: bool,
        receive_no_context_takeover: bool,
        send_bits: u8,
        receive_bits: u8,
    ) -> DeflateSession {
        DeflateSession {
            send: self.send.clone(),
            send_no_context_takeover,
            receive_no_context_takeover,
            send_bits,
            receive_bits: receive_bits.max(9),
            compressor: None,
            budget: self.compressors.clone(),
            decompressor: None,
            inflating: false,
            stream_ended: false,
        }
    }

    /// A client's offer: `client_max_window_bits` always (bare at 15: the server may
    /// choose), the other parameters where they ask for more than the defaults.
    fn offer(&self) -> ExtensionParams {
        let mut offer = ExtensionParams::new(PERMESSAGE_DEFLATE);
        if self.server_no_context_takeover {
            offer = offer.param("server_no_context_takeover", None);
        }
        if self.client_no_context_takeover == Some(true) {
            offer = offer.param("client_no_context_takeover", None);
        }
        if self.server_max_window_bits < 15 {
            offer = offer.param(
                "server_max_window_bits",
                Some(self.server_max_window_bits.to_string()),
            );
        }
        let client_bits = self.client_max_window_bits;
        offer.param(
            "client_max_window_bits",
            (client_bits < 15).then(|| client_bits.to_string()),
        )
    }

    /// A client takes the server's answer to [`offer`](Self::offer): the parameters as
    /// the server answered them, honoured both ways, or why they cannot be (RFC 7692
    /// §7.1: unknown or repeated parameters, malformed values, a window over the one
    /// asked for).
    fn answer(&self, response: &ExtensionParams) -> Result<DeflateSession, String> {
        let mut server_no_context_takeover = false;
        let mut client_no_context_takeover = self.client_no_context_takeover == Some(true);
        let mut server_bits = 15;
        let mut client_bits = self.client_max_window_bits;
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in &response.params {
            let name = name.as_str();
            if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                return Err(format!("`{name}` appears twice"));
            }
            seen.push(name);
            let bits = |value: &Option<String>| {
                value
                    .as_deref()
                    .and_then(parse_bits)
                    .ok_or_else(|| format!("`{name}` needs a value of 8 to 15, got {value:?}"))
            };
            match name.to_ascii_lowercase().as_str() {
                "server_no_context_takeover" if value.is_none() => {
                    server_no_context_takeover = true;
                }
                "client_no_context_takeover" if value.is_none() => {
                    client_no_context_takeover = true;
                }
                "server_max_window_bits" => {
                    let bits = bits(value)?;
                    if bits > self.server_max_window_bits {
                        return Err(format!(
                            "`server_max_window_bits={bits}` is over the {} asked for",
                            self.server_max_window_bits
                        ));
                    }
                    server_bits = bits;
                }
                "client_max_window_bits" => client_bits = client_bits.min(bits(value)?),
                "server_no_context_takeover" | "client_no_context_takeover" => {
                    return Err(format!("`{name}` takes no value"));
                }
                _ => return Err(format!("unknown parameter `{name}`")),
            }
        }
        Ok(self.session(
            client_no_context_takeover,
            server_no_context_takeover,
            client_bits,
            server_bits,
        ))
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

    fn client_offer(&self) -> Option<ExtensionParams> {
        Some(self.offer())
    }

    fn client_accept(&self, response: &ExtensionParams) -> Result<Negotiated, String> {
        let session = self.answer(response)?;
        Ok(Negotiated::deflate(response.clone(), session))
    }

    fn validate(&self) -> Result<(), String> {
        if self.send.level > 9 {
            return Err(format!(
                "`compression_level` is {}: it must be 0 to 9",
                self.send.level
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

/// The deflate state of one session, in either role: what it sends (compresses) and
/// what it receives (inflates) follow the parameters the handshake settled for each
/// direction (a server sends with the `server_*` ones, a client with the `client_*`).
///
/// Without context takeover on a side, the session holds nothing for it between
/// messages: it compresses with its worker thread's compressor (reset after each
/// message, which is compressed in one call), and inflates with the thread's inflater,
/// which a message arriving in several pieces keeps until its last piece (it cannot be
/// shared while the message waits for more input), then gives back.
pub(crate) struct DeflateSession {
    send: Arc<SendParams>,
    /// Our compressor is reset after each message.
    send_no_context_takeover: bool,
    /// The peer resets its compressor after each message: so may our inflater.
    receive_no_context_takeover: bool,
    /// Our compression window (8: zlib cannot compress with it, so nothing is).
    send_bits: u8,
    /// The inflater's window (at least 9, which inflates every smaller window too).
    receive_bits: u8,
    /// The compressor kept between messages (context takeover) and its place in the
    /// budget, if there is one.
    compressor: Option<(Box<zlib_rs::Deflate>, Option<CompressorSlot>)>,
    budget: Option<Arc<CompressorBudget>>,
    /// The inflater: kept between messages with context takeover, else only while a
    /// message is being inflated in pieces.
    decompressor: Option<Box<Decompress>>,
    /// The message being received is compressed.
    inflating: bool,
    /// Its deflate stream ended (a BFINAL block): what follows in the message, the
    /// tail included, is not inflated.
    stream_ended: bool,
}

/// The four bytes a sync flush ends with, removed on send and restored on receipt
/// (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A zlib compressor for raw deflate.
fn new_compressor(level: u32, bits: u8, mem_level: i32) -> Box<zlib_rs::Deflate> {
    Box::new(zlib_rs::Deflate::new_with_config(DeflateConfig {
        level: level as i32,
        window_bits: -i32::from(bits),
        mem_level,
        ..DeflateConfig::default()
    }))
}

/// One worker thread's compressor for one level, window and memory level.
struct ThreadCompressor {
    level: u32,
    bits: u8,
    mem_level: i32,
    zlib: Box<zlib_rs::Deflate>,
}

/// zlib's smallest window for raw deflate.
const MIN_WINDOW_BITS: u8 = 9;

/// zlib keeps this many bytes of lookahead out of its window: a match reaches back at
/// most the window size less this.
const MIN_LOOKAHEAD: usize = 262;

/// The window and memory level that compress `len` bytes as the negotiated window
/// (`bits`) would, at the least cost per message: the smallest window that still
/// reaches back over the whole message, and a hash table as large as that window (as
/// zlib's default pairs a 32 KiB window with a 32 Ki-entry table).
///
/// A compressor without context takeover is reset after every message, and zlib's
/// reset clears its hash table and its chain table: with a 15-bit window and the
/// default memory level that is about 229,000 bytes cleared per message (measured:
/// over half of the instructions of a 2 KiB JSON echo). A smaller window than the one
/// negotiated is always allowed (RFC 7692 §7.1.2: the peer's inflater, sized for the
/// negotiated window, reads any smaller one), and matches within one message never
/// reach further back than the message is long.
fn fitted_window(bits: u8, len: usize) -> (u8, i32) {
    let needed = (len + MIN_LOOKAHEAD).next_power_of_two().trailing_zeros();
    let fitted = needed.max(u32::from(MIN_WINDOW_BITS));
    if fitted >= u32::from(bits) {
        return (bits, DEFAULT_MEM_LEVEL);
    }
    // Below `bits` (at most 15): hash bits = memory level + 7.
    (fitted as u8, fitted as i32 - 7)
}

thread_local! {
    /// The thread's compressors for messages without context takeover, one per level,
    /// negotiated window and message size class in use (a few: see [`fitted_window`]).
    static COMPRESSORS: RefCell<Vec<ThreadCompressor>> = const { RefCell::new(Vec::new()) };
    /// The thread's inflater for messages without context takeover (15 bits inflates
    /// every window).
    static INFLATER: RefCell<Option<Box<Decompress>>> = const { RefCell::new(None) };
}

/// Compresses one whole message without context takeover with the thread's compressor
/// for `level` and `bits` (see [`deflate_message`]).
fn compress_on_thread(
    level: u32,
    bits: u8,
    input: &[u8],
    headroom: usize,
) -> Result<Vec<u8>, ExtensionError> {
    let (bits, mem_level) = fitted_window(bits, input.len());
    COMPRESSORS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut list) => {
            let at = match list
                .iter()
                .position(|c| c.level == level && c.bits == bits && c.mem_level == mem_level)
            {
                Some(at) => at,
                None => {
                    list.push(ThreadCompressor {
                        level,
                        bits,
                        mem_level,
                        zlib: new_compressor(level, bits, mem_level),
                    });
                    list.len() - 1
                }
            };
            let zlib = &mut list[at].zlib;
            let out = deflate_message(zlib, input, headroom);
            zlib.reset();
            out
        }
        // Only if compressing re-entered itself (it does not): a compressor of its own.
        Err(_) => deflate_message(&mut new_compressor(level, bits, mem_level), input, headroom),
    })
}

/// The thread's inflater, or a new one if another message holds it.
fn take_thread_inflater() -> Box<Decompress> {
    INFLATER
        .with(|cell| cell.try_borrow_mut().ok().and_then(|mut slot| slot.take()))
        .unwrap_or_else(|| Box::new(Decompress::new_with_window_bits(false, 15)))
}

/// Gives an inflater taken with [`take_thread_inflater`] back, reset, unless the
/// thread already has one again.
fn give_back_inflater(mut inflater: Box<Decompress>) {
    inflater.reset(false);
    INFLATER.with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut()
            && slot.is_none()
        {
            *slot = Some(inflater);
        }
    });
}

/// Compresses a whole message with a sync flush and removes the flush's tail (RFC 7692
/// §7.2.1). The result starts with `headroom` zero bytes (room for a frame header).
fn deflate_message(
    zlib: &mut zlib_rs::Deflate,
    input: &[u8],
    headroom: usize,
) -> Result<Vec<u8>, ExtensionError> {
    let mut out = vec![0u8; headroom + input.len() / 2 + 64];
    let mut len = headroom;
    let mut consumed = 0;
    loop {
        let (in_before, out_before) = (zlib.total_in(), zlib.total_out());
        zlib.compress(&input[consumed..], &mut out[len..], DeflateFlush::SyncFlush)
            .map_err(|e| ExtensionError::Internal(format!("deflate failed: {}", e.as_str())))?;
        consumed += (zlib.total_in() - in_before) as usize;
        len += (zlib.total_out() - out_before) as usize;
        // Done when all input is in and the flush fit in the buffer.
        if consumed == input.len() && len < out.len() {
            break;
        }
        let grow = out.len().max(64);
        out.resize(out.len() + grow, 0);
    }
    out.truncate(len);
    if out[headroom..].ends_with(&TAIL) {
        out.truncate(len - TAIL.len());
    }
    if out.len() == headroom {
        // An empty message is one empty stored block's worth: a single 0x00
        // (RFC 7692 §7.2.3.6), or the peer's inflater loses its place.
        out.push(0x00);
    }
    Ok(out)
}

/// Sessions whose compressed bytes for a message are the same: no context takeover,
/// one factory's settings, one window. A broadcast compresses once per class.
#[derive(Clone)]
pub(crate) struct DeflateClass {
    send: Arc<SendParams>,
    bits: u8,
}

impl DeflateClass {
    /// Whether both classes compress a message to the same bytes.
    pub(crate) fn same(&self, other: &DeflateClass) -> bool {
        Arc::ptr_eq(&self.send, &other.send) && self.bits == other.bits
    }

    /// `frame`'s payload compressed for every session of this class, with `head` bytes
    /// left free before it for the frame header (the caller frames it): the opcode and
    /// the bytes, or `Some(None)` when the settings send this frame uncompressed. `None`
    /// if it is not a data frame or the settings' code panicked (each session then
    /// meets the panic itself).
    pub(crate) fn compress_for_class(
        &self,
        frame: &Frame,
        head: usize,
    ) -> Option<Option<(u8, Vec<u8>)>> {
        let (opcode, payload): (u8, &[u8]) = match frame {
            Frame::Text(text) => (0x1, text.as_bytes()),
            Frame::Binary(bytes) => (0x2, bytes),
            _ => return None,
        };
        let wants = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.send.wants(frame, payload.len())
        }))
        .ok()?;
        if !wants {
            return Some(None);
        }
        let wire = compress_on_thread(self.send.level, self.bits, payload, head).ok()?;
        Some(Some((opcode, wire)))
    }
}

impl DeflateSession {
    /// The class whose broadcasts this session shares, if its messages are compressed
    /// without context takeover.
    pub(crate) fn broadcast_class(&self) -> Option<DeflateClass> {
        (self.send_no_context_takeover && self.send_bits >= 9).then(|| DeflateClass {
            send: self.send.clone(),
            bits: self.send_bits,
        })
    }

    fn should_compress(&self, frame: &ExtFrame) -> bool {
        if frame.payload.len() < self.send.threshold {
            return false;
        }
        match &self.send.predicate {
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
        if self.send_bits < 9 {
            // A server that answered `client_max_window_bits=8`: zlib cannot compress
            // within 256 bytes, and a message may always go uncompressed (§6).
            return Ok(None);
        }
        if self.send_no_context_takeover {
            return compress_on_thread(self.send.level, self.send_bits, input, 0).map(Some);
        }
        if self.compressor.is_none() {
            let slot = match &self.budget {
                None => None,
                Some(budget) => match budget.take() {
                    Some(slot) => Some(slot),
                    None => return Ok(None),
                },
            };
            let mem_level = match self.send.memory {
                DeflateMemory::Small => SMALL_MEM_LEVEL,
                DeflateMemory::Dedicated | DeflateMemory::Shared => DEFAULT_MEM_LEVEL,
            };
            let compressor = new_compressor(self.send.level, self.send_bits, mem_level);
            self.compressor = Some((compressor, slot));
        }
        let Some((compressor, _)) = self.compressor.as_mut() else {
            return Ok(None);
        };
        deflate_message(compressor, input, 0).map(Some)
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
        out: &mut MessageBuf,
        limit: usize,
    ) -> Result<(), ExtensionError> {
        if self.stream_ended {
            if end {
                self.end_message();
            }
            return Ok(());
        }
        let mut decompressor = match self.decompressor.take() {
            Some(decompressor) => decompressor,
            None if self.receive_no_context_takeover => take_thread_inflater(),
            None => Box::new(Decompress::new_with_window_bits(false, self.receive_bits)),
        };
        // On an error the connection fails: the inflater is dropped with it.
        let stream_ended = inflate_piece(&mut decompressor, input, end, out, limit)?;
        if stream_ended || end {
            if self.receive_no_context_takeover {
                give_back_inflater(decompressor);
            } else if !stream_ended {
                self.decompressor = Some(decompressor);
            }
            // After a BFINAL block the next message starts a new stream.
        } else {
            // More of this message is to come: the inflater stays with it.
            self.decompressor = Some(decompressor);
        }
        self.stream_ended = stream_ended;
        if end {
            self.end_message();
        }
        Ok(())
    }

    fn end_message(&mut self) {
        self.inflating = false;
        self.stream_ended = false;
    }

    /// Compresses an outgoing message if the settings say so: its payload and whether
    /// it is compressed (RSV1).
    pub(crate) fn outgoing(
        &mut self,
        frame: &Frame,
        payload: &Bytes,
    ) -> Result<Option<Vec<u8>>, ExtensionError> {
        if !self.send.wants(frame, payload.len()) {
            return Ok(None);
        }
        self.compress(payload)
    }
}

/// Inflates `input` (and the tail, with `end`) into `out` within `limit`: whether the
/// deflate stream ended (a BFINAL block).
fn inflate_piece(
    decompressor: &mut Decompress,
    input: &[u8],
    end: bool,
    out: &mut MessageBuf,
    limit: usize,
) -> Result<bool, ExtensionError> {
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
            let input = &chunk[consumed..];
            let (result, mapped) = match out.spare() {
                Spare::Heap(vec) => (
                    decompressor.decompress_vec(input, vec, FlushDecompress::Sync),
                    0,
                ),
                Spare::Mapped(room) => {
                    // Whole pages: the room may go past what was reserved.
                    let room_len = room.len().min(cap.saturating_sub(before_out));
                    let start = decompressor.total_out();
                    let result = decompressor.decompress(
                        input,
                        &mut room[..room_len],
                        FlushDecompress::Sync,
                    );
                    (result, (decompressor.total_out() - start) as usize)
                }
            };
            out.mapped_written(mapped);
            // Output past the limit came before whatever zlib found wrong further on
            // (it may inflate up to the room it has, then fail in the same call):
            // the limit is the first fault in stream order, as it is when the input
            // comes in smaller pieces.
            if out.len() > limit {
                return Err(ExtensionError::TooBig { limit });
            }
            let status = result
                .map_err(|e| ExtensionError::InvalidData(format!("corrupt deflate data: {e}")))?;
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
    Ok(stream_ended)
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
        let mut out = MessageBuf::default();
        self.inflate_into(&frame.payload, frame.fin, &mut out, ctx.remaining())?;
        frame.payload = crate::protocol::pool::into_bytes(out);
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
    fn defaults_ask_for_no_context_takeover_both_ways() {
        let answer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        assert_eq!(
            negotiate(&Deflate::new(), "permessage-deflate").as_deref(),
            Some(answer)
        );
        let dedicated = Deflate::new().memory(DeflateMemory::Dedicated);
        assert_eq!(
            negotiate(&dedicated, "permessage-deflate").as_deref(),
            Some("permessage-deflate; client_no_context_takeover")
        );
        // A client offers nothing it was not told to.
        assert_eq!(
            Deflate::new().offer().to_string(),
            "permessage-deflate; client_max_window_bits"
        );
    }

    #[test]
    fn negotiation_variants() {
        let d = Deflate::new()
            .memory(DeflateMemory::Dedicated)
            .client_no_context_takeover(false);
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
            .memory(DeflateMemory::Dedicated)
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

    /// The peer's receiving side for what `tx` sends (the peer honours `tx`'s takeover).
    fn receiver(tx: &DeflateSession) -> DeflateSession {
        Deflate::new().session(false, tx.send_no_context_takeover, 15, 15)
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
        let d = Deflate::new().memory(DeflateMemory::Dedicated);
        let mut tx = session(&d);
        let mut rx = receiver(&tx);
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
        let d = Deflate::new()
            .memory(DeflateMemory::Dedicated)
            .max_compressors(1);
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

    fn message(tx: &mut DeflateSession, text: &str) -> ExtFrame {
        tx.process_outgoing(frame(DataKind::Text, true, Rsv::NONE, text.to_string()))
            .unwrap()
    }

    #[test]
    fn every_mode_round_trips_and_shared_keeps_nothing() {
        let text = r#"{"id":1,"user":"ada","text":"hello hello hello"}"#.repeat(40);
        for memory in [
            DeflateMemory::Shared,
            DeflateMemory::Dedicated,
            DeflateMemory::Small,
        ] {
            let d = Deflate::new().memory(memory);
            let mut tx = session(&d);
            let mut rx = receiver(&tx);
            for i in 0..3 {
                let message_text = format!("{i}{text}");
                let out = message(&mut tx, &message_text);
                assert!(out.rsv.rsv1());
                assert!(out.payload.len() < message_text.len() / 4, "{memory:?}");
                let back = rx.process_incoming(out, &ctx(1 << 20)).unwrap();
                assert_eq!(back.payload, message_text.as_bytes(), "{memory:?}");
                // Without the sender's context takeover no inflater stays.
                assert_eq!(
                    rx.decompressor.is_none(),
                    memory == DeflateMemory::Shared,
                    "{memory:?}"
                );
            }
            assert_eq!(tx.compressor.is_none(), memory == DeflateMemory::Shared);
            assert_eq!(
                tx.broadcast_class().is_some(),
                memory == DeflateMemory::Shared
            );
        }
    }

    #[test]
    fn small_mode_compresses_within_its_window() {
        let d = Deflate::new().memory(DeflateMemory::Small);
        let mut tx = session(&d);
        assert_eq!(tx.send_bits, SMALL_WINDOW_BITS);
        // Inflates with an inflater of exactly that window: no distance is farther.
        let mut rx = Deflate::new().session(false, false, 15, SMALL_WINDOW_BITS);
        let text: String = (0..3000)
            .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
            .collect();
        for _ in 0..3 {
            let out = message(&mut tx, &text);
            let back = rx.process_incoming(out, &ctx(1 << 20)).unwrap();
            assert_eq!(back.payload, text.as_bytes());
        }
    }

    #[test]
    fn a_message_in_pieces_keeps_its_inflater_while_others_use_the_threads() {
        let d = Deflate::new();
        let mut tx = session(&d);
        let (mut slow, mut quick) = (session(&d), session(&d));
        let long = "abcdefgh".repeat(1000);
        let compressed = message(&mut tx, &long);
        let (a, b) = compressed.payload.split_at(compressed.payload.len() / 2);
        let first = slow
            .process_incoming(
                frame(DataKind::Text, false, Rsv::RSV1, a.to_vec()),
                &ctx(1 << 20),
            )
            .unwrap();
        assert!(
            slow.decompressor.is_some(),
            "held for the rest of its message"
        );
        // Another session's whole messages inflate in between, on this thread.
        for i in 0..3 {
            let other = format!("{i} other message, other message");
            let back = quick
                .process_incoming(message(&mut tx, &other), &ctx(1 << 20))
                .unwrap();
            assert_eq!(back.payload, other.as_bytes());
        }
        let second = slow
            .process_incoming(
                frame(DataKind::Continuation, true, Rsv::NONE, b.to_vec()),
                &ctx(1 << 20),
            )
            .unwrap();
        assert!(slow.decompressor.is_none(), "given back after the message");
        let mut all = first.payload.to_vec();
        all.extend_from_slice(&second.payload);
        assert_eq!(all, long.as_bytes());
    }

    #[test]
    fn a_broadcast_class_encodes_what_each_member_would() {
        let d = Deflate::new();
        let (one, two) = (session(&d), session(&d));
        let (a, b) = (
            one.broadcast_class().unwrap(),
            two.broadcast_class().unwrap(),
        );
        assert!(a.same(&b));
        assert!(!a.same(&session(&Deflate::new()).broadcast_class().unwrap()));
        let text = "broadcast me, broadcast me, broadcast me".repeat(10);
        let wire =
            crate::session::encode_class_wire(&a, &Frame::text(text.clone()), || None).unwrap();
        let mut member = session(&d);
        let own = message(&mut member, &text);
        assert_eq!(wire[0], 0x80 | 0x40 | 0x1);
        assert_eq!(&wire[wire.len() - own.payload.len()..], &own.payload[..]);
        assert_eq!(usize::from(wire[1]), own.payload.len());
        // Under the threshold: the plain encoding, shared with plain members.
        let small = Deflate::new().compress_if_bigger_than(1000);
        let class = session(&small).broadcast_class().unwrap();
        let plain = Bytes::from_static(b"plain");
        assert_eq!(
            crate::session::encode_class_wire(&class, &Frame::text("hi"), || Some(plain.clone())),
            Some(plain)
        );
    }
}
