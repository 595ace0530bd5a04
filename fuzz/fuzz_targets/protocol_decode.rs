//! Arbitrary bytes through the sans-I/O decoder (`ws_runtime::fuzz::decode`), in every
//! mode: client or server role, raw or assembled, with or without permessage-deflate.
//!
//! Input layout: `[mode, limit0, limit1, limit2, ncuts, cuts.., input..]`:
//! - `mode`: its low 4 bits as `Mode::from_bits` (client, raw, deflate, no takeover);
//! - `limit2`'s high nibble picks the message limit: `0xF` → `usize::MAX` (a header that
//!   announces 2^62 bytes is then within the limit, and nothing may be allocated for
//!   it before the bytes arrive); `0x8..=0xE` → a small limit `limit1 << 8 | limit0`
//!   (under 64 KiB); otherwise a 20-bit limit (under 1 MiB) from the three bytes;
//! - `ncuts % 17` cut bytes (each a piece length of 1 to 256, cycled; none: the input
//!   in one piece), then the input.
//!
//! Checks, beyond "no panic":
//! - the peak live heap during one `decode` call stays under a bound derived from the
//!   limit, the input size and what the call returned (see [`bound`]);
//! - the events make sense: at most one `Close` or `Failed`, and last; text is UTF-8
//!   (a raw session's text fragments too, once put together); no fragment unless raw,
//!   and raw fragments form whole sequences; no message over the limit; control
//!   payloads of at most 125 bytes; a close code that may appear on the wire; a
//!   failure code the core may send;
//! - the pieces do not matter: the same input in one piece gives the same events (but
//!   for two known differences in how a failure shows: see [`same_verdict`]).

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use libfuzzer_sys::fuzz_target;
use ws_runtime::fuzz::{Decoded, MAPPED_MIN, Mode, decode, observe_mappings};
use ws_runtime::{Frame, FrameType};

// ----- a counting allocator -----

/// `System`, counting the bytes that are live and the most that were.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// No single allocation of this much is legitimate here (the inputs are at most a few
/// MiB and the limits at most 1 MiB, or unbounded): refusing it turns an allocation
/// sized by an announced length into a clean crash ("memory allocation of N bytes
/// failed") instead of the machine's memory.
const REFUSE: usize = 1 << 30;

impl Counting {
    fn grew(by: usize) {
        let live = LIVE.fetch_add(by, Relaxed) + by;
        PEAK.fetch_max(live, Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged (or refused with a null
// pointer, which `GlobalAlloc` allows); the counters have no effect on the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= REFUSE {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= REFUSE {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    // Counted as the change of size: for the blocks that matter (over glibc's mmap
    // threshold) a reallocation moves pages (mremap) rather than holding both copies.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= REFUSE {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                Self::grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Message buffers of [`MAPPED_MIN`] bytes and more are pages mapped outside the
/// allocator: counted with the heap all the same, and refused past the same size.
fn mapping(bytes: usize, made: bool) {
    if made {
        assert!(
            bytes < REFUSE,
            "a message buffer of {bytes} bytes was mapped"
        );
        Counting::grew(bytes);
    } else {
        LIVE.fetch_sub(bytes, Relaxed);
    }
}

/// Runs `decode`, returning its events and the most heap it had live at once beyond
/// what was live before it (which includes the events it returns).
fn measured(mode: Mode, cuts: &[u8], input: &[u8]) -> (Vec<Decoded>, usize) {
    observe_mappings(mapping);
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let out = decode(mode, cuts, input);
    let peak = PEAK.load(Relaxed);
    (out, peak.saturating_sub(before))
}

// ----- the memory bound -----

/// The most any deflate stream inflates one input byte to: a length/distance pair
/// copies at most 258 bytes and takes at least two bits (RFC 1951), so 8 bits give
/// 4 × 258.
const DEFLATE_RATIO: usize = 1032;

/// What the core may hold whatever the input, without permessage-deflate: the
/// decoder, the thread's 2 KiB chunk of small payloads (and the part-used one that a
/// delivered payload still holds), a carried control payload (≤ 125 B), `Vec` and
/// `Bytes` headers. Measured (`WS_FUZZ_MEMORY=1`) at under 3 KiB.
const FIXED: usize = 64 << 10;

/// The same with permessage-deflate: the session's `Deflate` state and zlib-rs's
/// inflate state (its window, at most 32 KiB, and tables), allocated on the first
/// compressed message and again after each one with no context takeover. Measured at
/// under 48 KiB.
const FIXED_DEFLATE: usize = 256 << 10;

/// The most heap one `decode(mode, cuts, input)` call may have live at once, given what
/// it returned (`out`, which it still holds at the end).
///
/// - What it returned: the event vector (its capacity × the size of an event), and
///   each payload's buffer — a message buffer is handed over as it is, so up to twice
///   its length (a `Vec` grows by doubling), plus a `Bytes` header: 2 × len + 512
///   (and a page more for a mapped buffer, see [`returned`]).
/// - The message being assembled when the peak came, not returned yet (or never: the
///   input ended or failed inside it). It grows only with what arrived, so its length
///   is at most `min(limit, input.len())`; inflated, at most `min(limit + 1,
///   input.len() × 1032)`, 1032 being deflate's largest ratio. Twice that for the
///   doubling; three times once it may have reached [`MAPPED_MIN`] / 2, where growing
///   copies it into a new mapping (the old one is given back only after the copy; a
///   `realloc` of that size moves pages instead).
/// - The copy of the piece being decoded (the whole input when there are no cuts).
/// - With deflate, the inflated buffer's reservations past what it holds: each grows
///   by at least 256 bytes or twice the compressed piece in view (≤ 2 × input.len() in
///   all, the 256s in the per-payload 512).
/// - `FIXED` or `FIXED_DEFLATE`.
///
/// An announced length (2^62, say) appears nowhere: memory must follow the bytes that
/// arrived, never a header's promise. With the limit at `usize::MAX` (one input in 16),
/// an allocation sized by a header's length of more than the input's size (plus the
/// fixed part) breaks the bound.
fn bound(mode: Mode, input: usize, out: &[Decoded], out_capacity: usize) -> usize {
    let (growth, reserve, fixed) = if mode.deflate {
        (
            input.saturating_mul(DEFLATE_RATIO),
            2 * input,
            FIXED_DEFLATE,
        )
    } else {
        (input, 0, FIXED)
    };
    let in_progress = mode.limit.saturating_add(1).min(growth);
    let copies = if in_progress >= MAPPED_MIN / 2 { 3 } else { 2 };
    let returned: usize = out.iter().map(|event| returned(payload(event).len())).sum();
    out_capacity * size_of::<Decoded>() + returned + copies * in_progress + input + reserve + fixed
}

/// What a returned payload of `len` bytes may hold: its buffer (up to twice its length,
/// and a mapped one rounded up to whole pages) and a `Bytes` header.
fn returned(len: usize) -> usize {
    let pages = if len >= MAPPED_MIN / 2 { 4096 } else { 0 };
    2 * len + 512 + pages
}

fn payload(event: &Decoded) -> &[u8] {
    match event {
        Decoded::Frame(Frame::Text(text)) => text.as_bytes(),
        Decoded::Frame(Frame::Binary(bytes)) => bytes,
        Decoded::Frame(Frame::Fragment(fragment)) => &fragment.payload,
        Decoded::Frame(_) => &[],
        Decoded::Ping(p) | Decoded::Pong(p) => p,
        Decoded::Close(Some((_, reason))) => reason.as_bytes(),
        Decoded::Close(None) | Decoded::Failed(_) => &[],
    }
}

// ----- the events -----

/// Checks that the events are a sequence the core may produce.
fn check_events(mode: Mode, out: &[Decoded]) {
    // The fragmented message in progress in a raw session: its type, bytes so far.
    let mut fragmented: Option<(FrameType, Vec<u8>)> = None;
    for (i, event) in out.iter().enumerate() {
        let last = i + 1 == out.len();
        match event {
            Decoded::Close(reason) => {
                assert!(last, "events after a close: {out:?}");
                if let Some((code, reason)) = reason {
                    assert!(
                        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999),
                        "close code {code} cannot come from the wire"
                    );
                    assert!(
                        reason.len() <= 123,
                        "close reason of {} bytes",
                        reason.len()
                    );
                }
            }
            Decoded::Failed(code) => {
                assert!(last, "events after a failure: {out:?}");
                assert!(
                    matches!(code, 1002 | 1007 | 1009),
                    "unexpected failure code {code}"
                );
            }
            Decoded::Ping(p) | Decoded::Pong(p) => {
                assert!(p.len() <= 125, "control payload of {} bytes", p.len());
            }
            Decoded::Frame(Frame::Text(text)) => {
                assert!(fragmented.is_none(), "a message inside a fragmented one");
                assert!(std::str::from_utf8(text.as_bytes()).is_ok());
                assert!(text.len() <= mode.limit, "text of {} bytes", text.len());
            }
            Decoded::Frame(Frame::Binary(bytes)) => {
                assert!(fragmented.is_none(), "a message inside a fragmented one");
                assert!(bytes.len() <= mode.limit, "binary of {} bytes", bytes.len());
            }
            Decoded::Frame(Frame::Fragment(f)) => {
                assert!(mode.raw, "a fragment outside a raw session");
                assert!(
                    matches!(f.frame_type, FrameType::Text | FrameType::Binary),
                    "fragment of type {:?}",
                    f.frame_type
                );
                assert!(
                    !(f.first && f.fin),
                    "a message in one frame came as a fragment"
                );
                let (frame_type, bytes) = match fragmented.take() {
                    None => {
                        assert!(f.first, "a continuation with no message: {out:?}");
                        (f.frame_type, Vec::new())
                    }
                    Some(progress) => {
                        assert!(!f.first, "a new message inside a fragmented one");
                        progress
                    }
                };
                assert_eq!(f.frame_type, frame_type, "fragments of a message differ");
                let mut bytes = bytes;
                bytes.extend_from_slice(&f.payload);
                assert!(
                    bytes.len() <= mode.limit,
                    "message of {} bytes",
                    bytes.len()
                );
                if frame_type == FrameType::Text {
                    match std::str::from_utf8(&bytes) {
                        Ok(_) => {}
                        // A character may be cut between two fragments, not at the end.
                        Err(e) if e.error_len().is_none() && !f.fin => {}
                        Err(e) => panic!("text fragments are not UTF-8: {e} ({out:?})"),
                    }
                }
                if !f.fin {
                    fragmented = Some((frame_type, bytes));
                }
            }
            Decoded::Frame(other) => panic!("a control frame as a data event: {other:?}"),
        }
    }
}

/// With `WS_FUZZ_MEMORY=1`: prints each new largest share of the fixed part of the
/// bound that a call used (how close it came), with deflate and without — how
/// `FIXED` and `FIXED_DEFLATE` were chosen.
fn report_margin(mode: Mode, peak: usize, allowed: usize) {
    static ON: std::sync::LazyLock<bool> =
        std::sync::LazyLock::new(|| std::env::var_os("WS_FUZZ_MEMORY").is_some());
    static MOST: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
    if *ON {
        let fixed = if mode.deflate { FIXED_DEFLATE } else { FIXED };
        let used = (peak + fixed).saturating_sub(allowed);
        let most = &MOST[usize::from(mode.deflate)];
        if used > most.fetch_max(used, Relaxed) {
            eprintln!(
                "memory: {used} bytes of the fixed part used (deflate: {}, {mode:?}, peak {peak})",
                mode.deflate
            );
        }
    }
}

/// `WS_FUZZ_SHOW=1` prints what each input decoded to (for a look at a seed or a
/// reproducer).
static SHOW: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("WS_FUZZ_SHOW").is_some());

/// Whether two decodings of the same input, cut differently, agree: the same events,
/// failures included. (The two differences the fuzzer found, a header cut off by a
/// read and inflated text both invalid and over the limit, are fixed in the core; their
/// inputs are under `regressions/protocol_decode/`.)
fn same_verdict(_mode: Mode, a: &[Decoded], b: &[Decoded]) -> bool {
    a == b
}

fuzz_target!(|data: &[u8]| {
    let [bits, l0, l1, l2, ncuts, rest @ ..] = data else {
        return;
    };
    let limit = match l2 >> 4 {
        0xf => usize::MAX,
        0x8..=0xe => usize::from(*l1) << 8 | usize::from(*l0),
        _ => usize::from(l2 & 0x0f) << 16 | usize::from(*l1) << 8 | usize::from(*l0),
    };
    let mode = Mode::from_bits(bits & 0x0f, limit);
    let ncuts = usize::from(ncuts % 17).min(rest.len());
    let (cuts, input) = rest.split_at(ncuts);

    let (out, peak) = measured(mode, cuts, input);
    let allowed = bound(mode, input.len(), &out, out.capacity());
    report_margin(mode, peak, allowed);
    if *SHOW {
        eprintln!(
            "{mode:?}, cuts {cuts:?}, {} input bytes, peak heap {peak} of {allowed}",
            input.len()
        );
        eprintln!("events: {out:?}");
    }
    assert!(
        peak <= allowed,
        "decode held {peak} bytes at its peak, over the bound of {allowed} \
         ({mode:?}, {} input bytes, {} events)",
        input.len(),
        out.len()
    );
    check_events(mode, &out);

    if !cuts.is_empty() {
        let (whole, peak) = measured(mode, &[], input);
        let allowed = bound(mode, input.len(), &whole, whole.capacity());
        assert!(peak <= allowed, "in one piece: {peak} bytes over {allowed}");
        check_events(mode, &whole);
        assert!(
            same_verdict(mode, &out, &whole),
            "the same input in pieces of {cuts:?} and in one piece decoded differently\n\
             in pieces: {out:?}\n\
             in one:    {whole:?}"
        );
    }
});
