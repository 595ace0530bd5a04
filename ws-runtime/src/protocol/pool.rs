//! Large payload buffers, recycled: the buffer a large message was assembled in goes
//! back to a process-wide pool when the last holder of its payload drops it, and the
//! next large message is assembled in it.
//!
//! Without it every large message costs a fresh allocation and a free, and the
//! allocator gives the freed pages back to the kernel (glibc trims its arena) only to
//! fault them in again for the next message: measured on a 64 KiB echo, about nine
//! page faults and half a `madvise` per message, most of the server's CPU time.
//!
//! The pool is bounded ([`POOL_BYTES`] in all, buffers from [`POOL_MIN`] to
//! [`POOL_MAX`] bytes) and gives back what it does not use: a buffer that stayed in it
//! through a whole tick of its reaper thread (0.5 s) is freed, so a quiet server holds
//! none. The reaper is started with the first buffer pooled and sleeps while the pool
//! is empty. Buffers of 128 KiB and more are mapped pages of their own
//! ([`super::buffer`]): freeing one unmaps it, so what the reaper frees goes back to
//! the kernel.

use std::sync::{Mutex, MutexGuard};
use std::thread::Thread;
use std::time::Duration;

use bytes::Bytes;

use super::buffer::MessageBuf;

/// Buffers of at least this capacity are pooled.
pub(crate) const POOL_MIN: usize = 16 * 1024;

/// Buffers above this capacity are allocated and freed each time.
const POOL_MAX: usize = 2 << 20;

/// The most the pool holds, in bytes of capacity.
const POOL_BYTES: usize = 4 << 20;

/// Size classes: a buffer of capacity `c` is in class `log2(c) - log2(POOL_MIN)`.
const CLASSES: usize = (POOL_MAX.trailing_zeros() - POOL_MIN.trailing_zeros()) as usize + 1;

/// How often the reaper looks for buffers nobody took.
const TICK: Duration = Duration::from_millis(500);

struct Pool {
    /// Free buffers by size class, each with the reaper generation it came back in.
    classes: [Vec<(MessageBuf, u32)>; CLASSES],
    bytes: usize,
    generation: u32,
    /// The reaper, once started; `parked` while it waits for a buffer.
    reaper: Option<Thread>,
    parked: bool,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    classes: [const { Vec::new() }; CLASSES],
    bytes: 0,
    generation: 0,
    reaper: None,
    parked: false,
});

fn lock() -> MutexGuard<'static, Pool> {
    // Every critical section is a push, a pop or a retain: a panic cannot leave the
    // pool inconsistent.
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether buffers of this capacity (or requests of this size) are pooled.
fn pooled_size(bytes: usize) -> bool {
    (POOL_MIN..=POOL_MAX).contains(&bytes)
}

fn class_of(capacity: usize) -> usize {
    (capacity.ilog2() - POOL_MIN.trailing_zeros()) as usize
}

/// An empty pooled buffer with room for at least `min` bytes, if the pool has one.
pub(crate) fn take(min: usize) -> Option<MessageBuf> {
    if !pooled_size(min) {
        return None;
    }
    let mut pool = lock();
    if pool.bytes == 0 {
        return None;
    }
    let first = class_of(min);
    // In `min`'s own class a buffer may be smaller than `min`: look at the latest few.
    let own = &mut pool.classes[first];
    let found = own
        .iter()
        .rev()
        .take(4)
        .position(|(buf, _)| buf.capacity() >= min)
        .map(|back| own.len() - 1 - back);
    let buf = match found {
        Some(at) => own.swap_remove(at).0,
        // Within four times `min`: a small message does not keep a huge buffer.
        None => {
            pool.classes[first + 1..CLASSES.min(first + 3)]
                .iter_mut()
                .find_map(|class| class.pop())?
                .0
        }
    };
    pool.bytes -= buf.capacity();
    Some(buf)
}

/// Keeps `buf` for the next large message if it is of a pooled size and there is
/// room; frees it otherwise.
pub(crate) fn give(mut buf: MessageBuf) {
    let capacity = buf.capacity();
    if !pooled_size(capacity) {
        return;
    }
    buf.clear();
    let mut pool = lock();
    if pool.bytes + capacity > POOL_BYTES {
        // Full: `buf` is freed, after the lock is released.
        drop(pool);
        return;
    }
    let generation = pool.generation;
    pool.classes[class_of(capacity)].push((buf, generation));
    pool.bytes += capacity;
    if pool.parked {
        pool.parked = false;
        if let Some(reaper) = &pool.reaper {
            reaper.unpark();
        }
    } else if pool.reaper.is_none() {
        start_reaper(&mut pool);
    }
}

/// A message's buffer as its payload: a buffer of a pooled size goes back to the pool
/// when the last clone of the payload is dropped.
pub(crate) fn into_bytes(buf: MessageBuf) -> Bytes {
    if !pooled_size(buf.capacity()) {
        return match buf.into_vec() {
            Ok(vec) => Bytes::from(vec),
            // Unmapped when the last clone of the payload is dropped.
            Err(mapped) => Bytes::from_owner(mapped),
        };
    }
    Bytes::from_owner(Recycled(buf))
}

/// `payload` copied into a buffer of its own (a pooled one if it is large).
pub(crate) fn copy(payload: &[u8]) -> Bytes {
    if payload.len() < POOL_MIN {
        // The usual case (a 1 KiB message): no pool, no call.
        return Bytes::copy_from_slice(payload);
    }
    let mut buf = take(payload.len()).unwrap_or_else(|| MessageBuf::with_capacity(payload.len()));
    buf.extend_from_slice(payload);
    into_bytes(buf)
}

/// A payload's buffer, given back to the pool on drop.
struct Recycled(MessageBuf);

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        self.0.as_ref()
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.0));
    }
}

fn start_reaper(pool: &mut Pool) {
    let spawned = std::thread::Builder::new()
        .name("ws-buffer-pool".into())
        .spawn(reap);
    match spawned {
        Ok(handle) => pool.reaper = Some(handle.thread().clone()),
        Err(e) => {
            // Without a reaper the pool would keep what it holds: keep nothing.
            tracing::warn!(error = %e, "no thread for the buffer pool; large buffers are not recycled");
            pool.classes.iter_mut().for_each(Vec::clear);
            pool.bytes = 0;
            pool.reaper = None;
        }
    }
}

/// The reaper: every [`TICK`] frees the buffers that came back before the previous
/// tick and were not taken since; parks while the pool is empty.
fn reap() {
    loop {
        let mut pool = lock();
        if pool.bytes == 0 {
            pool.parked = true;
            drop(pool);
            std::thread::park();
            continue;
        }
        let freed = reap_once(&mut pool);
        drop(pool);
        // Freed outside the lock.
        drop(freed);
        std::thread::sleep(TICK);
    }
}

/// One tick: the buffers that came back before the previous tick and were not taken
/// since leave the pool (returned, to be freed outside the lock).
fn reap_once(pool: &mut Pool) -> Vec<MessageBuf> {
    pool.generation = pool.generation.wrapping_add(1);
    let current = pool.generation;
    let previous = current.wrapping_sub(1);
    let mut freed = Vec::new();
    for class in &mut pool.classes {
        class.retain_mut(|(buf, generation)| {
            let keep = *generation == previous || *generation == current;
            if !keep {
                freed.push(std::mem::take(buf));
            }
            keep
        });
    }
    pool.bytes -= freed.iter().map(MessageBuf::capacity).sum::<usize>();
    freed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_nobody_takes_leaves_the_pool_after_a_whole_tick() {
        let mut pool = Pool {
            classes: [const { Vec::new() }; CLASSES],
            bytes: 0,
            generation: u32::MAX, // wrapping included
            reaper: None,
            parked: false,
        };
        let put = |pool: &mut Pool, capacity: usize| {
            let generation = pool.generation;
            pool.classes[class_of(capacity)]
                .push((MessageBuf::with_capacity(capacity), generation));
            pool.bytes += capacity;
        };
        put(&mut pool, 64 * 1024);
        // The tick right after it came back keeps it (it may be taken any moment).
        assert!(reap_once(&mut pool).is_empty());
        put(&mut pool, 32 * 1024);
        // The next one frees the first (a whole tick unused), keeps the second.
        let freed = reap_once(&mut pool);
        assert_eq!(freed.len(), 1);
        assert!(freed[0].capacity() >= 64 * 1024);
        assert_eq!(pool.bytes, 32 * 1024);
        assert_eq!(reap_once(&mut pool).len(), 1);
        assert_eq!(pool.bytes, 0);
    }

    #[test]
    fn a_large_payload_returns_its_buffer_and_the_next_one_reuses_it() {
        let payload = into_bytes(MessageBuf::with_capacity(300 * 1024));
        let clone = payload.clone();
        drop(payload);
        drop(clone);
        // Other tests share the pool: look for this buffer's capacity class.
        let buf = take(300 * 1024).expect("the buffer came back");
        assert!(buf.capacity() >= 300 * 1024 && buf.len() == 0);
        // Too small, too large: not pooled.
        assert!(take(100).is_none());
        assert!(take(POOL_MAX + 1).is_none());
        let mut small = MessageBuf::default();
        small.extend_from_slice(&[1; 10]);
        let small = into_bytes(small);
        assert_eq!(&small[..], &[1; 10]);
        let copied = copy(&[7; 20_000]);
        assert_eq!(&copied[..], &[7; 20_000][..]);
    }
}
