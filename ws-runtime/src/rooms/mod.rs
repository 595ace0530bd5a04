//! Rooms: named groups of sessions, on one server process or across many.
//!
//! The public handle is [`Rooms`]; its documentation describes the whole.

#![cfg_attr(not(feature = "redis"), allow(dead_code))]

mod wire;

#[cfg(feature = "redis")]
mod redis;

use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::convert::ContentConverter;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::session::{BroadcastRefused, Outgoing, WebSocketSession, Wires};

/// A session's identity among all the nodes sharing the rooms: the node it is on and a
/// number on that node. Written `NODE-N` (the node in hex), which [`str::parse`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId {
    node: u64,
    local: u64,
}

impl SessionId {
    /// The node (server process) the session is on.
    pub fn node(&self) -> u64 {
        self.node
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}-{}", self.node, self.local)
    }
}

impl std::str::FromStr for SessionId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> std::result::Result<Self, ParseIdError> {
        let (node, local) = s.split_once('-').ok_or(ParseIdError)?;
        Ok(SessionId {
            node: u64::from_str_radix(node, 16).map_err(|_| ParseIdError)?,
            local: local.parse().map_err(|_| ParseIdError)?,
        })
    }
}

impl<T: Send + Sync + 'static> From<&Occupant<T>> for SessionId {
    fn from(occupant: &Occupant<T>) -> Self {
        occupant.id
    }
}

/// The id of a room message kept for [resume](Resume): Redis's stream id, `MS-SEQ`
/// (milliseconds, then a counter). Ids of one room only increase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId {
    ms: u64,
    seq: u64,
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl std::str::FromStr for MessageId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> std::result::Result<Self, ParseIdError> {
        let (ms, seq) = s.split_once('-').ok_or(ParseIdError)?;
        Ok(MessageId {
            ms: ms.parse().map_err(|_| ParseIdError)?,
            seq: seq.parse().map_err(|_| ParseIdError)?,
        })
    }
}

/// A [`SessionId`] or [`MessageId`] that does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseIdError;

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an id of the form A-B")
    }
}

impl std::error::Error for ParseIdError {}

/// Where a publish goes.
#[derive(Clone, Debug)]
pub(crate) enum To {
    Room(Arc<str>),
    Session(SessionId),
    All,
}

/// Which local members a delivery is for (borrowing the room's name).
#[derive(Clone, Copy)]
pub(crate) enum Dest<'a> {
    Room(&'a str),
    Session(SessionId),
    All,
}

impl To {
    pub(crate) fn dest(&self) -> Dest<'_> {
        match self {
            To::Room(room) => Dest::Room(room),
            To::Session(id) => Dest::Session(*id),
            To::All => Dest::All,
        }
    }
}

/// A publish on its way to other nodes.
pub(crate) struct Outbound {
    pub(crate) to: To,
    /// The session left out (room, everyone) or addressed (session).
    pub(crate) subject: Option<SessionId>,
    pub(crate) frame: Frame,
    /// Local members get it once the broker has stored it (resume), not at once.
    pub(crate) deliver_local: bool,
}

/// A membership change for the broker's presence.
pub(crate) struct PresenceOp {
    pub(crate) join: bool,
    pub(crate) room: Arc<str>,
    pub(crate) id: SessionId,
    pub(crate) meta: Arc<str>,
}

/// What the rooms need from a broker that links them to other nodes.
pub(crate) trait Broker: Send + Sync + 'static {
    /// Queues a publish for other nodes; gives it back when the buffer is full.
    fn publish(&self, out: Outbound) -> std::result::Result<(), Outbound>;
    /// The set of local rooms changed (subscriptions follow it).
    fn rooms_changed(&self);
    /// A member joined or left a room here.
    fn presence(&self, op: PresenceOp);
    fn state(&self) -> BrokerState;
    fn resume(&self) -> Option<&Resume>;
    fn counters(&self) -> &Counters;
    fn query_presence<'a>(
        &'a self,
        room: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Option<Vec<PresenceEntry>>>;
    fn fetch_since<'a>(
        &'a self,
        room: &'a str,
        last: MessageId,
    ) -> futures_util::future::BoxFuture<'a, std::result::Result<Fetched, ResumeError>>;
}

/// What a broker found for a resume: the retained messages after the id, stamped.
pub(crate) struct Fetched {
    pub(crate) messages: Vec<(MessageId, Frame)>,
    pub(crate) complete: bool,
}

/// Counters a broker keeps.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) invalid: AtomicU64,
}

/// The state of the link to other nodes ([`RoomsStats::broker`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerState {
    /// In-memory rooms: one process, no link.
    Local,
    /// Connecting (at start, or again after a failure).
    Connecting,
    /// Connected: publishes reach other nodes.
    Connected,
    /// Not connected: local members are served, other nodes are not; retrying.
    Disconnected,
}

/// Figures of a [`Rooms`] ([`Rooms::stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomsStats {
    /// The link to other nodes.
    pub broker: BrokerState,
    /// Rooms with a member on this node.
    pub rooms: usize,
    /// Sessions that entered on this node.
    pub sessions: usize,
    /// Publishes handed to the broker for other nodes.
    pub remote_sent: u64,
    /// Publishes for other nodes that were dropped: the outbound buffer was full (a slow
    /// or unreachable broker) or, without resume, the broker was unreachable.
    pub remote_dropped: u64,
    /// Messages received from other nodes.
    pub remote_received: u64,
    /// Connections to the broker made after the first.
    pub reconnects: u64,
}

/// What a publish did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Local members the frame was queued for.
    pub delivered: usize,
    /// Local members closed with 1008 because their outgoing queue was full.
    pub dropped_slow: usize,
    /// What happened on the way to other nodes.
    pub remote: RemoteDelivery,
}

/// A publish's way to other nodes ([`Delivery::remote`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RemoteDelivery {
    /// No other node is involved (in-memory rooms, or a local session addressed).
    #[default]
    None,
    /// Queued for the broker. With resume, local members get it too once stored (or
    /// at once, unstamped, if the broker cannot store it in time).
    Queued,
    /// The outbound buffer was full: other nodes will not get it (counted).
    Dropped,
}

/// Someone in a room, on any node ([`Rooms::presence`]).
#[derive(Clone, Debug, PartialEq)]
pub struct PresenceEntry {
    /// The session.
    pub id: SessionId,
    /// Its metadata, as JSON.
    pub meta: serde_json::Value,
}

/// A join or a leave, on any node ([`Rooms::presence_events`]).
#[derive(Clone, Debug, PartialEq)]
pub struct PresenceEvent {
    /// Joined or left.
    pub kind: PresenceKind,
    /// The room.
    pub room: Arc<str>,
    /// The session.
    pub id: SessionId,
    /// Its metadata, as JSON.
    pub meta: serde_json::Value,
}

/// Which way a [`PresenceEvent`] went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresenceKind {
    /// The session joined the room.
    Join,
    /// The session left the room (or its node went away).
    Leave,
}

/// Join and leave events, from [`Rooms::presence_events`].
pub struct PresenceEvents {
    rx: broadcast::Receiver<PresenceEvent>,
    missed: u64,
}

impl PresenceEvents {
    /// The next event; `None` once the rooms are gone. Events a slow receiver fell too
    /// far behind on are skipped and counted in [`missed`](Self::missed).
    pub async fn recv(&mut self) -> Option<PresenceEvent> {
        loop {
            match self.rx.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(n)) => self.missed += n,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Events skipped because this receiver fell behind.
    pub fn missed(&self) -> u64 {
        self.missed
    }
}

impl fmt::Debug for PresenceEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresenceEvents")
            .field("missed", &self.missed)
            .finish_non_exhaustive()
    }
}

/// How a frame is stamped with its message id for the client ([`Resume::stamp`]).
pub(crate) type Stamp = dyn Fn(&MessageId, &Frame) -> Frame + Send + Sync;

/// Resume over Redis Streams: each room's messages are kept, with an id, for a bounded
/// retention, and a client that comes back with the id of the last message it got is
/// sent what it missed ([`Occupant::resume`]).
///
/// Clients learn ids from the messages themselves: a stored message is **stamped**
/// before it goes out, by default `"{id} {text}"` for text (binary frames are sent as
/// they are); [`stamp`](Self::stamp) sets another form. A message that could not be
/// stored in time (Redis down or slow) goes to local members unstamped at once and is
/// stored after recovery.
#[derive(Clone)]
pub struct Resume {
    pub(crate) max_len: usize,
    pub(crate) max_age: Option<Duration>,
    pub(crate) stamp: Arc<Stamp>,
}

impl Resume {
    /// Keeps the last `count` messages of each room (at least 1).
    pub fn last(count: usize) -> Self {
        Resume {
            max_len: count.max(1),
            max_age: None,
            stamp: Arc::new(default_stamp),
        }
    }

    /// Also forgets messages older than `age` (a room's stream expires after `age`
    /// without messages).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// How a message carries its id to the client.
    pub fn stamp(
        mut self,
        stamp: impl Fn(&MessageId, &Frame) -> Frame + Send + Sync + 'static,
    ) -> Self {
        self.stamp = Arc::new(stamp);
        self
    }
}

impl fmt::Debug for Resume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resume")
            .field("max_len", &self.max_len)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

fn default_stamp(id: &MessageId, frame: &Frame) -> Frame {
    match frame {
        Frame::Text(text) => Frame::text(format!("{id} {}", text.as_str())),
        other => other.clone(),
    }
}

/// What [`Occupant::resume`] sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resumed {
    /// Messages sent that came after the given id.
    pub replayed: usize,
    /// `false`: the given id is no longer retained, so the client missed more than the
    /// retention holds (what is retained was sent).
    pub complete: bool,
}

/// Why [`Occupant::resume`] could not look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResumeError {
    /// These rooms keep no history (in-memory, or Redis without [`Resume`]).
    NotEnabled,
    /// The broker could not be asked (unreachable, or it failed): the session is in
    /// the room, without the messages it missed.
    Unavailable(String),
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeError::NotEnabled => f.write_str("these rooms keep no history to resume from"),
            ResumeError::Unavailable(why) => write!(f, "history unavailable: {why}"),
        }
    }
}

impl std::error::Error for ResumeError {}

// ---------------------------------------------------------------------------------------
// The local registry.

/// A session that entered: what a publish needs.
struct Entry<T> {
    local: u64,
    outgoing: Outgoing,
    data: Arc<T>,
    meta: Arc<str>,
    /// A resume is replaying: live room messages wait in `held`.
    holding: AtomicBool,
    held: Mutex<Option<Held>>,
}

/// Live room messages kept while a resume replays, with their ids.
type Held = Vec<(Option<MessageId>, Frame)>;

/// The most live messages kept for a session while its resume replays.
const MAX_HELD: usize = 4096;

impl<T> Entry<T> {
    /// Keeps a live message for a session whose resume is replaying; false if it is not
    /// (any more), and the message goes to the queue.
    fn hold(&self, id: Option<MessageId>, frame: &Frame) -> bool {
        let mut held = lock(&self.held);
        match &mut *held {
            Some(list) if list.len() < MAX_HELD => {
                list.push((id, frame.clone()));
                true
            }
            Some(_) => {
                // Replaying for too long: the session cannot keep up.
                *held = None;
                self.holding.store(false, Ordering::Release);
                drop(held);
                self.outgoing.chan().close_slow_peer();
                true
            }
            None => false,
        }
    }
}

struct Slot<T> {
    entry: Arc<Entry<T>>,
    rooms: Vec<Arc<str>>,
}

struct Local<T> {
    sessions: HashMap<u64, Slot<T>>,
    rooms: HashMap<Arc<str>, HashMap<u64, Arc<Entry<T>>>>,
}

pub(crate) struct Shared<T> {
    node: u64,
    local: RwLock<Local<T>>,
    next_local: AtomicU64,
    converter: OnceLock<Arc<dyn ContentConverter>>,
    events: broadcast::Sender<PresenceEvent>,
    broker: OnceLock<Box<dyn Broker>>,
}

fn lock<V>(mutex: &Mutex<V>) -> std::sync::MutexGuard<'_, V> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A random non-zero node id (std's per-process random hash keys, the clock and the pid).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.write_u32(std::process::id());
    hasher.finish().max(1)
}

impl<T: Send + Sync + 'static> Shared<T> {
    fn new() -> Self {
        Shared {
            node: random_u64(),
            local: RwLock::new(Local {
                sessions: HashMap::new(),
                rooms: HashMap::new(),
            }),
            next_local: AtomicU64::new(0),
            converter: OnceLock::new(),
            events: broadcast::channel(1024).0,
            broker: OnceLock::new(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Local<T>> {
        self.local.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Local<T>> {
        self.local.write().unwrap_or_else(|e| e.into_inner())
    }

    fn broker(&self) -> Option<&dyn Broker> {
        self.broker.get().map(|b| &**b)
    }

    /// The names of the rooms with a local member (what the broker subscribes to).
    pub(crate) fn room_names(&self) -> Vec<Arc<str>> {
        self.read().rooms.keys().cloned().collect()
    }

    /// Every local membership: (room, session, metadata), for a presence resync.
    pub(crate) fn memberships(&self) -> Vec<(Arc<str>, SessionId, Arc<str>)> {
        let local = self.read();
        let mut out = Vec::new();
        for slot in local.sessions.values() {
            for room in &slot.rooms {
                out.push((
                    room.clone(),
                    self.id(slot.entry.local),
                    slot.entry.meta.clone(),
                ));
            }
        }
        out
    }

    fn id(&self, local: u64) -> SessionId {
        SessionId {
            node: self.node,
            local,
        }
    }

    pub(crate) fn node(&self) -> u64 {
        self.node
    }

    /// A membership changed: the local event, and the broker's op (under the lock that
    /// made the change, so that the order of ops is the order of changes).
    fn changed(&self, join: bool, room: &Arc<str>, entry: &Entry<T>) {
        let id = self.id(entry.local);
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(PresenceEvent {
                kind: if join {
                    PresenceKind::Join
                } else {
                    PresenceKind::Leave
                },
                room: room.clone(),
                id,
                meta: serde_json::from_str(&entry.meta).unwrap_or_default(),
            });
        }
        if let Some(broker) = self.broker() {
            broker.presence(PresenceOp {
                join,
                room: room.clone(),
                id,
                meta: entry.meta.clone(),
            });
        }
    }

    fn join(&self, local_id: u64, room: &str) -> bool {
        let mut guard = self.write();
        let Local { sessions, rooms } = &mut *guard;
        let Some(slot) = sessions.get_mut(&local_id) else {
            return false;
        };
        if slot.rooms.iter().any(|r| &**r == room) {
            return false;
        }
        let (name, created) = match rooms.get_key_value(room) {
            Some((name, _)) => (name.clone(), false),
            None => (Arc::<str>::from(room), true),
        };
        rooms
            .entry(name.clone())
            .or_default()
            .insert(local_id, slot.entry.clone());
        slot.rooms.push(name.clone());
        self.changed(true, &name, &slot.entry);
        drop(guard);
        if created && let Some(broker) = self.broker() {
            broker.rooms_changed();
        }
        true
    }

    /// Removes a member from a room, and the room if it is empty now; true if the room
    /// went away.
    fn remove_member(
        rooms: &mut HashMap<Arc<str>, HashMap<u64, Arc<Entry<T>>>>,
        room: &str,
        local_id: u64,
    ) -> bool {
        let Some(members) = rooms.get_mut(room) else {
            return false;
        };
        members.remove(&local_id);
        if members.is_empty() {
            rooms.remove(room);
            return true;
        }
        false
    }

    fn leave(&self, local_id: u64, room: &str) -> bool {
        let mut guard = self.write();
        let Local { sessions, rooms } = &mut *guard;
        let Some(slot) = sessions.get_mut(&local_id) else {
            return false;
        };
        let Some(at) = slot.rooms.iter().position(|r| &**r == room) else {
            return false;
        };
        let name = slot.rooms.swap_remove(at);
        let removed = Self::remove_member(rooms, room, local_id);
        self.changed(false, &name, &slot.entry);
        drop(guard);
        if removed && let Some(broker) = self.broker() {
            broker.rooms_changed();
        }
        true
    }

    /// The session is gone: out of every room.
    fn remove_session(&self, local_id: u64) {
        let mut guard = self.write();
        let Some(slot) = guard.sessions.remove(&local_id) else {
            return;
        };
        let mut removed = false;
        for room in &slot.rooms {
            removed |= Self::remove_member(&mut guard.rooms, room, local_id);
            self.changed(false, room, &slot.entry);
        }
        drop(guard);
        if removed && let Some(broker) = self.broker() {
            broker.rooms_changed();
        }
    }

    /// Removes sessions that are closed while their occupant lives on (it was kept
    /// past its handler): they leave every room now.
    fn prune(&self) {
        let closed: Vec<u64> = self
            .read()
            .sessions
            .values()
            .filter(|slot| !slot.entry.outgoing.is_open())
            .map(|slot| slot.entry.local)
            .collect();
        for local_id in closed {
            self.remove_session(local_id);
        }
    }

    /// Queues `frame` for the local members `to` names, but `except`. `id`: the
    /// message's stream id (resume), for sessions whose resume is replaying.
    pub(crate) fn deliver(
        &self,
        to: Dest<'_>,
        except: Option<SessionId>,
        frame: &Frame,
        id: Option<MessageId>,
    ) -> (usize, usize) {
        let mut wires = Wires::new(frame);
        let skip = except.filter(|s| s.node == self.node).map(|s| s.local);
        let (mut delivered, mut slow, mut closed) = (0, 0, false);
        let mut push = |entry: &Arc<Entry<T>>| {
            if Some(entry.local) == skip {
                return;
            }
            if entry.holding.load(Ordering::Acquire) && entry.hold(id, frame) {
                return;
            }
            let chan = entry.outgoing.chan();
            match chan.try_push_broadcast(&mut wires) {
                Ok(()) => delivered += 1,
                Err(BroadcastRefused::Full) => {
                    chan.close_slow_peer();
                    slow += 1;
                }
                Err(BroadcastRefused::Closed) => closed = true,
            }
        };
        let local = self.read();
        match to {
            Dest::Room(room) => {
                if let Some(members) = local.rooms.get(room) {
                    members.values().for_each(&mut push);
                }
            }
            Dest::Session(id) if id.node == self.node => {
                if let Some(slot) = local.sessions.get(&id.local) {
                    push(&slot.entry);
                }
            }
            Dest::Session(_) => {}
            Dest::All => local.sessions.values().for_each(|slot| push(&slot.entry)),
        }
        drop(local);
        if closed {
            self.prune();
        }
        (delivered, slow)
    }

    /// A frame from another node (or stored by the broker, with its id): stamped if it
    /// has an id, then delivered.
    pub(crate) fn deliver_stored(
        &self,
        to: Dest<'_>,
        except: Option<SessionId>,
        frame: &Frame,
        id: Option<MessageId>,
    ) {
        match (id, self.broker().and_then(|b| b.resume())) {
            (Some(id), Some(resume)) => {
                let stamped = (resume.stamp)(&id, frame);
                self.deliver(to, except, &stamped, Some(id));
            }
            _ => {
                self.deliver(to, except, frame, id);
            }
        }
    }

    fn local_presence(&self, room: &str) -> Vec<PresenceEntry> {
        let local = self.read();
        let Some(members) = local.rooms.get(room) else {
            return Vec::new();
        };
        members
            .values()
            .map(|entry| PresenceEntry {
                id: self.id(entry.local),
                meta: serde_json::from_str(&entry.meta).unwrap_or_default(),
            })
            .collect()
    }

    pub(crate) fn emit(&self, event: PresenceEvent) {
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(event);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The public handle.

/// Named rooms of sessions, each session with metadata of type `T`; in one process
/// ([`Rooms::new`]) or across many over Redis (`Rooms::redis`, feature `redis`). Cheap
/// to clone: clones share the rooms.
///
/// A [`Rooms<T>`] is installed as state (`app.state(Rooms::<String>::new())`) and taken
/// in a handler with `State<Rooms<String>>`. A session [`enter`](Rooms::enter)s with
/// its metadata (`T`: a user name, a struct) and gets an [`Occupant`], which joins and
/// leaves any number of rooms; dropping it (the handler returns, however it returns)
/// leaves them all. Publishing goes to a room, to a room but one session (the sender),
/// to one session by its [`SessionId`], or to everyone, as a frame or serialized with
/// the application's content converter:
///
/// ```
/// use ws_runtime::{EmbeddedServer, Frame, Rooms, Route, WebSocketSession};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let rooms = Rooms::<String>::new();
/// let for_route = rooms.clone();
/// let server = EmbeddedServer::new()
///     .host("127.0.0.1")
///     .port(0)
///     .configure(move |app| {
///         app.route(Route::new("/chat", move |session: WebSocketSession| {
///             let rooms = for_route.clone();
///             async move {
///                 let me = rooms.join(&session, "lobby", "guest".to_owned());
///                 while let Some(Frame::Text(text)) = session.incoming.recv().await {
///                     rooms.to("lobby").except(&me).publish(format!("[{}]: {text}", *me));
///                 }
///                 Ok::<(), ws_runtime::Error>(()) // `me` leaves "lobby" here
///             }
///         }));
///     })
///     .bind()
///     .await?;
/// // Nobody joined yet: the room does not exist, a publish reaches no one.
/// assert_eq!(rooms.publish("lobby", "anyone?").delivered, 0);
/// assert_eq!(rooms.stats().rooms, 0);
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
///
/// With the DSL the handler takes the rooms as state,
/// `State(rooms): State<Rooms<String>>`, after `app.state(Rooms::<String>::new())`.
///
/// **One process or many.** [`Rooms::new`] keeps everything in the process (the
/// default: no setup). `Rooms::redis(url)` (cargo feature `redis`) connects the rooms of
/// several server processes through Redis, so that a publish on one reaches members on
/// all of them; the README's "Scaling out" section says what is guaranteed.
///
/// **Never waiting.** A publish encodes its frame once and pushes it into each local
/// member's bounded outgoing queue; a member whose queue is full (its client stopped
/// reading) is closed with 1008, as [`Connections`](crate::Connections) does. What goes
/// to other processes waits in a bounded buffer; over it, it is dropped and counted
/// ([`RoomsStats::remote_dropped`]).
///
/// **Rooms come and go by themselves.** Joining a room that does not exist creates it
/// and the last member leaving removes it, both under one lock with the membership
/// change, so a member never joins a room that is being removed.
pub struct Rooms<T = ()> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Rooms<T> {
    fn clone(&self) -> Self {
        Rooms {
            shared: self.shared.clone(),
        }
    }
}

impl<T: Send + Sync + 'static> Default for Rooms<T> {
    fn default() -> Self {
        Rooms {
            shared: Arc::new(Shared::new()),
        }
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for Rooms<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rooms")
            .field("stats", &self.stats())
            .finish()
    }
}

impl<T: serde::Serialize + Send + Sync + 'static> Rooms<T> {
    /// In-memory rooms: one process, nothing to set up.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder for in-memory rooms with options (a content converter).
    pub fn builder() -> RoomsBuilder<T> {
        RoomsBuilder::new(None)
    }

    /// A builder for rooms shared through the Redis at `url` (`redis://host:port/db`):
    /// several server processes with the same `url` and [prefix](RoomsBuilder::prefix)
    /// share their rooms. Nothing connects until [`build`](RoomsBuilder::build), and a
    /// Redis that is down then is connected to when it comes.
    #[cfg(feature = "redis")]
    pub fn redis(url: impl Into<String>) -> RoomsBuilder<T> {
        RoomsBuilder::new(Some(url.into()))
    }

    /// Enters a session with its metadata; it joins no room yet. The session stays in
    /// the rooms it joins while the returned [`Occupant`] lives.
    pub fn enter(&self, session: &WebSocketSession, data: T) -> Occupant<T> {
        let shared = &self.shared;
        if let Some(converter) = session.converter() {
            let _ = shared.converter.set(converter.clone());
        }
        let local = shared.next_local.fetch_add(1, Ordering::Relaxed) + 1;
        let meta: Arc<str> = serde_json::to_string(&data)
            .unwrap_or_else(|_| "null".to_owned())
            .into();
        let data = Arc::new(data);
        let entry = Arc::new(Entry {
            local,
            outgoing: session.outgoing.clone(),
            data: data.clone(),
            meta,
            holding: AtomicBool::new(false),
            held: Mutex::new(None),
        });
        shared.write().sessions.insert(
            local,
            Slot {
                entry: entry.clone(),
                rooms: Vec::new(),
            },
        );
        Occupant {
            id: shared.id(local),
            entry,
            rooms: self.clone(),
        }
    }

    /// Enters a session and joins it to `room` (see [`enter`](Self::enter)).
    pub fn join(&self, session: &WebSocketSession, room: &str, data: T) -> Occupant<T> {
        let occupant = self.enter(session, data);
        occupant.join(room);
        occupant
    }
}

impl<T: Send + Sync + 'static> Rooms<T> {
    /// Publishing to everyone in `room`, on every node.
    pub fn to<'a>(&'a self, room: &'a str) -> RoomTarget<'a, T> {
        RoomTarget {
            rooms: self,
            to: TargetKind::Room(room),
            except: None,
        }
    }

    /// Publishing to one session, wherever it is.
    pub fn to_session(&self, id: SessionId) -> RoomTarget<'_, T> {
        RoomTarget {
            rooms: self,
            to: TargetKind::Session(id),
            except: None,
        }
    }

    /// Publishing to every session that entered, on every node.
    pub fn to_all(&self) -> RoomTarget<'_, T> {
        RoomTarget {
            rooms: self,
            to: TargetKind::All,
            except: None,
        }
    }

    /// Publishes `frame` to everyone in `room`: `rooms.to(room).publish(frame)`.
    pub fn publish(&self, room: &str, frame: impl Into<Frame>) -> Delivery {
        self.to(room).publish(frame)
    }

    /// Who is in `room` on every node: this node's members as they are, the other
    /// nodes' as Redis has them (with Redis unreachable, this node's only).
    pub async fn presence(&self, room: &str) -> Vec<PresenceEntry> {
        let mut entries = self.shared.local_presence(room);
        if let Some(broker) = self.shared.broker()
            && broker.state() == BrokerState::Connected
            && let Some(remote) = broker.query_presence(room).await
        {
            // This node's own members as they are now (Redis may not have the latest
            // change yet), the others' as Redis has them.
            let node = self.shared.node;
            entries.extend(remote.into_iter().filter(|e| e.id.node != node));
        }
        entries
    }

    /// Who is in `room` on this node.
    pub fn local_presence(&self, room: &str) -> Vec<PresenceEntry> {
        self.shared.local_presence(room)
    }

    /// Join and leave events of every room, from every node (with Redis: those of
    /// other nodes as they come over pub/sub, at most once; a node that dies has its
    /// members' leaves sent by the node that notices).
    pub fn presence_events(&self) -> PresenceEvents {
        PresenceEvents {
            rx: self.shared.events.subscribe(),
            missed: 0,
        }
    }

    /// This node's id (the `node` of its sessions' ids).
    pub fn node(&self) -> u64 {
        self.shared.node
    }

    /// The rooms' figures and the broker's state.
    pub fn stats(&self) -> RoomsStats {
        let (rooms, sessions) = {
            let local = self.shared.read();
            (local.rooms.len(), local.sessions.len())
        };
        let mut stats = RoomsStats {
            broker: BrokerState::Local,
            rooms,
            sessions,
            remote_sent: 0,
            remote_dropped: 0,
            remote_received: 0,
            reconnects: 0,
        };
        if let Some(broker) = self.shared.broker() {
            let c = broker.counters();
            stats.broker = broker.state();
            stats.remote_sent = c.sent.load(Ordering::Relaxed);
            stats.remote_dropped = c.dropped.load(Ordering::Relaxed);
            stats.remote_received = c.received.load(Ordering::Relaxed);
            stats.reconnects = c.reconnects.load(Ordering::Relaxed);
        }
        stats
    }

    fn publish_frame(
        &self,
        to: TargetKind<'_>,
        except: Option<SessionId>,
        frame: Frame,
    ) -> Delivery {
        if !matches!(frame, Frame::Text(_) | Frame::Binary(_)) {
            return Delivery::default();
        }
        let shared = &self.shared;
        let local_only = match to {
            TargetKind::Session(id) => id.node == shared.node,
            _ => false,
        };
        let Some(broker) = shared.broker().filter(|_| !local_only) else {
            // No other node: straight to the local members.
            let (dest, except) = match to {
                TargetKind::Room(room) => (Dest::Room(room), except),
                TargetKind::Session(id) => (Dest::Session(id), None),
                TargetKind::All => (Dest::All, except),
            };
            let (delivered, dropped_slow) = shared.deliver(dest, except, &frame, None);
            return Delivery {
                delivered,
                dropped_slow,
                remote: RemoteDelivery::None,
            };
        };
        let (to, subject) = match to {
            TargetKind::Room(room) => {
                let name = shared
                    .read()
                    .rooms
                    .get_key_value(room)
                    .map(|(name, _)| name.clone());
                (To::Room(name.unwrap_or_else(|| room.into())), except)
            }
            TargetKind::Session(id) => (To::Session(id), Some(id)),
            TargetKind::All => (To::All, except),
        };
        // For a session, the subject is the one addressed, not one left out.
        let except = if matches!(to, To::Session(_)) {
            None
        } else {
            subject
        };
        let deferred = broker.resume().is_some() && matches!(to, To::Room(_));
        if deferred {
            // Local members get it stamped once stored, in the order of the queue.
            let out = Outbound {
                to,
                subject,
                frame,
                deliver_local: true,
            };
            return match broker.publish(out) {
                Ok(()) => Delivery {
                    remote: RemoteDelivery::Queued,
                    ..Delivery::default()
                },
                Err(out) => {
                    let (delivered, dropped_slow) =
                        shared.deliver(out.to.dest(), subject, &out.frame, None);
                    Delivery {
                        delivered,
                        dropped_slow,
                        remote: RemoteDelivery::Dropped,
                    }
                }
            };
        }
        let (delivered, dropped_slow) = shared.deliver(to.dest(), except, &frame, None);
        let remote = match broker.publish(Outbound {
            to,
            subject,
            frame,
            deliver_local: false,
        }) {
            Ok(()) => RemoteDelivery::Queued,
            Err(_) => RemoteDelivery::Dropped,
        };
        Delivery {
            delivered,
            dropped_slow,
            remote,
        }
    }
}

/// Where a publish goes: built with [`Rooms::to`], [`Rooms::to_session`] or
/// [`Rooms::to_all`], narrowed with [`except`](Self::except).
#[must_use = "nothing is published until `publish` is called"]
pub struct RoomTarget<'a, T> {
    rooms: &'a Rooms<T>,
    to: TargetKind<'a>,
    except: Option<SessionId>,
}

#[derive(Clone, Copy)]
enum TargetKind<'a> {
    Room(&'a str),
    Session(SessionId),
    All,
}

impl<T> fmt::Debug for RoomTarget<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to = match self.to {
            TargetKind::Room(room) => format!("room {room:?}"),
            TargetKind::Session(id) => format!("session {id}"),
            TargetKind::All => "everyone".to_owned(),
        };
        f.debug_struct("RoomTarget")
            .field("to", &to)
            .field("except", &self.except)
            .finish()
    }
}

impl<T: Send + Sync + 'static> RoomTarget<'_, T> {
    /// Leaves one session out (the sender: `.except(&me)`).
    pub fn except(mut self, id: impl Into<SessionId>) -> Self {
        self.except = Some(id.into());
        self
    }

    /// Publishes a data frame (`&str`/`String` as text, `Vec<u8>`/`Bytes` as binary),
    /// never waiting. Control frames are not published.
    pub fn publish(self, frame: impl Into<Frame>) -> Delivery {
        self.rooms.publish_frame(self.to, self.except, frame.into())
    }

    /// Serializes `value` with the content converter (the one set on the builder, else
    /// the application's `content_converter`, as its sessions carry it) and publishes
    /// it.
    pub fn publish_serialized<V: serde::Serialize + ?Sized>(self, value: &V) -> Result<Delivery> {
        let converter = self
            .rooms
            .shared
            .converter
            .get()
            .ok_or(Error::NoConverter)?;
        let frame = crate::convert::serialize(&**converter, value)?;
        Ok(self.publish(frame))
    }
}

/// A session in [`Rooms`]: joins and leaves rooms, leaves them all when dropped.
/// Dereferences to the session's metadata.
pub struct Occupant<T: Send + Sync + 'static> {
    id: SessionId,
    entry: Arc<Entry<T>>,
    rooms: Rooms<T>,
}

impl<T: Send + Sync + 'static> Occupant<T> {
    /// The session's id among all nodes.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The session's metadata.
    pub fn data(&self) -> &T {
        &self.entry.data
    }

    /// Joins `room` (created if it does not exist); false if already in it, or if the
    /// session was removed because it closed.
    pub fn join(&self, room: &str) -> bool {
        self.rooms.shared.join(self.entry.local, room)
    }

    /// Leaves `room` (removed if empty now); false if not in it.
    pub fn leave(&self, room: &str) -> bool {
        self.rooms.shared.leave(self.entry.local, room)
    }

    /// The rooms the session is in.
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.rooms
            .shared
            .read()
            .sessions
            .get(&self.entry.local)
            .map(|slot| slot.rooms.clone())
            .unwrap_or_default()
    }

    /// Joins `room` and sends this session the room's retained messages after `last`
    /// (the id the client presents), before any live message of the room: live ones
    /// that arrive meanwhile wait, and go out after the replay, without duplicates.
    /// [`Resumed::complete`] says whether `last` was still retained (if not, the client
    /// missed more than the retention).
    pub async fn resume(
        &self,
        room: &str,
        last: MessageId,
    ) -> std::result::Result<Resumed, ResumeError> {
        let Some(broker) = self.rooms.shared.broker().filter(|b| b.resume().is_some()) else {
            self.join(room);
            return Err(ResumeError::NotEnabled);
        };
        *lock(&self.entry.held) = Some(Vec::new());
        self.entry.holding.store(true, Ordering::Release);
        self.join(room);
        let fetched = broker.fetch_since(room, last).await;
        let mut newest = last;
        let mut replayed = 0;
        let outcome = match fetched {
            Ok(fetched) => {
                for (id, frame) in fetched.messages {
                    if id <= newest {
                        continue;
                    }
                    newest = id;
                    if self.entry.outgoing.send(frame).await.is_err() {
                        break;
                    }
                    replayed += 1;
                }
                Ok(Resumed {
                    replayed,
                    complete: fetched.complete,
                })
            }
            Err(error) => Err(error),
        };
        // Release what waited, in order, until nothing is left; then live messages go
        // straight to the queue again.
        loop {
            let batch = {
                let mut held = lock(&self.entry.held);
                match held.as_mut() {
                    Some(list) if !list.is_empty() => std::mem::take(list),
                    _ => {
                        *held = None;
                        self.entry.holding.store(false, Ordering::Release);
                        break;
                    }
                }
            };
            for (id, frame) in batch {
                if id.is_some_and(|id| id <= newest) {
                    continue;
                }
                let _ = self.entry.outgoing.send(frame).await;
            }
        }
        outcome
    }
}

impl<T: Send + Sync + 'static> Deref for Occupant<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.entry.data
    }
}

impl<T: Send + Sync + fmt::Debug + 'static> fmt::Debug for Occupant<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Occupant")
            .field("id", &self.id)
            .field("data", &self.entry.data)
            .finish()
    }
}

impl<T: Send + Sync + 'static> Drop for Occupant<T> {
    fn drop(&mut self) {
        self.rooms.shared.remove_session(self.entry.local);
    }
}

// ---------------------------------------------------------------------------------------
// The builder.

/// Options of [`Rooms`]: from [`Rooms::builder`] (in-memory) or `Rooms::redis(url)`.
pub struct RoomsBuilder<T> {
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    url: Option<String>,
    converter: Option<Arc<dyn ContentConverter>>,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) options: BrokerOptions,
    _data: std::marker::PhantomData<fn() -> T>,
}

/// The broker's options (Redis).
#[derive(Clone, Debug)]
pub(crate) struct BrokerOptions {
    pub(crate) prefix: String,
    pub(crate) outbound_capacity: usize,
    pub(crate) heartbeat: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
    pub(crate) resume: Option<Resume>,
}

impl<T> fmt::Debug for RoomsBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomsBuilder")
            .field("url", &self.url)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<T: serde::Serialize + Send + Sync + 'static> RoomsBuilder<T> {
    fn new(url: Option<String>) -> Self {
        RoomsBuilder {
            url,
            converter: None,
            options: BrokerOptions {
                prefix: "ws".to_owned(),
                outbound_capacity: 4096,
                heartbeat: Duration::from_secs(1),
                command_timeout: Duration::from_millis(500),
                reconnect_min: Duration::from_millis(50),
                reconnect_max: Duration::from_secs(2),
                resume: None,
            },
            _data: std::marker::PhantomData,
        }
    }

    /// The converter of [`RoomTarget::publish_serialized`] (by default the application's
    /// `content_converter`, taken from the first session that enters).
    pub fn converter(mut self, converter: impl ContentConverter) -> Self {
        self.converter = Some(Arc::new(converter));
        self
    }

    /// Namespace of every key and channel in Redis (default `ws`): one Redis can carry
    /// several applications, each with its own prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.options.prefix = prefix.into();
        self
    }

    /// Publishes waiting for Redis at most (default 4,096); over it, they are dropped
    /// for other nodes and counted. Local members get them regardless.
    pub fn outbound_capacity(mut self, capacity: usize) -> Self {
        self.options.outbound_capacity = capacity.max(1);
        self
    }

    /// How often this node says it is alive (default 1 s). A node silent for three
    /// periods is taken for dead: any other node removes its members from presence.
    pub fn heartbeat(mut self, period: Duration) -> Self {
        self.options.heartbeat = period.max(Duration::from_millis(10));
        self
    }

    /// How long one Redis command may take before the connection is taken for broken
    /// and made again (default 500 ms). With resume, local members wait at most this
    /// long for a message to be stored.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.options.command_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Reconnection delays: from `min`, doubling up to `max`, each jittered (defaults
    /// 50 ms and 2 s).
    pub fn reconnect_delay(mut self, min: Duration, max: Duration) -> Self {
        self.options.reconnect_min = min.max(Duration::from_millis(1));
        self.options.reconnect_max = max.max(self.options.reconnect_min);
        self
    }

    /// Keeps each room's messages for resume ([`Resume`]; Redis only).
    pub fn resume(mut self, resume: Resume) -> Self {
        self.options.resume = Some(resume);
        self
    }

    /// The rooms. With Redis, this starts the node's link (call it inside the tokio
    /// runtime, e.g. in `embedded_server!`'s configure block or in `main`); it fails only
    /// on a URL that does not parse, or resume asked of in-memory rooms.
    pub fn build(self) -> std::io::Result<Rooms<T>> {
        let shared = Shared::new();
        if let Some(converter) = self.converter {
            let _ = shared.converter.set(converter);
        }
        let rooms = Rooms {
            shared: Arc::new(shared),
        };
        match self.url {
            None if self.options.resume.is_some() => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "resume keeps messages in Redis: use Rooms::redis(url)",
            )),
            None => Ok(rooms),
            #[cfg(feature = "redis")]
            Some(url) => {
                redis::start(&rooms.shared, &url, self.options)?;
                Ok(rooms)
            }
            #[cfg(not(feature = "redis"))]
            Some(_) => Err(std::io::Error::other("built without the `redis` feature")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_and_parse() {
        let session = SessionId {
            node: 0xabc,
            local: 7,
        };
        assert_eq!(session.to_string(), "0000000000000abc-7");
        assert_eq!("0000000000000abc-7".parse(), Ok(session));
        assert_eq!("xyz-1".parse::<SessionId>(), Err(ParseIdError));
        let id: MessageId = "1700000000000-3".parse().unwrap();
        assert_eq!(id.to_string(), "1700000000000-3");
        assert!(
            id < "1700000000000-10".parse().unwrap(),
            "ordered by number"
        );
        assert!(id < "1700000000001-0".parse().unwrap());
        assert_eq!("17-".parse::<MessageId>(), Err(ParseIdError));
    }

    #[test]
    fn the_default_stamp_prefixes_text_with_the_id() {
        let id: MessageId = "5-1".parse().unwrap();
        let resume = Resume::last(10);
        assert_eq!(
            (resume.stamp)(&id, &Frame::text("hi")),
            Frame::text("5-1 hi")
        );
        let binary = Frame::binary(vec![1, 2]);
        assert_eq!((resume.stamp)(&id, &binary), binary);
        assert_eq!(Resume::last(0).max_len, 1);
    }

    #[test]
    fn resume_needs_redis() {
        let built = Rooms::<()>::builder().resume(Resume::last(5)).build();
        assert_eq!(
            built.map(|_| ()).unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
    }
}
