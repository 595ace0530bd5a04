//! The test host (Ktor's `testApplication`): the application runs in-process and each
//! connection is an in-memory duplex stream, served by the same code as a socket is
//! (hyper's HTTP/1.1, the handshake, the session engine), with no port and no
//! listener. The test gets [client](crate::client) sessions and plain HTTP answers.
//!
//! Nothing here reads the wall clock: under tokio's paused time
//! (`#[tokio::test(start_paused = true)]`) the clock jumps whenever every task waits,
//! so a test of a 15 s ping timeout or a 5 min idle timeout takes no real time.
//!
//! ```
//! use std::time::Duration;
//! use ws::prelude::*;
//! use ws::test::TestApp;
//!
//! #[web_socket("/echo")]
//! async fn echo(session: WebSocketSession) -> Result<()> {
//!     for frame in session.incoming {
//!         session.send(frame).await?;
//!     }
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
//! // In a test: #[tokio::test(start_paused = true)]
//! let app = TestApp::new(|app| {
//!     install!(app, WebSockets { idle_timeout = 30s });
//!     routing!(app, echo);
//!     app.get("/health", |_| async { HttpResponse::text("ok") });
//! });
//!
//! let session = app.connect("/echo?x=1").await?;
//! session.send("hi").await?;
//! assert_eq!(session.incoming.recv().await, Some(Frame::text("hi")));
//!
//! // Nothing for 30 s (of paused time): the server closes the session.
//! let started = tokio::time::Instant::now();
//! assert_eq!(session.incoming.recv().await, None);
//! assert_eq!(session.close_reason().await.unwrap().message(), "Idle timeout");
//! assert!(started.elapsed() >= Duration::from_secs(30));
//!
//! let health = app.get("/health").await?;
//! assert_eq!((health.status.as_u16(), health.text().as_ref()), (200, "ok"));
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::io::DuplexStream;

use crate::client::handshake::{Conn, http_error};
use crate::client::{Client, ClientError, ClientRequest, HandlerOutput};
use crate::server::{Application, EmbeddedServer, LocalServer};
use crate::session::WebSocketSession;
use crate::startup::ServerError;

/// Bytes each direction of an in-memory connection holds before the writer waits.
const PIPE: usize = 256 * 1024;

/// The most of a response body [`TestApp::request`] reads.
const BODY_MAX: usize = 64 << 20;

/// An application served in-process for tests (Ktor's `testApplication`): see the
/// [module docs](self).
///
/// Must be made inside a tokio runtime (the server's idle sweep is a task). Each
/// connection comes from `127.0.0.1` with a port of its own, asks for host
/// `localhost`, and carries no `Origin` (as a program's would).
pub struct TestApp {
    server: LocalServer,
    client: Client,
    next_port: AtomicU16,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("server", &self.server.handle())
            .field("client", &self.client)
            .finish()
    }
}

/// A plain HTTP answer from the application.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TestResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl TestResponse {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

impl TestApp {
    /// The application `configure` sets up (the `|app| { .. }` block of
    /// `embedded_server!`).
    ///
    /// # Panics
    ///
    /// If the configuration would stop a server at start-up (the error's message is
    /// the panic's); [`try_from_server`](Self::try_from_server) returns it instead.
    pub fn new(configure: impl FnOnce(&mut Application)) -> Self {
        Self::from_server(EmbeddedServer::new().configure(configure))
    }

    /// The application of a configured server (`embedded_server!(..)`, with its
    /// server-wide limits); its listeners are not used.
    ///
    /// # Panics
    ///
    /// As [`new`](Self::new).
    pub fn from_server(server: EmbeddedServer) -> Self {
        match Self::try_from_server(server) {
            Ok(app) => app,
            Err(e) => panic!("the test application does not start: {e}"),
        }
    }

    /// As [`from_server`](Self::from_server), returning a configuration error.
    pub fn try_from_server(server: EmbeddedServer) -> Result<Self, ServerError> {
        let server = server.into_local()?;
        server.start_idle_sweep();
        server.start_collector();
        Ok(Self {
            server,
            client: Client::new(),
            next_port: AtomicU16::new(40_000),
        })
    }

    /// The client the test's connections use, to configure (`install!(app.client(),
    /// WebSockets { .. })`, Ktor's `createClient { install(WebSockets) }`).
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Opens a session on `request`: a path with its query (`"/chat?room=1"`), a
    /// `ws://` URL, or a [`ClientRequest`] with headers and subprotocols. The session
    /// is the client's ([`Client::connect`]): dropping it closes it.
    pub async fn connect(
        &self,
        request: impl Into<ClientRequest>,
    ) -> Result<WebSocketSession, ClientError> {
        let request = self.absolute(request.into());
        let io = self.pipe();
        let established = self
            .client
            .open_over(io, self.server_addr(), &request)
            .await?;
        Ok(self.client.spawn(established))
    }

    /// Opens a session and runs `handler` on it ([`Client::web_socket`], Ktor's
    /// `client.webSocket("/chat") { .. }` in a `testApplication`).
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
        let request = self.absolute(request.into());
        let io = self.pipe();
        let established = self
            .client
            .open_over(io, self.server_addr(), &request)
            .await?;
        self.client.run_to_end(established, handler).await
    }

    /// `GET path` (with its query) on the application's HTTP routes.
    pub async fn get(&self, path: &str) -> Result<TestResponse, ClientError> {
        let request = Request::get(path)
            .body(Bytes::new())
            .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
        self.request(request).await
    }

    /// Any HTTP request (`Host: localhost` is added if missing); the response with its
    /// whole body (up to 64 MiB).
    pub async fn request(&self, request: Request<Bytes>) -> Result<TestResponse, ClientError> {
        let (mut parts, body) = request.into_parts();
        if !parts.headers.contains_key(header::HOST) {
            parts
                .headers
                .insert(header::HOST, HeaderValue::from_static("localhost"));
        }
        let request = Request::from_parts(parts, Full::new(body));
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(self.pipe()))
            .await
            .map_err(http_error)?;
        let mut conn = Conn::new(conn);
        let mut response = conn
            .drive(sender.send_request(request))
            .await?
            .map_err(http_error)?;
        let body = conn.body(response.body_mut(), BODY_MAX).await;
        let (parts, _) = response.into_parts();
        Ok(TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// Live WebSocket sessions on the server.
    pub fn sessions(&self) -> usize {
        self.server.handle().sessions()
    }

    /// Open connections on the server (HTTP and WebSocket).
    pub fn connections(&self) -> usize {
        self.server.handle().connections()
    }

    /// Shuts the application down as a server does (1001 to every session, then waits
    /// up to the grace period).
    pub async fn shutdown(&self) {
        self.server.handle().shutdown().await;
    }

    /// A new in-memory connection, the server's end already being served.
    fn pipe(&self) -> DuplexStream {
        let (ours, theirs) = tokio::io::duplex(PIPE);
        let port = self.next_port.fetch_add(1, Ordering::Relaxed);
        let from = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        tokio::spawn(self.server.serve(theirs, from));
        ours
    }

    /// What the client sees as the server's address.
    fn server_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 80))
    }

    /// A path becomes `ws://localhost/path`.
    fn absolute(&self, request: ClientRequest) -> ClientRequest {
        if request.url().starts_with('/') {
            let url = format!("ws://localhost{}", request.url());
            request.with_url(url)
        } else {
            request
        }
    }
}
