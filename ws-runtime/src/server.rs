//! The embedded server: `embedded_server!(port = 8080, |app| { ... }).start().await`.
//!
//! [`EmbeddedServer`] holds the configuration; [`Application`] is what the `|app|` block
//! configures (Ktor's `Application`): the WebSockets plugin options, the routes, shared
//! state and plain HTTP endpoints. [`EmbeddedServer::bind`] checks everything, binds the
//! listener and starts accepting; [`EmbeddedServer::start`] also waits for Ctrl-C or
//! SIGTERM and shuts down gracefully: stop accepting, send 1001 `GOING_AWAY` to every
//! session, wait for the close handshakes up to a grace period.

use std::collections::HashMap;
use std::future::Future;
#[cfg(feature = "tls")]
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Method;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admission::{Admission, IpCharge, Refusal, ServerLimits, Ticket};
use crate::driver::{Connection, Settings};
use crate::extension::SessionExtension;
use crate::extract::{SessionParts, StartupContext, StateMap};
use crate::frame::{CloseCode, CloseReason};
use crate::guard::{Guard, SharedGuard};
use crate::handshake::{PendingUpgrade, Service, SessionSetup, UpgradeSlot};
use crate::http_route::{HttpRequest, HttpResponse, HttpRoute};
use crate::options::WebSocketOptions;
use crate::protocol::Stage;
use crate::proxy::{TrustedProxies, read_proxy_header};
use crate::router::AppInner;
use crate::routing::Route;
use crate::security::OriginCheck;
use crate::session::{Chan, Limits, WireClass};
use crate::startup::{ConfigError, ServerError};
use crate::telemetry::ServerTelemetry;
use crate::transport::Transport;

/// What the `|app| { ... }` block of `embedded_server!` configures (Ktor's
/// `Application`): plugin options, routes, state and plain HTTP endpoints.
#[derive(Default)]
pub struct Application {
    options: WebSocketOptions,
    installed: bool,
    routes: Vec<Route>,
    http_routes: Vec<HttpRoute>,
    state: StateMap,
    guards: Vec<SharedGuard>,
    errors: Vec<ConfigError>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("options", &self.options)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// An application with default options and no routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs the WebSockets plugin with these options (Ktor's
    /// `install(WebSockets) { ... }`). Installing twice is a start-up error.
    pub fn install(&mut self, options: WebSocketOptions) -> &mut Self {
        if self.installed {
            self.errors.push(ConfigError::InstalledTwice);
        }
        self.installed = true;
        self.options = options;
        self
    }

    /// Adds a route: a WebSocket [`Route`] or an [`HttpRoute`] (what
    /// `routing!(app, handler)` calls, for `#[web_socket]` and `#[get]` handlers alike).
    pub fn route(&mut self, route: impl Routable) -> &mut Self {
        route.add_to(self);
        self
    }

    /// Adds a guard to every WebSocket route of the application (those added before
    /// this call and after): it runs before each route's own guards. See
    /// [`Guard`](crate::Guard).
    pub fn guard(&mut self, guard: impl Guard) -> &mut Self {
        self.guards.push(SharedGuard::new(guard));
        self
    }

    /// Installs shared state, reachable from handlers as `State<T>`.
    pub fn state<T: Send + Sync + 'static>(&mut self, value: T) -> &mut Self {
        self.state.insert(Arc::new(value));
        self
    }

    /// Installs shared state already in an `Arc`.
    pub fn state_arc<T: Send + Sync + 'static>(&mut self, value: Arc<T>) -> &mut Self {
        self.state.insert(value);
        self
    }

    /// Serves a plain HTTP `GET` endpoint (a page, a health check) with a closure of
    /// the request head. A handler that takes extractors (`State<T>`, `Path<T>`,
    /// `Json<T>`, ...) is a `#[get("/path")]` function, added with `routing!`.
    #[track_caller]
    pub fn get<F, Fut>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HttpResponse> + Send + 'static,
    {
        self.http(Method::GET, path, handler)
    }

    /// Serves a plain HTTP endpoint for any method, with a closure of the request head.
    #[track_caller]
    pub fn http<F, Fut>(&mut self, method: Method, path: &str, handler: F) -> &mut Self
    where
        F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HttpResponse> + Send + 'static,
    {
        self.http_routes.push(HttpRoute::new(method, path, handler));
        self
    }

    /// A configuration error found while configuring, reported at start-up.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn config_error(&mut self, error: ConfigError) {
        self.errors.push(error);
    }

    /// The plugin options in effect.
    pub fn options(&self) -> &WebSocketOptions {
        &self.options
    }

    /// The WebSocket routes added so far.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Runs a route's start-up checks (its extractors' needs: state, path parameters,
    /// principals), each failure an error at `at`.
    fn run_checks(
        &self,
        checks: &[crate::extract::StartupCheck],
        pattern: &crate::path::PathPattern,
        principals: &[(std::any::TypeId, &'static str)],
        at: &str,
        errors: &mut Vec<ConfigError>,
    ) {
        let ctx = StartupContext {
            state: &self.state,
            pattern,
            principals,
        };
        for check in checks {
            if let Err(message) = check(&ctx) {
                errors.push(ConfigError::Handler {
                    handler: at.to_owned(),
                    message,
                });
            }
        }
    }

    /// Every configuration error, checked when the server starts.
    fn check(&self) -> Vec<ConfigError> {
        let mut errors = self.errors.clone();
        if let Err(e) = self.options.validate() {
            errors.push(ConfigError::Options(e));
        }
        for route in &self.routes {
            let at = format!("`{}` ({})", route.name, route.location);
            if let Some(e) = &route.path_error {
                errors.push(ConfigError::InvalidPath {
                    handler: at,
                    error: e.clone(),
                });
                continue;
            }
            let principals: Vec<_> = self
                .guards
                .iter()
                .chain(&route.guards)
                .map(|g| g.0.principal())
                .collect();
            self.run_checks(&route.checks, &route.pattern, &principals, &at, &mut errors);
        }
        for route in &self.http_routes {
            let at = format!("`{}` ({})", route.name, route.location);
            if let Some(e) = &route.path_error {
                errors.push(ConfigError::InvalidHttpPath {
                    at: at.clone(),
                    error: e.clone(),
                });
                continue;
            }
            let principals: Vec<_> = route.guards.iter().map(|g| g.0.principal()).collect();
            self.run_checks(&route.checks, &route.pattern, &principals, &at, &mut errors);
        }
        errors.extend(crate::router::duplicate_routes(&self.routes));
        errors.extend(crate::router::duplicate_http_routes(&self.http_routes));
        errors
    }
}

/// What [`Application::route`] adds: a WebSocket [`Route`] or an [`HttpRoute`].
pub trait Routable {
    /// Adds itself to the application.
    fn add_to(self, app: &mut Application);
}

impl Routable for Route {
    fn add_to(self, app: &mut Application) {
        app.routes.push(self);
    }
}

impl Routable for HttpRoute {
    fn add_to(self, app: &mut Application) {
        app.http_routes.push(self);
    }
}

/// A server ready to start (Ktor's `embeddedServer(Netty, port = 8080) { ... }`).
///
/// ```no_run
/// use ws_runtime::{EmbeddedServer, Route, WebSocketSession};
///
/// # async fn run() -> Result<(), ws_runtime::ServerError> {
/// EmbeddedServer::new()
///     .port(8080)
///     .configure(|app| {
///         app.route(Route::new("/echo", |session: WebSocketSession| async move {
///             while let Some(frame) = session.incoming.recv().await {
///                 session.send(frame).await?;
///             }
///             Ok::<(), ws_runtime::Error>(())
///         }));
///     })
///     .start()
///     .await
/// # }
/// ```
pub struct EmbeddedServer {
    host: String,
    port: u16,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::Tls>,
    connectors: Vec<Connector>,
    grace_period: Duration,
    limits: ServerLimits,
    /// The main listener reads a PROXY protocol header first.
    proxy_protocol: bool,
    trusted_proxies: Result<TrustedProxies, String>,
    /// `start` installs the default log when the program has none.
    log: bool,
    metrics_interval: Duration,
    app: Application,
}

/// One more listener beside the main one ([`EmbeddedServer::connector`]): a plain port
/// beside a TLS one, say (Ktor's `connector { }` and `sslConnector { }`).
#[derive(Clone, Debug)]
pub struct Connector {
    host: Option<String>,
    port: u16,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::Tls>,
    proxy_protocol: bool,
}

impl Connector {
    /// A plain (`ws://`, `http://`) listener on `port` (0 picks a free one).
    pub fn plain(port: u16) -> Self {
        Self {
            host: None,
            port,
            #[cfg(feature = "tls")]
            tls: None,
            proxy_protocol: false,
        }
    }

    /// A TLS (`wss://`, `https://`) listener on `port`.
    #[cfg(feature = "tls")]
    pub fn tls(port: u16, tls: crate::tls::Tls) -> Self {
        Self {
            host: None,
            port,
            tls: Some(tls),
            proxy_protocol: false,
        }
    }

    /// The interface to listen on (default: the server's `host`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Every connection on this listener starts with a PROXY protocol header
    /// (HAProxy's, version 1 or 2, before TLS), which gives the client's address; a
    /// connection without one is closed. See [`EmbeddedServer::proxy_protocol`].
    pub fn proxy_protocol(mut self, on: bool) -> Self {
        self.proxy_protocol = on;
        self
    }
}

impl Default for EmbeddedServer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for EmbeddedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("grace_period", &self.grace_period)
            .field("limits", &self.limits)
            .field("app", &self.app)
            .finish()
    }
}

impl EmbeddedServer {
    /// Port 8080 on every interface (`0.0.0.0`), 5 s shutdown grace period.
    pub fn new() -> Self {
        Self {
            host: "0.0.0.0".to_string(),
            port: 8080,
            #[cfg(feature = "tls")]
            tls: None,
            connectors: Vec::new(),
            grace_period: Duration::from_secs(5),
            limits: ServerLimits::default(),
            proxy_protocol: false,
            trusted_proxies: Ok(TrustedProxies::default()),
            log: true,
            metrics_interval: Duration::from_secs(1),
            app: Application::new(),
        }
    }

    /// The interface to listen on (default `0.0.0.0`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The port (default 8080; 0 picks a free port, see [`RunningServer::local_addr`]).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Serves the main port over TLS (`wss://`, `https://`) with this certificate.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Listens on one more port too, plain or TLS (see [`Connector`]); every listener
    /// serves the same application.
    pub fn connector(mut self, connector: Connector) -> Self {
        self.connectors.push(connector);
        self
    }

    /// How long shutdown waits for sessions to finish their close handshakes (5 s).
    /// A session whose peer does not answer is dropped when its close handshake times
    /// out (the `timeout` option, 15 s) or when the grace period ends, whichever comes
    /// first; those still open then are counted in a log line.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = grace;
        self
    }

    /// At most this many open connections, HTTP and WebSocket (10,000); over it, a new
    /// connection is answered 503 with `Retry-After` before any session starts.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.limits.max_connections = connections;
        self
    }

    /// At most this many open connections from one peer address; over it, 503. No limit
    /// of its own by default: behind a proxy every client has the proxy's address.
    pub fn max_connections_per_ip(mut self, connections: usize) -> Self {
        self.limits.max_connections_per_ip = connections;
        self
    }

    /// At most this many connections in their HTTP phase, not yet upgraded (1,024);
    /// over it, 503.
    pub fn max_handshakes(mut self, handshakes: usize) -> Self {
        self.limits.max_handshakes = handshakes;
        self
    }

    /// TCP keepalive idle time of accepted sockets (60 s); `None` turns it off.
    pub fn tcp_keepalive(mut self, idle: impl Into<Option<Duration>>) -> Self {
        self.limits.tcp_keepalive = idle.into();
        self
    }

    /// The proxies in front of the server: addresses (`"10.0.0.7"`) or CIDR blocks
    /// (`"10.0.0.0/8"`, `"fd00::/8"`). From these peers the client's address is read
    /// from `Forwarded` or `X-Forwarded-For` (the rightmost address that is not a
    /// trusted proxy), the scheme from `X-Forwarded-Proto`, the host (for the origin
    /// check) from `X-Forwarded-Host`; from any other peer those headers are ignored.
    /// `RemoteAddr` and the per-address limit use the resolved address. A bad entry
    /// stops the server at start-up. None by default.
    pub fn trusted_proxies<I, S>(mut self, proxies: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.trusted_proxies = TrustedProxies::parse(proxies);
        self
    }

    /// Every connection on the main port starts with a PROXY protocol header
    /// (HAProxy's `send-proxy` / `send-proxy-v2`, nginx's `proxy_protocol on`), read
    /// before TLS and HTTP, under the handshake timeout: the client's address is the
    /// one it gives. A connection without a valid header is closed. When
    /// `trusted_proxies` is set, only those peers may connect to such a listener;
    /// otherwise it must be reachable by the proxy alone. Off by default.
    pub fn proxy_protocol(mut self, on: bool) -> Self {
        self.proxy_protocol = on;
        self
    }

    /// Whether [`start`](Self::start) installs a readable log when the program has set
    /// no `tracing` subscriber (on by default, with the `default-log` feature): lines on
    /// stderr at `info`, or as `RUST_LOG` says (`RUST_LOG=debug`,
    /// `RUST_LOG=ws_runtime=debug,my_app=trace`). Handler errors and panics are logged
    /// there, at `error`, inside the session's span (its id, route, client address and
    /// extensions). `log(false)` leaves logging to the program (`embedded_server!(log
    /// = false, ..)`).
    pub fn log(mut self, on: bool) -> Self {
        self.log = on;
        self
    }

    /// How often the sessions' counts are handed to the `metrics` recorder (1 s); a
    /// session's last counts are handed over when it ends.
    pub fn metrics_interval(mut self, interval: Duration) -> Self {
        self.metrics_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The server-wide limits in effect.
    pub fn limits(&self) -> &ServerLimits {
        &self.limits
    }

    /// Runs `configure` on the application (the `|app| { ... }` block).
    pub fn configure(mut self, configure: impl FnOnce(&mut Application)) -> Self {
        configure(&mut self.app);
        self
    }

    /// `http` or `https` for each listener, main first.
    fn schemes(&self) -> Vec<&'static str> {
        #[cfg(feature = "tls")]
        let scheme = |tls: bool| if tls { "https" } else { "http" };
        #[cfg(feature = "tls")]
        let main = scheme(self.tls.is_some());
        #[cfg(not(feature = "tls"))]
        let main = "http";
        let mut schemes = vec![main];
        for _connector in &self.connectors {
            #[cfg(feature = "tls")]
            schemes.push(scheme(_connector.tls.is_some()));
            #[cfg(not(feature = "tls"))]
            schemes.push("http");
        }
        schemes
    }

    /// The application as configured.
    pub fn application(&self) -> &Application {
        &self.app
    }

    /// Checks the configuration, binds, and starts accepting connections in the
    /// background. Configuration errors (bad options, duplicate routes, missing state)
    /// come back together as [`ServerError::Config`], binding errors as
    /// [`ServerError::Io`].
    pub async fn bind(mut self) -> Result<RunningServer, ServerError> {
        let mut listeners = vec![Connector {
            host: Some(self.host.clone()),
            port: self.port,
            #[cfg(feature = "tls")]
            tls: self.tls.take(),
            proxy_protocol: self.proxy_protocol,
        }];
        listeners.append(&mut self.connectors);
        let host = self.host.clone();
        let local = self.into_local()?;
        let mut bound = Vec::with_capacity(listeners.len());
        for connector in listeners {
            let host = connector.host.as_deref().unwrap_or(&host);
            let listener = TcpListener::bind((host, connector.port)).await?;
            #[cfg(feature = "tls")]
            let acceptor = match &connector.tls {
                Some(tls) => Some(Arc::new(crate::tls::TlsAcceptor::new(tls)?)),
                None => None,
            };
            #[cfg(not(feature = "tls"))]
            let acceptor: Option<Arc<Plain>> = None;
            bound.push((listener, acceptor, connector.proxy_protocol));
        }
        let LocalServer {
            inner,
            shutdown,
            idle_timeout,
            metrics_interval,
        } = local;
        sweep_idle_thread(Arc::downgrade(&inner), idle_timeout, shutdown.clone());
        collect_metrics_thread(Arc::downgrade(&inner), metrics_interval);
        let mut local_addrs = Vec::with_capacity(bound.len());
        for (listener, acceptor, proxy_protocol) in bound {
            local_addrs.push(listener.local_addr()?);
            #[cfg(feature = "tls")]
            if let Some(acceptor) = &acceptor {
                inner
                    .tls
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(acceptor.clone());
            }
            let listening = Listening {
                tls: acceptor,
                proxy_protocol,
            };
            tokio::spawn(accept_loop(
                listener,
                listening,
                inner.clone(),
                shutdown.clone(),
            ));
        }
        #[cfg(feature = "tls")]
        if !inner
            .tls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
        {
            tokio::spawn(reload_on_sighup(Arc::downgrade(&inner), shutdown.clone()));
        }
        Ok(RunningServer {
            local_addrs,
            handle: ServerHandle { inner },
        })
    }

    /// Checks the configuration and builds the server's state without a listener:
    /// connections are handed to it one by one (an in-memory transport, a TLS stream).
    pub(crate) fn into_local(self) -> Result<LocalServer, ServerError> {
        let mut errors = self.app.check();
        if let Err(e) = &self.trusted_proxies {
            errors.push(ConfigError::Server(format!("`trusted_proxies`: {e}")));
        }
        for (name, value) in [
            ("max_connections", self.limits.max_connections),
            ("max_connections_per_ip", self.limits.max_connections_per_ip),
            ("max_handshakes", self.limits.max_handshakes),
        ] {
            if value == 0 {
                errors.push(ConfigError::Server(format!(
                    "`{name}` must be at least 1: no connection would get in"
                )));
            }
        }
        if !errors.is_empty() {
            return Err(ServerError::Config(errors));
        }
        let proxies = self.trusted_proxies.unwrap_or_default();
        let Application {
            options,
            mut routes,
            http_routes,
            state,
            guards,
            ..
        } = self.app;
        if !guards.is_empty() {
            for route in &mut routes {
                route.guards.splice(0..0, guards.iter().cloned());
            }
        }
        let limits = Arc::new(Limits::from_options(&options));
        let app = Arc::new(AppInner {
            origins: OriginCheck::new(&options.allowed_origins),
            proxies: (!proxies.is_empty()).then(|| Arc::new(proxies)),
            options,
            routes: routes.into_iter().map(Arc::new).collect(),
            http_routes: http_routes.into_iter().map(Arc::new).collect(),
            state: Arc::new(state),
            limits,
        });
        let idle_timeout = app.options.idle_timeout;
        let (shutdown_tx, shutdown) = watch::channel(false);
        let inner = Arc::new(ServerInner {
            app,
            sessions: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            admission: Admission::new(self.limits),
            #[cfg(feature = "tls")]
            tls: Mutex::new(Vec::new()),
            shutting_down: AtomicBool::new(false),
            shutdown_tx,
            grace_period: self.grace_period,
            telemetry: ServerTelemetry::default(),
        });
        Ok(LocalServer {
            inner,
            shutdown,
            idle_timeout,
            metrics_interval: self.metrics_interval,
        })
    }

    /// Binds, serves until Ctrl-C or SIGTERM, then shuts down gracefully (Ktor's
    /// `start(wait = true)`). Prints the address it listens on.
    pub async fn start(self) -> Result<(), ServerError> {
        #[cfg(feature = "default-log")]
        if self.log {
            crate::telemetry::install_default_log();
        }
        let schemes = self.schemes();
        let server = self.bind().await?;
        for (addr, scheme) in server.local_addrs().iter().zip(schemes) {
            println!("Listening on {scheme}://{addr}");
            tracing::debug!(%addr, scheme, "listening");
        }
        shutdown_signal().await;
        tracing::info!("shutting down");
        server.shutdown().await;
        Ok(())
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A server's state without a listener: connections come one by one from elsewhere.
pub(crate) struct LocalServer {
    inner: Arc<ServerInner>,
    shutdown: watch::Receiver<bool>,
    /// The idle sweep, not started yet: a listening server runs it on a thread, one
    /// without a listener on tokio's clock ([`LocalServer::start_idle_sweep`]).
    idle_timeout: Option<Duration>,
    /// How often the metrics collector runs (on a thread for a listening server, on
    /// tokio's clock for one without: [`LocalServer::start_collector`]).
    metrics_interval: Duration,
}

impl LocalServer {
    /// A handle on the server (shutdown, counts), as a bound server's.
    pub(crate) fn handle(&self) -> ServerHandle {
        ServerHandle {
            inner: self.inner.clone(),
        }
    }

    /// Starts the metrics collector on tokio's clock (a paused clock drives it). A
    /// server without a listener calls this once; a listening one collects on a thread.
    pub(crate) fn start_collector(&self) {
        tokio::spawn(collect_metrics(
            Arc::downgrade(&self.inner),
            self.metrics_interval,
        ));
    }

    /// Starts the idle sweep on tokio's clock (a paused clock drives it). A server
    /// without a listener calls this once; a listening one sweeps on a thread instead.
    pub(crate) fn start_idle_sweep(&self) {
        tokio::spawn(sweep_idle(
            Arc::downgrade(&self.inner),
            self.idle_timeout,
            self.shutdown.clone(),
        ));
    }

    // Used by the fuzz entry points now, and by the in-memory test host.
    #[cfg_attr(not(feature = "fuzz"), allow(dead_code))]
    /// Serves one connection (admitted against the server-wide limits, as an accepted
    /// one would be): HTTP until it upgrades or closes, then its session.
    pub(crate) fn serve<T: Transport>(
        &self,
        io: T,
        remote_addr: SocketAddr,
    ) -> impl Future<Output = ()> + Send + 'static {
        let server = self.inner.clone();
        let shutdown = self.shutdown.clone();
        async move {
            match server.admission.admit(Some(remote_addr.ip())) {
                Ok(ticket) => {
                    serve_connection(io, remote_addr, false, ticket, server, shutdown).await;
                }
                Err(why) => tracing::debug!(%remote_addr, ?why, "connection refused"),
            }
        }
    }
}

impl LocalServer {
    /// Serves one request that came through another HTTP server (axum, any tower
    /// stack): the same routes, handshake and answers as a connection of our own. An
    /// accepted upgrade's session runs in a task of its own over hyper's upgraded
    /// connection once the `101` has been sent. Each request is admitted against the
    /// server-wide limits (`max_connections`, `max_handshakes`, per address) as a
    /// connection would be, and a session holds its place until it ends.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn serve_request<B>(
        &self,
        req: http::Request<B>,
        peer_addr: SocketAddr,
    ) -> impl Future<Output = http::Response<http_body_util::Full<bytes::Bytes>>> + Send + 'static + use<B>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.serve_with(peer_addr, move |service| {
            hyper::service::Service::call(service, req)
        })
    }

    /// Serves the handshake of one request for `route` (an axum handler's upgrade),
    /// as [`serve_request`](Self::serve_request) does a request for the app's routes.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn serve_upgrade<B: 'static>(
        &self,
        req: http::Request<B>,
        peer_addr: SocketAddr,
        route: Route,
    ) -> impl Future<Output = http::Response<http_body_util::Full<bytes::Bytes>>> + Send + 'static + use<B>
    {
        let route = Arc::new(route);
        self.serve_with(peer_addr, move |service| service.call_route(req, &route))
    }

    /// Admits a request, runs `call` on a service for it, and runs the session of an
    /// accepted upgrade.
    fn serve_with<C: FnOnce(&Service) -> crate::handshake::ServiceFuture + 'static>(
        &self,
        peer_addr: SocketAddr,
        call: C,
    ) -> impl Future<Output = http::Response<http_body_util::Full<bytes::Bytes>>> + Send + 'static + use<C>
    {
        let server = self.inner.clone();
        let counted_as = match &server.app.proxies {
            Some(proxies) if proxies.contains(peer_addr.ip()) => None,
            _ => Some(peer_addr.ip()),
        };
        let admitted = if server.shutting_down.load(Ordering::SeqCst) {
            Err(None)
        } else {
            server.admission.admit(counted_as).map_err(Some)
        };
        let slot: UpgradeSlot = Arc::new(Mutex::new(None));
        let call = admitted.map(|ticket| {
            let service = Service {
                app: server.app.clone(),
                admission: server.admission.clone(),
                slot: slot.clone(),
                peer_addr,
                secure: false,
            };
            (ticket, call(&service))
        });
        async move {
            let (mut ticket, call) = match call {
                Ok(call) => call,
                Err(why) => {
                    let retry = server.admission.limits.retry_after.as_secs().max(1);
                    let message = why.map_or("the server is shutting down", Refusal::message);
                    return HttpResponse::status(http::StatusCode::SERVICE_UNAVAILABLE, message)
                        .header(http::header::RETRY_AFTER, http::HeaderValue::from(retry))
                        .into_inner();
                }
            };
            let response = match call.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            ticket.handshake_done();
            let pending = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(PendingUpgrade { on_upgrade, setup }) = pending {
                tokio::spawn(async move {
                    let upgraded = match on_upgrade.await {
                        Ok(upgraded) => upgraded,
                        Err(e) => {
                            tracing::debug!(error = %e, "upgrade failed");
                            return;
                        }
                    };
                    // hyper gives the bytes it read past the request back first itself.
                    let io = TokioIo::new(upgraded);
                    let (_registered, session) = start_session(io, Vec::new(), setup, &server);
                    drop(server);
                    session.await;
                    drop(ticket);
                });
            }
            response
        }
    }

    /// Every path the application routes, each once, WebSocket routes first.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn paths(&self) -> Vec<String> {
        let app = &self.inner.app;
        let mut paths: Vec<String> = Vec::new();
        let all = app
            .routes
            .iter()
            .map(|r| r.pattern.as_str())
            .chain(app.http_routes.iter().map(|r| r.pattern.as_str()));
        for path in all {
            if !paths.iter().any(|p| p == path) {
                paths.push(path.to_string());
            }
        }
        paths
    }

    /// Starts the idle sweep on a thread, as a listening server does (a mounted
    /// application may be built outside any runtime).
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn start_idle_sweep_thread(&self) {
        sweep_idle_thread(
            Arc::downgrade(&self.inner),
            self.idle_timeout,
            self.shutdown.clone(),
        );
    }
}

/// A bound, running server.
#[derive(Debug)]
pub struct RunningServer {
    local_addrs: Vec<SocketAddr>,
    handle: ServerHandle,
}

impl RunningServer {
    /// The address the server listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs[0]
    }

    /// Every address it listens on: the main one, then each [`Connector`]'s.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// A handle that can shut the server down from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Shuts down gracefully: see [`ServerHandle::shutdown`].
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

/// Shuts a running server down.
#[derive(Clone)]
pub struct ServerHandle {
    inner: Arc<ServerInner>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("connections", &self.connections())
            .field("sessions", &self.sessions())
            .finish()
    }
}

impl ServerHandle {
    /// Stops accepting, sends 1001 `GOING_AWAY` to every session, and waits until every
    /// connection has finished or the grace period has passed.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.shutting_down.store(true, Ordering::SeqCst);
        let _ = inner.shutdown_tx.send(true);
        let sessions: Vec<Arc<Chan>> = inner.lock_sessions().values().cloned().collect();
        for shared in sessions {
            shared.request_close(going_away());
        }
        let wait_idle = async {
            loop {
                let notified = inner.admission.idle.notified();
                if inner.admission.connections() == 0 {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(inner.grace_period, wait_idle)
            .await
            .is_err()
        {
            tracing::warn!(
                remaining = inner.admission.connections(),
                sessions = inner.lock_sessions().len(),
                "grace period over; dropping the connections still closing"
            );
        }
    }

    /// Open TCP connections (HTTP and WebSocket).
    pub fn connections(&self) -> usize {
        self.inner.admission.connections()
    }

    /// Reads the TLS certificates and keys of every TLS listener again (as SIGHUP
    /// does): new handshakes use them, open sessions keep theirs. On an error the old
    /// certificate stays in use and the error comes back.
    #[cfg(feature = "tls")]
    pub fn reload_tls(&self) -> io::Result<()> {
        let acceptors = self
            .inner
            .tls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for acceptor in acceptors {
            acceptor.reload()?;
        }
        Ok(())
    }

    /// Live WebSocket sessions.
    pub fn sessions(&self) -> usize {
        self.inner.lock_sessions().len()
    }
}

fn going_away() -> CloseReason {
    CloseReason::new(CloseCode::GOING_AWAY, "Server shutting down")
}

pub(crate) struct ServerInner {
    app: Arc<AppInner>,
    sessions: Mutex<HashMap<u64, Arc<Chan>>>,
    next_id: AtomicU64,
    admission: Arc<Admission>,
    #[cfg(feature = "tls")]
    tls: Mutex<Vec<Arc<crate::tls::TlsAcceptor>>>,
    shutting_down: AtomicBool,
    shutdown_tx: watch::Sender<bool>,
    grace_period: Duration,
    telemetry: ServerTelemetry,
}

impl ServerInner {
    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Chan>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A session's place in the registry, given back when dropped (however the session's
/// task ends, panics included).
struct Registered {
    server: Arc<ServerInner>,
    id: u64,
    /// A proxied client's place in the per-address count.
    _charge: Option<Box<IpCharge>>,
    span: tracing::Span,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let Some(chan) = self.server.lock_sessions().remove(&self.id) else {
            return;
        };
        let reason = chan.known_reason();
        let code = reason.as_ref().map_or(1006, |r| r.code().code());
        self.span.in_scope(|| match &reason {
            Some(reason) => tracing::debug!(code, reason = reason.message(), "session closed"),
            None => tracing::debug!(code, "session closed without a close frame"),
        });
        self.server.telemetry.closed(&chan.stats, code);
    }
}

/// Accept errors in a row before the loop logs again.
const ACCEPT_ERRORS_LOGGED: u64 = 1;

/// What a listener's connections are wrapped in: TLS, or nothing.
#[cfg(feature = "tls")]
type Acceptor = crate::tls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type Acceptor = Plain;

/// A listener without TLS (when the crate is built without it).
#[cfg(not(feature = "tls"))]
pub(crate) enum Plain {}

/// How a listener's connections are served.
struct Listening {
    tls: Option<Arc<Acceptor>>,
    proxy_protocol: bool,
}

async fn accept_loop(
    listener: TcpListener,
    listening: Listening,
    server: Arc<ServerInner>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Accept errors (out of descriptors, say) come in bursts: the first is logged, the
    // loop backs off (10 ms, doubling up to 1 s) instead of spinning, and the end of
    // the burst is logged with its count.
    let mut errors: u64 = 0;
    let mut backoff = Duration::from_millis(10);
    let listening = Arc::new(listening);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, remote_addr)) => {
                if errors > 0 {
                    tracing::warn!(errors, "accepting connections again");
                    errors = 0;
                    backoff = Duration::from_millis(10);
                }
                let admission = &server.admission;
                admission.configure(&tcp);
                // A proxy's connections are counted by their clients' addresses, once
                // known (the PROXY header, or a forwarding header at the upgrade).
                let behind_proxy = listening.proxy_protocol
                    || server
                        .app
                        .proxies
                        .as_ref()
                        .is_some_and(|p| p.contains(remote_addr.ip()));
                let counted_as = (!behind_proxy).then(|| remote_addr.ip());
                match admission.admit(counted_as) {
                    Ok(ticket) if listening.proxy_protocol => {
                        tokio::spawn(serve_proxied(
                            tcp,
                            listening.clone(),
                            remote_addr,
                            ticket,
                            server.clone(),
                            shutdown.clone(),
                        ));
                    }
                    Ok(ticket) => match &listening.tls {
                        None => {
                            tokio::spawn(serve_connection(
                                tcp,
                                remote_addr,
                                false,
                                ticket,
                                server.clone(),
                                shutdown.clone(),
                            ));
                        }
                        #[cfg(feature = "tls")]
                        Some(acceptor) => {
                            tokio::spawn(serve_tls(
                                tcp,
                                acceptor.clone(),
                                remote_addr,
                                ticket,
                                server.clone(),
                                shutdown.clone(),
                            ));
                        }
                        #[cfg(not(feature = "tls"))]
                        Some(never) => match **never {},
                    },
                    Err(why) if listening.tls.is_none() && !listening.proxy_protocol => {
                        crate::telemetry::refused(crate::telemetry::Refused::Limit);
                        tracing::debug!(%remote_addr, ?why, "connection refused with 503");
                        admission.refuse(tcp, why);
                    }
                    Err(why) => {
                        // No plaintext answer on a TLS port (nor before a PROXY header
                        // has been read): the connection is closed.
                        crate::telemetry::refused(crate::telemetry::Refused::Limit);
                        tracing::debug!(%remote_addr, ?why, "connection refused and closed");
                    }
                }
            }
            Err(e) => {
                errors += 1;
                if errors == ACCEPT_ERRORS_LOGGED {
                    tracing::error!(error = %e, "accept failed; backing off until it succeeds");
                }
                tokio::select! {
                    biased;
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Reads the PROXY protocol header of a connection (within the handshake timeout),
/// counts the connection under the client's address it gives, then serves it (over
/// TLS if the listener has it).
async fn serve_proxied(
    mut tcp: tokio::net::TcpStream,
    listening: Arc<Listening>,
    peer_addr: SocketAddr,
    mut ticket: Ticket,
    server: Arc<ServerInner>,
    shutdown: watch::Receiver<bool>,
) {
    if let Some(proxies) = &server.app.proxies
        && !proxies.contains(peer_addr.ip())
    {
        tracing::debug!(%peer_addr, "PROXY protocol connection from an untrusted peer closed");
        return;
    }
    let timeout = server.app.options.handshake_timeout;
    let client = match tokio::time::timeout(timeout, read_proxy_header(&mut tcp)).await {
        Ok(Ok(client)) => client.unwrap_or(peer_addr),
        Ok(Err(e)) => {
            tracing::debug!(%peer_addr, error = %e, "bad PROXY protocol header; connection closed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer_addr, "no PROXY protocol header in time; connection closed");
            return;
        }
    };
    if !ticket.count_as(client.ip()) {
        crate::telemetry::refused(crate::telemetry::Refused::Limit);
        tracing::debug!(%client, "connection refused: too many from this address");
        if listening.tls.is_none() {
            drop(ticket);
            server.admission.refuse(tcp, Refusal::PerIp);
        }
        return;
    }
    match &listening.tls {
        None => serve_connection(tcp, client, false, ticket, server, shutdown).await,
        #[cfg(feature = "tls")]
        Some(acceptor) => serve_tls(tcp, acceptor.clone(), client, ticket, server, shutdown).await,
        #[cfg(not(feature = "tls"))]
        Some(never) => match **never {},
    }
}

/// How often the idle sweep runs for `idle_timeout` (every second without one), and
/// after how many sweeps without traffic a session is closed (never without one).
fn sweep_schedule(idle_timeout: Option<Duration>) -> (Duration, Option<u32>) {
    let Some(idle_timeout) = idle_timeout else {
        return (Duration::from_secs(1), None);
    };
    let tick = (idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let sweeps = idle_timeout.as_nanos().div_ceil(tick.as_nanos()).max(1) as u32;
    (tick, Some(sweeps))
}

/// One sweep over the registry. A session that moved no frame since the last sweep
/// gives back the buffers it keeps between bursts (its queues', its engine's); one
/// that moved none for `sweeps` sweeps in a row is closed with 1001 "Idle timeout". A
/// session's engine marks it active whenever frames move, so no session holds a timer
/// of its own for this.
fn sweep_once(server: &ServerInner, sweeps: Option<u32>) {
    let mut idle = Vec::new();
    let mut trim = Vec::new();
    for chan in server.lock_sessions().values() {
        let idle_sweeps = chan.idle_sweep();
        if idle_sweeps == 1 {
            trim.push(chan.clone());
        }
        if idle_sweeps > 0 && Some(idle_sweeps) == sweeps {
            idle.push(chan.clone());
        }
    }
    for chan in trim {
        chan.trim_idle();
    }
    for chan in idle {
        chan.request_close(CloseReason::new(CloseCode::GOING_AWAY, "Idle timeout"));
    }
}

/// The idle sweep of a listening server, on a thread of its own: a tokio timer would
/// make every worker's park read the clock and walk the timer wheel, on every
/// wake-up of every connection (measured: about 400 instructions per message of a
/// ping-pong). Ends with the server (or its shutdown).
fn sweep_idle_thread(
    server: std::sync::Weak<ServerInner>,
    idle_timeout: Option<Duration>,
    shutdown: watch::Receiver<bool>,
) {
    let (tick, sweeps) = sweep_schedule(idle_timeout);
    let spawned = std::thread::Builder::new()
        .name("ws-idle-sweep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                if *shutdown.borrow() {
                    return;
                }
                let Some(server) = server.upgrade() else {
                    return;
                };
                sweep_once(&server, sweeps);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(
            error = %e,
            "no thread for the idle sweep: idle_timeout is not enforced, idle sessions keep their buffers"
        );
    }
}

/// The idle sweep of a server without a listener (the in-process test host), on
/// tokio's clock, so that a paused clock drives it.
#[allow(dead_code)]
async fn sweep_idle(
    server: std::sync::Weak<ServerInner>,
    idle_timeout: Option<Duration>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (tick, sweeps) = sweep_schedule(idle_timeout);
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            _ = interval.tick() => {}
        }
        let Some(server) = server.upgrade() else {
            return;
        };
        sweep_once(&server, sweeps);
    }
}

/// One collection: what the open sessions counted since the last one, and how many
/// are open, handed to the recorder (after the registry's lock is released).
fn collect_once(server: &ServerInner) {
    let (counted, open) = {
        let sessions = server.lock_sessions();
        let open = sessions.len();
        let counted = crate::telemetry::collect(sessions.values().map(|chan| &chan.stats));
        (counted, open)
    };
    server.telemetry.tick(counted, open);
}

/// The metrics collector of a listening server, on a thread of its own (a tokio timer
/// would cost every worker's park, as for the idle sweep): hands the sessions' counts
/// to the `metrics` recorder once per `interval`, through shutdown's grace period too,
/// until the server is gone (what its last sessions left goes then, when
/// `ServerTelemetry` is dropped).
fn collect_metrics_thread(server: std::sync::Weak<ServerInner>, interval: Duration) {
    crate::telemetry::describe();
    let spawned = std::thread::Builder::new()
        .name("ws-metrics".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                let Some(server) = server.upgrade() else {
                    return;
                };
                collect_once(&server);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "no thread for the metrics collector: metrics are reported when the server ends");
    }
}

/// The metrics collector of a server without a listener (the in-process test host),
/// on tokio's clock, so that a paused clock drives it.
#[allow(dead_code)]
async fn collect_metrics(server: std::sync::Weak<ServerInner>, interval: Duration) {
    crate::telemetry::describe();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(server) = server.upgrade() else {
            return;
        };
        collect_once(&server);
    }
}

/// Runs the TLS handshake (within the handshake timeout), then serves the connection.
#[cfg(feature = "tls")]
async fn serve_tls(
    tcp: tokio::net::TcpStream,
    acceptor: Arc<crate::tls::TlsAcceptor>,
    remote_addr: SocketAddr,
    ticket: Ticket,
    server: Arc<ServerInner>,
    shutdown: watch::Receiver<bool>,
) {
    let timeout = server.app.options.handshake_timeout;
    let stream = match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(%remote_addr, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote_addr, "TLS handshake timed out");
            return;
        }
    };
    drop(acceptor);
    serve_connection(stream, remote_addr, true, ticket, server, shutdown).await;
}

/// Reloads every TLS listener's certificate on SIGHUP.
#[cfg(all(feature = "tls", unix))]
async fn reload_on_sighup(
    server: std::sync::Weak<ServerInner>,
    mut shutdown: watch::Receiver<bool>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        return;
    };
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            signal = hangup.recv() => if signal.is_none() { return },
        }
        let Some(server) = server.upgrade() else {
            return;
        };
        match (ServerHandle { inner: server }).reload_tls() {
            Ok(()) => tracing::info!("TLS certificates reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "TLS reload failed; the previous certificates stay")
            }
        }
    }
}

#[cfg(all(feature = "tls", not(unix)))]
async fn reload_on_sighup(_: std::sync::Weak<ServerInner>, _: watch::Receiver<bool>) {}

/// Serves one connection over any transport (TCP, TLS, an in-memory duplex): HTTP
/// until it upgrades or closes, then the WebSocket session.
pub(crate) async fn serve_connection<T: Transport>(
    io: T,
    remote_addr: SocketAddr,
    secure: bool,
    mut ticket: Ticket,
    server: Arc<ServerInner>,
    shutdown: watch::Receiver<bool>,
) {
    // The HTTP phase is boxed so that the task keeps only the session's (smaller)
    // state once the connection is upgraded.
    let pending = Box::pin(http_phase(io, remote_addr, secure, &server, shutdown)).await;
    ticket.handshake_done();
    let Some(pending) = pending else { return };
    // So is the wait for hyper to hand the connection over: across the session's
    // await, the task holds the connection, its registration and its ticket.
    let Some((registered, session)) = Box::pin(upgrade::<T>(pending, &server)).await else {
        return;
    };
    drop(server);
    // The session runs in a task of its own, sized for it alone: this task's cell is
    // laid out for the HTTP phase too, and an idle session would keep it.
    tokio::spawn(SessionTask {
        session: Some(session),
        guard: Box::new((registered, ticket)),
    });
}

/// An upgraded session's task: runs the session to its end inside the session's span,
/// then (dropped) deregisters it and gives its admission ticket back. The two are
/// boxed together, with the span, so that the task's future is the session's driver
/// and one pointer (an `async fn` would lay its argument out twice, and tracing's
/// `Instrumented` would hold a second handle to the span; see
/// `session_task_stays_small`).
struct SessionTask<T: Transport> {
    /// `None` once dropped (inside the span, as it ran).
    session: Option<Connection<T>>,
    guard: Box<(Registered, Ticket)>,
}

impl<T: Transport> Future for SessionTask<T> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let _entered = this.guard.0.span.enter();
        match &mut this.session {
            Some(session) => Pin::new(session).poll(cx),
            None => Poll::Ready(()),
        }
    }
}

impl<T: Transport> Drop for SessionTask<T> {
    fn drop(&mut self) {
        let _entered = self.guard.0.span.enter();
        self.session = None;
    }
}

/// Serves HTTP on the connection until it closes or upgrades; returns the upgrade.
async fn http_phase<T: Transport>(
    io: T,
    remote_addr: SocketAddr,
    secure: bool,
    server: &ServerInner,
    mut shutdown: watch::Receiver<bool>,
) -> Option<PendingUpgrade> {
    let slot: UpgradeSlot = Arc::new(Mutex::new(None));
    let app = &server.app;
    let service = Service {
        app: app.clone(),
        admission: server.admission.clone(),
        slot: slot.clone(),
        peer_addr: remote_addr,
        secure,
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(app.options.handshake_timeout)
        // Responses here are a status line and headers: one flat buffer, no queue.
        .writev(false)
        .max_buf_size(64 * 1024);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %remote_addr, "HTTP connection ended with an error");
    }
    slot.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// Waits for hyper to hand over the upgraded connection; registers the session.
async fn upgrade<T: Transport>(
    pending: PendingUpgrade,
    server: &Arc<ServerInner>,
) -> Option<(Registered, Connection<T>)> {
    let PendingUpgrade { on_upgrade, setup } = pending;
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(e) => {
            tracing::debug!(error = %e, "upgrade failed");
            return None;
        }
    };
    let Some((io, leftover)) = into_transport::<T>(upgraded) else {
        tracing::error!("the upgraded connection is not the transport it was accepted on");
        return None;
    };
    Some(start_session(io, leftover, setup, server))
}

/// The transport back from hyper, with the bytes hyper read past the request. Those
/// bytes are a slice of hyper's 8 KiB read buffer: they are copied and the slice
/// dropped here, or the whole buffer would stay allocated as long as the session.
fn into_transport<T: Transport>(upgraded: hyper::upgrade::Upgraded) -> Option<(T, Vec<u8>)> {
    let parts = upgraded.downcast::<TokioIo<T>>().ok()?;
    let leftover = parts.read_buf.to_vec();
    Some((parts.io.into_inner(), leftover))
}

/// Registers the session and builds its connection driver and handler. A panic while
/// the handler starts (in an extractor, say) closes the session with 1011 like a
/// panicking handler.
fn start_session<T: Transport>(
    io: T,
    leftover: Vec<u8>,
    setup: Box<SessionSetup>,
    server: &Arc<ServerInner>,
) -> (Registered, Connection<T>) {
    let SessionSetup {
        route,
        start,
        info,
        negotiated,
        charge,
    } = *setup;
    let app = &server.app;
    let class = match negotiated.extensions.as_slice() {
        [] => WireClass::Plain,
        [SessionExtension::Deflate(deflate)] => deflate
            .broadcast_class()
            .map_or(WireClass::Own, WireClass::Deflate),
        _ => WireClass::Own,
    };
    let (chan, engine) = Chan::new(app.limits.clone(), class);
    let id = server.next_id.fetch_add(1, Ordering::Relaxed);
    let span = crate::telemetry::session_span(
        id,
        route.path(),
        &route.name,
        info.remote_addr,
        &info.extensions,
    );
    server.lock_sessions().insert(id, chan.clone());
    server.telemetry.opened();
    span.in_scope(|| tracing::debug!("session opened"));
    let registered = Registered {
        server: server.clone(),
        id,
        _charge: charge.map(Box::new),
        span: span.clone(),
    };
    if server.shutting_down.load(Ordering::SeqCst) {
        chan.request_close(going_away());
    }
    // The session's pieces, built once: a handler that takes the whole session gets
    // them assembled by its extractor, one that takes `Incoming` or `Outgoing` only those.
    let parts = SessionParts::new(chan, Arc::new(info));
    let handler = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| start(parts))) {
        Ok(handler) => handler,
        Err(panic) => {
            let message = crate::error::panic_message(&*panic);
            span.in_scope(|| tracing::error!(panic = %message, "WebSocket session start panicked"));
            Box::pin(
                async move { Err(crate::error::HandlerError::new(format!("panic: {message}"))) },
            )
        }
    };
    let settings = Settings::server(&app.options, route.raw);
    let stage = Stage::new(negotiated.extensions);
    let connection = Connection::new(io, leftover, engine, settings, stage, handler);
    (registered, connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::net::TcpStream;

    /// What tokio's task cell adds to a future (header, scheduler, id, stage tag,
    /// trailer) on 64-bit targets; the cell is then rounded up to 128 bytes.
    const CELL_OVERHEAD: usize = 104;

    /// Every idle session pays for its task: the session's future must fit a 512-byte
    /// cell (the idle memory target is 2 KiB per connection, everything included). The
    /// connection's first task (HTTP, then the hand-over) ends at the upgrade.
    #[test]
    fn session_task_stays_small() {
        let size = std::mem::size_of::<SessionTask<TcpStream>>();
        assert!(
            size + CELL_OVERHEAD <= 512,
            "the session task's future grew to about {size} bytes"
        );
    }

    /// The connection's first task is held through the handshake only, but thousands
    /// of handshakes may be in progress: keep it small too.

    #[tokio::test]
    async fn connection_task_stays_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (tcp, remote) = listener.accept().await.unwrap();
        let options = WebSocketOptions::new();
        let limits = Arc::new(Limits::from_options(&options));
        let app = Arc::new(AppInner {
            options,
            routes: Vec::new(),
            http_routes: Vec::new(),
            state: Arc::default(),
            limits,
            origins: OriginCheck::Any,
            proxies: None,
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let admission = Admission::new(ServerLimits::default());
        let ticket = admission.admit(Some(remote.ip())).unwrap();
        let server = Arc::new(ServerInner {
            app,
            sessions: Mutex::default(),
            next_id: AtomicU64::default(),
            admission,
            #[cfg(feature = "tls")]
            tls: Mutex::new(Vec::new()),
            shutting_down: AtomicBool::default(),
            shutdown_tx,
            grace_period: Duration::from_secs(1),
            telemetry: ServerTelemetry::default(),
        });
        let task = serve_connection(tcp, remote, false, ticket, server, shutdown_rx);
        let size = std::mem::size_of_val(&task);
        assert!(
            size + CELL_OVERHEAD <= 384,
            "the connection task's future grew to {size} bytes"
        );
    }
}
