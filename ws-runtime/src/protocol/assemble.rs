//! Message assembly: the buffer a data message is gathered in, frame after frame.
//!
//! It grows with bytes that have arrived (or been inflated), never past the session's
//! message limit, and never to a length a header announced: when a large frame's
//! payload arrives in pieces the buffer grows at once to what the frame still brings,
//! but at most to twice the bytes it will hold (as a doubling `Vec` would), so a
//! 64 KiB message is not copied from buffer to buffer on its way. Large buffers come
//! from, and go back to, the process's pool ([`super::pool`]), and the largest are
//! pages mapped for them alone ([`super::buffer`]). Text is validated as
//! it is appended, so invalid UTF-8 fails the connection at the first bad byte. Once
//! the message is delivered the buffer is handed over as the frame's payload: an idle
//! session holds no message buffer.

use bytes::Bytes;

use crate::frame::{Frame, Text};

use super::buffer::MessageBuf;
use super::pool;
use super::utf8::{InvalidUtf8, Utf8State};

/// The type of the message in progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Kind {
    /// No message is in progress.
    #[default]
    Idle,
    /// A text message.
    Text,
    /// A binary message.
    Binary,
}

/// The data message being received.
#[derive(Debug, Default)]
pub(crate) struct Assembly {
    kind: Kind,
    /// The message's bytes so far (in a raw session: the current frame's).
    pub(crate) buf: MessageBuf,
    /// Bytes of the message so far, delivered or not.
    total: usize,
    utf8: Utf8State,
}

impl Assembly {
    /// Whether a message is in progress.
    pub(crate) fn active(&self) -> bool {
        self.kind != Kind::Idle
    }

    /// Whether the message in progress is text.
    pub(crate) fn is_text(&self) -> bool {
        self.kind == Kind::Text
    }

    /// Bytes of the message so far.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Starts a message.
    pub(crate) fn begin(&mut self, text: bool) {
        self.kind = if text { Kind::Text } else { Kind::Binary };
        self.total = 0;
        self.utf8 = Utf8State::default();
    }

    /// Appends bytes as they are.
    /// `ahead`: bytes of the current frame still to come after these.
    pub(crate) fn push(&mut self, bytes: &[u8], ahead: u64) -> Result<(), InvalidUtf8> {
        if self.kind == Kind::Text {
            self.utf8.feed(bytes)?;
        }
        if self.buf.room() < bytes.len() {
            self.grow(bytes.len(), ahead);
        }
        self.buf.extend_from_slice(bytes);
        self.total += bytes.len();
        Ok(())
    }

    /// Room for `incoming` bytes now and for part of the `ahead` the frame announced:
    /// at most as much again as the buffer will hold.
    #[inline(never)]
    fn grow(&mut self, incoming: usize, ahead: u64) {
        let held = self.buf.len() + incoming;
        let ahead = usize::try_from(ahead).unwrap_or(usize::MAX);
        self.make_room(incoming + ahead.min(held));
    }

    /// Room in `buf` for `extra` more bytes: a pooled buffer if one fits, else the
    /// buffer grows by exactly that.
    pub(crate) fn make_room(&mut self, extra: usize) {
        let len = self.buf.len();
        if self.buf.room() >= extra {
            return;
        }
        let want = len.saturating_add(extra);
        if want >= pool::POOL_MIN
            && let Some(mut pooled) = pool::take(want)
        {
            pooled.extend_from_slice(self.buf.as_ref());
            // The outgrown buffer goes back too, if it is of a pooled size.
            pool::give(std::mem::replace(&mut self.buf, pooled));
            return;
        }
        self.buf.reserve_exact(extra);
    }

    /// Bytes were appended to `buf` from `from` on by someone else (a read straight into
    /// the buffer, an inflater): account for and validate them.
    pub(crate) fn appended(&mut self, from: usize) -> Result<(), InvalidUtf8> {
        let added = &self.buf.as_ref()[from..];
        if self.kind == Kind::Text {
            self.utf8.feed(added)?;
        }
        self.total += added.len();
        Ok(())
    }

    /// Ends the message: the whole of it as a frame. `None` if text ends inside a
    /// character.
    pub(crate) fn finish(&mut self) -> Result<Frame, InvalidUtf8> {
        let text = self.kind == Kind::Text;
        let complete = self.utf8.is_complete();
        self.kind = Kind::Idle;
        self.total = 0;
        let payload = pool::into_bytes(std::mem::take(&mut self.buf));
        if !text {
            return Ok(Frame::Binary(payload));
        }
        if !complete {
            return Err(InvalidUtf8);
        }
        Text::try_from_bytes(payload)
            .map(Frame::Text)
            .map_err(|_| InvalidUtf8)
    }

    /// The bytes gathered since the last call (a raw session's frame), leaving the
    /// message in progress. With `last`, the message ends, and text must end at a
    /// character boundary.
    pub(crate) fn take_frame(&mut self, last: bool) -> Result<Bytes, InvalidUtf8> {
        if last {
            let complete = self.kind != Kind::Text || self.utf8.is_complete();
            self.kind = Kind::Idle;
            self.total = 0;
            if !complete {
                return Err(InvalidUtf8);
            }
        }
        Ok(pool::into_bytes(std::mem::take(&mut self.buf)))
    }
}
