//! The client: Ktor's `HttpClient { install(WebSockets) }` and `client.webSocket(url) { }`,
//! with the server's session type.
//!
//! A [`Client`] holds the plugin's options (the same [`WebSocketOptions`] a server
//! installs, `install!` included) and, for `wss://`, its TLS settings. Each
//! connection opens with [`Client::web_socket`] (the handler runs in the caller's
//! task, as a server's handler runs in its connection's task, and its value comes
//! back), [`Client::connect`] (the session is handed over; its engine runs in a task of
//! its own) or [`Client::web_socket_reconnecting`] (the handler again for each new
//! session, with a jittered backoff between them).
//!
//! The connection runs on the same engine and protocol core as a server's session, in
//! the client role: frames are masked with a fresh key each (RFC 6455 §5.3), frames
//! from the server must not be masked, and everything else a server checks (UTF-8,
//! sizes, inflated sizes, RSV bits, control frames) is checked the same way, with the
//! same close codes.
//!
//! ```
//! use ws::client::Client;
//! use ws::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
//! # let server = embedded_server!(host = "127.0.0.1", port = 0, |app| {
//! #     app.route(ws::Route::new("/echo", |s: WebSocketSession| async move {
//! #         while let Some(f) = s.incoming.recv().await { s.send(f).await?; }
//! #         Ok::<(), ws::Error>(())
//! #     }));
//! # }).bind().await?;
//! # let url = format!("ws://{}/echo", server.local_addr());
//! let mut client = Client::new();
//! install!(client, WebSockets { ping_period = 15s, extensions { Deflate } });
//! let reply = client
//!     .web_socket(url.as_str(), |session| async move {
//!         session.send("hello").await?;
//!         let reply = session.incoming.recv().await;
//!         session.close(CloseReason::new(Codes::NORMAL, "done")).await?;
//!         Ok::<_, ws::Error>(reply)
//!     })
//!     .await?;
//! assert_eq!(reply, Some(Frame::text("hello")));
//! # server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod error;
pub(crate) mod handshake;
mod reconnect;
mod request;
#[cfg(feature = "tls")]
mod tls;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tracing::Instrument;

use crate::driver::{Connection, HandlerFuture, Settings};
use crate::error::HandlerError;
use crate::frame::{CloseCode, CloseReason};
use crate::options::{OptionsError, WebSocketOptions};
use crate::protocol::{Role, Stage};
use crate::session::{Chan, Incoming, Limits, Outgoing, RequestInfo, WebSocketSession, WireClass};
use crate::transport::Transport;

pub use error::{ClientError, HandshakeError, HandshakeFailure};
pub use reconnect::{Reconnect, ReconnectAttempt, ReconnectCause};
pub use request::ClientRequest;
#[cfg(feature = "tls")]
pub use tls::ClientTls;

pub(crate) use request::Target;

/// A WebSocket client (Ktor's `HttpClient` with the `WebSockets` plugin installed).
///
/// Configure it like an [`Application`](crate::Application): `install!(client,
/// WebSockets { .. })` (or [`install`](Self::install) with [`WebSocketOptions`]) and,
/// for `wss://`, [`tls`](Self::tls). Every connection it opens uses those settings; a
/// `Client` is cheap to share by reference, and each call opens its own connection.
///
/// Of the options, a client uses `ping_period` and `timeout` (its pings, the pong
/// deadline, the close handshake), `max_frame_size` / `max_message_size` (1009 past
/// them), the queue bounds, `idle_timeout` (1001 "Idle timeout"),
/// `max_messages_per_second`, `handshake_timeout` (for the TCP connection, TLS and the
/// 101 together), the buffer sizes, `content_converter`, and `extensions`
/// ([`Deflate`](crate::extension::Deflate) is offered; see its docs). `masking` and
/// `allowed_origins` are a server's: a client always masks its frames.
pub struct Client {
    options: WebSocketOptions,
    options_error: Option<OptionsError>,
    limits: Arc<Limits>,
    #[cfg(feature = "tls")]
    tls: tls::TlsSetup,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What a client handler may return: `()`, or `Result<T, E>` for any `E` a
/// `Box<dyn Error>` is made from; `T` is what [`Client::web_socket`] gives back.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type of a WebSocket client handler",
    label = "return `()` or `Result<T, E>` where `E` is an error type",
    note = "a client handler returns `()` or `Result<T, E>` for any `E` that converts into `Box<dyn std::error::Error + Send + Sync>`; `T` comes back from `web_socket`"
)]
pub trait HandlerOutput: Send + 'static {
    /// What the handler's success gives back.
    type Value: Send + 'static;
    /// The value, or the handler's error.
    fn into_value(self) -> Result<Self::Value, HandlerError>;
}

impl HandlerOutput for () {
    type Value = ();
    fn into_value(self) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl<T, E> HandlerOutput for Result<T, E>
where
    T: Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Value = T;
    fn into_value(self) -> Result<T, HandlerError> {
        self.map_err(HandlerError::new)
    }
}

/// How a handler ended.
enum Outcome<V> {
    Value(V),
    /// It returned an error; `first`: while the connection was still open (it closed
    /// the session with 1011), not because the connection had ended.
    Failed {
        error: HandlerError,
        first: bool,
    },
    Panicked(Box<dyn std::any::Any + Send>),
}

/// A session that ran to its end: how its handler ended, and why the session closed.
struct Ended<V> {
    outcome: Outcome<V>,
    close: Option<CloseReason>,
}

/// A handshake done: the transport and what the session is made of.
pub(crate) struct Established<T> {
    pub(crate) io: T,
    pub(crate) leftover: Vec<u8>,
    pub(crate) info: RequestInfo,
    pub(crate) stage: Option<Box<Stage>>,
    pub(crate) raw: bool,
}

impl Client {
    /// A client with the default options (Ktor's defaults, as a server's) and, for
    /// `wss://`, Mozilla's root certificates (`webpki-roots`).
    pub fn new() -> Self {
        let options = WebSocketOptions::new();
        Self {
            limits: Arc::new(Limits::from_options(&options)),
            options,
            options_error: None,
            #[cfg(feature = "tls")]
            tls: tls::TlsSetup::default(),
        }
    }

    /// A client configured by `configure` (Ktor's `HttpClient { install(WebSockets) {
    /// .. } }`): `Client::configure(|client| { install!(client, WebSockets { .. }); })`.
    pub fn configure(configure: impl FnOnce(&mut Client)) -> Self {
        let mut client = Self::new();
        configure(&mut client);
        client
    }

    /// Installs the WebSockets plugin with these options (what `install!(client,
    /// WebSockets { .. })` calls). Options that cannot work (a zero timeout, say) make
    /// every connection fail with [`ClientError::Options`].
    pub fn install(&mut self, options: WebSocketOptions) -> &mut Self {
        // `masking` is a server's question: a client masks whatever it says.
        let mut check = options.clone();
        check.masking = false;
        self.options_error = check.validate().err();
        self.limits = Arc::new(Limits::from_options(&options));
        self.options = options;
        self
    }

    /// The TLS settings of `wss://` connections (by default Mozilla's roots, no client
    /// certificate).
    #[cfg(feature = "tls")]
    pub fn tls(&mut self, tls: ClientTls) -> &mut Self {
        self.tls = tls::TlsSetup::new(tls);
        self
    }

    /// The options in effect.
    pub fn options(&self) -> &WebSocketOptions {
        &self.options
    }

    /// Opens a session and runs `handler` on it in this task (Ktor's
    /// `client.webSocket(url) { .. }`), until the handler has returned and the
    /// connection has closed. The session closes when the handler returns, with 1000
    /// (or 1011 if it returned an error), as a server's does.
    ///
    /// Returns the handler's value; its error as [`ClientError::Handler`]; a failure to
    /// connect as the other [`ClientError`]s. A handler that panics panics here.
    ///
    /// Inside a closure, frames are received with `while let Some(frame) =
    /// session.incoming.recv().await`; a function marked
    /// [`#[web_socket_client]`](https://docs.rs/ws/latest/ws/attr.web_socket_client.html)
    /// may write `for frame in session.incoming`, as a handler does.
    pub async fn web_socket<F, Fut>(
        &self,
        request: impl Into<ClientRequest>,
        handler: F,
    ) -> Result<<Fut::Output as HandlerOutput>::Value, ClientError>
    where
        F: FnOnce(WebSocketSession) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        let established = self.open(&request.into()).await?;
        let ended = self.run(established, handler).await;
        finish(ended)
    }

    /// Opens a session and hands it over (Ktor's `client.webSocketSession(url)`): its
    /// engine runs in a task of its own, so the session can be used from anywhere.
    /// Dropping the session closes it with 1000, as a handler's return does; `close`
    /// closes it with a reason of your choice.
    pub async fn connect(
        &self,
        request: impl Into<ClientRequest>,
    ) -> Result<WebSocketSession, ClientError> {
        let established = self.open(&request.into()).await?;
        Ok(self.spawn(established))
    }

    /// Runs `handler` on a session, and again on a new one each time a session ends
    /// for a reason worth reconnecting for, waiting a jittered, growing delay before
    /// each new attempt (see [`Reconnect`], which also holds the hook called on each
    /// reconnect).
    ///
    /// A session reconnects when the connection was lost (no close frame), or the
    /// close code says the server went away or may be back: 1001 (going away), 1006,
    /// 1011 (an internal error, or our ping timeout), 1012 (restart), 1013 (try again
    /// later), 1014. Any other end (a normal 1000 close, from either side, above all)
    /// returns what that session's handler returned; a handler error while the
    /// connection was up returns at once as [`ClientError::Handler`]. A connection that
    /// cannot be made is retried when the failure may pass (I/O errors, timeouts, a
    /// server that closes before answering, a 5xx, 408 or 429 answer) up to
    /// [`Reconnect::max_attempts`] times in a row; other failures (a 4xx, a bad
    /// handshake, TLS) return at once.
    pub async fn web_socket_reconnecting<F, Fut>(
        &self,
        request: impl Into<ClientRequest>,
        mut reconnect: Reconnect,
        mut handler: F,
    ) -> Result<<Fut::Output as HandlerOutput>::Value, ClientError>
    where
        F: FnMut(WebSocketSession) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        let request = request.into();
        let mut attempt = 0u32;
        let mut jitter = reconnect::Jitter::new();
        loop {
            let cause = match self.open(&request).await {
                Err(e) if reconnect::retryable(&e) => Err(e),
                Err(e) => return Err(e),
                Ok(established) => {
                    attempt = 0;
                    let ended = self.run(established, &mut handler).await;
                    let again = reconnect::reconnects(ended.close.as_ref());
                    match ended.outcome {
                        Outcome::Failed { first: true, .. } => return finish(ended),
                        _ if !again => return finish(ended),
                        _ => Ok(ended),
                    }
                }
            };
            attempt += 1;
            if reconnect.max_attempts.is_some_and(|max| attempt > max) {
                return match cause {
                    Err(e) => Err(e),
                    Ok(ended) => finish(ended),
                };
            }
            let delay = reconnect.delay(attempt, &mut jitter);
            if let Some(hook) = reconnect.hook.as_mut() {
                let cause = match &cause {
                    Err(e) => ReconnectCause::Failed(e),
                    Ok(ended) => ReconnectCause::Closed(ended.close.as_ref()),
                };
                hook(&ReconnectAttempt {
                    attempt,
                    delay,
                    cause,
                });
            }
            if let Ok(Ended {
                outcome: Outcome::Panicked(panic),
                ..
            }) = cause
            {
                std::panic::resume_unwind(panic);
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// Connects and runs the handshake, under `handshake_timeout`.
    async fn open(&self, request: &ClientRequest) -> Result<Established<Stream>, ClientError> {
        if let Some(e) = &self.options_error {
            return Err(ClientError::Options(e.clone()));
        }
        let target = Target::parse(request.url())?;
        request.check()?;
        let timeout = self.options.handshake_timeout;
        let connecting = async {
            let tcp = TcpStream::connect((target.connect_host(), target.port)).await?;
            let _ = tcp.set_nodelay(true);
            let peer = tcp.peer_addr()?;
            let stream = if target.secure {
                self.secure(tcp, &target).await?
            } else {
                Stream::Plain(tcp)
            };
            handshake::run(stream, peer, &target, request, &self.options).await
        };
        tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
    }

    #[cfg(feature = "tls")]
    async fn secure(&self, tcp: TcpStream, target: &Target) -> Result<Stream, ClientError> {
        let stream = self.tls.connect(tcp, target.connect_host()).await?;
        Ok(Stream::Tls(Box::new(stream)))
    }

    #[cfg(not(feature = "tls"))]
    async fn secure(&self, _tcp: TcpStream, target: &Target) -> Result<Stream, ClientError> {
        Err(ClientError::InvalidUrl {
            url: target.uri.to_string(),
            reason: "`wss://` needs the `tls` feature of `ws`".into(),
        })
    }

    /// Runs the handshake over a transport of the caller's (the test host's in-memory
    /// one), under `handshake_timeout`.
    pub(crate) async fn open_over<T: Transport>(
        &self,
        io: T,
        peer: SocketAddr,
        request: &ClientRequest,
    ) -> Result<Established<T>, ClientError> {
        if let Some(e) = &self.options_error {
            return Err(ClientError::Options(e.clone()));
        }
        let target = Target::parse(request.url())?;
        request.check()?;
        let timeout = self.options.handshake_timeout;
        tokio::time::timeout(
            timeout,
            handshake::run(io, peer, &target, request, &self.options),
        )
        .await
        .map_err(|_| ClientError::Timeout(timeout))?
    }

    /// Runs `handler` on an established session in this task; what it gives back.
    pub(crate) async fn run_to_end<T, F, Fut>(
        &self,
        established: Established<T>,
        handler: F,
    ) -> Result<<Fut::Output as HandlerOutput>::Value, ClientError>
    where
        T: Transport,
        F: FnOnce(WebSocketSession) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        finish(self.run(established, handler).await)
    }

    /// Runs `handler` on the session in this task until both are done.
    async fn run<T, F, Fut>(
        &self,
        established: Established<T>,
        handler: F,
    ) -> Ended<<Fut::Output as HandlerOutput>::Value>
    where
        T: Transport,
        F: FnOnce(WebSocketSession) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        let slot = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let mut chan_out = None;
        let engine = self.engine(established, None, |session, chan| {
            chan_out = Some(chan.clone());
            let running = AssertUnwindSafe(handler(session)).catch_unwind();
            Box::pin(async move {
                let outcome = match running.await {
                    Ok(output) => match output.into_value() {
                        Ok(value) => Outcome::Value(value),
                        Err(error) => {
                            let first = chan.known_reason().is_none();
                            chan.request_close(internal_error());
                            Outcome::Failed { error, first }
                        }
                    },
                    Err(panic) => {
                        chan.request_close(internal_error());
                        Outcome::Panicked(panic)
                    }
                };
                *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
                Ok(())
            })
        });
        engine.await;
        let close = chan_out.and_then(|chan| chan.known_reason());
        let outcome = slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("the engine ends after its handler");
        Ended { outcome, close }
    }

    /// Starts the session's engine in a task of its own; the session ends its handler
    /// when dropped.
    pub(crate) fn spawn<T: Transport>(&self, established: Established<T>) -> WebSocketSession {
        let (owner, dropped) = tokio::sync::oneshot::channel::<()>();
        let mut handed = None;
        let engine = self.engine(established, Some(owner), |session, _| {
            handed = Some(session);
            Box::pin(async move {
                let _ = dropped.await;
                Ok(())
            })
        });
        tokio::spawn(engine);
        handed.expect("the engine was given its session")
    }

    /// The engine of one session (and its idle watch), with the handler `start` makes.
    fn engine<T: Transport>(
        &self,
        established: Established<T>,
        owner: Option<tokio::sync::oneshot::Sender<()>>,
        start: impl FnOnce(WebSocketSession, Arc<Chan>) -> HandlerFuture,
    ) -> impl Future<Output = ()> + Send + 'static {
        let Established {
            io,
            leftover,
            info,
            stage,
            raw,
        } = established;
        // What a client's log lines say about their session (at `debug`, as they are).
        let span = tracing::debug_span!("client_session", url = %info.request.uri());
        // Broadcasts must not hand a client session a server's unmasked frame.
        let (chan, engine) = Chan::new(self.limits.clone(), WireClass::Own);
        let info = Arc::new(info);
        let (incoming, outgoing) = (Incoming::new(chan.clone()), Outgoing::new(chan.clone()));
        let session = match owner {
            None => WebSocketSession::from_parts(incoming, outgoing, info),
            Some(owner) => WebSocketSession::owned(incoming, outgoing, info, owner),
        };
        let handler = start(session, chan.clone());
        let options = &self.options;
        let settings = Settings {
            role: Role::Client,
            raw,
            limit: options.message_limit(),
            timeout: options.timeout,
            ping_period: options.ping_period.filter(|_| !raw),
            write_buffer_size: options.write_buffer_size.max(1),
            read_buffer_size: options.read_buffer_size,
            max_messages_per_second: options.max_messages_per_second,
        };
        let connection = Connection::new(io, leftover, engine, settings, stage, handler);
        let idle = options.idle_timeout.map(|idle| idle_watch(chan, idle));
        async move {
            let mut connection = pin!(connection);
            if let Some(idle) = idle {
                tokio::select! {
                    () = &mut connection => return,
                    () = idle => {}
                }
            }
            connection.await;
        }
        .instrument(span)
    }
}

fn internal_error() -> CloseReason {
    CloseReason::new(CloseCode::INTERNAL_ERROR, "Internal error")
}

/// What a finished session gives back to the caller.
fn finish<V>(ended: Ended<V>) -> Result<V, ClientError> {
    match ended.outcome {
        Outcome::Value(value) => Ok(value),
        Outcome::Failed { error, .. } => Err(ClientError::Handler(error)),
        Outcome::Panicked(panic) => std::panic::resume_unwind(panic),
    }
}

/// Closes a session that moved no frame either way for `idle` (1001 "Idle timeout"),
/// checking a few times per period as the server's sweep does.
async fn idle_watch(chan: Arc<Chan>, idle: Duration) {
    let tick = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let sweeps = idle.as_nanos().div_ceil(tick.as_nanos()).max(1);
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut quiet = 0;
    loop {
        interval.tick().await;
        if chan.take_active() {
            quiet = 0;
            continue;
        }
        quiet += 1;
        if quiet == sweeps {
            chan.request_close(CloseReason::new(CloseCode::GOING_AWAY, "Idle timeout"));
            return;
        }
    }
}

/// What a client connection runs over: TCP, or TLS over TCP.
pub(crate) enum Stream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => Pin::new(&mut **tls).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => Pin::new(&mut **tls).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => Pin::new(&mut **tls).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(tcp) => tcp.is_write_vectored(),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => Pin::new(&mut **tls).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => Pin::new(&mut **tls).poll_shutdown(cx),
        }
    }
}
