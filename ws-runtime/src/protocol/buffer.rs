//! The buffer a message is assembled in: on the heap while it is small, in pages of its
//! own once it is large.
//!
//! From [`MAPPED_MIN`] bytes on, the buffer is anonymous memory mapped for it alone
//! (outside malloc), and unmapping it when it is freed gives its pages back to the
//! kernel at once. A large buffer from malloc does not: glibc maps requests above its
//! mmap threshold (128 KiB by default) only until the first such mapping is freed.
//! Then it raises the threshold past that size and serves the next ones from its
//! arenas, which keep what is freed in the middle of them. Measured (`bench --scenarios
//! idle --servers ws`, 5,000 sessions that each echoed one 256 KiB message, 128 at a
//! time, then idled): 6.64 KiB per connection
//! (2.92–7.45) kept with heap buffers, 2.70 (2.66–2.73) with the threshold held at
//! 128 KiB (`MALLOC_MMAP_THRESHOLD_=131072`), 2.73 (2.61–2.78) with these buffers,
//! against 2.59 before any large message.
//!
//! Both kinds expose their free room the same way ([`Spare`]): the heap buffer as its
//! `Vec` (whose room is not initialised, for readers that fill a `BufMut`), the mapped
//! one as a slice of zeroed pages, after which the writer reports how much it wrote
//! ([`MessageBuf::mapped_written`]).

use memmap2::MmapMut;

/// Buffers of at least this many bytes are mapped (glibc's own default mmap threshold).
pub(crate) const MAPPED_MIN: usize = 128 * 1024;

/// Mappings are whole pages.
const PAGE: usize = 4096;

/// A message's bytes so far, and room for more.
#[derive(Debug, Default)]
pub(crate) struct MessageBuf(Repr);

#[derive(Debug)]
enum Repr {
    Heap(Vec<u8>),
    /// Boxed: every session holds a buffer (usually an empty `Vec`), and with the box
    /// the enum is no larger than the `Vec`.
    Mapped(Box<Mapped>),
}

#[derive(Debug)]
struct Mapped {
    map: MmapMut,
    len: usize,
}

impl Mapped {
    fn new(map: MmapMut, len: usize) -> Box<Self> {
        #[cfg(feature = "fuzz")]
        crate::fuzz::mapped(map.len(), true);
        Box::new(Self { map, len })
    }
}

/// The fuzz targets count mapped bytes with their heap.
#[cfg(feature = "fuzz")]
impl Drop for Mapped {
    fn drop(&mut self) {
        crate::fuzz::mapped(self.map.len(), false);
    }
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Heap(Vec::new())
    }
}

/// The free room of a [`MessageBuf`], to write into.
pub(crate) enum Spare<'a> {
    /// A heap buffer: write with `Vec`'s own methods (its length follows).
    Heap(&'a mut Vec<u8>),
    /// A mapped buffer's room (zeroed until written): report what was written with
    /// [`MessageBuf::mapped_written`].
    Mapped(&'a mut [u8]),
}

impl MessageBuf {
    /// An empty buffer with room for `capacity` bytes (mapped if that is large).
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let mut buf = Self::default();
        buf.reserve_exact(capacity);
        buf
    }

    /// Bytes held.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match &self.0 {
            Repr::Heap(vec) => vec.len(),
            Repr::Mapped(m) => m.len,
        }
    }

    /// Bytes it can hold without growing.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        match &self.0 {
            Repr::Heap(vec) => vec.capacity(),
            Repr::Mapped(m) => m.map.len(),
        }
    }

    /// Bytes it can take without growing.
    #[inline]
    pub(crate) fn room(&self) -> usize {
        self.capacity() - self.len()
    }

    /// Whether its memory is mapped for it alone.
    #[cfg(test)]
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self.0, Repr::Mapped(_))
    }

    /// The bytes held, to change in place (unmasking).
    #[inline]
    pub(crate) fn filled_mut(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Repr::Heap(vec) => vec,
            Repr::Mapped(m) => &mut m.map[..m.len],
        }
    }

    /// Forgets the bytes held, keeping the room.
    pub(crate) fn clear(&mut self) {
        match &mut self.0 {
            Repr::Heap(vec) => vec.clear(),
            Repr::Mapped(m) => m.len = 0,
        }
    }

    /// Appends `bytes`, growing by exactly what is missing if they do not fit.
    #[inline]
    pub(crate) fn extend_from_slice(&mut self, bytes: &[u8]) {
        if self.room() < bytes.len() {
            self.reserve_exact(bytes.len());
        }
        match &mut self.0 {
            Repr::Heap(vec) => vec.extend_from_slice(bytes),
            Repr::Mapped(m) => {
                m.map[m.len..m.len + bytes.len()].copy_from_slice(bytes);
                m.len += bytes.len();
            }
        }
    }

    /// Room for at least `extra` more bytes: exactly that much more while the buffer
    /// stays small; whole pages mapped anew (the bytes held copied over) once it
    /// reaches [`MAPPED_MIN`].
    #[inline(never)]
    pub(crate) fn reserve_exact(&mut self, extra: usize) {
        if self.room() >= extra {
            return;
        }
        let len = self.len();
        let want = len.saturating_add(extra);
        if want >= MAPPED_MIN
            && let Some(pages) = want.checked_next_multiple_of(PAGE)
            && let Ok(mut map) = MmapMut::map_anon(pages)
        {
            map[..len].copy_from_slice(self.as_ref());
            self.0 = Repr::Mapped(Mapped::new(map, len));
            return;
        }
        match &mut self.0 {
            Repr::Heap(vec) => vec.reserve_exact(extra),
            // The kernel refused a mapping: the heap, then.
            Repr::Mapped(_) => {
                let mut vec = Vec::with_capacity(want);
                vec.extend_from_slice(self.as_ref());
                self.0 = Repr::Heap(vec);
            }
        }
    }

    /// The free room, to write into.
    #[inline]
    pub(crate) fn spare(&mut self) -> Spare<'_> {
        match &mut self.0 {
            Repr::Heap(vec) => Spare::Heap(vec),
            Repr::Mapped(m) => Spare::Mapped(&mut m.map[m.len..]),
        }
    }

    /// `n` bytes were written at the start of [`Spare::Mapped`]; nothing to do for a
    /// heap buffer, whose `Vec` counted them itself.
    #[inline]
    pub(crate) fn mapped_written(&mut self, n: usize) {
        if let Repr::Mapped(m) = &mut self.0 {
            assert!(
                n <= m.map.len() - m.len,
                "wrote past a mapped buffer's room"
            );
            m.len += n;
        }
    }

    /// The bytes as a `Vec`, if the buffer is on the heap (no copy); the mapped buffer
    /// itself otherwise.
    pub(crate) fn into_vec(self) -> Result<Vec<u8>, Self> {
        match self.0 {
            Repr::Heap(vec) => Ok(vec),
            mapped @ Repr::Mapped(_) => Err(Self(mapped)),
        }
    }
}

impl AsRef<[u8]> for MessageBuf {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        match &self.0 {
            Repr::Heap(vec) => vec,
            Repr::Mapped(m) => &m.map[..m.len],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_is_mapped_from_the_threshold_on_and_keeps_its_bytes() {
        let below = MAPPED_MIN - 1;
        let mut buf = MessageBuf::default();
        buf.extend_from_slice(&vec![1; below]);
        assert!(!buf.is_mapped(), "below the threshold it stays on the heap");
        // Growing past it moves the bytes into pages of their own.
        buf.extend_from_slice(&[2; 5000]);
        assert!(buf.is_mapped());
        assert_eq!(buf.capacity() % PAGE, 0);
        assert_eq!(buf.len(), below + 5000);
        assert!(buf.as_ref()[..below].iter().all(|&b| b == 1));
        assert_eq!(&buf.as_ref()[below..], &[2; 5000][..]);
        // The enum costs an idle session nothing over the `Vec` it holds.
        assert_eq!(size_of::<MessageBuf>(), size_of::<Vec<u8>>());
        // A reader fills the room, then says how much it wrote.
        let Spare::Mapped(room) = buf.spare() else {
            panic!("a mapped buffer's room is a slice");
        };
        assert!(room.iter().all(|&b| b == 0));
        room[..3].copy_from_slice(b"abc");
        buf.mapped_written(3);
        assert_eq!(&buf.as_ref()[below + 5000..], b"abc");
        buf.filled_mut()[0] = 9;
        assert_eq!(buf.as_ref()[0], 9);
        buf.clear();
        assert_eq!((buf.len(), buf.room()), (0, buf.capacity()));
    }
}
