//! Who gets in: the server-wide limits checked when a connection is accepted, the
//! answer to a connection over a limit, and what an accepted socket is set up with.
//!
//! - [`ServerLimits`]: at most `max_connections` connections (HTTP and WebSocket), at
//!   most `max_connections_per_ip` from one address, at most `max_handshakes` still in
//!   their HTTP phase (not yet upgraded or answered), and TCP keepalive.
//! - Over a limit, the connection is answered `503 Service Unavailable` with a
//!   `Retry-After` header and closed, before any request is read or any session is
//!   started; the sessions already running are not affected. Refusals are cheap and
//!   themselves bounded: past [`REFUSALS_MAX`] at once, an over-limit connection is
//!   just closed.
//! - [`Ticket`]: an admitted connection's place in the counts, given back when dropped
//!   (however the connection ends, panics included).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Refusals answered at once, at most; past that an over-limit connection is closed
/// without an answer.
pub(crate) const REFUSALS_MAX: usize = 256;

/// Server-wide limits (set with `EmbeddedServer`'s builder or `embedded_server!` keys).
///
/// | limit | default | over it |
/// |---|---|---|
/// | `max_connections` | 10,000 | 503 + `Retry-After` |
/// | `max_connections_per_ip` | no limit of its own (behind a proxy every client has the proxy's address) | 503 + `Retry-After` |
/// | `max_handshakes` (connections not yet upgraded) | 1,024 | 503 + `Retry-After` |
/// | `tcp_keepalive` | 60 s | the kernel drops a peer that stopped answering |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerLimits {
    /// Open connections, HTTP and WebSocket.
    pub max_connections: usize,
    /// Open connections from one peer address.
    pub max_connections_per_ip: usize,
    /// Connections in their HTTP phase: accepted, not yet upgraded or done.
    pub max_handshakes: usize,
    /// TCP keepalive idle time for accepted sockets (`None`: off).
    pub tcp_keepalive: Option<Duration>,
    /// What `Retry-After` tells a refused client.
    pub retry_after: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_connections_per_ip: usize::MAX,
            max_handshakes: 1_024,
            tcp_keepalive: Some(Duration::from_secs(60)),
            retry_after: Duration::from_secs(5),
        }
    }
}

/// The counts the limits are checked against.
pub(crate) struct Admission {
    pub(crate) limits: ServerLimits,
    connections: AtomicUsize,
    handshakes: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    refusing: AtomicUsize,
    /// Notified when the last connection ends (graceful shutdown waits for it).
    pub(crate) idle: Notify,
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Connections,
    PerIp,
    Handshakes,
}

impl Refusal {
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::Connections => "the server has as many connections as it takes",
            Refusal::PerIp => "too many connections from your address",
            Refusal::Handshakes => "too many handshakes in progress",
        }
    }
}

impl Admission {
    pub(crate) fn new(limits: ServerLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            connections: AtomicUsize::new(0),
            handshakes: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            refusing: AtomicUsize::new(0),
            idle: Notify::new(),
        })
    }

    /// Open connections.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Admits a connection from `ip`, or says which limit it is over. `None` for a
    /// peer that is not counted by its address (a trusted proxy: its clients are
    /// counted by theirs once known, [`Admission::charge`]).
    pub(crate) fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Ticket, Refusal> {
        let limits = &self.limits;
        if self.connections.fetch_add(1, Ordering::SeqCst) >= limits.max_connections {
            self.connections.fetch_sub(1, Ordering::SeqCst);
            return Err(Refusal::Connections);
        }
        if self.handshakes.fetch_add(1, Ordering::SeqCst) >= limits.max_handshakes {
            self.handshakes.fetch_sub(1, Ordering::SeqCst);
            self.release_connection();
            return Err(Refusal::Handshakes);
        }
        if let Some(ip) = ip
            && !self.count_ip(ip)
        {
            self.handshakes.fetch_sub(1, Ordering::SeqCst);
            self.release_connection();
            return Err(Refusal::PerIp);
        }
        Ok(Ticket {
            admission: self.clone(),
            ip,
            handshaking: true,
        })
    }

    /// Counts one more connection from `ip`, if that stays within the limit.
    fn count_ip(&self, ip: IpAddr) -> bool {
        if self.limits.max_connections_per_ip == usize::MAX {
            return true;
        }
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= self.limits.max_connections_per_ip {
            return false;
        }
        *count += 1;
        true
    }

    fn uncount_ip(&self, ip: IpAddr) {
        if self.limits.max_connections_per_ip == usize::MAX {
            return;
        }
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_ip.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&ip);
            }
        }
    }

    /// Counts a client behind a proxy by its own address, for as long as the returned
    /// charge lives; `None` when that address is at its limit.
    pub(crate) fn charge(self: &Arc<Self>, ip: IpAddr) -> Option<IpCharge> {
        self.count_ip(ip).then(|| IpCharge {
            admission: self.clone(),
            ip,
        })
    }

    fn release_connection(&self) {
        if self.connections.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Answers an over-limit connection with 503 and closes it, in a task of its own
    /// (or closes it at once when too many refusals are in flight).
    pub(crate) fn refuse(self: &Arc<Self>, mut tcp: TcpStream, why: Refusal) {
        if self.refusing.fetch_add(1, Ordering::SeqCst) >= REFUSALS_MAX {
            self.refusing.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let admission = self.clone();
        let retry_after = self.limits.retry_after.as_secs().max(1);
        tokio::spawn(async move {
            let body = why.message();
            let response = format!(
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {retry_after}\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
                body.len() + 1
            );
            // Answer, half-close, and read what the client sent (its request) so that
            // closing does not reset the connection before it reads the answer.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                tcp.write_all(response.as_bytes()).await?;
                tcp.shutdown().await?;
                let mut sink = [0u8; 1024];
                let mut left: usize = 64 * 1024;
                while left > 0 {
                    match tcp.read(&mut sink).await? {
                        0 => break,
                        n => left = left.saturating_sub(n),
                    }
                }
                Ok::<(), std::io::Error>(())
            })
            .await;
            admission.refusing.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Sets up an accepted socket: no Nagle delay, keepalive as configured.
    pub(crate) fn configure(&self, tcp: &TcpStream) {
        let _ = tcp.set_nodelay(true);
        if let Some(idle) = self.limits.tcp_keepalive {
            let keepalive = socket2::TcpKeepalive::new()
                .with_time(idle)
                .with_interval(idle.div_f32(4.0).max(Duration::from_secs(1)));
            let _ = socket2::SockRef::from(tcp).set_tcp_keepalive(&keepalive);
        }
    }
}

/// An admitted connection's place in the counts; given back when dropped.
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    /// The address the connection is counted under, if any.
    ip: Option<IpAddr>,
    handshaking: bool,
}

impl Ticket {
    /// The HTTP phase is over (upgraded, or the connection is closing): the connection
    /// no longer counts as a handshake in progress.
    pub(crate) fn handshake_done(&mut self) {
        if std::mem::take(&mut self.handshaking) {
            self.admission.handshakes.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Counts the connection under `ip` from now on (the client's address a PROXY
    /// protocol header gave); `false` when that address is at its limit.
    pub(crate) fn count_as(&mut self, ip: IpAddr) -> bool {
        if let Some(old) = self.ip.take() {
            self.admission.uncount_ip(old);
        }
        if !self.admission.count_ip(ip) {
            return false;
        }
        self.ip = Some(ip);
        true
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.handshake_done();
        if let Some(ip) = self.ip {
            self.admission.uncount_ip(ip);
        }
        self.admission.release_connection();
    }
}

/// A proxied client's place in the per-address count (see [`Admission::charge`]).
pub(crate) struct IpCharge {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Drop for IpCharge {
    fn drop(&mut self) {
        self.admission.uncount_ip(self.ip);
    }
}
