//! The Redis broker: one task per node (the supervisor) owns the connections.
//!
//! - **Connections.** A multiplexed connection for commands (publishes, presence,
//!   heartbeats, history) and a pub/sub connection. Either failing, or a command not
//!   answered within the command timeout, ends the connection's epoch: the supervisor
//!   logs the state change, waits a jittered, doubling delay (serving publishes locally
//!   meanwhile) and connects again, then subscribes every local room again, rewrites
//!   this node's presence and, with resume, catches up on what its rooms missed.
//! - **Publishing.** Publishes wait in a bounded channel (full: dropped and counted) and
//!   go out in pipelined batches, in order, on the one command connection: Redis
//!   delivers them to subscribers in that order. With resume each room message is
//!   stored and published by one script (XADD, trim, PUBLISH with the id), so the
//!   stream and pub/sub agree on the order.
//! - **Receiving.** One pub/sub connection subscribes to `P:a` (everyone), `P:n:NODE`
//!   (this node's sessions), `P:p` (presence events) and `P:r:ROOM` for each room with a
//!   local member. A node ignores its own messages. With resume, a room message is
//!   delivered only if its origin sequence is newer than the last one seen from that
//!   origin in that room, which removes the duplicates of catch-up and of re-sent
//!   batches.
//! - **Presence.** `P:h:ROOM` (hash: session id → metadata JSON), `P:nm:NODE` (set of
//!   `ROOM\nSESSION` this node registered), `P:nodes` (sorted set: node → the time its
//!   heartbeat expires, Redis's clock). Every heartbeat renews this node and removes any
//!   node whose time has passed, with its members, publishing their leaves.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use redis::{AsyncConnectionConfig, Value};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::wire::{self, Envelope};
use super::{
    Broker, BrokerOptions, BrokerState, Counters, Dest, Fetched, MessageId, Outbound,
    PresenceEntry, PresenceEvent, PresenceKind, PresenceOp, Resume, ResumeError, SessionId, Shared,
    To, lock,
};
use crate::frame::{Frame, Text};

/// Publishes sent in one pipeline at most.
const BATCH: usize = 256;
/// Presence changes waiting at most; past it, the next flush rewrites the node's presence.
const MAX_OPS: usize = 4096;

/// Stores a room message for resume and publishes it with its id, atomically.
/// KEYS: stream, channel. ARGV: envelope (empty trailer), max length, max age in ms (0:
/// none).
const STORE: &str = r"
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '*', 'e', ARGV[1])
local age = tonumber(ARGV[3])
if age > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('XTRIM', KEYS[1], 'MINID', tostring(now - age))
  redis.call('PEXPIRE', KEYS[1], age)
end
local n = #id
redis.call('PUBLISH', KEYS[2], string.sub(ARGV[1], 1, -3) .. id .. string.char(math.floor(n / 256), n % 256))
return id
";

/// Renews this node and removes the nodes whose heartbeat expired, with their members.
/// KEYS: the nodes sorted set. ARGV: this node, ttl in ms, key prefix. Returns
/// `{renewed_after_removal (0/1), members_removed}`.
const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
local removed = 0
for _, node in ipairs(dead) do
  redis.call('ZREM', KEYS[1], node)
  local set = ARGV[3] .. ':nm:' .. node
  for _, m in ipairs(redis.call('SMEMBERS', set)) do
    local sep = string.find(m, '\n', 1, true)
    if sep then
      local room = string.sub(m, 1, sep - 1)
      local sid = string.sub(m, sep + 1)
      local hash = ARGV[3] .. ':h:' .. room
      local meta = redis.call('HGET', hash, sid) or 'null'
      redis.call('HDEL', hash, sid)
      redis.call('PUBLISH', ARGV[3] .. ':p', cjson.encode({v = 1, kind = 'leave', room = room, id = sid, node = node, meta = meta}))
      removed = removed + 1
    end
  end
  redis.call('DEL', set)
end
return {added, removed}
";

/// Every key and channel name, under the prefix.
struct Keys {
    prefix: String,
    room_prefix: String,
    all: String,
    node: String,
    presence: String,
    nodes: String,
    members: String,
}

impl Keys {
    fn new(prefix: &str, node: u64) -> Self {
        Keys {
            prefix: prefix.to_owned(),
            room_prefix: format!("{prefix}:r:"),
            all: format!("{prefix}:a"),
            node: format!("{prefix}:n:{node:016x}"),
            presence: format!("{prefix}:p"),
            nodes: format!("{prefix}:nodes"),
            members: format!("{prefix}:nm:{node:016x}"),
        }
    }

    fn room(&self, room: &str) -> String {
        format!("{}{room}", self.room_prefix)
    }

    fn stream(&self, room: &str) -> String {
        format!("{}:s:{room}", self.prefix)
    }

    fn hash(&self, room: &str) -> String {
        format!("{}:h:{room}", self.prefix)
    }

    fn node_channel(&self, node: u64) -> String {
        format!("{}:n:{node:016x}", self.prefix)
    }
}

#[derive(Default)]
struct Ops {
    queue: VecDeque<PresenceOp>,
    resync: bool,
}

/// What the rooms' handle and the supervisor share.
struct Control {
    node: u64,
    /// The URL without credentials, for the log.
    shown: String,
    keys: Keys,
    options: BrokerOptions,
    wake: Notify,
    ops: Mutex<Ops>,
    conn: Mutex<Option<MultiplexedConnection>>,
    state: AtomicU8,
    counters: Counters,
}

fn state_code(state: BrokerState) -> u8 {
    match state {
        BrokerState::Local => 0,
        BrokerState::Connecting => 1,
        BrokerState::Connected => 2,
        BrokerState::Disconnected => 3,
    }
}

impl Control {
    fn state(&self) -> BrokerState {
        match self.state.load(Ordering::Relaxed) {
            1 => BrokerState::Connecting,
            2 => BrokerState::Connected,
            _ => BrokerState::Disconnected,
        }
    }

    /// Sets the state; one log line per change.
    fn set_state(&self, new: BrokerState, why: &str) {
        let old = self.state.swap(state_code(new), Ordering::Relaxed);
        if old == state_code(new) {
            return;
        }
        let url = &self.shown;
        match new {
            BrokerState::Connected => {
                tracing::info!(redis = %url, node = %format!("{:016x}", self.node), "rooms: connected to Redis")
            }
            BrokerState::Disconnected => tracing::warn!(
                redis = %url,
                "rooms: Redis unreachable ({why}): serving local members only, reconnecting"
            ),
            BrokerState::Connecting if old == 0 => {
                tracing::info!(redis = %url, "rooms: connecting to Redis")
            }
            _ => {}
        }
    }

    fn connection(&self) -> Option<MultiplexedConnection> {
        lock(&self.conn).clone()
    }

    fn resume(&self) -> Option<&Resume> {
        self.options.resume.as_ref()
    }
}

/// The rooms' side of the link.
struct RedisBroker {
    tx: mpsc::Sender<Outbound>,
    ctl: Arc<Control>,
}

impl Broker for RedisBroker {
    fn publish(&self, out: Outbound) -> Result<(), Outbound> {
        self.tx.try_send(out).map_err(|e| {
            self.ctl.counters.dropped.fetch_add(1, Ordering::Relaxed);
            e.into_inner()
        })
    }

    fn rooms_changed(&self) {
        self.ctl.wake.notify_one();
    }

    fn presence(&self, op: PresenceOp) {
        let mut ops = lock(&self.ctl.ops);
        if ops.queue.len() >= MAX_OPS {
            ops.queue.clear();
            ops.resync = true;
        } else {
            ops.queue.push_back(op);
        }
        drop(ops);
        self.ctl.wake.notify_one();
    }

    fn state(&self) -> BrokerState {
        self.ctl.state()
    }

    fn resume(&self) -> Option<&Resume> {
        self.ctl.resume()
    }

    fn counters(&self) -> &Counters {
        &self.ctl.counters
    }

    fn query_presence<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Option<Vec<PresenceEntry>>> {
        Box::pin(async move {
            let mut conn = self.ctl.connection()?;
            let mut command = redis::cmd("HGETALL");
            command.arg(self.ctl.keys.hash(room));
            let query = command.query_async::<HashMap<String, String>>(&mut conn);
            let map = tokio::time::timeout(self.ctl.options.command_timeout, query)
                .await
                .ok()?
                .ok()?;
            Some(
                map.into_iter()
                    .filter_map(|(id, meta)| {
                        Some(PresenceEntry {
                            id: id.parse().ok()?,
                            meta: serde_json::from_str(&meta).unwrap_or_default(),
                        })
                    })
                    .collect(),
            )
        })
    }

    fn fetch_since<'a>(
        &'a self,
        room: &'a str,
        last: MessageId,
    ) -> BoxFuture<'a, Result<Fetched, ResumeError>> {
        Box::pin(async move {
            let Some(resume) = self.ctl.resume() else {
                return Err(ResumeError::NotEnabled);
            };
            let unavailable = |why: String| ResumeError::Unavailable(why);
            let mut conn = self
                .ctl
                .connection()
                .ok_or_else(|| unavailable("Redis is unreachable".to_owned()))?;
            let mut command = redis::cmd("XRANGE");
            command
                .arg(self.ctl.keys.stream(room))
                .arg(last.to_string())
                .arg("+")
                .arg("COUNT")
                .arg(resume.max_len + 1);
            let query = command.query_async::<redis::streams::StreamRangeReply>(&mut conn);
            let reply = tokio::time::timeout(self.ctl.options.command_timeout, query)
                .await
                .map_err(|_| unavailable("Redis did not answer in time".to_owned()))?
                .map_err(|e| unavailable(e.to_string()))?;
            let complete = reply
                .ids
                .first()
                .is_some_and(|entry| entry.id.parse() == Ok(last));
            let mut messages = Vec::with_capacity(reply.ids.len());
            for entry in &reply.ids {
                let Ok(id) = entry.id.parse::<MessageId>() else {
                    continue;
                };
                let Some(Value::BulkString(bytes)) = entry.map.get("e") else {
                    continue;
                };
                let Some(env) = wire::decode(bytes) else {
                    continue;
                };
                if id == last {
                    continue;
                }
                if let Some(frame) = frame_of(&env) {
                    messages.push((id, (resume.stamp)(&id, &frame)));
                }
            }
            Ok(Fetched { messages, complete })
        })
    }
}

/// The frame an envelope carries (a copy of its payload).
fn frame_of(env: &Envelope<'_>) -> Option<Frame> {
    let payload = Bytes::copy_from_slice(env.payload);
    match env.kind {
        wire::TEXT => Text::try_from_bytes(payload).ok().map(Frame::Text),
        _ => Some(Frame::Binary(payload)),
    }
}

/// The URL as logged: without user and password.
fn shown_url(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://{host}"),
        _ => url.to_owned(),
    }
}

/// Starts the node's link: checks the URL, spawns the supervisor.
pub(crate) fn start<T: Send + Sync + 'static>(
    shared: &Arc<Shared<T>>,
    url: &str,
    options: BrokerOptions,
) -> std::io::Result<()> {
    let client = redis::Client::open(url).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("Redis URL {:?}: {e}", shown_url(url)),
        )
    })?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        std::io::Error::other("Rooms::redis(..).build() must be called inside the tokio runtime")
    })?;
    let (tx, rx) = mpsc::channel(options.outbound_capacity);
    let ctl = Arc::new(Control {
        node: shared.node(),
        shown: shown_url(url),
        keys: Keys::new(&options.prefix, shared.node()),
        options,
        wake: Notify::new(),
        ops: Mutex::new(Ops::default()),
        conn: Mutex::new(None),
        state: AtomicU8::new(0),
        counters: Counters::default(),
    });
    let broker = RedisBroker {
        tx,
        ctl: ctl.clone(),
    };
    if shared.broker.set(Box::new(broker)).is_err() {
        return Err(std::io::Error::other("these rooms already have a broker"));
    }
    runtime.spawn(supervise(Arc::downgrade(shared), rx, ctl, client));
    Ok(())
}

/// Reconnection delays: doubling from `min` to `max`, each drawn from the upper half
/// of its step (so that nodes cut off together do not come back in step).
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    rng: u64,
}

impl Backoff {
    fn new(min: Duration, max: Duration, seed: u64) -> Self {
        Backoff {
            min,
            max,
            next: min,
            rng: seed | 1,
        }
    }

    fn reset(&mut self) {
        self.next = self.min;
    }

    fn delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(self.max);
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let unit =
            (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
        step / 2 + (step / 2).mul_f64(unit)
    }
}

/// A publish the supervisor holds: the current batch, or (resume) one waiting for Redis.
struct Pending {
    out: Outbound,
    /// Origin sequence, given once: a publish sent again keeps it (receivers drop the
    /// copy).
    seq: u64,
}

/// Where a room's messages from other nodes are, on this node (resume).
#[derive(Default)]
struct Cursor {
    last: Option<MessageId>,
    origins: HashMap<u64, u64>,
}

type Cursors = Mutex<HashMap<Box<str>, Cursor>>;

/// The supervisor's state across connections.
struct Work {
    pending: VecDeque<Pending>,
    cursors: Cursors,
    subscribed: HashSet<Arc<str>>,
    seq: u64,
    connected_before: bool,
}

/// Why a connection's epoch ended.
enum Ended {
    /// The rooms are gone (every handle dropped): the supervisor stops.
    RoomsGone,
    /// The connection failed.
    Lost(String),
}

impl From<redis::RedisError> for Ended {
    fn from(error: redis::RedisError) -> Self {
        Ended::Lost(error.to_string())
    }
}

/// Awaits a Redis future for at most the command timeout.
async fn timed<V>(
    ctl: &Control,
    what: &str,
    future: impl std::future::Future<Output = redis::RedisResult<V>>,
) -> Result<V, Ended> {
    match tokio::time::timeout(ctl.options.command_timeout, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Ended::Lost(format!("{what}: {error}"))),
        Err(_) => Err(Ended::Lost(format!(
            "{what}: no answer within {:?}",
            ctl.options.command_timeout
        ))),
    }
}

async fn supervise<T: Send + Sync + 'static>(
    shared: Weak<Shared<T>>,
    mut rx: mpsc::Receiver<Outbound>,
    ctl: Arc<Control>,
    client: redis::Client,
) {
    let mut backoff = Backoff::new(
        ctl.options.reconnect_min,
        ctl.options.reconnect_max,
        ctl.node,
    );
    let mut work = Work {
        pending: VecDeque::new(),
        cursors: Mutex::new(HashMap::new()),
        subscribed: HashSet::new(),
        seq: 0,
        connected_before: false,
    };
    ctl.set_state(BrokerState::Connecting, "");
    loop {
        let connect_timeout = ctl.options.command_timeout.max(Duration::from_secs(1));
        let connected =
            tokio::time::timeout(connect_timeout, connect(&client, connect_timeout)).await;
        match connected {
            Ok(Ok((conn, sink, stream))) => {
                if work.connected_before {
                    ctl.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                work.connected_before = true;
                let ended =
                    run_connection(&shared, &mut rx, &ctl, &mut work, conn, sink, stream).await;
                *lock(&ctl.conn) = None;
                match ended {
                    Ended::RoomsGone => return,
                    Ended::Lost(why) => ctl.set_state(BrokerState::Disconnected, &why),
                }
                // A connection that worked for a while starts the delays over.
                backoff.reset();
            }
            Ok(Err(error)) => ctl.set_state(BrokerState::Disconnected, &error.to_string()),
            Err(_) => ctl.set_state(BrokerState::Disconnected, "connecting timed out"),
        }
        let until = Instant::now() + backoff.delay();
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => break,
                out = rx.recv() => {
                    let (Some(out), Some(shared)) = (out, shared.upgrade()) else { return };
                    work.offline(&shared, &ctl, out);
                }
            }
        }
    }
}

async fn connect(
    client: &redis::Client,
    timeout: Duration,
) -> redis::RedisResult<(MultiplexedConnection, PubSubSink, PubSubStream)> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let (sink, stream) = client.get_async_pubsub().await?.split();
    Ok((conn, sink, stream))
}

impl Work {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A publish while Redis is unreachable: local members get it now if it waited for
    /// storage; with resume a room message is kept for after recovery (bounded), else
    /// other nodes do not get it.
    fn offline<T: Send + Sync + 'static>(
        &mut self,
        shared: &Shared<T>,
        ctl: &Control,
        mut out: Outbound,
    ) {
        if out.deliver_local {
            shared.deliver(out.to.dest(), out.subject, &out.frame, None);
            out.deliver_local = false;
        }
        let keep = ctl.resume().is_some()
            && matches!(out.to, To::Room(_))
            && self.pending.len() < ctl.options.outbound_capacity;
        if keep {
            let seq = self.next_seq();
            self.pending.push_back(Pending { out, seq });
        } else {
            ctl.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_connection<T: Send + Sync + 'static>(
    shared: &Weak<Shared<T>>,
    rx: &mut mpsc::Receiver<Outbound>,
    ctl: &Control,
    work: &mut Work,
    mut conn: MultiplexedConnection,
    mut sink: PubSubSink,
    mut stream: PubSubStream,
) -> Ended {
    let setup = async {
        let fixed = [&ctl.keys.all, &ctl.keys.node, &ctl.keys.presence];
        timed(ctl, "SUBSCRIBE", sink.subscribe(&fixed[..])).await?;
        work.subscribed.clear();
        reconcile(shared, &mut sink, ctl, &mut work.subscribed, &work.cursors).await?;
        let store: String = timed(
            ctl,
            "SCRIPT LOAD",
            redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(STORE)
                .query_async(&mut conn),
        )
        .await?;
        let heartbeat: String = timed(
            ctl,
            "SCRIPT LOAD",
            redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(HEARTBEAT)
                .query_async(&mut conn),
        )
        .await?;
        let scripts = Scripts { store, heartbeat };
        beat(ctl, &mut conn, &scripts).await?;
        lock(&ctl.ops).queue.clear();
        resync_presence(shared, ctl, &mut conn).await?;
        if ctl.resume().is_some() {
            catch_up(shared, ctl, &mut conn, &work.cursors).await?;
        }
        Ok::<Scripts, Ended>(scripts)
    };
    let scripts = match setup.await {
        Ok(scripts) => scripts,
        Err(ended) => return ended,
    };
    *lock(&ctl.conn) = Some(conn.clone());
    ctl.set_state(BrokerState::Connected, "");
    let Work {
        pending,
        cursors,
        subscribed,
        seq,
        ..
    } = work;
    let publisher = publish_loop(shared, rx, ctl, conn.clone(), &scripts, pending, seq);
    let subscriber = async {
        loop {
            let Some(message) = stream.next().await else {
                return Ended::Lost("the pub/sub connection closed".to_owned());
            };
            let Some(shared) = shared.upgrade() else {
                return Ended::RoomsGone;
            };
            on_message(
                &shared,
                ctl,
                cursors,
                message.get_channel_name(),
                message.get_payload_bytes(),
            );
        }
    };
    let control = async {
        let mut conn = conn.clone();
        let mut ticks = tokio::time::interval(ctl.options.heartbeat);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        let result: Result<(), Ended> = async {
            loop {
                tokio::select! {
                    () = ctl.wake.notified() => {
                        reconcile(shared, &mut sink, ctl, subscribed, cursors).await?;
                        flush_ops(shared, ctl, &mut conn).await?;
                    }
                    _ = ticks.tick() => {
                        if beat(ctl, &mut conn, &scripts).await? {
                            // Taken for dead while alive (a long pause): register again.
                            resync_presence(shared, ctl, &mut conn).await?;
                        }
                    }
                }
            }
        }
        .await;
        result.err().unwrap_or(Ended::RoomsGone)
    };
    let ended = tokio::select! {
        ended = publisher => ended,
        ended = subscriber => ended,
        ended = control => ended,
    };
    // A batch may have been on its way when the epoch ended (the publisher is dropped
    // wherever it was): it is handled as a failed one.
    if let Some(shared) = shared.upgrade() {
        abandon(&shared, ctl, pending);
    }
    ended
}

/// After a failed or interrupted batch: whatever waited for storage goes to local
/// members now, unstamped; with resume, room messages are sent again after recovery
/// (receivers drop what they already had); the rest is lost for other nodes (at most
/// once) and counted.
fn abandon<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    ctl: &Control,
    pending: &mut VecDeque<Pending>,
) {
    let resume = ctl.resume().is_some();
    for item in pending.iter_mut() {
        if item.out.deliver_local {
            shared.deliver(item.out.to.dest(), item.out.subject, &item.out.frame, None);
            item.out.deliver_local = false;
        }
    }
    let before = pending.len();
    pending.retain(|item| resume && matches!(item.out.to, To::Room(_)));
    ctl.counters
        .dropped
        .fetch_add((before - pending.len()) as u64, Ordering::Relaxed);
}

struct Scripts {
    store: String,
    heartbeat: String,
}

/// The publisher: batches, in order; with resume, local delivery once stored.
async fn publish_loop<T: Send + Sync + 'static>(
    shared: &Weak<Shared<T>>,
    rx: &mut mpsc::Receiver<Outbound>,
    ctl: &Control,
    mut conn: MultiplexedConnection,
    scripts: &Scripts,
    pending: &mut VecDeque<Pending>,
    seq: &mut u64,
) -> Ended {
    let resume = ctl.resume();
    let node = ctl.node;
    loop {
        if pending.is_empty() {
            let Some(out) = rx.recv().await else {
                return Ended::RoomsGone;
            };
            *seq += 1;
            pending.push_back(Pending { out, seq: *seq });
        }
        while pending.len() < BATCH {
            let Ok(out) = rx.try_recv() else { break };
            *seq += 1;
            pending.push_back(Pending { out, seq: *seq });
        }
        let batch = pending.len().min(BATCH);
        let mut pipe = redis::pipe();
        for item in pending.iter().take(batch) {
            let (kind, payload): (u8, &[u8]) = match &item.out.frame {
                Frame::Text(text) => (wire::TEXT, text.as_bytes()),
                Frame::Binary(bytes) => (wire::BINARY, bytes),
                _ => (wire::BINARY, &[]),
            };
            let envelope = wire::encode(kind, node, item.seq, item.out.subject, payload);
            match (&item.out.to, resume) {
                (To::Room(room), Some(resume)) => {
                    let age = resume.max_age.map_or(0, |a| a.as_millis() as u64);
                    pipe.cmd("EVALSHA")
                        .arg(&scripts.store)
                        .arg(2)
                        .arg(ctl.keys.stream(room))
                        .arg(ctl.keys.room(room))
                        .arg(envelope)
                        .arg(resume.max_len)
                        .arg(age);
                }
                (To::Room(room), None) => {
                    pipe.cmd("PUBLISH").arg(ctl.keys.room(room)).arg(envelope);
                }
                (To::Session(id), _) => {
                    pipe.cmd("PUBLISH")
                        .arg(ctl.keys.node_channel(id.node))
                        .arg(envelope);
                }
                (To::All, _) => {
                    pipe.cmd("PUBLISH").arg(&ctl.keys.all).arg(envelope);
                }
            }
        }
        let replies = timed(ctl, "PUBLISH", pipe.query_async::<Vec<Value>>(&mut conn)).await;
        let Some(shared) = shared.upgrade() else {
            return Ended::RoomsGone;
        };
        match replies {
            Ok(replies) => {
                ctl.counters.sent.fetch_add(batch as u64, Ordering::Relaxed);
                let mut replies = replies.into_iter();
                for item in pending.drain(..batch) {
                    let reply = replies.next();
                    if item.out.deliver_local {
                        let id = reply
                            .and_then(|v| redis::from_redis_value::<String>(v).ok())
                            .and_then(|s| s.parse().ok());
                        shared.deliver_stored(
                            item.out.to.dest(),
                            item.out.subject,
                            &item.out.frame,
                            id,
                        );
                    }
                }
            }
            Err(ended) => {
                abandon(&shared, ctl, pending);
                return ended;
            }
        }
    }
}

/// Subscribes to the rooms with a local member and unsubscribes from the others.
async fn reconcile<T: Send + Sync + 'static>(
    shared: &Weak<Shared<T>>,
    sink: &mut PubSubSink,
    ctl: &Control,
    subscribed: &mut HashSet<Arc<str>>,
    cursors: &Cursors,
) -> Result<(), Ended> {
    let Some(shared) = shared.upgrade() else {
        return Err(Ended::RoomsGone);
    };
    let desired: HashSet<Arc<str>> = shared.room_names().into_iter().collect();
    drop(shared);
    let add: Vec<String> = desired
        .iter()
        .filter(|room| !subscribed.contains(*room))
        .map(|room| ctl.keys.room(room))
        .collect();
    let gone: Vec<Arc<str>> = subscribed
        .iter()
        .filter(|room| !desired.contains(*room))
        .cloned()
        .collect();
    if !add.is_empty() {
        timed(ctl, "SUBSCRIBE", sink.subscribe(add)).await?;
    }
    if !gone.is_empty() {
        let channels: Vec<String> = gone.iter().map(|room| ctl.keys.room(room)).collect();
        timed(ctl, "UNSUBSCRIBE", sink.unsubscribe(channels)).await?;
        let mut cursors = lock(cursors);
        for room in &gone {
            cursors.remove(&**room);
        }
    }
    *subscribed = desired;
    Ok(())
}

/// Renews this node and removes dead ones; true if this node had been removed.
async fn beat(
    ctl: &Control,
    conn: &mut MultiplexedConnection,
    scripts: &Scripts,
) -> Result<bool, Ended> {
    let ttl = ctl.options.heartbeat.as_millis() as u64 * 3;
    let (added, _removed): (u64, u64) = timed(
        ctl,
        "heartbeat",
        redis::cmd("EVALSHA")
            .arg(&scripts.heartbeat)
            .arg(1)
            .arg(&ctl.keys.nodes)
            .arg(format!("{:016x}", ctl.node))
            .arg(ttl)
            .arg(&ctl.keys.prefix)
            .query_async(conn),
    )
    .await?;
    Ok(added == 1)
}

fn event_json(ctl: &Control, op: &PresenceOp) -> String {
    serde_json::json!({
        "v": 1,
        "kind": if op.join { "join" } else { "leave" },
        "room": &*op.room,
        "id": op.id.to_string(),
        "node": format!("{:016x}", ctl.node),
        "meta": &*op.meta,
    })
    .to_string()
}

/// Writes the queued membership changes and publishes their events.
async fn flush_ops<T: Send + Sync + 'static>(
    shared: &Weak<Shared<T>>,
    ctl: &Control,
    conn: &mut MultiplexedConnection,
) -> Result<(), Ended> {
    let (ops, resync) = {
        let mut ops = lock(&ctl.ops);
        (
            std::mem::take(&mut ops.queue),
            std::mem::take(&mut ops.resync),
        )
    };
    if resync {
        resync_presence(shared, ctl, conn).await?;
    }
    if ops.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for op in &ops {
        let id = op.id.to_string();
        let member = format!("{}\n{id}", op.room);
        let hash = ctl.keys.hash(&op.room);
        if op.join {
            pipe.cmd("HSET").arg(&hash).arg(&id).arg(&*op.meta).ignore();
            pipe.cmd("SADD")
                .arg(&ctl.keys.members)
                .arg(&member)
                .ignore();
        } else {
            pipe.cmd("HDEL").arg(&hash).arg(&id).ignore();
            pipe.cmd("SREM")
                .arg(&ctl.keys.members)
                .arg(&member)
                .ignore();
        }
        pipe.cmd("PUBLISH")
            .arg(&ctl.keys.presence)
            .arg(event_json(ctl, op))
            .ignore();
    }
    timed(ctl, "presence", pipe.query_async::<()>(conn)).await
}

/// Makes Redis's presence of this node the local memberships: after a (re)connection,
/// or when changes overflowed.
async fn resync_presence<T: Send + Sync + 'static>(
    shared: &Weak<Shared<T>>,
    ctl: &Control,
    conn: &mut MultiplexedConnection,
) -> Result<(), Ended> {
    let registered: HashSet<String> = timed(
        ctl,
        "SMEMBERS",
        redis::cmd("SMEMBERS")
            .arg(&ctl.keys.members)
            .query_async(conn),
    )
    .await?;
    let Some(shared) = shared.upgrade() else {
        return Err(Ended::RoomsGone);
    };
    let memberships = shared.memberships();
    drop(shared);
    let mut pipe = redis::pipe();
    let mut wanted = HashSet::with_capacity(memberships.len());
    for (room, id, meta) in &memberships {
        let id = id.to_string();
        let member = format!("{room}\n{id}");
        pipe.cmd("HSET")
            .arg(ctl.keys.hash(room))
            .arg(&id)
            .arg(&**meta)
            .ignore();
        pipe.cmd("SADD")
            .arg(&ctl.keys.members)
            .arg(&member)
            .ignore();
        wanted.insert(member);
    }
    for stale in registered.difference(&wanted) {
        let Some((room, id)) = stale.split_once('\n') else {
            continue;
        };
        pipe.cmd("HDEL").arg(ctl.keys.hash(room)).arg(id).ignore();
        pipe.cmd("SREM").arg(&ctl.keys.members).arg(stale).ignore();
        if let Ok(id) = id.parse::<SessionId>() {
            let op = PresenceOp {
                join: false,
                room: room.into(),
                id,
                meta: "null".into(),
            };
            pipe.cmd("PUBLISH")
                .arg(&ctl.keys.presence)
                .arg(event_json(ctl, &op))
                .ignore();
        }
    }
    if memberships.is_empty() && registered.is_empty() {
        return Ok(());
    }
    timed(ctl, "presence resync", pipe.query_async::<()>(conn)).await
}

/// Resume: after a reconnection, delivers what each room's stream got from other nodes
/// since the last message this node saw in it.
async fn catch_up<T: Send + Sync + 'static>(
    shared: &Weak<Shared<T>>,
    ctl: &Control,
    conn: &mut MultiplexedConnection,
    cursors: &Cursors,
) -> Result<(), Ended> {
    let Some(resume) = ctl.resume() else {
        return Ok(());
    };
    let starts: Vec<(Box<str>, MessageId)> = lock(cursors)
        .iter()
        .filter_map(|(room, cursor)| Some((room.clone(), cursor.last?)))
        .collect();
    for (room, last) in starts {
        let reply: redis::streams::StreamRangeReply = timed(
            ctl,
            "XRANGE",
            redis::cmd("XRANGE")
                .arg(ctl.keys.stream(&room))
                .arg(format!("({last}"))
                .arg("+")
                .arg("COUNT")
                .arg(resume.max_len)
                .query_async(conn),
        )
        .await?;
        let Some(shared) = shared.upgrade() else {
            return Err(Ended::RoomsGone);
        };
        for entry in &reply.ids {
            let (Ok(id), Some(Value::BulkString(bytes))) =
                (entry.id.parse::<MessageId>(), entry.map.get("e"))
            else {
                continue;
            };
            if let Some(env) = wire::decode(bytes) {
                room_message(&shared, ctl, cursors, &room, &env, Some(id));
            }
        }
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct WireEvent {
    v: u32,
    kind: String,
    room: String,
    id: String,
    node: String,
    #[serde(default)]
    meta: serde_json::Value,
}

/// A message from pub/sub.
fn on_message<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    ctl: &Control,
    cursors: &Cursors,
    channel: &str,
    payload: &[u8],
) {
    let keys = &ctl.keys;
    if channel == keys.presence {
        let Ok(event) = serde_json::from_slice::<WireEvent>(payload) else {
            ctl.counters.invalid.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let from_here = u64::from_str_radix(&event.node, 16) == Ok(ctl.node);
        let (Ok(id), 1, false) = (event.id.parse::<SessionId>(), event.v, from_here) else {
            return;
        };
        let kind = match event.kind.as_str() {
            "join" => PresenceKind::Join,
            "leave" => PresenceKind::Leave,
            _ => return,
        };
        // The metadata travels as JSON text.
        let meta = match event.meta {
            serde_json::Value::String(text) => serde_json::from_str(&text).unwrap_or_default(),
            other => other,
        };
        shared.emit(PresenceEvent {
            kind,
            room: event.room.into(),
            id,
            meta,
        });
        return;
    }
    let Some(env) = wire::decode(payload) else {
        ctl.counters.invalid.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if let Some(room) = channel.strip_prefix(&keys.room_prefix) {
        room_message(shared, ctl, cursors, room, &env, env.id);
        return;
    }
    if env.origin == ctl.node {
        return;
    }
    let Some(frame) = frame_of(&env) else {
        ctl.counters.invalid.fetch_add(1, Ordering::Relaxed);
        return;
    };
    ctl.counters.received.fetch_add(1, Ordering::Relaxed);
    if channel == keys.all {
        shared.deliver(Dest::All, env.subject, &frame, None);
    } else if channel == keys.node
        && let Some(target) = env.subject
    {
        shared.deliver(Dest::Session(target), None, &frame, None);
    }
}

/// A room message from pub/sub or a catch-up: skipped if from this node or (resume)
/// already delivered, else stamped and delivered.
fn room_message<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    ctl: &Control,
    cursors: &Cursors,
    room: &str,
    env: &Envelope<'_>,
    id: Option<MessageId>,
) {
    if ctl.resume().is_some()
        && let Some(id) = id
    {
        let mut cursors = lock(cursors);
        let cursor = match cursors.get_mut(room) {
            Some(cursor) => cursor,
            None => cursors.entry(room.into()).or_default(),
        };
        if cursor.last.is_none_or(|last| id > last) {
            cursor.last = Some(id);
        }
        if env.origin != ctl.node {
            let seen = cursor.origins.entry(env.origin).or_insert(0);
            if env.seq <= *seen {
                return;
            }
            *seen = env.seq;
        }
    }
    if env.origin == ctl.node {
        return;
    }
    let Some(frame) = frame_of(env) else {
        ctl.counters.invalid.fetch_add(1, Ordering::Relaxed);
        return;
    };
    ctl.counters.received.fetch_add(1, Ordering::Relaxed);
    shared.deliver_stored(Dest::Room(room), env.subject, &frame, id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_within_bounds() {
        let (min, max) = (Duration::from_millis(50), Duration::from_secs(2));
        let mut backoff = Backoff::new(min, max, 12345);
        let mut step = min;
        for _ in 0..12 {
            let delay = backoff.delay();
            assert!(
                delay >= step / 2 && delay <= step,
                "{delay:?} for a step of {step:?}"
            );
            step = (step * 2).min(max);
        }
        backoff.reset();
        assert!(backoff.delay() <= min);
        let delays: HashSet<Duration> = (0..8).map(|_| backoff.delay()).collect();
        assert!(delays.len() > 1, "jittered");
    }

    #[test]
    fn the_logged_url_has_no_credentials() {
        assert_eq!(
            shown_url("redis://user:secret@10.0.0.1:6379/0"),
            "redis://10.0.0.1:6379/0"
        );
        assert_eq!(
            shown_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}
