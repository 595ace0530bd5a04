//! A `ws` application inside another HTTP server: [`AppService`] is the application as
//! a tower `Service` (feature `tower`), which axum mounts (feature `axum`:
//! `Router::nest_service`, `route_service`, or [`RouterExt::web_sockets`], which routes
//! each of the application's paths).

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;

use crate::server::{Application, EmbeddedServer, LocalServer, ServerHandle};
use crate::startup::ServerError;

impl Application {
    /// The application as a tower `Service` (features `tower`, `axum`), to mount in
    /// another HTTP server: see [`AppService`]. Configuration errors come back here as
    /// [`EmbeddedServer::bind`]'s do.
    pub fn into_service(self) -> Result<AppService, ServerError> {
        EmbeddedServer::new()
            .configure(|app| *app = self)
            .into_service()
    }
}

impl EmbeddedServer {
    /// The application as a tower `Service` (features `tower`, `axum`), with this
    /// server's limits, trusted proxies and grace period (its listener options are
    /// not used): see [`AppService`].
    pub fn into_service(self) -> Result<AppService, ServerError> {
        Ok(AppService::new(self.into_local()?))
    }
}

/// A `ws` application as a tower `Service` (features `tower`, `axum`), to mount in
/// another HTTP server.
///
/// The other server owns the connections and the HTTP/1.1 parsing; each request is
/// handed to the same code a connection of the standalone server runs (route
/// matching, the handshake and its answers, guards, extractors). An accepted upgrade
/// gets its `101` through the other server, which hands the connection over through
/// hyper's upgrade mechanism; the session then runs on `ws`'s engine, in a task of its
/// own, exactly as on a socket of its own: the same options, limits, close codes and
/// extensions. The standalone [`EmbeddedServer`](crate::EmbeddedServer) stays the
/// default; this is for applications that already have an axum or tower stack.
///
/// What differs from the standalone server: the listener's options (`port`, TLS,
/// `proxy_protocol`, `tcp_keepalive`, the handshake timeout of the HTTP phase) are the
/// other server's business; the server-wide limits count requests and sessions (not
/// connections); the client's address is axum's `ConnectInfo<SocketAddr>` when the
/// router is served with `into_make_service_with_connect_info::<SocketAddr>()` (else
/// `0.0.0.0:0`, or what a trusted proxy forwarded); and shutting down is
/// [`AppService::handle`]'s `shutdown()` (1001 to every session), since the other
/// server does not know the upgraded connections.
///
/// Made by [`Application::into_service`](crate::Application::into_service)
/// or [`EmbeddedServer::into_service`](crate::EmbeddedServer::into_service); cheap to
/// clone (one `Arc`).
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use ws_runtime::{Application, Route, WebSocketSession};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut app = Application::new();
/// app.route(Route::new("/echo", |session: WebSocketSession| async move {
///     while let Some(frame) = session.incoming.recv().await {
///         session.send(frame).await?;
///     }
///     Ok::<(), ws_runtime::Error>(())
/// }));
/// let service = app.into_service()?;
/// let router: axum::Router = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "an axum page" }))
///     .nest_service("/ws", service.clone()); // ws://host/ws/echo
/// # let _ = router;
/// # Ok(())
/// # }
/// # }
/// ```
#[derive(Clone)]
pub struct AppService {
    server: Arc<LocalServer>,
}

impl std::fmt::Debug for AppService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppService")
            .field("server", &self.server.handle())
            .finish()
    }
}

/// The future of [`AppService`]'s `call`.
pub type AppServiceFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Full<Bytes>>, Infallible>> + Send>>;

impl AppService {
    pub(crate) fn new(server: LocalServer) -> Self {
        server.start_idle_sweep_thread();
        Self {
            server: Arc::new(server),
        }
    }

    /// A handle on the application's sessions: their count, and `shutdown()`, which
    /// sends 1001 to every session and waits for them up to the grace period (call it
    /// beside the other server's own graceful shutdown).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The WebSocket and HTTP paths the application routes (each once, WebSocket
    /// routes first), in the `{name}` syntax axum 0.8 shares.
    pub fn paths(&self) -> Vec<String> {
        self.server.paths()
    }

    /// Serves one request from `peer_addr` (what `call` does, with the address given).
    pub fn serve<B>(&self, req: http::Request<B>, peer_addr: SocketAddr) -> AppServiceFuture
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let response = self.server.serve_request(req, peer_addr);
        Box::pin(async move { Ok(response.await) })
    }
}

/// The client's address of a request: axum's `ConnectInfo`, else unspecified.
fn peer_of<B>(req: &http::Request<B>) -> SocketAddr {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return *addr;
    }
    let _ = req;
    SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
}

/// Any request body with `Bytes`-like data (hyper's, axum's `Body`, `Full<Bytes>`).
impl<B> tower_service::Service<http::Request<B>> for AppService
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = AppServiceFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let peer = peer_of(&req);
        self.serve(req, peer)
    }
}

/// Mounting a `ws` application in an axum [`Router`](axum::Router) (feature `axum`).
#[cfg(feature = "axum")]
pub trait RouterExt {
    /// Routes each of the application's paths (WebSocket and HTTP, as written in its
    /// routes: `/chat/{room}`) to it, beside the router's own routes: an axum app
    /// serving `ws` handlers as its routes. A path the router already has is a panic
    /// of axum's, as with any overlapping route.
    ///
    /// ```
    /// use ws_runtime::{Application, Route, RouterExt, WebSocketSession};
    ///
    /// # fn main() -> Result<(), ws_runtime::ServerError> {
    /// let mut app = Application::new();
    /// app.route(Route::new("/chat/{room}", |_session: WebSocketSession| async {}));
    /// let router: axum::Router = axum::Router::new()
    ///     .route("/", axum::routing::get(|| async { "home" }))
    ///     .web_sockets(app.into_service()?);
    /// # let _ = router;
    /// # Ok(())
    /// # }
    /// ```
    fn web_sockets(self, app: AppService) -> Self;
}

#[cfg(feature = "axum")]
impl<S: Clone + Send + Sync + 'static> RouterExt for axum::Router<S> {
    fn web_sockets(self, app: AppService) -> Self {
        let mut router = self;
        for path in app.paths() {
            router = router.route_service(&path, app.clone());
        }
        router
    }
}

/// An axum extractor for a WebSocket handshake served by `ws` (feature `axum`): an
/// axum handler takes axum's extractors (its `State`, `Path`, ...) and this, and
/// [`on_upgrade`](Self::on_upgrade) answers with `ws`'s handshake and runs the session
/// on `ws`'s engine, with the options, limits and session registry of the
/// [`AppService`] the router's state holds (`AppService: FromRef<S>`).
///
/// ```
/// use std::sync::Arc;
/// use axum::extract::{FromRef, Path, State};
/// use ws_runtime::{AppService, Application, WebSocketSession, WebSocketUpgrade};
///
/// #[derive(Clone)]
/// struct AppState {
///     ws: AppService,
///     greeting: Arc<str>,
/// }
///
/// impl FromRef<AppState> for AppService {
///     fn from_ref(state: &AppState) -> Self {
///         state.ws.clone()
///     }
/// }
///
/// async fn chat(
///     State(greeting): State<Arc<str>>,
///     Path(room): Path<String>,
///     upgrade: WebSocketUpgrade,
/// ) -> impl axum::response::IntoResponse {
///     upgrade
///         .on_upgrade(move |session: WebSocketSession| async move {
///             session.send(format!("{greeting}, {room}")).await?;
///             while let Some(frame) = session.incoming.recv().await {
///                 session.send(frame).await?;
///             }
///             Ok::<(), ws_runtime::Error>(())
///         })
///         .await
/// }
///
/// impl FromRef<AppState> for Arc<str> {
///     fn from_ref(state: &AppState) -> Self {
///         state.greeting.clone()
///     }
/// }
///
/// # fn main() -> Result<(), ws_runtime::ServerError> {
/// let state = AppState {
///     ws: Application::new().into_service()?,
///     greeting: "Welcome".into(),
/// };
/// let router: axum::Router = axum::Router::new()
///     .route("/chat/{room}", axum::routing::get(chat))
///     .with_state(state);
/// # let _ = router;
/// # Ok(())
/// # }
/// ```
///
/// A request that is not an upgrade is refused by the extractor with `ws`'s 400; every
/// other check (version, key, origin, subprotocol, limits) is the handshake's, in
/// `on_upgrade`, with its defined answers.
#[cfg(feature = "axum")]
pub struct WebSocketUpgrade {
    app: AppService,
    request: http::Request<()>,
    peer_addr: SocketAddr,
    protocol: Option<std::borrow::Cow<'static, str>>,
}

#[cfg(feature = "axum")]
impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("uri", self.request.uri())
            .field("peer_addr", &self.peer_addr)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for WebSocketUpgrade
where
    AppService: axum::extract::FromRef<S>,
{
    type Rejection = http::Response<Full<Bytes>>;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let upgrade = parts
            .headers
            .get_all(http::header::UPGRADE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("websocket"));
        if !upgrade {
            let rejection = crate::Rejection::bad_request(
                "this is a WebSocket endpoint: send `Connection: Upgrade` and `Upgrade: websocket`",
            );
            return Err(crate::http_route::rejection_response(rejection).into_inner());
        }
        let mut request = http::Request::new(());
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        if let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() {
            request.extensions_mut().insert(on_upgrade);
        }
        let peer_addr = match parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
        {
            Some(info) => info.0,
            None => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        };
        Ok(Self {
            app: <AppService as axum::extract::FromRef<S>>::from_ref(state),
            request,
            peer_addr,
            protocol: None,
        })
    }
}

#[cfg(feature = "axum")]
impl WebSocketUpgrade {
    /// Requires this subprotocol (`Sec-WebSocket-Protocol`), as a route's `protocol`:
    /// a client that does not offer it is refused with 400.
    pub fn protocol(mut self, protocol: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Completes the handshake (`101`, or the refusal with its status) and, once axum
    /// hands the connection over, runs `handler` on the session, on `ws`'s engine. The
    /// handler returns as a `#[web_socket]` handler does (`()` or `Result<(), E>`:
    /// an `Err` closes with 1011).
    #[track_caller]
    pub fn on_upgrade<F, Fut>(
        self,
        handler: F,
    ) -> impl Future<Output = http::Response<Full<Bytes>>> + Send + 'static
    where
        F: FnOnce(crate::WebSocketSession) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: crate::IntoHandlerResult,
    {
        use crate::routing::{BoxHandlerFuture, SessionStart};
        let at = std::panic::Location::caller();
        let handler = std::sync::Mutex::new(Some(handler));
        let mut route = crate::Route::from_parts(
            self.request.uri().path(),
            "axum handler",
            format!("{}:{}:{}", at.file(), at.line(), at.column()),
            Vec::new(),
            move |_req| {
                let handler = handler.lock().unwrap_or_else(|e| e.into_inner()).take();
                let Some(handler) = handler else {
                    return Err(crate::Rejection::bad_request(
                        "the upgrade was already used",
                    ));
                };
                Ok(Box::new(move |parts: crate::SessionParts| {
                    let session = parts.into_session();
                    Box::pin(async move {
                        crate::IntoHandlerResult::into_handler_result(handler(session).await)
                    }) as BoxHandlerFuture
                }) as SessionStart)
            },
        );
        if let Some(protocol) = self.protocol {
            route = route.protocol(protocol);
        }
        self.app
            .server
            .serve_upgrade(self.request, self.peer_addr, route)
    }
}
