//! The write path: frames gathered per batch into one buffer per worker thread (the
//! cork), large payloads beside it, written with one vectored write; only what the
//! transport refuses is kept by the session (its backlog).
//!
//! Small frames (header and payload up to [`INLINE_MAX`] bytes) are copied into the
//! cork; a larger payload stays the frame's shared bytes and goes out as its own slice
//! of the vectored write, never copied (except to mask it, in the client role). An idle
//! session therefore holds no write buffer: the cork belongs to the thread, and the
//! backlog is empty unless the peer reads more slowly than we write.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;

use crate::protocol::Encoded;
use crate::protocol::mask;

/// Payloads up to this size are copied into the cork, larger ones written in place.
pub(crate) const INLINE_MAX: usize = 512;

/// Slices in one vectored write: a batch of 1 KiB frames is two slices per frame, and
/// a read brings 16 or more of them under load. At 16 slices every such batch took two
/// `writev`s (measured with strace: 8 frames per write, half the server's system
/// calls); at 64 it takes one, and the slice array (1 KiB on the stack) is still cheap
/// to set up.
const MAX_SLICES: usize = 64;

/// The cork's size before it is written out in the middle of a batch.
const CORK_FLUSH: usize = 64 * 1024;

/// A part of a batch: cork bytes up to an offset, or a shared payload.
enum Piece {
    Cork(usize),
    Shared(Bytes),
}

/// The thread's cork: bytes of small frames, and the pieces of the batch in order.
#[derive(Default)]
struct Cork {
    bytes: Vec<u8>,
    pieces: Vec<Piece>,
}

thread_local! {
    static CORK: RefCell<Cork> = const {
        RefCell::new(Cork {
            bytes: Vec::new(),
            pieces: Vec::new(),
        })
    };
}

/// Bytes the transport has not taken yet, in order. Boxed, and only while it holds
/// something: a session whose peer keeps up holds no backlog.
#[derive(Default)]
pub(crate) struct Backlog(Option<Box<Chunks>>);

#[derive(Default)]
struct Chunks {
    chunks: VecDeque<Bytes>,
    /// Bytes of the first chunk already written.
    offset: usize,
}

impl Backlog {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.0
                .get_or_insert_with(Default::default)
                .chunks
                .push_back(chunk);
        }
    }

    /// Writes the backlog; `Ready(Ok)` once it is empty.
    pub(crate) fn poll_write<T: AsyncWrite + Unpin>(
        &mut self,
        transport: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while let Some(inner) = self.0.as_deref_mut() {
            let n = if inner.chunks.len() == 1 {
                let chunk = &inner.chunks[0][inner.offset..];
                std::task::ready!(write_slices(transport, cx, &[IoSlice::new(chunk)]))?
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let mut count = 0;
                for (i, chunk) in inner.chunks.iter().take(MAX_SLICES).enumerate() {
                    let skip = if i == 0 { inner.offset } else { 0 };
                    slices[count] = IoSlice::new(&chunk[skip..]);
                    count += 1;
                }
                std::task::ready!(write_slices(transport, cx, &slices[..count]))?
            };
            inner.advance(n);
            if inner.chunks.is_empty() {
                self.0 = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl Chunks {
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let front = self
                .chunks
                .front()
                .expect("advanced past the backlog")
                .len();
            let left = front - self.offset;
            if n >= left {
                n -= left;
                self.offset = 0;
                self.chunks.pop_front();
            } else {
                self.offset += n;
                n = 0;
            }
        }
    }
}

fn write_slices<T: AsyncWrite + Unpin>(
    transport: &mut T,
    cx: &mut Context<'_>,
    slices: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let result = if slices.len() == 1 {
        Pin::new(&mut *transport).poll_write(cx, &slices[0])
    } else {
        Pin::new(&mut *transport).poll_write_vectored(cx, slices)
    };
    match result {
        Poll::Ready(Ok(0)) => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
        other => other,
    }
}

/// One batch of frames being gathered in the thread's cork.
pub(crate) struct Batch<'a> {
    cork: std::cell::RefMut<'a, Cork>,
    /// Bytes gathered.
    len: usize,
}

/// Runs `f` with a batch in the thread's cork (or a fresh one if the cork is in use).
pub(crate) fn with_batch<R>(f: impl FnOnce(&mut Batch<'_>) -> R) -> R {
    CORK.with(|cell| match cell.try_borrow_mut() {
        Ok(mut cork) => {
            cork.bytes.clear();
            cork.pieces.clear();
            let mut batch = Batch { cork, len: 0 };
            f(&mut batch)
        }
        Err(_) => {
            let spare = RefCell::new(Cork::default());
            let cork = spare.borrow_mut();
            let mut batch = Batch { cork, len: 0 };
            f(&mut batch)
        }
    })
}

impl Batch<'_> {
    /// Bytes gathered and not written yet.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch should be written before more is gathered.
    pub(crate) fn is_full(&self) -> bool {
        self.cork.bytes.len() >= CORK_FLUSH || self.cork.pieces.len() >= 2 * MAX_SLICES
    }

    /// Adds an encoded frame.
    pub(crate) fn push(&mut self, frame: Encoded) {
        let cork = &mut *self.cork;
        self.len += frame.len();
        cork.bytes.extend_from_slice(frame.header());
        let payload = frame.payload;
        if payload.len() <= INLINE_MAX {
            let start = cork.bytes.len();
            cork.bytes.extend_from_slice(&payload);
            if let Some(key) = frame.mask {
                mask::apply(&mut cork.bytes[start..], key, 0);
            }
            return;
        }
        cork.pieces.push(Piece::Cork(cork.bytes.len()));
        let payload = match frame.mask {
            None => payload,
            // A client's large payload: masked in place when the frame was its only
            // owner (a `Vec` or `String` sent as it is), else copied once to be masked.
            Some(key) => match payload.try_into_mut() {
                Ok(mut owned) => {
                    mask::apply(&mut owned, key, 0);
                    owned.freeze()
                }
                Err(shared) => {
                    let mut masked = shared.to_vec();
                    mask::apply(&mut masked, key, 0);
                    Bytes::from(masked)
                }
            },
        };
        cork.pieces.push(Piece::Shared(payload));
    }

    /// Adds a small unmasked data frame (a server's, without extensions) straight from
    /// its first header byte and payload.
    #[inline]
    pub(crate) fn push_small(&mut self, first: u8, payload: &[u8]) {
        let cork = &mut *self.cork;
        let len = payload.len();
        debug_assert!(len <= INLINE_MAX);
        let bytes = &mut cork.bytes;
        if len < 126 {
            bytes.reserve(2 + len);
            bytes.extend_from_slice(&[first, len as u8]);
            self.len += 2 + len;
        } else {
            bytes.reserve(4 + len);
            bytes.extend_from_slice(&[first, 126, (len >> 8) as u8, len as u8]);
            self.len += 4 + len;
        }
        bytes.extend_from_slice(payload);
    }

    /// Adds bytes already framed (a broadcast's shared frame).
    pub(crate) fn push_wire(&mut self, wire: &Bytes) {
        let cork = &mut *self.cork;
        self.len += wire.len();
        if wire.len() <= INLINE_MAX {
            cork.bytes.extend_from_slice(wire);
        } else {
            cork.pieces.push(Piece::Cork(cork.bytes.len()));
            cork.pieces.push(Piece::Shared(wire.clone()));
        }
    }

    /// Writes what was gathered, as far as the transport takes it; the rest goes to
    /// `backlog`. `Ready` if everything was written, `Pending` if some of it waits in
    /// the backlog (the transport will wake the task when it has room).
    pub(crate) fn write<T: AsyncWrite + Unpin>(
        &mut self,
        transport: &mut T,
        cx: &mut Context<'_>,
        backlog: &mut Backlog,
    ) -> Poll<io::Result<()>> {
        let cork = &mut *self.cork;
        if self.len == 0 {
            // Nothing new: done only if nothing waits from before.
            return if backlog.is_empty() {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            };
        }
        let end = cork.bytes.len();
        if cork
            .pieces
            .last()
            .is_none_or(|p| matches!(p, Piece::Shared(_)))
        {
            cork.pieces.push(Piece::Cork(end));
        }
        let mut written = 0;
        let result = if !backlog.is_empty() {
            Poll::Pending
        } else if cork.pieces.len() == 1 {
            // The common case, small frames only: one plain write, no slice array.
            loop {
                if written == end {
                    break Poll::Ready(Ok(()));
                }
                match write_slices(transport, cx, &[IoSlice::new(&cork.bytes[written..])]) {
                    Poll::Ready(Ok(n)) => written += n,
                    Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                    Poll::Pending => break Poll::Pending,
                }
            }
        } else {
            loop {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let count = slices_from(cork, written, &mut slices);
                if count == 0 {
                    break Poll::Ready(Ok(()));
                }
                match write_slices(transport, cx, &slices[..count]) {
                    Poll::Ready(Ok(n)) => written += n,
                    Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                    Poll::Pending => break Poll::Pending,
                }
            }
        };
        if written < self.len {
            keep_rest(cork, written, backlog);
        }
        cork.bytes.clear();
        cork.pieces.clear();
        self.len = 0;
        match result {
            Poll::Ready(Ok(())) if !backlog.is_empty() => Poll::Pending,
            other => other,
        }
    }
}

/// The unwritten part of the batch (after `skip` bytes) as slices.
fn slices_from<'a>(cork: &'a Cork, mut skip: usize, slices: &mut [IoSlice<'a>]) -> usize {
    let mut count = 0;
    let mut start = 0;
    for piece in &cork.pieces {
        let bytes: &[u8] = match piece {
            Piece::Cork(end) => {
                let bytes = &cork.bytes[start..*end];
                start = *end;
                bytes
            }
            Piece::Shared(payload) => payload,
        };
        if skip >= bytes.len() {
            skip -= bytes.len();
            continue;
        }
        if count == slices.len() {
            break;
        }
        slices[count] = IoSlice::new(&bytes[skip..]);
        skip = 0;
        count += 1;
    }
    count
}

/// Moves the unwritten part of the batch (after `skip` bytes) into the backlog.
fn keep_rest(cork: &Cork, mut skip: usize, backlog: &mut Backlog) {
    let mut start = 0;
    for piece in &cork.pieces {
        match piece {
            Piece::Cork(end) => {
                let bytes = &cork.bytes[start..*end];
                start = *end;
                if skip >= bytes.len() {
                    skip -= bytes.len();
                } else {
                    backlog.push(Bytes::copy_from_slice(&bytes[skip..]));
                    skip = 0;
                }
            }
            Piece::Shared(payload) => {
                if skip >= payload.len() {
                    skip -= payload.len();
                } else {
                    backlog.push(payload.slice(skip..));
                    skip = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Encoder, Role};

    /// A transport that takes at most `step` bytes per write and refuses every
    /// `refuse`-th call.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
        calls: usize,
        refuse: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.poll_write_vectored(cx, &[IoSlice::new(buf)])
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.calls += 1;
            if self.refuse > 0 && self.calls.is_multiple_of(self.refuse) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let mut n = 0;
            for buf in bufs {
                let take = buf.len().min(self.step - n);
                self.out.extend_from_slice(&buf[..take]);
                n += take;
                if n == self.step {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn batches_come_out_whole_and_in_order_whatever_the_transport_takes() {
        let payloads: Vec<Vec<u8>> = [3usize, 5000, 0, 200, 70_000, 10, 3000, 1]
            .iter()
            .enumerate()
            .map(|(i, n)| (0..*n).map(|j| (i * 31 + j) as u8).collect())
            .collect();
        let mut encoder = Encoder::new(Role::Server);
        let frames: Vec<Encoded> = payloads
            .iter()
            .map(|p| encoder.frame(0x82, Bytes::from(p.clone())))
            .collect();
        let expected: Vec<u8> = frames
            .iter()
            .flat_map(|f| [f.header(), &f.payload[..]].concat())
            .collect();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for (step, refuse) in [(7, 0), (100, 3), (4096, 2), (usize::MAX, 0)] {
            let mut transport = Trickle {
                out: Vec::new(),
                step,
                calls: 0,
                refuse,
            };
            let mut backlog = Backlog::default();
            with_batch(|batch| {
                for frame in &frames {
                    batch.push(frame.clone());
                }
                let _ = batch.write(&mut transport, &mut cx, &mut backlog);
            });
            while backlog.poll_write(&mut transport, &mut cx).is_pending() {}
            assert_eq!(transport.out, expected, "step {step} refuse {refuse}");
            assert!(backlog.is_empty());
        }
    }
}
