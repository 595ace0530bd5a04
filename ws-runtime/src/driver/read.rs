//! The read path: every read of every session of a worker thread goes into one buffer
//! the thread owns (the scratch), is decoded in place, and is free again when the
//! decoder returns; a session keeps only what it could not use yet.
//!
//! A session holds input of its own in two cases only: the bytes read past what its
//! handler had room for (the stash, at most one read), and the payload of a large
//! frame, which is read straight into the message buffer it ends up in (no copy
//! through the scratch). Both are empty again once used, so an idle session holds no
//! read buffer.
//!
//! A read never goes more than 4 KiB past the end of a large frame (after a large
//! payload read straight into its buffer, the next read takes 4 KiB at most): if another
//! large frame follows (a stream of large messages), most of its payload then goes
//! straight into its buffer too instead of through the scratch and a copy; a small one
//! arrives whole in that read, and the read after it is a full one again. That costs
//! one shorter read per large message and saves copying it.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BufMut;
use tokio::io::{AsyncRead, ReadBuf};

use crate::protocol::buffer::Spare;
use crate::protocol::{DecodePass, Decoder, ProtocolError, Sink, Stage};

/// The scratch buffer's size: the most one read takes.
const SCRATCH: usize = 64 * 1024;

/// How far a read goes past the end of a large frame: the next frame's header, and
/// the whole of the next frame if it is small. A large one's payload then goes
/// straight into its buffer, but for these first bytes.
const PAST_LARGE: usize = 4096;

/// The most a direct read takes at once.
const DIRECT_MAX: usize = 1 << 20;

thread_local! {
    /// Allocated (and zeroed) on the thread's first read.
    static SCRATCH_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

#[cfg(test)]
thread_local! {
    /// Bytes that came through this thread's scratch buffer (a field would change the
    /// session's layout in test builds).
    static THROUGH_SCRATCH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How a read ended.
pub(crate) enum ReadOutcome {
    /// Bytes came and were decoded; the socket may hold more.
    DecodePass {
        /// Bytes the read brought.
        read: usize,
        /// The sink stopped the decoder.
        stopped: bool,
    },
    /// The peer closed its side.
    Eof,
    /// Nothing to read now; the task is registered to be woken.
    Pending,
}

/// A session's own input: what it read and could not use yet.
#[derive(Default)]
pub(crate) struct Input {
    /// Bytes read but not decoded (the session had no room), decoded first next time.
    stash: Vec<u8>,
    /// The most one read into the scratch buffer takes (`read_buffer_size`).
    read_size: u32,
    /// A large payload was just read straight into its buffer: the next read takes
    /// [`PAST_LARGE`] bytes at most.
    after_large: bool,
}

impl Input {
    /// Input that starts with `leftover` (bytes sent with the handshake), reading at
    /// most `read_size` bytes at a time.
    pub(crate) fn new(leftover: Vec<u8>, read_size: usize) -> Self {
        Self {
            stash: leftover,
            read_size: read_size.clamp(1, SCRATCH) as u32,
            after_large: false,
        }
    }

    /// Whether bytes wait that no readiness event will announce.
    pub(crate) fn has_stash(&self) -> bool {
        !self.stash.is_empty()
    }

    /// Decodes the stash.
    pub(crate) fn decode_stash(
        &mut self,
        decoder: &mut Decoder,
        stage: Option<&mut Stage>,
        sink: &mut impl Sink,
    ) -> Result<DecodePass, ProtocolError> {
        let decoded = decoder.decode(&mut self.stash, stage, sink)?;
        if decoded.consumed == self.stash.len() {
            // Freed, not cleared: a session keeps no buffer while it idles.
            self.stash = Vec::new();
        } else {
            self.stash.drain(..decoded.consumed);
        }
        Ok(decoded)
    }

    /// Reads once from `transport` and decodes what came: into the message buffer when
    /// a large payload is arriving, else into the thread's scratch buffer.
    pub(crate) fn read<T: AsyncRead + Unpin>(
        &mut self,
        transport: &mut T,
        cx: &mut Context<'_>,
        decoder: &mut Decoder,
        stage: Option<&mut Stage>,
        sink: &mut impl Sink,
    ) -> io::Result<Result<ReadOutcome, ProtocolError>> {
        if let Some(want) = decoder.direct_want() {
            return self.read_direct(transport, cx, decoder, want, sink);
        }
        let mut size = self.read_size as usize;
        if self.after_large {
            size = size.min(PAST_LARGE);
        } else if let Some(remaining) = decoder.large_remaining() {
            // The end of a large frame: read up to a little past it.
            let upto = usize::try_from(remaining).unwrap_or(usize::MAX);
            size = size.min(upto.saturating_add(PAST_LARGE));
        }
        SCRATCH_BUF.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => {
                if scratch.is_empty() {
                    scratch.resize(SCRATCH, 0);
                }
                self.read_into(&mut scratch[..size], transport, cx, decoder, stage, sink)
            }
            Err(_) => {
                let mut spare = vec![0; size];
                self.read_into(&mut spare, transport, cx, decoder, stage, sink)
            }
        })
    }

    fn read_into<T: AsyncRead + Unpin>(
        &mut self,
        buf: &mut [u8],
        transport: &mut T,
        cx: &mut Context<'_>,
        decoder: &mut Decoder,
        stage: Option<&mut Stage>,
        sink: &mut impl Sink,
    ) -> io::Result<Result<ReadOutcome, ProtocolError>> {
        let mut read_buf = ReadBuf::new(buf);
        match Pin::new(&mut *transport).poll_read(cx, &mut read_buf) {
            Poll::Pending => return Ok(Ok(ReadOutcome::Pending)),
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Ready(Ok(())) => {}
        }
        let n = read_buf.filled().len();
        if n == 0 {
            return Ok(Ok(ReadOutcome::Eof));
        }
        self.after_large = false;
        #[cfg(test)]
        THROUGH_SCRATCH.with(|through| through.set(through.get() + n));
        let input = &mut buf[..n];
        let decoded = match decoder.decode(input, stage, sink) {
            Ok(decoded) => decoded,
            Err(e) => return Ok(Err(e)),
        };
        if decoded.consumed < n {
            self.stash.extend_from_slice(&input[decoded.consumed..]);
        }
        Ok(Ok(ReadOutcome::DecodePass {
            read: n,
            stopped: decoded.stopped,
        }))
    }

    /// Reads part of a large payload straight into the message buffer, which grows by
    /// at most its own size (and [`DIRECT_MAX`]) per read: with what arrives, not with
    /// what the header announced.
    fn read_direct<T: AsyncRead + Unpin>(
        &mut self,
        transport: &mut T,
        cx: &mut Context<'_>,
        decoder: &mut Decoder,
        want: usize,
        sink: &mut impl Sink,
    ) -> io::Result<Result<ReadOutcome, ProtocolError>> {
        let from = decoder.direct_len();
        let step = want.min(DIRECT_MAX).min(from.max(SCRATCH));
        let buf = decoder.direct_buf(step);
        let read = match buf.spare() {
            // Into the `Vec`'s room, which is not initialised.
            Spare::Heap(vec) => {
                let mut limited = BufMut::limit(vec, step);
                tokio_util::io::poll_read_buf(Pin::new(&mut *transport), cx, &mut limited)
            }
            // Into mapped pages (zeroed, so an initialised slice).
            Spare::Mapped(room) => {
                let room_len = room.len().min(step);
                let mut read_buf = ReadBuf::new(&mut room[..room_len]);
                Pin::new(&mut *transport)
                    .poll_read(cx, &mut read_buf)
                    .map_ok(|()| read_buf.filled().len())
            }
        };
        let n = match read {
            Poll::Pending => return Ok(Ok(ReadOutcome::Pending)),
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Ready(Ok(n)) => n,
        };
        // Counted by the `Vec` itself on the heap; by hand in a mapping.
        buf.mapped_written(n);
        if n == 0 {
            return Ok(Ok(ReadOutcome::Eof));
        }
        // The frame is complete: what follows starts with a header.
        self.after_large = n == want;
        match decoder.direct_filled(from, sink) {
            Ok(flow) => Ok(Ok(ReadOutcome::DecodePass {
                read: n,
                stopped: flow == crate::protocol::Flow::Stop,
            })),
            Err(e) => Ok(Err(e)),
        }
    }
}

/// Reads and discards input (a failed connection lingering for the peer's close):
/// `Ready` at EOF or on an error.
pub(crate) fn poll_discard<T: AsyncRead + Unpin>(
    transport: &mut T,
    cx: &mut Context<'_>,
) -> Poll<()> {
    let mut sink = [0u8; 1024];
    loop {
        let mut buf = ReadBuf::new(&mut sink);
        match Pin::new(&mut *transport).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) if !buf.filled().is_empty() => continue,
            Poll::Ready(_) => return Poll::Ready(()),
            Poll::Pending => return Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::future::poll_fn;

    use bytes::Bytes;
    use tokio::io::AsyncWriteExt;

    use crate::frame::Frame;
    use crate::protocol::frame::OP_BINARY;
    use crate::protocol::tests::client_frame;
    use crate::protocol::{Event, Flow, Role};

    /// Two large messages, then a small one, all waiting in the transport at once: the
    /// first large payload comes through the scratch buffer, the second goes straight
    /// into its message buffer but for at most [`PAST_LARGE`] bytes, and the small one
    /// comes whole.
    #[tokio::test]
    async fn a_large_frame_after_a_large_frame_is_read_straight_into_its_buffer() {
        let first: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let second: Vec<u8> = (0..90_000u32).map(|i| (i % 241) as u8).collect();
        let small = b"after the large ones".to_vec();
        THROUGH_SCRATCH.with(|through| through.set(0));
        let (mut peer, mut ours) = tokio::io::duplex(1 << 20);
        for payload in [&first, &second, &small] {
            peer.write_all(&client_frame(true, 0, OP_BINARY, payload))
                .await
                .unwrap();
        }
        let mut input = Input::new(Vec::new(), SCRATCH);
        let mut decoder = Decoder::new(Role::Server, false, 1 << 20, Default::default());
        let mut messages: Vec<Bytes> = Vec::new();
        while messages.len() < 3 {
            let mut sink = |event: Event| {
                if let Event::Data(Frame::Binary(payload)) = event {
                    messages.push(payload);
                }
                Flow::Continue
            };
            let outcome =
                poll_fn(|cx| Poll::Ready(input.read(&mut ours, cx, &mut decoder, None, &mut sink)))
                    .await;
            match outcome.expect("no I/O error").expect("no protocol error") {
                ReadOutcome::DecodePass { .. } => {}
                ReadOutcome::Pending | ReadOutcome::Eof => panic!("all of it was written"),
            }
        }
        assert_eq!(messages, [&first[..], &second[..], &small[..]]);
        let through = THROUGH_SCRATCH.with(|through| through.get());
        let least = first.len().min(SCRATCH);
        assert!(
            through >= least
                && through <= first.len() + PAST_LARGE + 2 * crate::protocol::frame::MAX_HEADER,
            "{through} bytes came through the scratch buffer"
        );
    }
}
