//! A set of live sessions with a broadcast helper: Ktor's chat sample.
//!
//! Install one as state (`app.state(Connections::<String>::new())`), take it in a
//! handler with `State<Connections<String>>`, [`join`](Connections::join) on connect,
//! and [`broadcast`](Connections::broadcast) to everyone. A member leaves when its
//! [`Member`] guard is dropped, which happens when the handler returns, however it
//! returns.
//!
//! A broadcast never waits: each frame goes into each member's bounded outgoing queue
//! (sharing one payload), and a member whose queue is full, because its client stopped
//! reading, is closed with 1008 `VIOLATED_POLICY` and its queue dropped. One slow client
//! therefore neither stalls delivery to the others nor makes the server's memory grow.

use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::frame::Frame;
use crate::session::{BroadcastRefused, Outgoing, WebSocketSession, Wires};

struct Entry<T> {
    outgoing: Outgoing,
    data: Arc<T>,
}

/// A set of sessions, each with data of type `T` (a user name, say): Ktor's chat sample.
///
/// Install one as state (`app.state(Connections::<String>::new())`), take it in a
/// handler with `State<Connections<String>>`, [`join`](Connections::join) on connect,
/// and [`broadcast`](Connections::broadcast) to everyone. A member leaves when its
/// [`Member`] guard is dropped, which happens when the handler returns, however it
/// returns.
///
/// A broadcast never waits: each frame goes into each member's bounded outgoing queue
/// (sharing one payload), and a member whose queue is full, because its client stopped
/// reading, is closed with 1008 `VIOLATED_POLICY` and its queue dropped. One slow client
/// therefore neither stalls delivery to the others nor makes the server's memory grow.
pub struct Connections<T = ()> {
    members: RwLock<HashMap<u64, Entry<T>>>,
    next_id: AtomicU64,
}

impl<T> Default for Connections<T> {
    fn default() -> Self {
        Self {
            members: RwLock::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }
}

impl<T> fmt::Debug for Connections<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("len", &self.read().len())
            .finish()
    }
}

/// What a broadcast did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Broadcast {
    /// Members the frame was queued for.
    pub delivered: usize,
    /// Members closed with 1008 because their outgoing queue was full.
    pub dropped_slow: usize,
}

impl<T: Send + Sync + 'static> Connections<T> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a session with its data; it stays a member while the returned guard lives.
    /// Ids count up from 0 in joining order (the chat sample's `user0`, `user1`, ...).
    pub fn join(self: &Arc<Self>, session: &WebSocketSession, data: T) -> Member<T> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let data = Arc::new(data);
        let entry = Entry {
            outgoing: session.outgoing.clone(),
            data: data.clone(),
        };
        self.write().insert(id, entry);
        Member {
            id,
            data,
            set: self.clone(),
        }
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The id the next member will get.
    pub fn next_id(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed)
    }

    /// Queues `frame` for every member, never waiting (see the module docs).
    pub fn broadcast(&self, frame: impl Into<Frame>) -> Broadcast {
        self.broadcast_where(frame, |_| true)
    }

    /// Queues `frame` for every member whose data satisfies `filter`.
    pub fn broadcast_where(
        &self,
        frame: impl Into<Frame>,
        filter: impl Fn(&T) -> bool,
    ) -> Broadcast {
        let frame = frame.into();
        // Encoded once for every member without extensions, compressed once for every
        // class of members compressing without context takeover.
        let mut wires = Wires::new(&frame);
        let mut report = Broadcast::default();
        let members = self.read();
        for entry in members.values() {
            if !filter(&entry.data) {
                continue;
            }
            let shared = entry.outgoing.chan();
            match shared.try_push_broadcast(&mut wires) {
                Ok(()) => report.delivered += 1,
                Err(BroadcastRefused::Full) => {
                    shared.close_slow_peer();
                    report.dropped_slow += 1;
                }
                Err(BroadcastRefused::Closed) => {}
            }
        }
        drop(members);
        crate::telemetry::broadcast_dropped(report.dropped_slow);
        report
    }

    /// Calls `f` with each member's outgoing half and data.
    pub fn for_each(&self, mut f: impl FnMut(&Outgoing, &T)) {
        for entry in self.read().values() {
            f(&entry.outgoing, &entry.data);
        }
    }
}

impl<T> Connections<T> {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<u64, Entry<T>>> {
        self.members.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<u64, Entry<T>>> {
        self.members.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Membership of one session in a [`Connections`] set; leaving happens on drop.
/// Dereferences to the member's data.
pub struct Member<T: Send + Sync + 'static> {
    id: u64,
    data: Arc<T>,
    set: Arc<Connections<T>>,
}

impl<T: Send + Sync + 'static> Member<T> {
    /// The member's id (0, 1, 2, ... in joining order).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The member's data.
    pub fn data(&self) -> &T {
        &self.data
    }
}

impl<T: Send + Sync + 'static> Deref for Member<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T: Send + Sync + fmt::Debug + 'static> fmt::Debug for Member<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.id)
            .field("data", &self.data)
            .finish()
    }
}

impl<T: Send + Sync + 'static> Drop for Member<T> {
    fn drop(&mut self) {
        self.set.write().remove(&self.id);
    }
}
