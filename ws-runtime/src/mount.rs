//! A `ws` application inside another HTTP server: [`AppService`] is the application as
//! a tower `Service` (feature `tower`), which axum mounts (feature `axum`:
//! `Router::nest_service`, `route_service`, or [`RouterExt::web_sockets`], which routes
//! each of the application's paths).
//!
//! The other server owns the connections and the HTTP/1.1 parsing; each request is
//! handed to the same code a connection of the standalone server runs (route
//! matching, the handshake and its answers, guards, extractors). An accepted upgrade
//! gets its `101` through the other server, which hands the connection over through
//! hyper's upgrade mechanism; the session then runs on `ws`'s engine, in a task of its
//! own, exactly as on a socket of its own: the same options, limits, close codes and
//! extensions. The standalone [`EmbeddedServer`](crate::EmbeddedServer) stays the
//! default; this is for applications that already have an axum or tower stack.
//!
//! What differs from the standalone server: the listener's options (`port`, TLS,
//! `proxy_protocol`, `tcp_keepalive`, the handshake timeout of the HTTP phase) are the
//! other server's business; the server-wide limits count requests and sessions (not
//! connections); the client's address is axum's `ConnectInfo<SocketAddr>` when the
//! router is served with `into_make_service_with_connect_info::<SocketAddr>()` (else
//! `0.0.0.0:0`, or what a trusted proxy forwarded); and shutting down is
//! [`AppService::handle`]'s `shutdown()` (1001 to every session), since the other
//! server does not know the upgraded connections.

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;

use crate::server::{LocalServer, ServerHandle};

/// A `ws` application as a tower `Service` (features `tower`, `axum`): see the
/// [module docs](self). Made by [`Application::into_service`](crate::Application::into_service)
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
    pub fn serve<B: Send + 'static>(
        &self,
        req: http::Request<B>,
        peer_addr: SocketAddr,
    ) -> AppServiceFuture {
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

impl<B: Send + 'static> tower_service::Service<http::Request<B>> for AppService {
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
