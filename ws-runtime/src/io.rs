//! The socket under tungstenite: non-blocking `Read`/`Write` over a tokio `TcpStream`.
//!
//! tungstenite is a synchronous state machine; the engine drives it with a socket whose
//! reads and writes return `WouldBlock` instead of waiting, then waits for readiness
//! itself. This replaces tokio-tungstenite's `AllowStd` adapter (two `Arc`ed waker
//! proxies and a waker swap on every call) with direct readiness calls, which is what
//! lets reader, writer and handler share one task cheaply.
//!
//! Reads are adaptive. tungstenite reads at most `read_buffer_size` bytes per call into
//! a buffer every connection holds, so that buffer must stay small (1 KiB) to keep idle
//! connections cheap. When a read fills the caller's buffer, more data is probably
//! waiting: the next reads go through a transient 64 KiB buffer, one system call per
//! 64 KiB instead of one per KiB, and that buffer is freed when the connection goes idle.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncWrite, Interest};
use tokio::net::TcpStream;

const BULK: usize = 64 * 1024;

/// Reads of at least this size go straight into the caller's buffer.
const DIRECT_READ_MIN: usize = 4 * 1024;

/// Data frames waiting to be written, in order. Small frames are copied into one
/// buffer; a large payload stays shared (no copy) and is written with its header by a
/// vectored write.
#[derive(Default)]
struct OutQueue {
    segments: VecDeque<Segment>,
    /// Small frames queued after the last segment.
    tail: Vec<u8>,
    /// Bytes of the first segment (or of the tail, without segments) already written.
    written: usize,
    /// Bytes queued and not yet written.
    bytes: usize,
}

enum Segment {
    Inline(Vec<u8>),
    /// A whole frame already encoded, shared.
    Wire(Bytes),
    Frame {
        header: [u8; 10],
        header_len: usize,
        payload: Bytes,
    },
}

impl Segment {
    fn len(&self) -> usize {
        match self {
            Segment::Inline(bytes) => bytes.len(),
            Segment::Wire(bytes) => bytes.len(),
            Segment::Frame {
                header_len,
                payload,
                ..
            } => header_len + payload.len(),
        }
    }
}

/// The header of an unmasked frame (what a server sends): its first byte, then the
/// payload length in the shortest form RFC 6455 §5.2 allows. Returns the header bytes
/// and how many of them are used.
pub(crate) fn frame_header(first_byte: u8, len: usize) -> ([u8; 10], usize) {
    let mut header = [0u8; 10];
    header[0] = first_byte;
    let header_len = if len < 126 {
        header[1] = len as u8;
        2
    } else if len <= 0xffff {
        header[1] = 126;
        header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        header[1] = 127;
        header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (header, header_len)
}

/// Payloads up to this size are copied into the queue's buffer, larger ones shared.
const INLINE_MAX: usize = 512;

/// The queue's buffer is freed when empty if it grew past this.
const TAIL_KEEP: usize = 64 * 1024;

impl OutQueue {
    fn is_empty(&self) -> bool {
        self.segments.is_empty() && self.tail.len() == self.written
    }

    fn push(&mut self, first_byte: u8, payload: Bytes) {
        let len = payload.len();
        let (header, header_len) = frame_header(first_byte, len);
        self.bytes += header_len + len;
        if len <= INLINE_MAX {
            self.tail.extend_from_slice(&header[..header_len]);
            self.tail.extend_from_slice(&payload);
            return;
        }
        if !self.tail.is_empty() {
            // The tail becomes a segment; if it is the first, `written` stays its offset.
            self.segments
                .push_back(Segment::Inline(std::mem::take(&mut self.tail)));
        }
        self.segments.push_back(Segment::Frame {
            header,
            header_len,
            payload,
        });
    }

    fn push_wire(&mut self, wire: Bytes) {
        self.bytes += wire.len();
        if wire.len() <= INLINE_MAX {
            self.tail.extend_from_slice(&wire);
            return;
        }
        if !self.tail.is_empty() {
            self.segments
                .push_back(Segment::Inline(std::mem::take(&mut self.tail)));
        }
        self.segments.push_back(Segment::Wire(wire));
    }

    /// The unwritten bytes as slices, as many as fit in `slices`; returns how many.
    fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        fn push<'a>(slices: &mut [IoSlice<'a>], count: &mut usize, bytes: &'a [u8]) -> bool {
            if bytes.is_empty() {
                return true;
            }
            if *count == slices.len() {
                return false;
            }
            slices[*count] = IoSlice::new(bytes);
            *count += 1;
            true
        }
        let mut count = 0;
        // `written` applies to the first unit: the first segment, or the tail.
        let mut skip = self.written;
        for segment in &self.segments {
            let fits = match segment {
                Segment::Inline(bytes) => push(slices, &mut count, &bytes[skip..]),
                Segment::Wire(bytes) => push(slices, &mut count, &bytes[skip..]),
                Segment::Frame {
                    header,
                    header_len,
                    payload,
                } => {
                    let (header, payload) = if skip < *header_len {
                        (&header[skip..*header_len], &payload[..])
                    } else {
                        (&header[..0], &payload[skip - header_len..])
                    };
                    push(slices, &mut count, header) && push(slices, &mut count, payload)
                }
            };
            if !fits {
                return count;
            }
            skip = 0;
        }
        push(slices, &mut count, &self.tail[skip..]);
        count
    }

    /// Marks `n` bytes as written.
    fn advance(&mut self, mut n: usize) {
        self.bytes -= n;
        while n > 0 {
            let Some(front) = self.segments.front() else {
                self.written += n;
                break;
            };
            let left = front.len() - self.written;
            if n >= left {
                n -= left;
                self.written = 0;
                self.segments.pop_front();
            } else {
                self.written += n;
                n = 0;
            }
        }
        if self.segments.is_empty() && self.written == self.tail.len() {
            self.written = 0;
            if self.tail.capacity() > TAIL_KEEP {
                self.tail = Vec::new();
            } else {
                self.tail.clear();
            }
        }
    }
}

/// A TCP stream with non-blocking `Read` and `Write`.
pub(crate) struct Socket {
    tcp: TcpStream,
    /// Read-ahead bytes not yet handed to the reader, `bulk[pos..]`.
    bulk: Vec<u8>,
    pos: usize,
    /// The last read filled the caller's buffer: read ahead next time.
    streaming: bool,
    /// Data frames queued by the engine, written before anything tungstenite writes.
    out: OutQueue,
    /// Where the bytes handed to tungstenite stand in the frame sequence (plain
    /// sessions only), so that the engine can tell when tungstenite holds no partial
    /// message and its buffers can be replaced.
    tracker: Option<FrameTracker>,
    /// Hand out bytes only up to the next message boundary, then report `WouldBlock`.
    hold: bool,
    /// Consecutive socket reads that brought less than `SMALL_READ` bytes.
    small_reads: u32,
    /// Bytes the last socket read brought.
    last_read: usize,
}

/// A socket read under this size counts as small (see [`Socket::small_reads`]).
const SMALL_READ: usize = 4 * 1024;

/// Follows frame headers through a byte stream without copying or parsing payloads.
#[derive(Clone, Debug, Default)]
pub(crate) struct FrameTracker {
    head: [u8; 14],
    have: usize,
    /// Payload bytes of the current frame still to come.
    remaining: u64,
    /// A fragmented data message is in progress.
    fragmented: bool,
    /// The largest payload announced since the last [`take_largest`](Self::take_largest).
    largest: u64,
}

impl FrameTracker {
    fn header_len(b1: u8) -> usize {
        let extended = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + extended + if b1 & 0x80 != 0 { 4 } else { 0 }
    }

    /// Follows `data`; with `stop`, stops right after the first message boundary and
    /// returns how many bytes it followed.
    fn advance(&mut self, data: &[u8], stop: bool) -> usize {
        let mut i = 0;
        while i < data.len() {
            if self.remaining > 0 {
                let n = (data.len() - i).min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                self.remaining -= n as u64;
                i += n;
            } else if self.have == 0 && data.len() - i >= 2 {
                // The usual case: a whole header in view, read in one go.
                let header_len = Self::header_len(data[i + 1]);
                if data.len() - i >= header_len {
                    self.head[..header_len].copy_from_slice(&data[i..i + header_len]);
                    i += header_len;
                    self.start_frame();
                } else {
                    self.head[0] = data[i];
                    self.have = 1;
                    i += 1;
                }
            } else {
                self.head[self.have] = data[i];
                self.have += 1;
                i += 1;
                if self.have >= 2 && self.have == Self::header_len(self.head[1]) {
                    self.have = 0;
                    self.start_frame();
                }
            }
            if stop && self.at_boundary() {
                break;
            }
        }
        i
    }

    /// A complete header is in `head`: start following its payload.
    fn start_frame(&mut self) {
        let len = match self.head[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
            127 => u64::from_be_bytes(self.head[2..10].try_into().expect("8 bytes")),
            n => u64::from(n),
        };
        let (fin, opcode) = (self.head[0] & 0x80 != 0, self.head[0] & 0x0f);
        if opcode < 8 {
            self.fragmented = if opcode == 0 {
                self.fragmented && !fin
            } else {
                !fin
            };
        }
        self.largest = self.largest.max(len);
        self.remaining = len;
    }

    /// No partial frame and no unfinished fragmented message has been handed out.
    pub(crate) fn at_boundary(&self) -> bool {
        self.have == 0 && self.remaining == 0 && !self.fragmented
    }

    /// The largest payload seen since the last [`take_largest`](Self::take_largest).
    pub(crate) fn largest(&self) -> u64 {
        self.largest
    }

    /// The largest payload seen since the last call.
    pub(crate) fn take_largest(&mut self) -> u64 {
        std::mem::take(&mut self.largest)
    }
}

impl Socket {
    /// A socket whose first bytes are `leftover` (read by the HTTP server after the
    /// upgrade request), then whatever the TCP stream brings.
    pub(crate) fn new(tcp: TcpStream, leftover: Vec<u8>) -> Self {
        Self {
            tcp,
            bulk: leftover,
            pos: 0,
            streaming: false,
            out: OutQueue::default(),
            tracker: None,
            hold: false,
            small_reads: 0,
            last_read: 0,
        }
    }

    /// Bytes the last socket read brought (a burst shows as a large read-ahead fill).
    pub(crate) fn last_read(&self) -> usize {
        self.last_read
    }

    /// How many socket reads in a row brought little: a large read buffer (which
    /// tungstenite zero-fills before every read) no longer pays.
    pub(crate) fn small_reads(&self) -> u32 {
        self.small_reads
    }

    fn note_read(&mut self, n: usize) {
        self.last_read = n;
        if n >= SMALL_READ {
            self.small_reads = 0;
        } else if n > 0 {
            self.small_reads = self.small_reads.saturating_add(1);
        }
    }

    /// Starts following frame boundaries (from the first byte tungstenite reads).
    pub(crate) fn track_frames(&mut self) {
        self.tracker = Some(FrameTracker::default());
    }

    /// The frame tracker, if tracking.
    pub(crate) fn tracker(&mut self) -> Option<&mut FrameTracker> {
        self.tracker.as_mut()
    }

    /// Stop handing out bytes at the next message boundary (`on`), or stop stopping.
    pub(crate) fn hold_at_boundary(&mut self, on: bool) {
        self.hold = on;
    }

    /// Holding, and the boundary is reached: everything handed out is complete.
    pub(crate) fn paused_at_boundary(&self) -> bool {
        self.hold && self.tracker.as_ref().is_some_and(FrameTracker::at_boundary)
    }

    /// Queues a data frame (its first header byte and payload) to be written around
    /// tungstenite: data never goes through tungstenite's write buffer, which would
    /// copy every payload and keep its largest size as capacity for good. tungstenite
    /// only writes control frames, and whatever it writes goes out after what is
    /// queued here (see `write`).
    pub(crate) fn queue_frame(&mut self, first_byte: u8, payload: Bytes) {
        self.out.push(first_byte, payload);
    }

    /// Queues a frame already encoded (a broadcast's shared bytes).
    pub(crate) fn queue_wire(&mut self, wire: Bytes) {
        self.out.push_wire(wire);
    }

    /// Whether queued frames wait to be written.
    pub(crate) fn has_raw(&self) -> bool {
        !self.out.is_empty()
    }

    /// Bytes of queued frames not yet written.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.out.bytes
    }

    /// Writes queued frames with vectored writes; `WouldBlock` if the socket is full.
    pub(crate) fn flush_raw(&mut self) -> io::Result<()> {
        while !self.out.is_empty() {
            let n = if self.out.segments.is_empty() {
                // The common case, small frames in one buffer: a plain write, which
                // costs the kernel less than a vectored one (and no slice array).
                self.tcp.try_write(&self.out.tail[self.out.written..])?
            } else {
                let mut slices = [IoSlice::new(&[]); 64];
                match self.out.slices(&mut slices) {
                    1 => self.tcp.try_write(&slices[0])?,
                    count => self.tcp.try_write_vectored(&slices[..count])?,
                }
            };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.out.advance(n);
        }
        Ok(())
    }

    /// Whether read-ahead bytes are buffered (the socket may not signal readiness for
    /// them, so the engine must not wait before consuming them).
    pub(crate) fn has_buffered(&self) -> bool {
        self.pos < self.bulk.len()
    }

    /// Frees the read-ahead buffer if it holds nothing (called when the engine parks).
    pub(crate) fn release_idle(&mut self) {
        if !self.has_buffered() && self.bulk.capacity() != 0 {
            self.bulk = Vec::new();
            self.pos = 0;
            self.streaming = false;
        }
    }

    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.has_buffered() {
            return Poll::Ready(Ok(()));
        }
        self.tcp.poll_read_ready(cx)
    }

    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tcp.poll_write_ready(cx)
    }

    /// Half-closes the connection (FIN) so the peer sees the end of our data.
    pub(crate) fn shutdown_write(&mut self, cx: &mut Context<'_>) {
        // For a TCP stream this completes at once.
        let _ = Pin::new(&mut self.tcp).poll_shutdown(cx);
    }

    /// Reads and discards whatever the peer still sends (lingering close).
    pub(crate) fn discard_input(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.out = OutQueue::default();
        self.bulk = Vec::new();
        self.pos = 0;
        let mut scratch = [0u8; 1024];
        loop {
            match self.tcp.try_read(&mut scratch) {
                Ok(0) => return Poll::Ready(()),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match self.tcp.poll_read_ready(cx) {
                        Poll::Ready(Ok(())) => continue,
                        Poll::Ready(Err(_)) => return Poll::Ready(()),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Err(_) => return Poll::Ready(()),
            }
        }
    }
}

impl Socket {
    fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.has_buffered() {
            let n = buf.len().min(self.bulk.len() - self.pos);
            buf[..n].copy_from_slice(&self.bulk[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.bulk.len() {
                self.bulk.clear();
                self.pos = 0;
            }
            return Ok(n);
        }
        if self.streaming && buf.len() < DIRECT_READ_MIN {
            if self.fill_bulk()? == 0 {
                return Ok(0);
            }
            return self.read_bytes(buf);
        }
        let wanted = buf.len();
        let n = read_draining(&self.tcp, |tcp| tcp.try_read(buf), wanted)?;
        self.streaming = n == wanted && n != 0;
        self.note_read(n);
        Ok(n)
    }

    /// Reads up to 64 KiB into the (empty) read-ahead buffer.
    fn fill_bulk(&mut self) -> io::Result<usize> {
        if self.bulk.capacity() == 0 {
            self.bulk.reserve_exact(BULK);
        }
        let (tcp, bulk) = (&self.tcp, &mut self.bulk);
        let n = read_draining(tcp, |tcp| tcp.try_read_buf(bulk), BULK)?;
        self.note_read(n);
        if n < BULK / 2 {
            // The peer's burst is over: back to direct reads after this one.
            self.streaming = false;
        }
        Ok(n)
    }

    /// Holding: hands out bytes up to the next message boundary only.
    fn read_to_boundary(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let tracker = self.tracker.as_mut().expect("holding only with a tracker");
        if tracker.at_boundary() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if !self.has_buffered() && self.fill_bulk()? == 0 {
            return Ok(0);
        }
        let tracker = self.tracker.as_mut().expect("holding only with a tracker");
        let window = buf.len().min(self.bulk.len() - self.pos);
        let n = tracker.advance(&self.bulk[self.pos..self.pos + window], true);
        buf[..n].copy_from_slice(&self.bulk[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos == self.bulk.len() {
            self.bulk.clear();
            self.pos = 0;
        }
        Ok(n)
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.hold {
            return self.read_to_boundary(buf);
        }
        let n = self.read_bytes(buf)?;
        if let Some(tracker) = &mut self.tracker {
            tracker.advance(&buf[..n], false);
        }
        Ok(n)
    }
}

/// Reads with `read`; a short read means the socket is drained, so its readiness is
/// cleared as tokio's own `poll_read` does. Without this, every wake-up would end in
/// one more `recvfrom` that returns `EAGAIN`. The readiness is cleared only if no new
/// readiness arrived since the read began (tokio's `try_io` guarantees it), so no
/// wake-up is lost.
fn read_draining(
    tcp: &TcpStream,
    read: impl FnOnce(&TcpStream) -> io::Result<usize>,
    wanted: usize,
) -> io::Result<usize> {
    let mut got = 0;
    let result = tcp.try_io(Interest::READABLE, || {
        let n = read(tcp)?;
        got = n;
        if n > 0 && n < wanted {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(n)
        }
    });
    match result {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
        other => other,
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Frames queued here were queued first: they go out first.
        if !self.out.is_empty() {
            self.flush_raw()?;
        }
        self.tcp.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drains the queue through `slices`/`advance` in writes of `step` bytes.
    fn drain(queue: &mut OutQueue, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while !queue.is_empty() {
            let mut slices = [IoSlice::new(&[]); 3];
            let count = queue.slices(&mut slices);
            let mut taken = 0;
            for slice in &slices[..count] {
                let n = slice.len().min(step - taken);
                out.extend_from_slice(&slice[..n]);
                taken += n;
                if taken == step {
                    break;
                }
            }
            queue.advance(taken);
        }
        out
    }

    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 0xffff => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn queued_frames_come_out_in_order_whatever_the_write_sizes() {
        let payloads: Vec<Vec<u8>> = [3usize, 5000, 0, 200, 70_000, 10, 3000, 1]
            .iter()
            .enumerate()
            .map(|(i, n)| (0..*n).map(|j| (i * 31 + j) as u8).collect())
            .collect();
        let expected: Vec<u8> = payloads.iter().flat_map(|p| frame(0x82, p)).collect();
        for step in [7, 100, 4096, usize::MAX] {
            let mut queue = OutQueue::default();
            for p in &payloads {
                queue.push(0x82, Bytes::from(p.clone()));
            }
            assert_eq!(queue.bytes, expected.len());
            assert_eq!(drain(&mut queue, step), expected, "step {step}");
            assert_eq!(queue.bytes, 0);
        }
    }

    #[test]
    fn frame_tracker_finds_boundaries() {
        let mut bytes = frame(0x81, b"hello"); // a whole text message
        bytes.extend(frame(0x02, &[0; 300])); // fragment 1 of a binary message
        bytes.extend(frame(0x89, b"p")); // a ping between fragments
        bytes.extend(frame(0x80, &[1; 70_000])); // the last fragment
        let mut tracker = FrameTracker::default();
        let first = tracker.advance(&bytes, true);
        assert_eq!(first, 7);
        assert!(tracker.at_boundary());
        let rest = tracker.advance(&bytes[first..], true);
        assert_eq!(
            first + rest,
            bytes.len(),
            "no boundary inside the fragmented message"
        );
        assert!(tracker.at_boundary());
        assert_eq!(tracker.take_largest(), 70_000);
        let mut split = FrameTracker::default();
        for chunk in bytes.chunks(3) {
            split.advance(chunk, false);
        }
        assert!(split.at_boundary());
    }
}
