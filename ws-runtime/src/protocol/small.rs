//! Small payloads, copied out of the read buffer into a chunk the worker thread shares
//! between messages: one allocation per chunk instead of one per message.
//!
//! A chunk is reused as soon as every payload cut from it has been dropped (an echo's
//! usual life: received, sent back, gone), so in steady state a small message costs no
//! allocation at all. The price: a payload that is kept keeps its chunk (at most
//! [`CHUNK`] bytes) allocated; an application that stores many small messages for
//! long can copy them (`Bytes::copy_from_slice`) to hold only their own bytes.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};

/// Payloads up to this size go into the shared chunk.
pub(crate) const SMALL_MAX: usize = 256;

/// The size of a shared chunk.
pub(crate) const CHUNK: usize = 2048;

thread_local! {
    static ARENA: RefCell<Option<BytesMut>> = const { RefCell::new(None) };
}

/// The thread's chunk, taken for the length of one decoding pass (one thread-local
/// access per pass, not per message) and given back when dropped.
#[derive(Default)]
pub(crate) struct Chunk(Option<BytesMut>);

impl Chunk {
    /// `payload` as `Bytes` of its own: cut from the shared chunk if it is small.
    #[inline]
    pub(crate) fn copy(&mut self, payload: &[u8]) -> Bytes {
        if payload.len() > SMALL_MAX {
            return super::pool::copy(payload);
        }
        let chunk = self.0.get_or_insert_with(|| {
            ARENA
                .with(|cell| cell.try_borrow_mut().ok().and_then(|mut a| a.take()))
                .unwrap_or_else(|| BytesMut::with_capacity(CHUNK))
        });
        if chunk.capacity() - chunk.len() < payload.len() && !chunk.try_reclaim(payload.len()) {
            *chunk = BytesMut::with_capacity(CHUNK);
        }
        chunk.extend_from_slice(payload);
        chunk.split().freeze()
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if let Some(chunk) = self.0.take() {
            ARENA.with(|cell| {
                if let Ok(mut arena) = cell.try_borrow_mut() {
                    *arena = Some(chunk);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_their_own_bytes_and_chunks_are_reused() {
        let mut chunk = Chunk::default();
        let a = chunk.copy(b"first");
        let b = chunk.copy(b"second");
        assert_eq!((&a[..], &b[..]), (&b"first"[..], &b"second"[..]));
        drop((a, b, chunk));
        // Fill well past one chunk while dropping as we go, in passes that give the
        // chunk back: contents stay right.
        for pass in 0..100u32 {
            let mut chunk = Chunk::default();
            let kept: Vec<_> = (0..100u32)
                .map(|i| {
                    let payload = (pass * 100 + i).to_be_bytes().repeat(1 + (i as usize % 50));
                    (chunk.copy(&payload), payload)
                })
                .collect();
            for (copy, payload) in kept {
                assert_eq!(copy, payload);
            }
        }
        let big = vec![7u8; SMALL_MAX + 1];
        assert_eq!(Chunk::default().copy(&big), big);
    }
}
